"""The outbox never jams: bad rows fail alone with a reason, outages only delay, claims never dangle.

Real SMTP servers on 127.0.0.1 throughout: the shared recording aiosmtpd (`smtp`), a small aiosmtpd
of our own that refuses chosen recipients (`picky`), a closed port (an outage) and a listening
socket that never answers (a hung server).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select, update

from helpdesk import db
from helpdesk.db import session, utcnow
from helpdesk.mail import outbox
from helpdesk.mail.models import OutboundMail
from helpdesk.mail.outbox import SmtpSettings
from helpdesk.tickets import intake
from tests.intake.conftest import make_mail
from tests.servers import HOST, free_port

SENDER = "zxzj@ec.com.cn"
EVIL = "evil.example"


def queue(to: str = "ok@corp.cn", subject: str = "回复：资金拨付", **kwargs: object) -> int:
    row = outbox.queue(to=to, subject=subject, body="您好，已处理。", sender=SENDER, **kwargs)  # type: ignore[arg-type]
    session.commit()
    return row.id


def row(row_id: int) -> OutboundMail:
    session.expire_all()
    found = session.get(OutboundMail, row_id)
    assert found is not None
    return found


def delivered_ids(messages: list) -> list[str]:
    return [m.message["Message-ID"].strip("<>") for m in messages]


# ------------------------------------------------------------------------ bad rows never stop the run

#: every line-break class and some other controls; NUL and lone surrogates are in the build test below
#: (PostgreSQL cannot even store them, so they never reach a queued row there)
BREAKS = {
    "CR": "\r",
    "LF": "\n",
    "CRLF": "\r\n",
    "LS U+2028": "\u2028",
    "PS U+2029": "\u2029",
    "NEL U+0085": "\x85",
    "VT": "\x0b",
    "FF": "\x0c",
    "ESC": "\x1b",
    "US": "\x1f",
    "DEL": "\x7f",
    "CSI U+009B": "\x9b",
}


@pytest.mark.parametrize("brk", list(BREAKS.values()), ids=list(BREAKS))
def test_subject_with_a_line_break_is_sent_on_one_line_and_the_run_goes_on(app, smtp, smtp_settings, brk):
    first = queue("a@corp.cn", "第一封")
    bad = queue("b@corp.cn", f"咨询{brk}Bcc: victim@{EVIL}{brk}{brk}正文")
    last = queue("c@corp.cn", "第三封")
    assert outbox.send_pending(smtp_settings) == 3
    messages = smtp.wait_for(3)
    assert sorted(delivered_ids(messages)) == sorted(row(i).message_id for i in (first, bad, last))
    injected = next(m for m in messages if m.rcpt_tos == ["b@corp.cn"])
    assert injected.message["Subject"] == f"咨询 Bcc: victim@{EVIL} 正文"
    assert injected.message["Bcc"] is None
    assert all(EVIL not in r for m in messages for r in m.rcpt_tos)
    assert all(row(i).sent_at and row(i).claimed_at is None for i in (first, bad, last))


CRAFTED = {
    "quoted local part": f'"x" <"a,b@{EVIL}"@corp.example>',
    "parser leftover": f'a,b@{EVIL}"@corp.example',
    "two mailboxes": f"ok@corp.cn, b@{EVIL}",
    "group": f"g: ok@corp.cn, b@{EVIL};",
    "line break": f"ok@corp.cn\nBcc: b@{EVIL}",
    "U+2028": f"ok@corp.cn\u2028Bcc: b@{EVIL}",
    "route": f"<@{EVIL}:ok@corp.cn>",
    "domain literal": "ok@[127.0.0.1]",
    "empty": "",
    "no domain": "ok",
}


@pytest.mark.parametrize("to", list(CRAFTED.values()), ids=list(CRAFTED))
def test_a_crafted_recipient_fails_that_row_with_a_reason_and_the_run_goes_on(app, smtp, smtp_settings, to):
    first = queue("a@corp.cn", "第一封")
    bad = queue(to, "第二封")
    last = queue("c@corp.cn", "第三封")
    assert outbox.send_pending(smtp_settings) == 3
    messages = smtp.wait_for(2)
    assert sorted(delivered_ids(messages)) == sorted(row(i).message_id for i in (first, last))
    failed = row(bad)
    assert failed.failed and failed.sent_at is None and failed.claimed_at is None
    assert failed.last_error.startswith("收件人地址无效：")
    assert outbox.send_pending(smtp_settings) == 0  # a failed row waits for an admin
    assert len(smtp.messages) == 2


def test_crafted_cc_or_header_name_fails_the_row(app, smtp, smtp_settings):
    cc = queue("a@corp.cn", cc=f'"x" <"a,b@{EVIL}"@corp.example>')
    bcc = queue("b@corp.cn", headers={"Bcc": f"x@{EVIL}"})
    colon = queue("c@corp.cn", headers={"X-A: b": "c"})
    good = queue("d@corp.cn", headers={"X-Ticket": "ZXZJ#1\r\nBcc: x@evil.example"})
    assert outbox.send_pending(smtp_settings) == 4
    [message] = smtp.wait_for(1)
    assert message.rcpt_tos == ["d@corp.cn"] and message.message["X-Ticket"] == "ZXZJ#1 Bcc: x@evil.example"
    assert row(cc).failed and row(cc).last_error.startswith("抄送地址无效：")
    assert row(bcc).failed and row(colon).failed and "邮件头名称无效" in row(colon).last_error
    assert row(good).sent_at is not None


def test_crafted_from_gets_no_mail_to_evil_example(app, smtp, smtp_settings):
    intake.import_eml(make_mail(subject="正常来信", sender="good@corp.cn"))
    intake.import_eml(make_mail(subject="伪造地址", sender=f'"x" <"a,b@{EVIL}"@corp.example>'))
    outbox.send_pending(smtp_settings)
    messages = smtp.wait_for(1)
    assert [m.rcpt_tos for m in messages] == [["good@corp.cn"]]
    # intake either queued no acknowledgement or one the outbox refused; never one that went out
    others = session.scalars(select(OutboundMail).where(OutboundMail.to_addr != "good@corp.cn")).all()
    assert all(r.failed and r.sent_at is None and r.last_error for r in others)


# ----------------------------------------------------------------- a server that refuses some mail


class PickyHandler:
    """aiosmtpd handler: RCPT and DATA replies chosen per recipient prefix; records what it accepts."""

    def __init__(self) -> None:
        self.rcpt_replies: dict[str, str] = {}
        self.data_replies: dict[str, str] = {}
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        for prefix, reply in self.rcpt_replies.items():
            if address.startswith(prefix):
                return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        for prefix, reply in self.data_replies.items():
            if any(r.startswith(prefix) for r in envelope.rcpt_tos):
                return reply
        self.messages.append((list(envelope.rcpt_tos), bytes(envelope.original_content or b"")))
        return "250 OK"


@pytest.fixture
def picky() -> Iterator[tuple[PickyHandler, SmtpSettings]]:
    from aiosmtpd.controller import Controller

    handler = PickyHandler()
    port = free_port()
    controller = Controller(handler, hostname=HOST, port=port, ready_timeout=10)
    controller.start()
    try:
        yield handler, SmtpSettings(host=HOST, port=port, security="none", sender=SENDER)
    finally:
        controller.stop()


def test_5xx_on_one_recipient_fails_that_row_only(app, picky):
    handler, settings = picky
    handler.rcpt_replies["nobody@"] = "550 5.1.1 no such user"
    ids = [queue("a@corp.cn"), queue("nobody@corp.cn"), queue("c@corp.cn")]
    assert outbox.send_pending(settings) == 3
    assert [rcpts for rcpts, _ in handler.messages] == [["a@corp.cn"], ["c@corp.cn"]]
    refused = row(ids[1])
    assert refused.failed and refused.claimed_at is None
    assert "收件人被服务器拒绝" in refused.last_error and "550" in refused.last_error
    assert row(ids[0]).sent_at and row(ids[2]).sent_at


def test_5xx_on_data_fails_the_row_and_4xx_only_delays_it(app, picky):
    handler, settings = picky
    handler.data_replies["spam@"] = "554 5.7.1 message refused"
    handler.data_replies["later@"] = "451 4.3.0 try again later"
    handler.rcpt_replies["grey@"] = "450 4.2.0 greylisted"
    spam, later, grey, good = (queue(f"{n}@corp.cn") for n in ("spam", "later", "grey", "good"))
    now = utcnow()
    assert outbox.send_pending(settings, now=now) == 4  # a 4xx is about one mail: the run goes on
    assert [rcpts for rcpts, _ in handler.messages] == [["good@corp.cn"]]
    assert row(spam).failed and "554" in row(spam).last_error
    for waiting in (later, grey):
        assert not row(waiting).failed and row(waiting).claimed_at is None and row(waiting).last_error
        assert row(waiting).next_attempt_at > now
    handler.data_replies.pop("later@")
    handler.rcpt_replies.clear()
    assert outbox.send_pending(settings, now=now + timedelta(minutes=5)) == 2
    assert sorted(r for rcpts, _ in handler.messages for r in rcpts) == [
        "good@corp.cn",
        "grey@corp.cn",
        "later@corp.cn",
    ]


def test_a_refused_cc_does_not_resend_the_mail_to_the_others(app, picky):
    handler, settings = picky
    handler.rcpt_replies["nobody@"] = "550 5.1.1 no such user"
    sent = queue("a@corp.cn", cc="nobody@corp.cn, b@corp.cn")
    assert outbox.send_pending(settings) == 1
    assert [rcpts for rcpts, _ in handler.messages] == [["a@corp.cn", "b@corp.cn"]]
    assert row(sent).sent_at and "部分收件人被拒绝" in row(sent).last_error


# -------------------------------------------------------------------------- outages only delay mail


def test_three_day_outage_keeps_mail_queued_and_delivers_each_once_when_the_server_returns(
    app, smtp, smtp_settings
):
    ids = [queue(f"r{i}@corp.cn", f"来信 {i}") for i in range(5)]
    down = SmtpSettings(host=HOST, port=free_port(), security="none", sender=SENDER)  # nothing listens
    start = utcnow()
    now = start
    while now < start + timedelta(days=3):
        assert outbox.send_pending(down, now=now) == 0
        now += timedelta(minutes=10)
    rows = [row(i) for i in ids]
    assert not any(r.failed or r.sent_at or r.claimed_at for r in rows)
    assert all("无法连接 SMTP 服务器" in r.last_error for r in rows)
    assert all(r.attempts >= 60 for r in rows)  # retried about hourly for three days, never given up
    assert all(r.next_attempt_at <= now + outbox.MAX_BACKOFF for r in rows)  # the backoff stays capped
    back = now + outbox.MAX_BACKOFF
    assert outbox.send_pending(smtp_settings, now=back) == 5
    assert sorted(delivered_ids(smtp.wait_for(5))) == sorted(r.message_id for r in rows)
    assert outbox.send_pending(smtp_settings, now=back + timedelta(days=1)) == 0
    assert len(smtp.messages) == 5
    assert all(row(i).sent_at == back and not row(i).failed for i in ids)


@pytest.fixture
def silent_server() -> Iterator[SmtpSettings]:
    """A port that accepts connections and never says a word (a hung SMTP server)."""
    listener = socket.socket()
    listener.bind((HOST, 0))
    listener.listen(8)
    try:
        yield SmtpSettings(host=HOST, port=listener.getsockname()[1], security="none", sender=SENDER)
    finally:
        listener.close()


def test_a_hung_server_cannot_hold_a_claim_past_its_timeout(app, silent_server, monkeypatch):
    # the whole SMTP session gets half the claim timeout, whatever the per-read timeout (30 s) says
    monkeypatch.setattr(outbox, "CLAIM_TIMEOUT", timedelta(seconds=2))
    held = queue()
    assert outbox.send_next(silent_server) is False
    waiting = row(held)
    assert waiting.claimed_at is None and not waiting.failed and waiting.attempts == 1
    assert waiting.last_error.startswith("无法连接 SMTP 服务器：")


@pytest.fixture
def trickling_server() -> Iterator[SmtpSettings]:
    """A server whose greeting never ends: a continuation line every 0.1 s, each read well inside its timeout."""
    listener = socket.socket()
    listener.bind((HOST, 0))
    listener.listen(8)
    stop = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            while not stop.wait(0.1):
                try:
                    conn.sendall(b"220-still greeting\r\n")
                except OSError:  # the client hung up
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield SmtpSettings(host=HOST, port=listener.getsockname()[1], security="none", sender=SENDER)
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=5)


def test_a_trickling_server_is_cut_off_at_half_the_claim_timeout(app, trickling_server, monkeypatch):
    monkeypatch.setattr(outbox, "CLAIM_TIMEOUT", timedelta(seconds=2))
    held = queue()
    assert outbox.send_next(trickling_server) is False
    waiting = row(held)
    assert waiting.claimed_at is None and not waiting.failed and waiting.attempts == 1
    assert "SMTP 会话超过 1 秒，已中断" in waiting.last_error


# --------------------------------------------------------------------------------------------- claims


def test_the_claim_timeout_is_sixty_seconds_by_default():
    assert outbox.CLAIM_TIMEOUT.total_seconds() == 60


@pytest.mark.parametrize("timeout", [None, timedelta(seconds=5)], ids=["default", "5s"])
def test_a_dead_workers_claim_is_taken_over_after_the_timeout_and_not_before(
    app, smtp, smtp_settings, monkeypatch, timeout
):
    if timeout is not None:
        monkeypatch.setattr(outbox, "CLAIM_TIMEOUT", timeout)
    limit = outbox.CLAIM_TIMEOUT
    orphan = queue()
    died_at = utcnow()
    session.execute(update(OutboundMail).where(OutboundMail.id == orphan).values(claimed_at=died_at))
    session.commit()
    assert outbox.send_next(smtp_settings, now=died_at + limit - timedelta(seconds=1)) is False
    assert smtp.messages == [] and row(orphan).claimed_at == died_at
    assert outbox.send_next(smtp_settings, now=died_at + limit + timedelta(seconds=1)) is True
    assert delivered_ids(smtp.wait_for(1)) == [row(orphan).message_id]
    assert row(orphan).sent_at and row(orphan).claimed_at is None


def test_four_senders_at_the_same_instant_send_each_row_once(app: Flask, smtp, smtp_settings):
    ids = [queue(f"p{i}@corp.cn", f"并发 {i}") for i in range(16)]
    db.session.remove()
    now: datetime = utcnow()  # one instant for all: the compare-and-set alone must decide

    def worker() -> None:
        with app.app_context():
            while outbox.send_next(smtp_settings, now=now):
                pass
            db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    received = delivered_ids(smtp.wait_for(16))
    assert len(received) == 16 and len(set(received)) == 16
    assert all(row(i).sent_at and row(i).attempts == 1 for i in ids)
