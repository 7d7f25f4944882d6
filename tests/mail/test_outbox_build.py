"""Building a mail from an outbox row, and telling permanent SMTP refusals from outages (no database)."""

from __future__ import annotations

import email
import email.policy
import smtplib
import ssl
import unicodedata
from datetime import UTC, datetime

import pytest

from helpdesk.mail import outbox
from helpdesk.mail.models import OutboundMail

SENDER = "zxzj@ec.com.cn"


def make_row(**fields: object) -> OutboundMail:
    values: dict[str, object] = {
        "kind": "ack",
        "to_addr": "zhang@corp.cn",
        "cc_addr": "",
        "subject": "已收到：咨询",
        "body_text": "您好。",
        "message_id": "abc.zxzj@ec.com.cn",
        "in_reply_to": "orig@corp.cn",
        "references": "orig@corp.cn",
        "headers": {},
        "created_at": datetime(2026, 12, 1, 8, 0, tzinfo=UTC),
    }
    values.update(fields)
    return OutboundMail(**values)


def parsed(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)


#: every line-break class of Unicode and ASCII, other C0/C1 controls, NUL and a lone surrogate
CONTROLS = [
    "\r",
    "\n",
    "\r\n",
    "\u2028",
    "\u2029",
    "\x85",
    "\x0b",
    "\x0c",
    "\x00",
    "\x1b",
    "\x7f",
    "\x9b",
    "\udcff",
]


@pytest.mark.parametrize("ch", CONTROLS, ids=[f"U+{ord(c[-1]):04X}" for c in CONTROLS])
def test_every_header_value_is_built_on_one_line(ch):
    row = make_row(
        subject=f"咨询{ch}Bcc: x@evil.example",
        in_reply_to=f"orig@corp.cn{ch}Bcc: x@evil.example",
        references=f"a@corp.cn{ch}b@corp.cn",
        headers={"X-Ticket": f"ZXZJ#1{ch}To: x@evil.example"},
        body_text=f"正文{ch}第二行",
    )
    out = outbox.build(row, SENDER)
    msg = parsed(out.data)
    assert out.recipients == ("zhang@corp.cn",) and msg["To"] == "zhang@corp.cn"
    assert msg["Bcc"] is None and len(msg.get_all("To")) == 1
    for name in ("Subject", "X-Ticket", "In-Reply-To", "References"):
        value = str(msg[name] or "")
        assert not any(unicodedata.category(c) in {"Cc", "Zl", "Zp"} for c in value), name
    # a line break or control becomes a space; a lone surrogate (an undecodable byte) becomes U+FFFD
    gap = "\ufffd" if ch == "\udcff" else " "
    assert msg["Subject"] == f"咨询{gap}Bcc: x@evil.example"
    assert msg["X-Ticket"] == f"ZXZJ#1{gap}To: x@evil.example"
    assert b"\x00" not in out.data and "正文" in msg.get_content()


def test_header_registry_reads_back_exactly_the_checked_recipients():
    out = outbox.build(make_row(to_addr="张三 <Zhang@Corp.CN>", cc_addr="li@corp.cn, wang@corp.cn"), SENDER)
    msg = parsed(out.data)
    assert out.recipients == ("Zhang@corp.cn", "li@corp.cn", "wang@corp.cn")
    assert [a.addr_spec for a in msg["To"].addresses + msg["Cc"].addresses] == list(out.recipients)
    assert msg["From"].addresses[0].addr_spec == SENDER and msg["Auto-Submitted"] == "auto-replied"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"to_addr": '"x" <"a,b@evil.example"@corp.example>'}, "收件人地址无效"),
        ({"cc_addr": "ok@corp.cn, undisclosed:;"}, "抄送地址无效"),
        ({"headers": {"Bcc": "x@evil.example"}}, "附加邮件头名称无效"),
        ({"headers": {"X-A\nBcc": "x"}}, "附加邮件头名称无效"),
        ({"message_id": "no id here"}, "Message-ID 无效"),
    ],
)
def test_a_row_that_cannot_be_built_says_why(fields, reason):
    with pytest.raises(outbox.MailBuildError, match=reason):
        outbox.build(make_row(**fields), SENDER)


@pytest.mark.parametrize(
    ("exc", "state", "go_on"),
    [
        (smtplib.SMTPRecipientsRefused({"a@corp.cn": (550, b"5.1.1 no such user")}), "failed", True),
        (smtplib.SMTPRecipientsRefused({"a@corp.cn": (553, b"relay denied")}), "failed", True),
        (smtplib.SMTPRecipientsRefused({"a@corp.cn": (450, b"greylisted")}), "retry", True),
        (
            smtplib.SMTPRecipientsRefused({"a@corp.cn": (550, b"no"), "b@corp.cn": (451, b"later")}),
            "retry",
            True,
        ),
        (smtplib.SMTPDataError(554, b"5.7.1 spam"), "failed", True),
        (smtplib.SMTPDataError(452, b"insufficient storage"), "retry", True),
        (smtplib.SMTPSenderRefused(552, b"message too big", SENDER), "failed", True),
        (smtplib.SMTPSenderRefused(553, b"sender not allowed", SENDER), "retry", False),
        (smtplib.SMTPSenderRefused(421, b"closing", SENDER), "retry", False),
        (smtplib.SMTPAuthenticationError(535, b"bad credentials"), "retry", False),
        (smtplib.SMTPHeloError(501, b"bad helo"), "retry", False),
        (smtplib.SMTPConnectError(554, b"no service"), "retry", False),
        (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), "retry", False),
        (smtplib.SMTPNotSupportedError("STARTTLS extension not supported"), "retry", False),
        (ConnectionRefusedError(111, "Connection refused"), "retry", False),
        (TimeoutError("timed out"), "retry", False),
        (ssl.SSLError(1, "certificate verify failed"), "retry", False),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_only_a_5xx_on_rcpt_or_data_is_permanent(exc, state, go_on):
    outcome = outbox.classify(exc)
    assert (outcome.state, outcome.go_on) == (state, go_on) and outcome.error
