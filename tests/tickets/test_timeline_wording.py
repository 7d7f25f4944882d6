"""The timeline speaks Chinese: no event kind, field name or action code reaches the agent."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpdesk.tickets.models import TicketEvent
from helpdesk.tickets.timeline import describe_event

ROOT = Path(__file__).resolve().parents[2] / "helpdesk"
CODE = re.compile(r"\b[a-z]+_[a-z_]+\b|\b(?:change|unbind|cancel|resolution|sla)\b")


def _recorded_kinds() -> set[str]:
    """Every event kind the code records (lifecycle.record calls and the SLA notices' constants)."""
    kinds: set[str] = set()
    for path in ROOT.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        kinds |= set(re.findall(r"record\(\s*\w+,\s*\"([a-z_]+)\"", text))
    kinds |= {"sla_warning", "sla_breach", "status"}
    return kinds


def test_the_code_records_the_kinds_this_test_knows():
    assert {"resolution", "material_requested", "approval_requested", "sla_paused"} <= _recorded_kinds()


@pytest.mark.parametrize("kind", sorted(_recorded_kinds()))
def test_every_recorded_kind_is_worded(kind):
    event = TicketEvent(
        kind=kind,
        field="cancel" if kind != "field" else "company",
        old_value="open",
        new_value="resolved",
        detail={"clock": 2, "reason": "缺少营业执照", "override": {"reason": "电话核实", "checks": []}},
    )
    text = describe_event(event, {})
    assert text and not CODE.search(text), text


def test_resolution_and_sla_notices_read_as_sentences():
    resolution = TicketEvent(kind="resolution", field="cancel", new_value="注销账号 abc123")
    assert describe_event(resolution, {}) == "办理注销：注销账号 abc123"
    breach = TicketEvent(kind="sla_breach", detail={"clock": 1})
    assert describe_event(breach, {}) == "SLA 已超时，超时通知已发出（第 1 轮计时）"
