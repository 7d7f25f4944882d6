"""Outbound mail: queued as rows in the caller's transaction, sent by a job over SMTP with retries.

A down SMTP server delays mail and never loses it: a row is only marked sent after the server
accepted it, and a claim (compare-and-set on claimed_at) keeps two workers from sending it twice.

Every way out of `send_next` ends the claim it took, in one of three ways:

- sent: the server accepted the mail;
- failed (shown to admins with a Chinese reason, `retry()` puts it back): the row can never become a
  mail we are willing to send (a bad recipient, a header that will not build), or the server refused
  it permanently (5xx on RCPT or DATA);
- put back with a capped backoff: everything else. An outage, a timeout, a 4xx or an error of ours
  only delays a mail; no count of attempts ever turns it into a failure.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import smtplib
import socket
import ssl
import threading
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select, update

from helpdesk.db import session, utcnow
from helpdesk.mail import addresses, store
from helpdesk.mail.models import OutboundMail

log = logging.getLogger(__name__)

#: told every attempt's Outcome (the worker's SMTP outage tracking and metrics); mail imports no one
OBSERVERS: list[Any] = []

#: a claim older than this belongs to a worker that died; read at call time, so tests can shorten it
CLAIM_TIMEOUT = timedelta(seconds=60)
FIRST_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(hours=1)
MAILER_NAME = "helpdesk-zxzj"
SENDER_NAME = "外贸发展专项资金项目组"
#: headers the outbox writes itself; a row's extra headers may not replace them
RESERVED_HEADERS = frozenset(
    {
        "from",
        "sender",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "subject",
        "message-id",
        "date",
        "in-reply-to",
        "references",
    }
)
_HEADER_NAME = re.compile(r"[!-9;-~]+")  #: RFC 5322 ftext: printable ASCII except ":"
_MSGID = re.compile(r"[!-;=?-~]+@[!-;=?-~]+")  #: printable ASCII without space, "<" and ">"


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    user: str = ""
    password: str = ""
    security: str = "none"  #: none / starttls / ssl
    sender: str = "zxzj@ec.com.cn"
    timeout: float = 30.0  #: per SMTP read or write; a whole session is also kept inside the claim
    attachments_dir: str = ""  #: where the files a row names (OutboundMail.attachments) are stored

    @classmethod
    def from_settings(cls, settings: Any) -> SmtpSettings:
        return cls(
            host=str(settings["HELPDESK_SMTP_HOST"]),
            port=int(settings["HELPDESK_SMTP_PORT"]),
            user=str(settings["HELPDESK_SMTP_USER"]),
            password=str(settings["HELPDESK_SMTP_PASSWORD"]),
            security=str(settings["HELPDESK_SMTP_SSL"]),
            sender=str(settings["HELPDESK_SMTP_FROM"]),
            attachments_dir=str(settings["HELPDESK_ATTACHMENTS_DIR"] or ""),
        )


class MailBuildError(ValueError):
    """The row cannot become a mail we are willing to send; the message is the reason, in Chinese."""


class AttachmentUnavailable(OSError):
    """A file the row names cannot be read now (missing, unreadable): the mail waits, it is not failed."""


#: reads a stored attachment's bytes by its stored name (relative to the attachments directory)
Loader = Callable[[str], bytes]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A built mail: the SMTP envelope and the bytes, exactly what goes on the wire."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one attempt ended: sent, failed (permanent) or retry (put back with a backoff)."""

    state: str
    error: str | None = None
    go_on: bool = True  #: False when the server itself is unwell: end this run, try again next tick


def new_message_id(sender: str) -> str:
    domain = sender.rpartition("@")[2] or "helpdesk.local"
    return f"{uuid.uuid4().hex}.zxzj@{domain}"


def queue(
    *,
    to: str,
    subject: str,
    body: str,
    sender: str,
    ticket_id: int | None = None,
    kind: str = "reply",
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    cc: str = "",
    headers: dict[str, str] | None = None,
    attachments: list[dict[str, Any]] | None = None,
) -> OutboundMail:
    """Add a mail to the outbox in the current transaction (a rollback discards it too).

    `attachments`: files already stored content-addressed (mail.store), each
    {"name", "sha256", "stored_name", "content_type", "size"}; the bytes are read when the mail is built.
    """
    row = OutboundMail(
        ticket_id=ticket_id,
        kind=kind,
        to_addr=to,
        cc_addr=cc,
        subject=subject,
        body_text=body,
        message_id=new_message_id(sender),
        in_reply_to=in_reply_to,
        references=" ".join(references or []) or None,
        headers=headers or {},
        attachments=list(attachments or []) or None,
        next_attempt_at=utcnow(),
    )
    session.add(row)
    return row


# ------------------------------------------------------------------------------------------ building


def clean_header(value: str) -> str:
    """Header text on one line: every line break class (CR, LF, U+2028, U+0085, ...) and control -> space."""
    chars = []
    for ch in value:
        category = unicodedata.category(ch)
        if category == "Cs":  # a lone surrogate (undecodable byte) cannot be encoded at all
            chars.append("\ufffd")
        elif category in {"Cc", "Zl", "Zp"}:
            chars.append(" ")
        else:
            chars.append(ch)
    return " ".join("".join(chars).split())


def _clean_body(text: str) -> str:
    # line breaks are fine in a body (it is transfer-encoded); NUL and lone surrogates are not
    return "".join("\ufffd" if unicodedata.category(ch) == "Cs" else ch for ch in text if ch != "\x00")


def _msgids(text: str | None) -> list[str]:
    """Our own and the requester's message ids; one that could break the header is left out."""
    return [ref.strip("<>") for ref in (text or "").split() if _MSGID.fullmatch(ref.strip("<>"))]


def _attach(msg: EmailMessage, item: dict[str, Any], load: Loader | None) -> None:
    """Add one stored file as a part, byte for byte, its name encoded by RFC 2231 where it is not ASCII."""
    name = clean_header(str(item.get("name") or "")) or "附件"
    if load is None:
        raise MailBuildError(f"邮件带有附件“{name}”，但没有配置附件目录")
    try:
        data = load(str(item.get("stored_name") or ""))
    except (OSError, ValueError) as exc:
        raise AttachmentUnavailable(f"附件“{name}”暂时无法读取：{exc}") from exc
    if item.get("sha256") and hashlib.sha256(data).hexdigest() != item["sha256"]:
        raise MailBuildError(f"附件“{name}”的内容与入队时不一致，拒绝发送")
    maintype, _, subtype = str(item.get("content_type") or "").partition("/")
    if not maintype or not subtype or maintype in {"text", "multipart", "message"}:
        # text/* would be re-encoded by the email package; every file goes out byte for byte
        maintype, subtype = "application", "octet-stream"
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    # the email package writes a Chinese name as filename*=utf-8''... (RFC 2231); clients that read the
    # Content-Type's name instead (older Outlook, Foxmail) get the same, encoded the same way
    msg.get_payload()[-1].set_param("name", name, header="Content-Type")


def build_message(row: OutboundMail, sender: str, load: Loader | None = None) -> EmailMessage:
    """The mail for `row`; MailBuildError when its recipients are not exactly valid mailboxes.

    `load` reads the bytes of the files in `row.attachments`; a file it cannot read raises
    AttachmentUnavailable (the mail waits and is tried again)."""
    to, problem = addresses.single_mailbox(row.to_addr)
    if to is None:
        raise MailBuildError(f"收件人地址无效：{problem}（{clean_header(row.to_addr)[:200]}）")
    cc, problem = addresses.mailboxes(row.cc_addr or "")
    if problem:
        raise MailBuildError(f"抄送地址无效：{problem}（{clean_header(row.cc_addr)[:200]}）")
    if not _msgids(row.message_id):
        raise MailBuildError(f"邮件的 Message-ID 无效：{clean_header(row.message_id)[:200]}")
    msg = EmailMessage()
    msg["From"] = Address(display_name=SENDER_NAME, addr_spec=sender)
    msg["To"] = Address(addr_spec=to)
    if cc:
        msg["Cc"] = [Address(addr_spec=a) for a in cc]
    msg["Subject"] = clean_header(row.subject)
    msg["Message-ID"] = f"<{_msgids(row.message_id)[0]}>"
    msg["Date"] = format_datetime(row.created_at)
    in_reply_to = _msgids(row.in_reply_to)[:1]
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to[0]}>"
    references = _msgids(row.references)
    if references:
        msg["References"] = " ".join(f"<{r}>" for r in references)
    # our mail is machine-sent when it is an acknowledgement or a notice: tell other robots not to answer
    if row.kind in {"ack", "sla", "notice"}:
        msg["Auto-Submitted"] = "auto-replied" if row.kind == "ack" else "auto-generated"
        msg["X-Auto-Response-Suppress"] = "All"
    msg["X-Loop"] = sender
    msg["X-Mailer"] = MAILER_NAME
    for name, value in (row.headers or {}).items():
        if not _HEADER_NAME.fullmatch(name) or name.lower() in RESERVED_HEADERS:
            raise MailBuildError(f"附加邮件头名称无效：{clean_header(name)[:100]}")
        msg[name] = clean_header(str(value))
    body = _clean_body(row.body_text)
    # base64, not 8bit: we do not ask the server for 8BITMIME, and a strict one would refuse 8bit for good
    msg.set_content(body, charset="utf-8", cte=None if body.isascii() else "base64")
    for item in row.attachments or []:
        _attach(msg, item, load)
    # read the headers back as a receiving parser would: they must name exactly our recipients
    written = [a.addr_spec for name in ("To", "Cc") if msg[name] for a in msg[name].addresses]
    if written != [to, *cc]:
        raise MailBuildError(f"收件人地址写入邮件头后发生变化：{written}")
    return msg


def build(row: OutboundMail, sender: str, load: Loader | None = None) -> Outgoing:
    """The envelope and bytes for `row`: the envelope recipients are the checked ones, never re-parsed."""
    msg = build_message(row, sender, load)
    recipients = tuple(a.addr_spec for name in ("To", "Cc") if msg[name] for a in msg[name].addresses)
    return Outgoing(
        sender=sender, recipients=recipients, data=msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
    )


# ------------------------------------------------------------------------------------------- sending


def _claim_next(now: datetime) -> OutboundMail | None:
    """Claim the oldest due row (compare-and-set on claimed_at); the row is returned loaded, outside any transaction."""
    stale = now - CLAIM_TIMEOUT
    unclaimed = or_(OutboundMail.claimed_at.is_(None), OutboundMail.claimed_at < stale)
    while True:
        candidate = session.scalars(
            select(OutboundMail.id)
            .where(
                OutboundMail.sent_at.is_(None),
                OutboundMail.failed.is_(False),
                OutboundMail.next_attempt_at <= now,
                unclaimed,
            )
            .order_by(OutboundMail.next_attempt_at, OutboundMail.id)
            .limit(1)
        ).first()
        if candidate is None:
            session.commit()
            return None
        won = session.execute(
            update(OutboundMail)
            .where(
                OutboundMail.id == candidate, OutboundMail.sent_at.is_(None), OutboundMail.failed.is_(False)
            )
            .where(unclaimed)
            .values(claimed_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        session.commit()
        if won == 1:
            break
        # rowcount != 1: another worker claimed it first; look for the next one
    row = session.get(OutboundMail, candidate, populate_existing=True)
    session.commit()  # no transaction stays open while we talk to the SMTP server
    return row


def send_next(smtp: SmtpSettings, now: datetime | None = None) -> bool:
    """Try to send the oldest due mail; return True when the run may go on to the next one."""
    now = now or utcnow()
    row = _claim_next(now)
    if row is None:
        return False
    try:
        outcome = _attempt(row, smtp, now)
    except Exception as exc:  # a bug of ours: put the row back (never dangling), end this run
        log.exception("outbox: sending mail %s failed unexpectedly", row.id)
        session.rollback()
        outcome = Outcome("retry", f"发送程序内部错误：{type(exc).__name__}: {exc}", go_on=False)
    except BaseException:  # interrupted (shutdown): release the claim for the next worker, then stop
        session.rollback()
        _finish(row, now, Outcome("retry", "发送被中断"))
        raise
    _finish(row, now, outcome)
    for observe in OBSERVERS:  # the worker's SMTP outage tracking and metrics (helpdesk.scheduler)
        observe(outcome)
    return outcome.go_on


def _attempt(row: OutboundMail, smtp: SmtpSettings, now: datetime) -> Outcome:
    sender, problem = addresses.single_mailbox(smtp.sender)
    if sender is None:  # our configuration, not this mail: keep every row queued until it is fixed
        return Outcome("retry", f"发件地址 HELPDESK_SMTP_FROM 无效：{problem}", go_on=False)
    load = _loader(smtp.attachments_dir) if smtp.attachments_dir else None
    try:
        outgoing = build(row, sender, load)
    except AttachmentUnavailable as exc:  # a file of ours, perhaps a storage hiccup: wait, never lose
        return Outcome("retry", str(exc))
    except MailBuildError as exc:
        return Outcome("failed", str(exc))
    except Exception as exc:  # the email package refuses some values with ValueError and friends
        return Outcome("failed", f"邮件无法生成：{type(exc).__name__}: {exc}")
    try:
        # marked sent the moment the server took it, before QUIT: the window in which a killed worker
        # leaves a sent mail unmarked (to be sent again, same Message-ID) is our commit alone
        refused = _deliver(smtp, outgoing, accepted=lambda refused: _finish(row, now, _sent(refused)))
    except (smtplib.SMTPException, OSError) as exc:  # OSError: refused, reset, timeout, DNS, TLS
        return classify(exc)
    return _sent(refused)


def _sent(refused: dict[str, tuple[int, bytes]]) -> Outcome:
    if refused:  # accepted for the others: the mail is sent, the admins see who was refused
        return Outcome("sent", f"部分收件人被拒绝：{_refusals(refused)}")
    return Outcome("sent")


def _loader(directory: str) -> Loader:
    return lambda name: store.load(Path(directory), name)


def classify(exc: BaseException) -> Outcome:
    """Permanent (5xx on RCPT or DATA) -> failed; everything else is an outage or a 4xx -> retry."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        text = _refusals(exc.recipients)
        if exc.recipients and all(500 <= code < 600 for code, _ in exc.recipients.values()):
            return Outcome("failed", f"收件人被服务器拒绝：{text}")
        return Outcome("retry", f"收件人被暂时拒绝：{text}")
    if isinstance(exc, smtplib.SMTPSenderRefused):
        if exc.smtp_code == 552:  # MAIL FROM ... SIZE=: this mail is too big, for good
            return Outcome("failed", f"邮件过大，服务器拒收：{_reply(exc)}")
        # our sender address or account, the same for every mail: keep them all queued
        return Outcome("retry", f"服务器拒绝发件地址：{_reply(exc)}", go_on=False)
    if isinstance(exc, smtplib.SMTPDataError):
        if 500 <= exc.smtp_code < 600:
            return Outcome("failed", f"服务器拒收这封邮件：{_reply(exc)}")
        return Outcome("retry", f"服务器暂时拒收这封邮件：{_reply(exc)}")
    if isinstance(exc, smtplib.SMTPResponseException):  # greeting, HELO, STARTTLS, AUTH: the server
        return Outcome("retry", f"SMTP 服务器错误：{_reply(exc)}", go_on=False)
    return Outcome("retry", f"无法连接 SMTP 服务器：{type(exc).__name__}: {exc}", go_on=False)


def _reply(exc: smtplib.SMTPResponseException) -> str:
    text = (
        exc.smtp_error.decode("utf-8", "replace")
        if isinstance(exc.smtp_error, bytes)
        else str(exc.smtp_error)
    )
    return f"{exc.smtp_code} {clean_header(text)}"


def _refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    return "；".join(
        f"{addr} {code} {clean_header(reply.decode('utf-8', 'replace'))}"
        for addr, (code, reply) in refused.items()
    )


def _backoff(attempts: int) -> timedelta:
    # 30 s, 1 min, 2 min ... capped at MAX_BACKOFF; the exponent is capped too (timedelta overflows)
    return min(MAX_BACKOFF, FIRST_BACKOFF * (2 ** min(attempts - 1, 20)))


def _finish(row: OutboundMail, now: datetime, outcome: Outcome) -> None:
    """End the claim on `row`: sent, failed, or back in the queue after a backoff. Commits."""
    attempts = row.attempts + 1
    values: dict[str, Any] = {
        "attempts": attempts,
        "claimed_at": None,
        "last_error": outcome.error[:2000] if outcome.error else None,
    }
    if outcome.state == "sent":
        values["sent_at"] = now
    elif outcome.state == "failed":
        values["failed"] = True
    else:
        values["next_attempt_at"] = now + _backoff(attempts)
    session.execute(
        update(OutboundMail)
        .where(OutboundMail.id == row.id, OutboundMail.sent_at.is_(None))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.commit()


def _deliver(
    smtp: SmtpSettings,
    outgoing: Outgoing,
    accepted: Callable[[dict[str, tuple[int, bytes]]], None] | None = None,
) -> dict[str, tuple[int, bytes]]:
    """Hand the mail to the server; returns the refused recipients (empty: all accepted).
    `accepted` is told them as soon as the server has taken the mail, before the goodbye."""
    # the whole session gets half the claim, so the claim cannot expire (and another worker send the
    # mail again) while we are still talking; per-read timeouts alone do not stop a server that trickles
    budget = CLAIM_TIMEOUT.total_seconds() / 2
    timeout = min(smtp.timeout, budget)
    client: smtplib.SMTP
    if smtp.security == "ssl":
        client = smtplib.SMTP_SSL(timeout=timeout, context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(timeout=timeout)
    expired = threading.Event()
    watchdog = threading.Timer(budget, _cut, args=(client, expired))
    watchdog.start()
    try:
        client.connect(smtp.host, smtp.port)
        if smtp.security == "starttls":
            client.starttls(context=ssl.create_default_context())
        if smtp.user:
            client.login(smtp.user, smtp.password)
        refused = client.sendmail(outgoing.sender, list(outgoing.recipients), outgoing.data)
        if accepted is not None:
            accepted(refused)
        # the server has the mail already: a failed goodbye must not make us send it again
        with contextlib.suppress(smtplib.SMTPException, OSError):
            client.quit()
    except (smtplib.SMTPException, OSError) as exc:
        if expired.is_set():
            raise TimeoutError(f"SMTP 会话超过 {budget:g} 秒，已中断") from exc
        raise
    finally:
        watchdog.cancel()
        client.close()
    return refused


def _cut(client: smtplib.SMTP, expired: threading.Event) -> None:
    # runs in the watchdog thread: shutting the socket down wakes the blocked read with an error
    expired.set()
    sock = client.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def send_pending(smtp: SmtpSettings, limit: int = 200, now: datetime | None = None) -> int:
    """Send due mail until none is left, the server is unwell, or `limit`; returns how many rows were handled."""
    if not smtp.host:
        return 0
    handled = 0
    while handled < limit and send_next(smtp, now):
        handled += 1
    return handled


def retry(row_id: int) -> None:
    """Put a failed mail back in the queue (admin action). Commits."""
    session.execute(
        update(OutboundMail)
        .where(OutboundMail.id == row_id, OutboundMail.sent_at.is_(None))
        .values(failed=False, attempts=0, next_attempt_at=utcnow(), claimed_at=None)
    )
    session.commit()


__all__ = [
    "CLAIM_TIMEOUT",
    "AttachmentUnavailable",
    "MailBuildError",
    "Outcome",
    "SmtpSettings",
    "build",
    "build_message",
    "classify",
    "clean_header",
    "make_msgid",
    "queue",
    "retry",
    "send_next",
    "send_pending",
]
