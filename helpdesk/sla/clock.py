"""The SLA clock of a ticket: start, pause, resume, stop and recompute, on the stored calendar.

Functions here only change the ticket in the caller's transaction (they flush nothing and never
commit): tickets.services owns the unit of work. The calendar maths is in sla.calendar (pure).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import func, select

from helpdesk.db import session
from helpdesk.sla.calendar import WorkCalendar
from helpdesk.sla.models import CalendarDay, CalendarYear, SlaPolicy

DEFAULT_TZ = "Asia/Shanghai"


@dataclass(frozen=True)
class Policy:
    ticket_type: str
    mode: str  #: working_days / business_hours
    days: int
    start: time
    end: time
    warn_ratio: float


_cache: dict[tuple[Any, ...], WorkCalendar] = {}
_cache_lock = threading.Lock()


def _hm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def policy_for(ticket_type: str) -> Policy:
    row = session.get(SlaPolicy, ticket_type) or SlaPolicy(
        ticket_type=ticket_type,
        mode="working_days",
        days=2,
        business_start="09:00",
        business_end="17:00",
        warn_ratio=0.75,
    )
    return Policy(
        ticket_type,
        row.mode or "working_days",
        row.days or 2,
        _hm(row.business_start or "09:00"),
        _hm(row.business_end or "17:00"),
        row.warn_ratio if row.warn_ratio is not None else 0.75,
    )


def calendar(hours: tuple[time, time] = (time(9), time(17)), tz: str = DEFAULT_TZ) -> WorkCalendar:
    """The stored calendar with these business hours; rebuilt only when the stored days change."""
    days = session.execute(select(func.count(CalendarDay.day), func.max(CalendarDay.updated_at))).one()
    years = session.execute(select(func.count(CalendarYear.year), func.max(CalendarYear.updated_at))).one()
    key = (*days, *years, hours, tz)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    rows = session.scalars(select(CalendarDay)).all()
    years = session.scalars(select(CalendarYear.year).where(CalendarYear.status == "official")).all()
    built = WorkCalendar.from_rows(rows, known_years=years, hours=hours, tz=tz)
    with _cache_lock:
        _cache.clear()  # one calendar state at a time is enough; old keys are dead
        _cache[key] = built
    return built


def calendar_for(policy: Policy) -> WorkCalendar:
    return calendar((policy.start, policy.end))


def start(ticket: Any, at: datetime) -> None:
    """Start a new clock at `at` (the IMAP INTERNALDATE of the mail, or the reopen time)."""
    ticket.sla_started_at = at
    ticket.sla_paused_at = None
    ticket.sla_resumed_at = None
    ticket.sla_remaining_minutes = None
    ticket.sla_paused_minutes = 0
    ticket.warned_at = None
    ticket.breached_at = None
    _compute(ticket)


def pause(ticket: Any, at: datetime) -> int:
    """Stop the clock while waiting on the enterprise; returns the business minutes left."""
    if ticket.sla_paused_at is not None or ticket.due_at is None:
        return ticket.sla_remaining_minutes or 0
    cal = calendar_for(policy_for(ticket.type))
    remaining = max(0, cal.business_minutes_between(at, ticket.due_at))
    ticket.sla_paused_at = at
    ticket.sla_remaining_minutes = remaining
    ticket.due_at = None
    ticket.warn_at = None
    ticket.sla_explanation = (
        f"等待企业补充材料，计时暂停（{_local(at):%Y-%m-%d %H:%M} 起），剩余 {_hours(remaining)}。"
    )
    return remaining


def resume(ticket: Any, at: datetime) -> int:
    """Restart a paused clock at `at` with the business time that was left; returns minutes paused."""
    if ticket.sla_paused_at is None:
        return 0
    cal = calendar_for(policy_for(ticket.type))
    paused = max(0, cal.business_minutes_between(ticket.sla_paused_at, at))
    ticket.sla_paused_minutes = (ticket.sla_paused_minutes or 0) + paused
    ticket.sla_paused_at = None
    ticket.sla_resumed_at = at
    _compute(ticket)
    return paused


def _compute(ticket: Any) -> None:
    """Set due_at, warn_at, budget, explanation from the clock's stored start / resume state."""
    policy = policy_for(ticket.type)
    cal = calendar_for(policy)
    ticket.sla_policy = policy.mode
    ticket.sla_calendar_version = cal.version
    if ticket.sla_paused_at is not None:
        return
    if ticket.sla_resumed_at is not None:
        remaining = ticket.sla_remaining_minutes or 0
        due = cal.add_business_minutes(ticket.sla_resumed_at, remaining)
        ticket.due_at = due.astimezone(UTC)
        ticket.sla_provisional = bool(cal.missing_years(_local(ticket.sla_resumed_at).year, due.year))
        used_before = (ticket.sla_budget_minutes or 0) - remaining
        warn_left = policy.warn_ratio * (ticket.sla_budget_minutes or 0) - used_before
        ticket.warn_at = cal.add_business_minutes(ticket.sla_resumed_at, max(0, int(warn_left))).astimezone(
            UTC
        )
        ticket.sla_explanation = (
            f"{_local(ticket.sla_resumed_at):%Y-%m-%d %H:%M} 恢复计时，暂停期间（共 {_hours(ticket.sla_paused_minutes)}"
            f"工作时间）不计；剩余 {_hours(remaining)}；截止 {_local(due):%Y-%m-%d %H:%M}"
        )
        return
    started = ticket.sla_started_at
    if policy.mode == "business_hours":
        deadline = cal.due_by_business_hours(started, policy.days)
    else:
        deadline = cal.due_by_working_days(started, policy.days)
    ticket.due_at = deadline.due_at.astimezone(UTC)
    ticket.sla_provisional = deadline.provisional
    ticket.sla_budget_minutes = max(0, cal.business_minutes_between(started, deadline.due_at))
    ticket.warn_at = cal.business_point(started, deadline.due_at, policy.warn_ratio).astimezone(UTC)
    explanation = deadline.explanation
    if deadline.provisional:
        explanation += "（暂定：所涉年份的放假安排尚未录入，按周一至周五计算）"
    ticket.sla_explanation = explanation


def recompute(ticket: Any) -> bool:
    """Recompute a running clock after a calendar or policy change; True when due_at moved."""
    before = ticket.due_at
    if ticket.sla_started_at is None or ticket.sla_paused_at is not None:
        return False
    _compute(ticket)
    return before != ticket.due_at


def business_minutes_left(ticket: Any, now: datetime) -> int | None:
    """Business minutes until due (negative when past), the stored remainder while paused, None if no clock."""
    if ticket.sla_paused_at is not None:
        return ticket.sla_remaining_minutes
    if ticket.due_at is None:
        return None
    return calendar_for(policy_for(ticket.type)).business_minutes_between(now, ticket.due_at)


def _local(at: datetime) -> datetime:
    from zoneinfo import ZoneInfo

    return at.astimezone(ZoneInfo(DEFAULT_TZ))


def _hours(minutes: int | None) -> str:
    minutes = minutes or 0
    hours, rest = divmod(abs(minutes), 60)
    sign = "-" if minutes < 0 else ""
    return f"{sign}{hours} 小时 {rest} 分" if rest else f"{sign}{hours} 小时"
