"""The steps of a ticket's life: record an event, change the status, queue a reply.

Public, and none of them commits: each changes rows in the caller's unit of work (a service of
tickets.services or tickets.resolve, the mail intake, the demo), so that a status change, its
timeline event, its SLA clock and the mail it causes commit together or not at all.

    with unit_of_work():
        lifecycle.record(ticket, "note", by=agent)
        lifecycle.change_status(ticket, TicketStatus.WAITING, by=agent, at=utcnow(), reason="请企业补充材料")
        lifecycle.queue_reply(ticket, "请补充营业执照扫描件。", by=agent, kind="request")
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app

from helpdesk.auth.models import User
from helpdesk.db import Conflict, Refused, session, utcnow
from helpdesk.mail import addresses, outbox
from helpdesk.mail.filters import add_subject_tag
from helpdesk.sla import clock
from helpdesk.tickets.models import Message, MessageKind, Ticket, TicketEvent
from helpdesk.vocabulary import (
    ANSWERED_STATUSES,
    CLOSED_STATUSES,
    OPEN_STATUSES,
    RUNNING_STATUSES,
    TicketStatus,
)

__all__ = ["Conflict", "TicketError", "check_version", "change_status", "queue_reply", "record"]


#: a refused ticket operation, with a Chinese message for the agent; a Conflict is one too
TicketError = Refused


def check_version(ticket: Ticket, expected_version: int | None) -> None:
    """Raise Conflict when the page the agent saved from showed an older version of the ticket."""
    if expected_version is not None and ticket.version != expected_version:
        raise Conflict()


def record(
    ticket: Ticket,
    kind: str,
    *,
    by: User | None = None,
    field: str | None = None,
    old: Any = None,
    new: Any = None,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> TicketEvent:
    """Add one event to the ticket's timeline (who, when, what changed from what to what)."""
    event = TicketEvent(
        ticket=ticket,
        kind=kind,
        field=field,
        old_value=None if old is None else str(old),
        new_value=None if new is None else str(new),
        detail=detail,
        actor_id=by.id if by else None,
        at=at or utcnow(),
    )
    session.add(event)
    return event


def change_status(
    ticket: Ticket, status: TicketStatus, *, by: User | None, at: datetime, reason: str = ""
) -> None:
    """Set the status with its event; pause, resume or restart the SLA clock as the change requires."""
    old = ticket.status
    if old == status.value:
        return
    ticket.status = status.value
    record(
        ticket,
        "status",
        by=by,
        field="status",
        old=old,
        new=status.value,
        at=at,
        detail={"reason": reason} if reason else None,
    )
    if status == TicketStatus.WAITING:
        remaining = clock.pause(ticket, at)
        record(ticket, "sla_paused", by=by, at=at, detail={"remaining_minutes": remaining})
    elif old == TicketStatus.WAITING.value and status.value in RUNNING_STATUSES:
        paused = clock.resume(ticket, at)
        record(
            ticket,
            "sla_resumed",
            by=by,
            at=at,
            detail={"paused_minutes": paused, "due_at": _iso(ticket.due_at)},
        )
    elif old in ANSWERED_STATUSES and status.value in OPEN_STATUSES:
        ticket.resolved_at = None
        clock.restart(ticket, at)
        record(
            ticket,
            "sla_restarted",
            by=by,
            at=at,
            detail={"clock": ticket.sla_clock_no, "due_at": _iso(ticket.due_at)},
        )
    if status.value in CLOSED_STATUSES:
        ticket.resolved_at = at
        if old in OPEN_STATUSES:
            clock.stop(ticket, at, status.value, by.id if by is not None else None)  # stores the outcome


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _sender() -> str:
    return str(current_app.config["HELPDESK"]["HELPDESK_SMTP_FROM"])


def _thread_refs(ticket: Ticket) -> tuple[str | None, list[str]]:
    """In-Reply-To and References for a mail on this ticket: the latest inbound mail and our earlier ones."""
    ids = [m.message_id for m in ticket.messages if m.message_id and m.kind != MessageKind.NOTE.value]
    inbound = [m.message_id for m in ticket.messages if m.kind == MessageKind.INBOUND.value and m.message_id]
    return (inbound[-1] if inbound else (ids[-1] if ids else None)), ids[-20:]


def queue_reply(
    ticket: Ticket,
    body: str,
    *,
    by: User | None,
    kind: str = "reply",
    to: str | None = None,
    subject: str | None = None,
) -> Message:
    """Queue a mail to the requester in the outbox and add it to the conversation; returns the message."""
    if not (to or ticket.requester_email):
        raise TicketError("这张工单没有发件人地址，无法回复邮件。请改用内部备注。")
    recipient, problem = addresses.single_mailbox(to or ticket.requester_email)
    if recipient is None:
        raise TicketError(f"这张工单的发件人地址无法用于回复（{problem}）。请电话联系企业，或改用内部备注。")
    in_reply_to, references = _thread_refs(ticket)
    subject = add_subject_tag(subject or f"回复：{ticket.subject}", ticket.id)
    row = outbox.queue(
        to=recipient,
        subject=subject,
        body=body,
        sender=_sender(),
        ticket_id=ticket.id,
        kind=kind,
        in_reply_to=in_reply_to,
        references=references,
    )
    session.flush()
    message = Message(
        ticket=ticket,
        kind=MessageKind.OUTBOUND.value,
        message_id=row.message_id,
        in_reply_to=in_reply_to,
        sender=_sender(),
        recipients=recipient,
        subject=subject,
        body_text=body,
        author_id=by.id if by else None,
        outbound_mail_id=row.id,
    )
    session.add(message)
    return message
