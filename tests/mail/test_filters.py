"""Mail filters: machine-generated mail, thread ids, the [ZXZJ#n] subject tag, bounces."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from helpdesk.mail.filters import (
    add_subject_tag,
    bounce_original_message_id,
    is_auto_generated,
    strip_reply_prefixes,
    subject_tag,
    thread_ids,
)
from helpdesk.mail.parse import parse_mail
from helpdesk.mail.parsed import ParsedMail

DATA = Path(__file__).parent / "data"
OURS = {"Letters@ZXZJ.example.cn"}


def golden(name: str) -> ParsedMail:
    return parse_mail((DATA / f"{name}.eml").read_bytes())


def make_mail(**changes: object) -> ParsedMail:
    base = ParsedMail(
        message_id="m@x.cn",
        in_reply_to=None,
        references=(),
        sender="liming@qiye.example.cn",
        sender_name="李明",
        to=("letters@zxzj.example.cn",),
        cc=(),
        subject="来函",
        date=None,
        text="",
        html="",
    )
    return dataclasses.replace(base, **changes)


def test_a_person_is_not_auto_generated():
    assert is_auto_generated(golden("032-letter-docx"), our_addresses=OURS) == []


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("025-dsn-bounce", "report: delivery-status"),
        ("027-auto-reply", "auto-submitted: auto-replied"),
        ("028-out-of-office-exchange", "x-auto-response-suppress: all"),
        ("029-precedence-bulk", "precedence: bulk"),
        ("040-plain-text-bounce", "sender: mailer-daemon"),
    ],
)
def test_machine_mail_is_recognised(name: str, reason: str):
    assert reason in is_auto_generated(golden(name), our_addresses=OURS)


def test_mail_from_our_own_address_is_auto_generated():
    mail = make_mail(sender="letters@zxzj.example.cn")
    assert is_auto_generated(mail, our_addresses=OURS) == ["our own address"]


def test_thread_ids_are_newest_first_without_duplicates():
    mail = make_mail(in_reply_to="c@x", references=("a@x", "b@x", "c@x"))
    assert thread_ids(mail) == ["c@x", "b@x", "a@x"]
    assert thread_ids(golden("041-reply-with-tag-bare-lf")) == [
        "ack-123@zxzj.example.cn",
        "001@qiye.example.cn",
    ]
    assert thread_ids(make_mail()) == []


@pytest.mark.parametrize(
    ("subject", "number"),
    [
        ("回复：[ZXZJ#123] 已收到您的来函", 123),
        ("Re: [zxzj#7]", 7),
        ("［ＺＸＺＪ＃１２３］ 全角", 123),
        ("【ZXZJ＃45】", 45),
        ("[ ZXZJ # 8 ] spaced", 8),
        ("[ZXZJ#0]", None),
        ("[ZXZJ-123]", None),
        ("ZXZJ#123", None),
        ("[#123]", None),
        ("", None),
    ],
)
def test_subject_tag(subject: str, number: int | None):
    assert subject_tag(subject) == number


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: 关于资金", "关于资金"),
        ("RE: Fwd: FW: 关于资金", "关于资金"),
        ("回复：答复: 转发： 关于资金", "关于资金"),
        ("Re[2]: 关于资金", "关于资金"),
        ("Review: 关于资金", "Review: 关于资金"),
        ("关于 Re: 资金", "关于 Re: 资金"),
    ],
)
def test_strip_reply_prefixes(subject: str, expected: str):
    assert strip_reply_prefixes(subject) == expected


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("关于资金", "[ZXZJ#12] 关于资金"),
        ("Re: 关于资金", "Re: [ZXZJ#12] 关于资金"),
        ("回复：关于资金", "回复：[ZXZJ#12] 关于资金"),
        ("Re: [ZXZJ#12] 关于资金", "Re: [ZXZJ#12] 关于资金"),
        ("Re: ［ZXZJ＃12］ 关于资金", "Re: ［ZXZJ＃12］ 关于资金"),
        ("Re: [ZXZJ#9] 关于资金", "Re: [ZXZJ#12] 关于资金"),
        ("", "[ZXZJ#12]"),
    ],
)
def test_add_subject_tag(subject: str, expected: str):
    assert add_subject_tag(subject, 12) == expected
    assert add_subject_tag(expected, 12) == expected  # idempotent
    assert subject_tag(expected) == 12


def test_bounce_original_message_id():
    assert bounce_original_message_id(golden("025-dsn-bounce")) == "ack-123@zxzj.example.cn"
    assert bounce_original_message_id(golden("026-dsn-rfc822-headers")) == "ack-124@zxzj.example.cn"
    assert bounce_original_message_id(golden("040-plain-text-bounce")) == "ack-125@zxzj.example.cn"
    assert bounce_original_message_id(golden("039-read-receipt")) is None  # not a bounce
    assert bounce_original_message_id(make_mail(text="Message-ID: <x@y>")) is None
