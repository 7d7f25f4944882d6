"""Merging a ticket's readings: the newest reading of each field; old/new pairs stay together."""

from __future__ import annotations

from helpdesk.letters import Evidence, Field, Finding, Letter
from helpdesk.letters.current import field_values, merge_readings


def _field(name: str, value: object) -> Field:
    return Field(name, value, Evidence("body", str(value)), 0.9)


def test_newest_reading_wins_per_field_and_keeps_older_fields():
    first = Letter("change", fields=(_field("company_name", "甲公司"), _field("reason", "填错"),
                                     _field("old_value", "A1"), _field("new_value", "B1"),
                                     _field("old_value", "A2"), _field("new_value", "B2")),
                   findings=(Finding("seal_seen", "fail", "未见印章"),))  # fmt: skip
    second = Letter("change", fields=(_field("reason", "名称变更"), _field("new_value", "B9")),
                    findings=(Finding("seal_seen", "pass", "有印章"),))  # fmt: skip
    merged = merge_readings([first, second])
    values = field_values(merged)
    assert values["reason"] == "名称变更" and values["company_name"] == "甲公司"
    # a pair is taken from one reading: never A1 of the first with B9 of the second
    assert merged.values("old_value") == [] and merged.values("new_value") == ["B9"]
    assert merged.finding("seal_seen").status == "pass"


def test_a_reply_with_nothing_read_changes_neither_fields_nor_type():
    letter = Letter("cancel", fields=(_field("target_accounts", ["zxkt_a"]),))
    thanks = Letter("inquiry", findings=(Finding("required_attachments", "fail", "缺少说明"),))
    merged = merge_readings([letter, thanks])
    assert merged.type == "cancel" and merged.values("target_accounts") == ["zxkt_a"]
    assert merged.finding("required_attachments") is None
    assert merge_readings([]) is None and merge_readings([thanks]) == thanks
