"""Outbound mail: queued as rows in the caller's transaction, sent by a job over SMTP with retries.

A down SMTP server delays mail and never loses it: a row is only marked sent after the server
accepted it, and a claim (compare-and-set on claimed_at) keeps two workers from sending it twice.
"""

from __future__ import annotations

import smtplib
import ssl
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from typing import Any

from sqlalchemy import or_, select, update

from helpdesk.db import session, utcnow
from helpdesk.mail.models import OutboundMail

MAX_ATTEMPTS = 12
CLAIM_TIMEOUT = timedelta(minutes=10)  #: a claim older than this belongs to a worker that died
MAILER_NAME = "helpdesk-zxzj"


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    user: str = ""
    password: str = ""
    security: str = "none"  #: none / starttls / ssl
    sender: str = "zxzj@ec.com.cn"
    timeout: float = 30.0

    @classmethod
    def from_settings(cls, settings: Any) -> SmtpSettings:
        return cls(
            host=str(settings["HELPDESK_SMTP_HOST"]),
            port=int(settings["HELPDESK_SMTP_PORT"]),
            user=str(settings["HELPDESK_SMTP_USER"]),
            password=str(settings["HELPDESK_SMTP_PASSWORD"]),
            security=str(settings["HELPDESK_SMTP_SSL"]),
            sender=str(settings["HELPDESK_SMTP_FROM"]),
        )


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
) -> OutboundMail:
    """Add a mail to the outbox in the current transaction (a rollback discards it too)."""
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
        next_attempt_at=utcnow(),
    )
    session.add(row)
    return row


def build_message(row: OutboundMail, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = formataddr(("外贸发展专项资金项目组", sender))
    msg["To"] = row.to_addr
    if row.cc_addr:
        msg["Cc"] = row.cc_addr
    msg["Subject"] = row.subject
    msg["Message-ID"] = f"<{row.message_id}>"
    msg["Date"] = format_datetime(row.created_at)
    if row.in_reply_to:
        msg["In-Reply-To"] = f"<{row.in_reply_to}>"
    if row.references:
        msg["References"] = " ".join(f"<{r}>" for r in row.references.split())
    # our mail is machine-sent when it is an acknowledgement or a notice: tell other robots not to answer
    if row.kind in {"ack", "sla"}:
        msg["Auto-Submitted"] = "auto-replied" if row.kind == "ack" else "auto-generated"
        msg["X-Auto-Response-Suppress"] = "All"
    msg["X-Loop"] = sender
    msg["X-Mailer"] = MAILER_NAME
    for name, value in (row.headers or {}).items():
        msg[name] = value
    msg.set_content(row.body_text, charset="utf-8")
    return msg


def _claim_next(now: datetime) -> OutboundMail | None:
    candidate = session.scalars(
        select(OutboundMail)
        .where(
            OutboundMail.sent_at.is_(None),
            OutboundMail.failed.is_(False),
            OutboundMail.next_attempt_at <= now,
            or_(OutboundMail.claimed_at.is_(None), OutboundMail.claimed_at < now - CLAIM_TIMEOUT),
        )
        .order_by(OutboundMail.next_attempt_at, OutboundMail.id)
        .limit(1)
    ).first()
    if candidate is None:
        session.commit()
        return None
    won = session.execute(
        update(OutboundMail)
        .where(OutboundMail.id == candidate.id, OutboundMail.sent_at.is_(None))
        .where(or_(OutboundMail.claimed_at.is_(None), OutboundMail.claimed_at < now - CLAIM_TIMEOUT))
        .values(claimed_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    if won != 1:  # another worker claimed it first
        return _claim_next(now)
    session.refresh(candidate)
    return candidate


def send_next(smtp: SmtpSettings, now: datetime | None = None) -> bool:
    """Send the oldest due mail; return True when there may be more to do right away."""
    now = now or utcnow()
    row = _claim_next(now)
    if row is None:
        return False
    try:
        _deliver(smtp, build_message(row, smtp.sender))
    except smtplib.SMTPRecipientsRefused as exc:
        _failed(row, now, f"收件人被拒绝：{exc.recipients}", permanent=True)
    except (TimeoutError, smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        _failed(row, now, f"{type(exc).__name__}: {exc}", permanent=False)
        return False  # the server is unwell: stop this round, retry on the next tick
    else:
        session.execute(
            update(OutboundMail).where(OutboundMail.id == row.id).values(sent_at=utcnow(), last_error=None)
        )
        session.commit()
    return True


def _failed(row: OutboundMail, now: datetime, error: str, *, permanent: bool) -> None:
    attempts = row.attempts + 1
    delay = min(timedelta(hours=1), timedelta(seconds=30) * (2 ** (attempts - 1)))
    session.execute(
        update(OutboundMail)
        .where(OutboundMail.id == row.id)
        .values(
            attempts=attempts,
            last_error=error[:2000],
            claimed_at=None,
            next_attempt_at=now + delay,
            failed=permanent or attempts >= MAX_ATTEMPTS,
        )
    )
    session.commit()


def _deliver(smtp: SmtpSettings, msg: EmailMessage) -> None:
    if smtp.security == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            smtp.host, smtp.port, timeout=smtp.timeout, context=ssl.create_default_context()
        )
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
    with client:
        if smtp.security == "starttls":
            client.starttls(context=ssl.create_default_context())
        if smtp.user:
            client.login(smtp.user, smtp.password)
        client.send_message(msg)


def send_pending(smtp: SmtpSettings, limit: int = 200) -> int:
    """Send due mail until none is left (or `limit`); returns how many rows were handled."""
    if not smtp.host:
        return 0
    handled = 0
    while handled < limit and send_next(smtp):
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


__all__ = ["SmtpSettings", "build_message", "make_msgid", "queue", "retry", "send_next", "send_pending"]
