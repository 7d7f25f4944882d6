"""SLA notices: sla.jobs says which clock is due and claims it; this module raises the notices.

Each step is one unit of work: the claim (a compare-and-set on the clock row) and the notices it
causes commit together, so a notice goes out once per clock, in the app (Notification rows, unique per
user/ticket/kind/clock) and by mail (outbox). Safe with two workers running the steps at once.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError

from helpdesk.auth.models import Role, User
from helpdesk.core import leases
from helpdesk.db import session, unit_of_work, utcnow
from helpdesk.mail import outbox
from helpdesk.sla import clock, jobs, service
from helpdesk.tickets.models import Notification, Ticket, TicketEvent

WARNING, BREACH, CALENDAR_MISSING = jobs.WARNING, jobs.BREACH, "calendar_missing"


def _recipients(ticket: Ticket, kind: str) -> list[User]:
    """Warning: the assignee, or the supervisors when unassigned. Breach: the assignee and the supervisors."""
    users = session.scalars(select(User).where(User.active.is_(True)).order_by(User.id)).all()
    supervisors = [u for u in users if u.has_role(Role.SUPERVISOR)]
    assignee = next((u for u in users if u.id == ticket.assignee_id), None)
    if kind == WARNING:
        return [assignee] if assignee else supervisors
    return ([assignee] if assignee else []) + [
        s for s in supervisors if assignee is None or s.id != assignee.id
    ]


def _notify(ticket: Ticket, claim: jobs.Claim, now: datetime, sender: str, tz: Any) -> None:
    kind = claim.kind
    policy = clock.policy_for(ticket.type)
    due = claim.due_at.astimezone(tz) if claim.due_at else None
    due_text = f"{due:%m-%d %H:%M}" if due else "—"
    if kind == WARNING:
        text = f"{ticket.number}（{ticket.type_label}）已用去 {policy.warn_ratio:.0%} 的处理时限，截止 {due_text}。"
    else:
        text = f"{ticket.number}（{ticket.type_label}）已超过 {policy.days} 个工作日的处理时限（截止 {due_text}）。"
    for user in _recipients(ticket, kind):
        _add_notification(user, ticket.id, kind, claim.clock_no, text, now)
        if user.email:
            outbox.queue(
                to=user.email,
                subject=f"[SLA] {text}",
                sender=sender,
                ticket_id=ticket.id,
                kind="sla",
                body=f"{text}\n\n主题：{ticket.subject}\n发件人：{ticket.requester_email}\n",
            )
    session.add(TicketEvent(ticket_id=ticket.id, kind=kind, at=now, detail={"clock": claim.clock_no}))


def _add_notification(
    user: User, ticket_id: int | None, kind: str, clock_no: int, text: str, now: datetime
) -> bool:
    """Add one in-app notice; False when the same (user, ticket, kind, clock) exists already."""
    try:
        with session.begin_nested():  # a savepoint: a duplicate must not undo the claim around it
            session.add(
                Notification(
                    user_id=user.id,
                    ticket_id=ticket_id,
                    kind=kind,
                    clock_no=clock_no,
                    message=text,
                    created_at=now,
                )
            )
    except IntegrityError:
        return False
    return True


def step(kind: str, now: datetime, sender: str, tz: Any) -> bool | None:
    """Handle the most overdue clock of this kind: True if this worker raised its notice, False if another
    one claimed it first, None when nothing is due. One unit of work."""
    with unit_of_work():
        claim = jobs.claim_next(kind, now)
        if claim is None:
            return None
        if claim.won:
            ticket = session.get(Ticket, claim.ticket_id)
            if ticket is not None:
                _notify(ticket, claim, now, sender, tz)
        return claim.won


def tick(sender: str, tz: Any, now: datetime | None = None, limit: int = 1000) -> tuple[int, int]:
    """Run breaches, then warnings, until none is due; returns (warnings, breaches) this worker sent."""
    now = now or utcnow()
    counts = {BREACH: 0, WARNING: 0}
    for kind in (BREACH, WARNING):
        for _ in range(limit):
            won = step(kind, now, sender, tz)
            if won is None:
                break
            counts[kind] += bool(won)
    return counts[WARNING], counts[BREACH]


def scheduled_tick(sender: str, tz: Any, now: datetime | None = None) -> tuple[int, int] | None:
    """The scheduler's every-minute step: `tick` under the "sla-tick" lease, so one worker acts at a time
    (a second one skips; a worker that dies frees it at once on PostgreSQL, within the lease TTL on
    SQLite; if the lease expires mid-run, the claims still send each notice once).
    Returns (warnings, breaches), or None when another worker holds the lease."""
    with leases.held("sla-tick") as lease:
        if lease is None:
            return None
        return tick(sender, tz, now=now)


def check_calendar_coverage(sender: str, tz: Any, now: datetime | None = None) -> list[int]:
    """Daily: tell the admins (once per year, in the app and by mail) that a year that matters has no
    official schedule (this year, or next year from 1 November); returns the missing years."""
    now = now or utcnow()
    today = now.astimezone(tz).date()
    with unit_of_work():
        missing = service.missing_years(today)
        for year in missing:
            _tell_admins_once(year, today, now, sender)
    return missing


def _tell_admins_once(year: int, today: date, now: datetime, sender: str) -> None:
    text = (
        f"{year} 年放假安排尚未录入：涉及 {year} 年的工单截止时间暂按周一至周五计算。"
        f"请在国务院办公厅发布通知后，到“工作日历”页面录入 {year} 年的放假和调休安排。"
    )
    admins = session.scalars(select(User).where(User.active.is_(True), User.role == Role.ADMIN.value)).all()
    for admin in admins:
        # the notice is claimed by its row: unique (user, ticket, kind, clock) does not hold with ticket NULL,
        # so the check and the insert run under the admin's row lock (PostgreSQL) / the write lock (SQLite)
        session.execute(select(User.id).where(User.id == admin.id).with_for_update())
        sent = session.scalar(
            select(
                exists().where(
                    Notification.user_id == admin.id,
                    Notification.kind == CALENDAR_MISSING,
                    Notification.clock_no == year,
                )
            )
        )
        if sent:
            continue
        _add_notification(admin, None, CALENDAR_MISSING, year, text, now)
        if admin.email:
            outbox.queue(
                to=admin.email,
                subject=f"[工作日历] {year} 年放假安排尚未录入",
                body=text + "\n",
                sender=sender,
                kind="sla",
            )
