"""A known ticket history around China's 2026 National Day holiday, written through the SLA engine.

Calendar facts used (2026, from the State Council notice): Sun 09-20 is a make-up workday; Fri 09-25
(中秋) and Thu 10-01 .. Wed 10-07 (国庆) are days off; Sat 10-10 is a make-up workday. Business hours
09:00-17:00. `recovery` tickets use the business-hours policy (2 x 8 h); every other type the default
working-day policy (close of business on the 2nd working day after the day of receipt).

Every status change goes through `tickets.lifecycle.change_status` (so the clock columns and the
`sla_paused` / `sla_resumed` / `sla_restarted` events are the engine's own); every figure expected by
the tests is counted by hand in the comments of `build()`.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from helpdesk.auth.models import Role, User
from helpdesk.db import session
from helpdesk.sla import clock
from helpdesk.sla.models import CalendarDay, CalendarYear, SlaPolicy
from helpdesk.sla.seed import seed_days
from helpdesk.tickets import lifecycle
from helpdesk.tickets.models import Ticket, TicketStatus
from tests.conftest import make_user

SH = ZoneInfo("Asia/Shanghai")

#: the moment the tests look at the dashboard: Mon 2026-10-12 14:00
NOW = datetime(2026, 10, 12, 14, 0, tzinfo=SH)


def at(text: str) -> datetime:
    """'10-08 09:30' -> 2026-10-08 09:30 Asia/Shanghai."""
    return datetime.strptime(f"2026-{text}", "%Y-%m-%d %H:%M").replace(tzinfo=SH)


def seed_calendar(years: tuple[int, ...] = (2025, 2026)) -> None:
    """Make sure the package's schedule for `years` is stored (whatever the app's own seeding did)."""
    for row in seed_days(min(years), max(years)):
        if session.get(CalendarDay, row.day) is None:
            session.add(CalendarDay(day=row.day, kind=row.kind, name=row.name or "", source="package"))
    for year in years:
        if session.get(CalendarYear, year) is None:
            session.add(CalendarYear(year=year, status="official", source="package"))
    session.flush()


def set_policy(ticket_type: str, mode: str) -> None:
    policy = session.get(SlaPolicy, ticket_type) or SlaPolicy(ticket_type=ticket_type)
    policy.mode, policy.days, policy.business_start, policy.business_end = mode, 2, "09:00", "17:00"
    policy.warn_ratio = 0.75
    session.add(policy)
    session.flush()


class History:
    def __init__(self, agent_a: User, agent_b: User, supervisor: User) -> None:
        self.a, self.b, self.sup = agent_a, agent_b, supervisor
        self.t: dict[str, Ticket] = {}

    def ticket(self, name: str, ticket_type: str, received: str) -> Ticket:
        ticket = Ticket(
            type=ticket_type,
            subject=f"{name} 测试工单",
            requester_email=f"{name.lower()}@corp.test",
            received_at=at(received),
        )
        session.add(ticket)
        session.flush()
        clock.start(ticket, ticket.received_at)
        lifecycle.record(
            ticket,
            "created",
            new=ticket_type,
            at=ticket.received_at,
            detail={"due_at": ticket.due_at.isoformat()},
        )
        self.t[name] = ticket
        return ticket

    def assign(self, name: str, user: User, when: str) -> None:
        ticket = self.t[name]
        old = ticket.assignee_id
        ticket.assignee_id = user.id
        lifecycle.record(ticket, "assigned", by=self.sup, field="assignee", old=old, new=user.id, at=at(when))
        if ticket.status == "new":
            lifecycle.change_status(ticket, TicketStatus.OPEN, by=user, at=at(when))

    def status(self, name: str, status: TicketStatus, when: str, by: User | None) -> None:
        lifecycle.change_status(self.t[name], status, by=by, at=at(when))
        session.flush()


def build() -> History:
    """The history; returns the tickets by name (T1 .. T13)."""
    seed_calendar()
    for ticket_type in ("change", "unbind", "cancel", "inquiry"):
        set_policy(ticket_type, "working_days")
    set_policy("recovery", "business_hours")
    a = make_user("agent_a", Role.AGENT, display_name="甲客服")
    b = make_user("agent_b", Role.AGENT, display_name="乙客服")
    sup = session.query(User).filter_by(username="super1").one()
    h = History(a, b, sup)
    R, W, OPEN, X, M = (
        TicketStatus.RESOLVED,
        TicketStatus.WAITING,
        TicketStatus.OPEN,
        TicketStatus.REJECTED,
        TicketStatus.MERGED,
    )

    # T1 change, received Wed 09-30 18:42 (after hours: day 1 = Thu 10-08, day 2 = Fri 10-09): due 10-09 17:00.
    # Resolved 10-09 16:00 by A: met. Handling 10-08 (480) + 10-09 09:00-16:00 (420) = 900 min.
    h.ticket("T1", "change", "09-30 18:42")
    h.assign("T1", a, "10-08 09:30")
    h.status("T1", R, "10-09 16:00", a)

    # T2 unbind, received Tue 09-29 10:00: due Thu 10-08 17:00 (09-30, then the holiday, then 10-08).
    # Paused 09-30 14:00 with 180 + 480 = 660 min left; resumed 10-09 10:00 after 180 + 480 + 60 = 720 paused
    # minutes; new due 10-09 10:00 + 660 = 420 that day + 240 on Sat 10-10 (make-up workday) = 10-10 13:00.
    # Resolved Sat 10-10 11:30 by B: met. Handling 420 + 480 + 480 + 480 + 150 - 720 = 1290; paused 720.
    h.ticket("T2", "unbind", "09-29 10:00")
    h.assign("T2", b, "09-29 11:00")
    h.status("T2", W, "09-30 14:00", b)
    h.status("T2", OPEN, "10-09 10:00", None)
    h.status("T2", R, "10-10 11:30", b)

    # T3 cancel, received Mon 09-28 09:00: due Wed 09-30 17:00. Unassigned until 10-08 10:00.
    # Resolved 10-08 15:00 by A: missed by 360 min (10-08 09:00-15:00). Handling 480 * 3 + 360 = 1800.
    h.ticket("T3", "cancel", "09-28 09:00")
    h.assign("T3", a, "10-08 10:00")
    h.status("T3", R, "10-08 15:00", a)

    # T4 inquiry, received Fri 09-18 15:00: due Mon 09-21 17:00 (Sun 09-20 is day 1). Resolved 09-21 10:00
    # (before the period). Reopened Tue 09-29 09:30: clock 2 due 10-08 17:00. Rejected 10-09 09:30 by A:
    # missed by 30 min. Handling 450 + 480 + 480 + 30 = 1440.
    h.ticket("T4", "inquiry", "09-18 15:00")
    h.assign("T4", a, "09-18 15:30")
    h.status("T4", R, "09-21 10:00", a)
    h.status("T4", OPEN, "09-29 09:30", None)
    h.status("T4", X, "10-09 09:30", a)

    # T5 change, received Thu 10-08 09:00: due Sat 10-10 17:00. Resolved 10-08 16:00 by B: met, handling 420.
    # Reopened Fri 10-09 11:00: clock 2 due Mon 10-12 17:00 (Sat 10-10 is day 1); still open (处理中).
    h.ticket("T5", "change", "10-08 09:00")
    h.assign("T5", b, "10-08 09:10")
    h.status("T5", R, "10-08 16:00", b)
    h.status("T5", OPEN, "10-09 11:00", None)

    # T6 inquiry, received Mon 09-28 14:00: due 09-30 17:00. Waiting from 09-29 10:00 (before the due),
    # closed while waiting 10-09 09:00 by A: met. Handling 180 + 60 = 240; paused 420 + 480 + 480 = 1380.
    h.ticket("T6", "inquiry", "09-28 14:00")
    h.assign("T6", a, "09-28 14:30")
    h.status("T6", W, "09-29 10:00", a)
    h.status("T6", R, "10-09 09:00", a)

    # T7 change, received Wed 09-30 09:00: due Fri 10-09 17:00; never assigned. Open and breached:
    # past due at NOW = 480 (Sat 10-10) + 300 (10-12 09:00-14:00) = 780.
    h.ticket("T7", "change", "09-30 09:00")

    # T8 unbind, received Mon 09-28 10:00: due 09-30 17:00. Assigned B; waiting from 10-08 10:00, i.e. 60
    # business minutes after the due: breached before the pause, 0 minutes left; still waiting.
    h.ticket("T8", "unbind", "09-28 10:00")
    h.assign("T8", b, "09-28 11:00")
    h.status("T8", W, "10-08 10:00", b)

    # T9 inquiry, received Fri 10-09 16:00: due Mon 10-12 17:00 (Sat 10-10 is day 1); new, unassigned.
    h.ticket("T9", "inquiry", "10-09 16:00")

    # T10 recovery (business hours, 960 min), received Sat 10-10 09:30 (a make-up workday):
    # 450 on 10-10 + 480 on 10-12 + 30 -> due Tue 10-13 09:30; at NOW 180 + 30 = 210 min left.
    h.ticket("T10", "recovery", "10-10 09:30")

    # T11 change, received Mon 10-12 10:00 (after the period): due Wed 10-14 17:00; assigned A.
    h.ticket("T11", "change", "10-12 10:00")
    h.assign("T11", a, "10-12 10:05")

    # T13 inquiry, received 10-08 09:00, merged into T1 at 10-08 10:00: received, never a resolution.
    h.ticket("T13", "inquiry", "10-08 09:00")
    h.t["T13"].merged_into_id = h.t["T1"].id
    lifecycle.record(
        h.t["T13"], "merged", by=sup, field="merged_into", new=h.t["T1"].id, at=at("10-08 10:00")
    )
    h.status("T13", M, "10-08 10:00", sup)
    session.commit()
    return h
