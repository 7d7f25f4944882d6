"""The stored calendar and SLA policies: seeding and reading (year checks, month grids, a deadline explained).

Edits live in sla.edits and the recompute of open clocks in sla.recompute; their public names are
re-exported here for the callers that know this module as the SLA service.
"""

from __future__ import annotations

import calendar as month_calendar
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select

from helpdesk.db import session, unit_of_work
from helpdesk.sla import clock
from helpdesk.sla.calendar import WEEKDAY_ZH, year_summary
from helpdesk.sla.edits import (  # noqa: F401  (re-exported)
    DAY_STATES,
    MODES,
    TICKET_TYPES,
    CalendarError,
    Notice,
    import_year,
    parse_notice,
    policies,
    set_day,
    update_policy,
)
from helpdesk.sla.models import CalendarDay, CalendarYear, SlaPolicy
from helpdesk.sla.recompute import (  # noqa: F401  (re-exported)
    Recomputed,
    recompute_open_tickets,
    recompute_open_tickets_report,
)
from helpdesk.sla.seed import package_years, seed_days

# ------------------------------------------------------------------------------------------ seed


def seed_calendar() -> str:
    """Store the package's official years that are not in the table yet (admin edits are kept). Commits."""
    first, last = package_years()
    first = max(first, 2020)
    known = set(session.scalars(select(CalendarYear.year)))
    missing = [y for y in range(first, last + 1) if y not in known]
    if not missing:
        return ""
    with unit_of_work() as s:
        existing = set(
            s.scalars(select(CalendarDay.day).where(func.extract("year", CalendarDay.day).in_(missing)))
        )
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


# -------------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class YearInfo:
    """One year's schedule status and its check counts (weekday days off, make-up weekend workdays)."""

    year: int
    status: str  #: official / provisional / missing
    source: str
    days_off: int
    makeup_days: int

    @property
    def status_label(self) -> str:
        return {"official": "已录入", "provisional": "暂定", "missing": "未录入"}.get(
            self.status, self.status
        )


@dataclass(frozen=True)
class DayCell:
    day: date
    in_month: bool
    working: bool
    kind: str | None  #: the stored exception: off / work / None (plain Mon-Fri rule)
    name: str  #: the holiday it belongs to, e.g. 国庆节
    source: str  #: package / admin / the notice URL ('' for a plain day)

    @property
    def weekday(self) -> str:
        return WEEKDAY_ZH[self.day.weekday()]


def year_infos(extra: tuple[int, ...] = ()) -> list[YearInfo]:
    """Every stored year plus `extra` years (shown as missing when absent), newest first."""
    stored = {y.year: y for y in session.scalars(select(CalendarYear))}
    years = sorted(set(stored) | set(extra), reverse=True)
    counts = _counts(years)
    out = []
    for year in years:
        row = stored.get(year)
        off, work = counts.get(year, (0, 0))
        out.append(YearInfo(year, row.status if row else "missing", row.source if row else "", off, work))
    return out


def year_info(year: int) -> YearInfo:
    """The status and check counts of one year."""
    row = session.get(CalendarYear, year)
    off, work = _counts([year]).get(year, (0, 0))
    return YearInfo(year, row.status if row else "missing", row.source if row else "", off, work)


def year_days(year: int) -> list[CalendarDay]:
    """The stored exceptions of a year (weekday days off, make-up weekend workdays), in date order."""
    first, last = date(year, 1, 1), date(year, 12, 31)
    return list(
        session.scalars(
            select(CalendarDay).where(CalendarDay.day.between(first, last)).order_by(CalendarDay.day)
        )
    )


def month_weeks(year: int, month: int) -> list[list[DayCell]]:
    """The month as weeks Monday to Sunday (days of the neighbouring months fill the first and last week)."""
    cal = clock.calendar()
    weeks = month_calendar.Calendar(firstweekday=0).monthdatescalendar(year, month)
    rows = {
        r.day: r
        for r in session.scalars(
            select(CalendarDay).where(CalendarDay.day.between(weeks[0][0], weeks[-1][-1]))
        )
    }
    out = []
    for week in weeks:
        cells = []
        for d in week:
            row = rows.get(d)
            cells.append(
                DayCell(
                    d,
                    d.month == month,
                    cal.is_working_day(d),
                    row.kind if row else None,
                    (row.name if row and row.name else cal.holiday_name(d)) or "",
                    row.source if row else "",
                )
            )
        out.append(cells)
    return out


def _counts(years: list[int]) -> dict[int, tuple[int, int]]:
    if not years:
        return {}
    first, last = date(min(years), 1, 1), date(max(years), 12, 31)
    rows = session.execute(
        select(CalendarDay.day, CalendarDay.kind, CalendarDay.name).where(
            CalendarDay.day.between(first, last)
        )
    ).all()
    return {year: year_summary(rows, year) for year in years}


def missing_years(today: date) -> list[int]:
    """Years without an official schedule that matter now: this year, and next year from 1 November."""
    needed = [today.year] + ([today.year + 1] if today.month >= 11 else [])
    known = set(
        session.scalars(
            select(CalendarYear.year).where(CalendarYear.year.in_(needed), CalendarYear.status == "official")
        )
    )
    return [y for y in needed if y not in known]


def calendar_banner(today: date) -> str | None:
    """The warning shown to supervisors and admins while a year that matters has no schedule, else None."""
    missing = missing_years(today)
    if not missing:
        return None
    years = "、".join(str(y) for y in missing)
    if today.year in missing:
        return f"{years} 年放假安排尚未录入，工单的截止时间按周一至周五暂定"
    return f"{years} 年放假安排尚未录入，跨年工单的截止时间按周一至周五暂定"


@dataclass(frozen=True)
class DueInfo:
    policy: clock.Policy
    received: datetime  #: in Asia/Shanghai
    due_at: datetime  #: in Asia/Shanghai
    warn_at: datetime
    budget_minutes: int
    provisional: bool
    explanation: str
    calendar_version: str


def explain_due(received: datetime, ticket_type: str) -> DueInfo:
    """The deadline of a mail received at `received` (aware) for a ticket type, on the stored calendar."""
    if received.tzinfo is None:
        raise CalendarError("收到时间需带时区，例如 2026-09-30T18:42:00+08:00。")
    policy = clock.policy_for(ticket_type)
    counter = clock.counter_for(policy)
    fresh = counter.fresh(received)
    return DueInfo(
        policy,
        fresh.local_received,
        fresh.due_at.astimezone(clock.TZ),
        fresh.warn_at.astimezone(clock.TZ),
        fresh.budget_minutes,
        fresh.provisional,
        counter.explanation(fresh),
        counter.cal.version,
    )
