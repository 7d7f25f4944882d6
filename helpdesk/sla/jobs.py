"""SLA warnings and breaches: single idempotent steps, safe with two workers running them at once.

The deadlines are stored on the ticket (due_at, warn_at); these steps only compare timestamps, under
the (status, warn_at) and (status, due_at) indexes. Each notice is claimed with a compare-and-set
on the ticket (warned_at / breached_at IS NULL) before anything is written, so it goes out once per
clock: in the app (Notification rows, unique per user/ticket/kind/clock) and by mail (outbox).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from helpdesk.auth.models import Role, User
from helpdesk.db import session, utcnow
from helpdesk.mail import outbox
from helpdesk.tickets.models import Notification, Ticket, TicketEvent

RUNNING = ("new", "open")  #: waiting tickets are paused: no warnings or breaches while paused


def _recipients(ticket: Ticket, kind: str) -> list[User]:
    users = session.scalars(select(User).where(User.active.is_(True))).all()
    supervisors = [u for u in users if u.has_role(Role.SUPERVISOR)]
    assignee = next((u for u in users if u.id == ticket.assignee_id), None)
    if kind == "sla_warning":
        return [assignee] if assignee else supervisors
    return ([assignee] if assignee else []) + [s for s in supervisors if assignee is None or s.id != assignee.id]


def _notify(ticket: Ticket, kind: str, now: datetime, sender: str, tz: Any) -> None:
    due = ticket.due_at.astimezone(tz) if ticket.due_at else None
    due_text = f"{due:%m-%d %H:%M}" if due else "—"
    if kind == "sla_warning":
        text = f"{ticket.number}（{ticket.type_label}）已用去 75% 的处理时限，截止 {due_text}。"
    else:
        text = f"{ticket.number}（{ticket.type_label}）已超过 2 个工作日的处理时限（截止 {due_text}）。"
    for user in _recipients(ticket, kind):
        session.add(Notification(user_id=user.id, ticket_id=ticket.id, kind=kind, clock_no=ticket.sla_clock_no,
                                 message=text, created_at=now))
        if user.email:
            outbox.queue(to=user.email, subject=f"[SLA] {text}", sender=sender, ticket_id=ticket.id, kind="sla",
                         body=f"{text}\n\n主题：{ticket.subject}\n发件人：{ticket.requester_email}\n")
    session.add(TicketEvent(ticket_id=ticket.id, kind=kind, at=now, detail={"clock": ticket.sla_clock_no}))


def _step(kind: str, now: datetime, sender: str, tz: Any) -> bool:
    """Handle the most overdue ticket of this kind; True when there may be more."""
    column, flag = (Ticket.warn_at, Ticket.warned_at) if kind == "sla_warning" else (Ticket.due_at, Ticket.breached_at)
    ticket = session.scalars(
        select(Ticket).where(Ticket.status.in_(RUNNING), column <= now, flag.is_(None)).order_by(column).limit(1)
    ).first()
    if ticket is None:
        session.rollback()
        return False
    won = session.execute(
        update(Ticket).where(Ticket.id == ticket.id, flag.is_(None), Ticket.status.in_(RUNNING))
        .values({flag.key: now}).execution_options(synchronize_session=False)
    ).rowcount == 1
    if won:  # otherwise another worker handled it first
        if kind == "sla_breach" and ticket.warned_at is None:
            # a breach implies the warning: never send a late warning after the breach
            session.execute(update(Ticket).where(Ticket.id == ticket.id).values(warned_at=now)
                            .execution_options(synchronize_session=False))
        _notify(ticket, kind, now, sender, tz)
    session.commit()
    return True


def tick(sender: str, tz: Any, now: datetime | None = None, limit: int = 1000) -> tuple[int, int]:
    """Run warnings and breaches until none is due; returns (warnings, breaches) handled."""
    now = now or utcnow()
    breaches = 0
    while breaches < limit and _step("sla_breach", now, sender, tz):
        breaches += 1
    warnings = 0
    while warnings < limit and _step("sla_warning", now, sender, tz):
        warnings += 1
    return warnings, breaches
