"""Notices that follow from what happened on a ticket: a reply from the enterprise on my ticket, a ticket
assigned to me, an approval waiting (supervisors), my approval request decided.

They are raised from the timeline event itself (`lifecycle.record` calls `from_event`), in the event's
transaction: the event happens once — its cause is claimed or locked by the service that records it —
so the notice does too, and a rollback takes both away. The notification row is keyed by the event
(unique user/ticket/kind/event id), so even a replayed event cannot notify twice. SLA warnings and
breaches are raised by their own job (tickets/notices.py).
"""

from __future__ import annotations

from flask import current_app, has_app_context
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from helpdesk.auth.models import Role, User
from helpdesk.db import session
from helpdesk.mail import outbox
from helpdesk.params import parse_id
from helpdesk.records.models import PendingApproval
from helpdesk.tickets.models import Notification, Ticket, TicketEvent

REPLIED, ASSIGNED = "enterprise_replied", "assigned_to_me"
APPROVAL_WAITING, APPROVAL_DECIDED = "approval_waiting", "approval_decided"
KIND_LABELS = {
    REPLIED: "企业回复",
    ASSIGNED: "分配给我",
    APPROVAL_WAITING: "待审批",
    APPROVAL_DECIDED: "审批结果",
    "sla_warning": "SLA 预警",
    "sla_breach": "SLA 超时",
    "calendar_missing": "工作日历",
}
#: the event kinds that can raise a notice
EVENT_KINDS = frozenset(
    {"mail_in", "assigned", "approval_requested", "approval_approved", "approval_declined"}
)


def from_event(ticket: Ticket, event: TicketEvent) -> None:
    """Raise the notices an event causes (none for most events)."""
    recipients = _recipients(ticket, event)
    if not recipients:
        return
    session.flush()  # the event's id keys the notice
    for user, kind, text in recipients:
        _add(user, ticket, kind, event, text)


def _recipients(ticket: Ticket, event: TicketEvent) -> list[tuple[User, str, str]]:
    detail = event.detail or {}
    number = ticket.number
    if event.kind == "mail_in":
        if detail.get("bounce") or ticket.assignee_id is None:
            return []
        user = session.get(User, ticket.assignee_id)
        return [(user, REPLIED, f"{number} 企业来信回复：{ticket.subject[:80]}")] if _active(user) else []
    if event.kind == "assigned":
        new = parse_id(event.new_value)
        if new is None or new == event.actor_id:  # claimed by oneself: nothing to tell
            return []
        user = session.get(User, new)
        by = session.get(User, event.actor_id) if event.actor_id else None
        who = f"{by.name}将" if by else "系统将"
        return [(user, ASSIGNED, f"{who} {number} 分配给您：{ticket.subject[:80]}")] if _active(user) else []
    if event.kind == "approval_requested":
        supervisors = session.scalars(
            select(User).where(
                User.active.is_(True), User.role.in_([Role.SUPERVISOR.value, Role.ADMIN.value])
            )
        ).all()
        text = f"{number} 有一项注销申请等待审批（账号 {event.new_value or '—'}）"
        return [(u, APPROVAL_WAITING, text) for u in supervisors if u.id != event.actor_id]
    if event.kind in ("approval_approved", "approval_declined"):
        pending = session.get(PendingApproval, parse_id(str(detail.get("approval", ""))) or 0)
        if pending is None:
            return []
        user = session.get(User, pending.requested_by_id)
        if event.kind == "approval_approved":
            text = f"您提交的 {number} 注销申请已批准并办结"
        else:
            text = f"您提交的 {number} 注销申请被驳回" + (
                f"：{detail['reason']}" if detail.get("reason") else ""
            )
        return [(user, APPROVAL_DECIDED, text)] if _active(user) and user.id != event.actor_id else []
    return []


def _active(user: User | None) -> bool:
    return user is not None and user.active


def _add(user: User, ticket: Ticket, kind: str, event: TicketEvent, text: str) -> None:
    try:
        with session.begin_nested():  # a savepoint: a duplicate must not undo the caller's work
            session.add(
                Notification(
                    user_id=user.id, ticket_id=ticket.id, kind=kind, clock_no=event.id, message=text,
                    created_at=event.at,
                )
            )  # fmt: skip
    except IntegrityError:
        return
    if user.email and _by_mail():
        outbox.queue(
            to=user.email,
            subject=f"[工单通知] {text}",
            body=f"{text}\n\n主题：{ticket.subject}\n",
            sender=str(current_app.config["HELPDESK"]["HELPDESK_SMTP_FROM"]),
            ticket_id=ticket.id,
            kind="notice",
        )


def _by_mail() -> bool:
    return has_app_context() and bool(current_app.config["HELPDESK"]["HELPDESK_NOTIFY_BY_MAIL"])
