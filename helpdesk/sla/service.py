"""Stored calendar and SLA policies: seeding from the chinesecalendar package, admin edits, recompute."""

from __future__ import annotations

from sqlalchemy import func, select

from helpdesk.db import session, unit_of_work
from helpdesk.sla.models import CalendarDay, CalendarYear, SlaPolicy
from helpdesk.sla.seed import package_years, seed_days

TICKET_TYPES = ("change", "unbind", "cancel", "recovery", "inquiry")


def seed_calendar() -> str:
    """Store the package's official years that are not in the table yet (admin edits are kept). Commits."""
    first, last = package_years()
    first = max(first, 2020)
    known = set(session.scalars(select(CalendarYear.year)))
    missing = [y for y in range(first, last + 1) if y not in known]
    if not missing:
        return ""
    with unit_of_work() as s:
        existing = set(s.scalars(select(CalendarDay.day).where(func.extract("year", CalendarDay.day).in_(missing))))
        for row in seed_days(min(missing), max(missing)):
            if row.day.year in missing and row.day not in existing:
                s.add(CalendarDay(day=row.day, kind=row.kind, name=row.name or "", source="package"))
        for year in missing:
            s.add(CalendarYear(year=year, status="official", source="chinesecalendar"))
    return f"工作日历：已从 chinesecalendar 载入 {missing[0]}-{missing[-1]} 年的放假与调休安排"


def seed_policies() -> str:
    """One default policy per ticket type: 2 working days, 09:00-17:00, warn at 75 %. Commits."""
    have = set(session.scalars(select(SlaPolicy.ticket_type)))
    new = [t for t in TICKET_TYPES if t not in have]
    if not new:
        return ""
    with unit_of_work() as s:
        for ticket_type in new:
            s.add(SlaPolicy(ticket_type=ticket_type))
    return f"SLA 策略：为 {len(new)} 种工单类型设置默认时限（2 个工作日，17:00 截止）"
