"""Stored calendar and SLA policies: seeding, admin edits (audited), year checks, recompute of open tickets.

Each public function that writes is one unit of work and commits once. A calendar or policy change
and the recompute of every open ticket's deadline it causes commit together, so no ticket is left
with a deadline from a calendar that no longer exists.
"""

from __future__ import annotations

import calendar as month_calendar
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from helpdesk.auth.models import User
from helpdesk.db import session, unit_of_work
from helpdesk.records.models import AuditEntry
from helpdesk.sla import clock
from helpdesk.sla.calendar import WEEKDAY_ZH, year_summary
from helpdesk.sla.models import CalendarDay, CalendarYear, SlaPolicy
from helpdesk.sla.seed import package_years, seed_days
from helpdesk.tickets.models import OPEN_STATUSES, TYPE_LABELS, Ticket

TICKET_TYPES = ("change", "unbind", "cancel", "recovery", "inquiry")
MODES = {
    "working_days": "按工作日（不计收到当日，第 N 个工作日下班截止）",
    "business_hours": "按工作时间（只计上班时间）",
}
BATCH = 5000  #: rows per fetch when recomputing open tickets
MAX_RANGE_DAYS = 31  #: the longest run of days off a notice gives (the longest so far is 9)
NAME_LOOKBACK_DAYS = 32  #: an explanation names the holiday run around the receipt: up to 31 days before it


class CalendarError(ValueError):
    """A refused calendar or policy change, with a Chinese message for the supervisor."""


@dataclass(frozen=True)
class Recomputed:
    """What a recompute did: open tickets checked, rows rewritten, deadlines moved, provisional cleared."""

    checked: int = 0
    changed: int = 0
    moved: int = 0
    provisional_cleared: int = 0

    def summary(self) -> str:
        text = f"已重新计算 {self.checked} 张未结工单的截止时间，其中 {self.moved} 张的截止时间有变动"
        if self.provisional_cleared:
            text += f"，{self.provisional_cleared} 张不再是暂定"
        return text + "。"


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


# --------------------------------------------------------------------------------- calendar edits


DAY_STATES = {"off": "放假（不上班）", "work": "上班", "default": "恢复默认（周一至周五上班）"}


def set_day(day: date, state: str, *, name: str = "", reason: str = "", by: User | None) -> Recomputed | None:
    """Make one day a day off, a working day, or the plain Mon-Fri rule again; audited; recomputes.
    None when the day already was so. Commits."""
    if state not in DAY_STATES:
        raise CalendarError("请选择这一天是放假、上班还是恢复默认。")
    name = name.strip()[:100]
    weekend = day.weekday() >= 5
    # only exceptions to Mon-Fri are stored: a weekday off, or a weekend day worked
    kind = "off" if state == "off" and not weekend else "work" if state == "work" and weekend else None
    with _edit() as s:
        row = s.get(CalendarDay, day)
        before = _day_json(row)
        if kind is None:
            if row is None:
                return None
            s.delete(row)
        elif row is None:
            row = CalendarDay(day=day, kind=kind, name=name, source="admin", updated_by_id=_uid(by))
            s.add(row)
        else:
            if row.kind == kind and (not name or row.name == name):
                return None
            row.kind, row.name, row.source, row.updated_by_id = kind, name or row.name, "admin", _uid(by)
        after = None if kind is None else _day_json(row)
        s.flush()
        result = _recompute_open(window=(day, day))
        _audit(
            "set_day",
            "calendar_day",
            day.isoformat(),
            before=before,
            after=after,
            by=by,
            detail={
                "state": state,
                "reason": reason.strip()[:300],
                "moved": result.moved,
                "checked": result.checked,
            },
        )
        return result


@dataclass(frozen=True)
class Notice:
    """A year as the State Council notice gives it, checked: the rows to store and what was left out."""

    year: int
    days_off: tuple[tuple[date, str], ...]  #: weekdays off, with the holiday name
    makeup_days: tuple[tuple[date, str], ...]  #: weekend days worked, with the holiday they make up for
    notes: tuple[str, ...] = field(default=())  #: what was accepted but not stored, e.g. weekends in a range

    @property
    def counts(self) -> tuple[int, int]:
        return len(self.days_off), len(self.makeup_days)


_DATE = r"(\d{4})-(\d{1,2})-(\d{1,2})"
_ITEM = re.compile(rf"^\s*{_DATE}\s*(?:(?::|至|到|~|～|—|--)\s*{_DATE})?\s*(?:[=＝:：]?\s*(.*?))?\s*$")


def parse_notice(year: int, off: list[str], work: list[str]) -> Notice:
    """Check a year's ranges of days off and make-up workdays (one item a line, `date[:date][=name]`).

    Weekend days inside a range of days off are normal and not stored (noted); a single weekend date
    given as a day off is noted and ignored. Refused: dates outside the year, reversed or overlong
    ranges, a weekday given as a make-up workday, a day both off and worked, no days off at all.
    """
    if not 2000 <= year <= 2100:
        raise CalendarError("年份应在 2000 至 2100 之间。")
    errors: list[str] = []
    notes: list[str] = []
    off_days: dict[date, str] = {}
    ranges: list[tuple[date, date, str]] = []
    for item in _items(off):
        parsed = _parse_item(item, year, errors)
        if parsed is None:
            continue
        first, last, name = parsed
        if last < first:
            errors.append(f"“{item}”：结束日期早于开始日期。")
            continue
        if (last - first).days + 1 > MAX_RANGE_DAYS:
            errors.append(f"“{item}”：一段假期超过 {MAX_RANGE_DAYS} 天，请检查。")
            continue
        ranges.append((first, last, name))
        weekend = 0
        d = first
        while d <= last:
            if d.weekday() >= 5:
                weekend += 1
            else:
                off_days[d] = name
            d += timedelta(days=1)
        if weekend and first == last:
            notes.append(f"{first}（{WEEKDAY_ZH[first.weekday()]}）本就是周末休息日，不单独保存。")
        elif weekend:
            notes.append(f"{first} 至 {last} 中的 {weekend} 个周末日本就休息，不单独保存。")
    makeup: dict[date, str] = {}
    for item in _items(work):
        parsed = _parse_item(item, year, errors)
        if parsed is None:
            continue
        first, last, name = parsed
        if first != last:
            errors.append(f"“{item}”：调休上班日请逐日填写，不能写区间。")
            continue
        if first.weekday() < 5:
            errors.append(f"{first} 是{WEEKDAY_ZH[first.weekday()]}，本就上班；调休上班日应是周六或周日。")
            continue
        if first in off_days or any(a <= first <= b for a, b, _ in ranges):
            errors.append(f"{first} 同时出现在放假和调休上班中。")
            continue
        makeup[first] = name or _nearest_name(first, ranges)
    if not off_days and not errors:
        errors.append("没有任何工作日放假：请至少填写一段放假日期（如元旦 1 月 1 日）。")
    if errors:
        raise CalendarError(" ".join(errors))
    return Notice(year, tuple(sorted(off_days.items())), tuple(sorted(makeup.items())), tuple(notes))


def import_year(notice: Notice, *, source: str, by: User | None, replace: bool = False) -> Recomputed:
    """Enter a year from its notice: replaces the year's package and notice days (local admin days are
    kept unless the notice names the same day), marks the year official; audited; recomputes. Commits."""
    source = source.strip()[:300]
    if not source:
        raise CalendarError("请填写来源（国务院办公厅通知的网址）。")
    year = notice.year
    with _edit() as s:
        year_row = s.get(CalendarYear, year)
        if year_row is not None and year_row.status == "official" and not replace:
            raise CalendarError(
                f"{year} 年已有官方安排（来源：{year_row.source}）。如需按新通知替换，请选择“替换已有安排”。"
            )
        wanted = {d: ("off", name) for d, name in notice.days_off} | {
            d: ("work", name) for d, name in notice.makeup_days
        }
        existing = {
            r.day: r
            for r in s.scalars(
                select(CalendarDay).where(CalendarDay.day.between(date(year, 1, 1), date(year, 12, 31)))
            )
        }
        changes: list[tuple[str, str | None, str | None]] = []
        for day, row in existing.items():
            if day not in wanted and row.source != "admin":
                changes.append((day.isoformat(), _day_json(row), None))
                s.delete(row)
        for day, (kind, name) in sorted(wanted.items()):
            row = existing.get(day)
            before = _day_json(row)
            if row is None:
                row = CalendarDay(day=day, kind=kind, name=name, source=source, updated_by_id=_uid(by))
                s.add(row)
            elif (row.kind, row.name, row.source) == (kind, name, source):
                continue
            else:
                row.kind, row.name, row.source, row.updated_by_id = kind, name, source, _uid(by)
            changes.append((day.isoformat(), before, _day_json(row)))
        year_before = (
            None
            if year_row is None
            else json.dumps({"status": year_row.status, "source": year_row.source}, ensure_ascii=False)
        )
        if year_row is None:
            year_row = CalendarYear(year=year, status="official", source=source)
            s.add(year_row)
        else:
            year_row.status, year_row.source = "official", source
        s.flush()
        result = _recompute_open(window=(date(year, 1, 1), date(year, 12, 31)))
        for entity_id, before, after in changes:
            _audit(
                "import_year",
                "calendar_day",
                entity_id,
                before=before,
                after=after,
                by=by,
                detail={"year": year},
            )
        off, work = year_summary(
            s.execute(
                select(CalendarDay.day, CalendarDay.kind, CalendarDay.name).where(
                    CalendarDay.day.between(date(year, 1, 1), date(year, 12, 31))
                )
            ).all(),
            year,
        )
        _audit(
            "import_year",
            "calendar_year",
            str(year),
            before=year_before,
            after=json.dumps({"status": "official", "source": source}, ensure_ascii=False),
            by=by,
            detail={
                "days_off": off,
                "makeup_days": work,
                "notes": list(notice.notes),
                "changed_days": len(changes),
                "moved": result.moved,
                "checked": result.checked,
                "provisional_cleared": result.provisional_cleared,
            },
        )
        return result


# ---------------------------------------------------------------------------------------- policies


def policies() -> list[SlaPolicy]:
    """The stored policy of every ticket type, in the order of TICKET_TYPES."""
    rows = {p.ticket_type: p for p in session.scalars(select(SlaPolicy))}
    order = {t: i for i, t in enumerate(TICKET_TYPES)}
    return sorted(rows.values(), key=lambda p: (order.get(p.ticket_type, 99), p.ticket_type))


def update_policy(
    ticket_type: str,
    *,
    mode: str,
    days: int,
    business_start: str,
    business_end: str,
    warn_percent: int,
    by: User | None,
) -> Recomputed | None:
    """Change a ticket type's budget, business hours or warning threshold; audited; recomputes.
    None when nothing changed. Commits."""
    if ticket_type not in TYPE_LABELS:
        raise CalendarError("未知的工单类型。")
    if mode not in MODES:
        raise CalendarError("请选择计时方式。")
    if not 1 <= days <= 30:
        raise CalendarError("时限应为 1 至 30 个工作日。")
    start, end = _parse_hm(business_start), _parse_hm(business_end)
    if start is None or end is None or not start < end:
        raise CalendarError("上下班时间应为 HH:MM，且上班早于下班，例如 09:00 和 17:00。")
    if not 10 <= warn_percent <= 99:
        raise CalendarError("预警比例应在 10% 至 99% 之间。")
    new = {
        "mode": mode,
        "days": days,
        "business_start": f"{start:%H:%M}",
        "business_end": f"{end:%H:%M}",
        "warn_ratio": warn_percent / 100,
    }
    with _edit() as s:
        row = s.get(SlaPolicy, ticket_type)
        if row is None:
            row = SlaPolicy(
                ticket_type=ticket_type,
                mode="working_days",
                days=2,
                business_start="09:00",
                business_end="17:00",
                warn_ratio=0.75,
            )
            s.add(row)
        changed = {k: (getattr(row, k), v) for k, v in new.items() if getattr(row, k) != v}
        if not changed:
            return None
        for key, (_old, value) in changed.items():
            setattr(row, key, value)
        s.flush()
        result = _recompute_open(ticket_type=ticket_type)
        for key, (old, value) in changed.items():
            _audit(
                "update",
                "sla_policy",
                ticket_type,
                field=key,
                before=str(old),
                after=str(value),
                by=by,
                detail={"moved": result.moved, "checked": result.checked},
            )
        return result


# --------------------------------------------------------------------------------------- recompute


def recompute_open_tickets() -> int:
    """Recompute every open ticket's clock on the stored calendar and policies; returns how many due times moved. Commits."""
    with unit_of_work():
        return _recompute_open().moved


def recompute_open_tickets_report() -> Recomputed:
    """As recompute_open_tickets, with the whole report (checked, rewritten, moved, provisional cleared). Commits."""
    with unit_of_work():
        return _recompute_open()


_COMPARED = (
    "due_at",
    "warn_at",
    "sla_budget_minutes",
    "sla_remaining_minutes",
    "sla_provisional",
    "sla_explanation",
)
_CLOCK_COLUMNS = (
    "due_at",
    "warn_at",
    "sla_budget_minutes",
    "sla_remaining_minutes",
    "sla_provisional",
    "sla_explanation",
    "sla_calendar_version",
    "sla_policy",
)


def _recompute_open(*, window: tuple[date, date] | None = None, ticket_type: str | None = None) -> Recomputed:
    """Recompute the open tickets in the caller's transaction (flushes; never commits).

    `window`: only the days from first to last changed (a calendar edit), so only the clocks that can
    see them are read: a fresh clock reads the days from its receipt to its due day (and, for the
    holiday names in its explanation, up to 31 days before the receipt); paused and resumed clocks are
    always read. `ticket_type`: only that type's policy changed. Without either, every open clock.

    The rows are read in batches with only the clock columns; a row is rewritten only when its figures
    or its explanation changed, all rewrites go in one executemany, guarded by the version each row was
    read at (a ticket saved meanwhile was computed by its own transaction and is left alone). A row
    whose figures and explanation stay the same is not written at all, so its sla_calendar_version
    keeps naming the calendar it was last computed with (rewriting 100,000 rows only to stamp a new
    version costs seconds on PostgreSQL, where every such UPDATE touches each index of the table).
    """
    t = Ticket.__table__
    s = session()
    s.flush()
    stored = clock.all_policies()
    counters: dict[str, tuple[clock.Policy, clock.Counter]] = {}
    columns = [
        t.c.id,
        t.c.type,
        t.c.version,
        t.c.sla_started_at,
        t.c.sla_paused_at,
        t.c.sla_resumed_at,
        t.c.sla_remaining_minutes,
        t.c.sla_budget_minutes,
        t.c.sla_paused_minutes,
        t.c.due_at,
        t.c.warn_at,
        t.c.sla_provisional,
        t.c.sla_policy,
        t.c.sla_explanation,
    ]
    query = select(*columns).where(t.c.status.in_(OPEN_STATUSES), t.c.sla_started_at.is_not(None))
    if ticket_type is not None:
        query = query.where(t.c.type == ticket_type)
    if window is not None:
        first = datetime.combine(window[0], time(0), tzinfo=clock.TZ).astimezone(UTC)
        after = datetime.combine(window[1] + timedelta(days=1), time(0), tzinfo=clock.TZ).astimezone(UTC)
        query = query.where(
            or_(
                t.c.sla_paused_at.is_not(None),
                t.c.sla_resumed_at.is_not(None),
                and_(t.c.sla_started_at < after + timedelta(days=NAME_LOOKBACK_DAYS), t.c.due_at >= first),
            )
        )
    query = query.order_by(t.c.id).execution_options(yield_per=BATCH)
    keys = [c.key for c in columns]
    params: list[dict[str, Any]] = []
    checked = moved = cleared = 0
    for row in s.execute(query):
        checked += 1
        (
            ticket_id,
            ticket_type,
            version,
            started,
            paused,
            resumed,
            remaining,
            budget,
            _,
            due,
            warn,
            provisional,
            mode,
            text,
        ) = row
        entry = counters.get(ticket_type)
        if entry is None:
            policy = stored.get(ticket_type) or clock.default_policy(ticket_type)
            entry = counters[ticket_type] = (policy, clock.counter_for(policy))
        policy, counter = entry
        if paused is None and resumed is None:  # fresh: the hot path, no dicts
            fresh = counter.fresh(started)
            explanation = counter.explanation(fresh)
            if (
                fresh.due_at == due
                and fresh.warn_at == warn
                and fresh.budget_minutes == budget
                and fresh.provisional == provisional
                and policy.mode == mode
                and explanation == text
            ):
                continue
            moved += fresh.due_at != due
            cleared += provisional and not fresh.provisional
            params.append(
                {
                    "b_id": ticket_id,
                    "b_version": version,
                    "b_due_at": fresh.due_at,
                    "b_warn_at": fresh.warn_at,
                    "b_sla_budget_minutes": fresh.budget_minutes,
                    "b_sla_remaining_minutes": remaining,
                    "b_sla_provisional": fresh.provisional,
                    "b_sla_explanation": explanation,
                    "b_sla_calendar_version": counter.cal.version,
                    "b_sla_policy": policy.mode,
                }
            )
            continue
        values = clock.clock_values(row, policy, counter, rebudget=True)
        current = dict(zip(keys, row, strict=True))
        if all(values.get(k, current[k]) == current[k] for k in _COMPARED) and values["sla_policy"] == mode:
            continue
        moved += values.get("due_at", due) != due
        cleared += provisional and values.get("sla_provisional") is False
        params.append(
            {"b_" + k: values[k] if k in values else current[k] for k in _CLOCK_COLUMNS}
            | {"b_id": ticket_id, "b_version": version}
        )
    if params:
        _write_clocks(params)
    return Recomputed(checked, len(params), moved, cleared)


# ---------------------------------------------------------------------------------------- helpers


def _write_clocks(params: list[dict[str, Any]]) -> None:
    """Write recomputed clock columns (one executemany), each row guarded by the version it was read at.

    updated_at is kept: a recompute is not an edit (the queue and reports read it).
    """
    t = Ticket.__table__
    _executemany(
        update(t)
        .where(t.c.id == bindparam("b_id"), t.c.version == bindparam("b_version"))
        .values(
            {
                **{c: bindparam(f"b_{c}", type_=t.c[c].type) for c in _CLOCK_COLUMNS},
                "updated_at": t.c.updated_at,
            }
        ),
        params,
    )


def _executemany(statement: Any, params: list[dict[str, Any]]) -> None:
    """Run `statement` once per parameter set through the driver's executemany, in the session's transaction.

    The same as session.execute(statement, params) minus SQLAlchemy's per-row parameter handling, which
    costs more than the UPDATE itself at 100,000 rows: the values are converted here with the types'
    own bind processors (e.g. UTCDateTime) and handed to the driver as it expects them.
    """
    connection = session().connection()
    dialect = connection.dialect
    compiled = statement.compile(dialect=dialect)
    binds = {b.key: b for b in compiled.binds.values()}
    names = list(compiled.positiontup) if compiled.positional else list(binds)
    processors = {n: binds[n].type.bind_processor(dialect) for n in names}
    convert = [(n, processors[n]) for n in names]
    if compiled.positional:
        rows: list[Any] = [tuple(p(r[n]) if p else r[n] for n, p in convert) for r in params]
    else:
        rows = [{n: p(r[n]) if p else r[n] for n, p in convert} for r in params]
    connection.exec_driver_sql(str(compiled), rows)


@contextmanager
def _edit() -> Iterator[Any]:
    """unit_of_work(), with a concurrent edit's IntegrityError turned into a CalendarError."""
    try:
        with unit_of_work() as s:
            yield s
    except IntegrityError:
        raise CalendarError("日历或策略刚被他人修改，请刷新页面后重试。") from None


def _audit(
    action: str,
    entity: str,
    entity_id: str,
    *,
    field: str = "",
    before: str | None = None,
    after: str | None = None,
    by: User | None,
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditEntry(
            at=datetime.now(UTC),
            actor_id=_uid(by),
            action=action,
            entity=entity,
            entity_id=entity_id,
            field=field,
            before=before,
            after=after,
            detail=detail,
        )
    )


def _day_json(row: CalendarDay | None) -> str | None:
    if row is None:
        return None
    return json.dumps({"kind": row.kind, "name": row.name, "source": row.source}, ensure_ascii=False)


def _uid(by: User | None) -> int | None:
    return by.id if by is not None else None


def _items(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        out += [p.strip() for p in re.split(r"[\n;；,，]+", line or "") if p.strip()]
    return out


def _parse_item(item: str, year: int, errors: list[str]) -> tuple[date, date, str] | None:
    m = _ITEM.match(item)
    if m is None:
        errors.append(f"“{item}”：看不懂的日期，请写成 2027-02-05 或 2027-02-05:2027-02-11。")
        return None
    try:
        first = date(int(m[1]), int(m[2]), int(m[3]))
        last = date(int(m[4]), int(m[5]), int(m[6])) if m[4] else first
    except ValueError:
        errors.append(f"“{item}”：日期不存在。")
        return None
    if first.year != year or last.year != year:
        errors.append(f"“{item}”：不在 {year} 年内。")
        return None
    return first, last, (m[7] or "").strip()[:100]


def _nearest_name(day: date, ranges: list[tuple[date, date, str]]) -> str:
    named = [(min(abs((day - a).days), abs((day - b).days)), name) for a, b, name in ranges if name]
    return min(named)[1] if named else ""


def _parse_hm(text: str) -> time | None:
    m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", text or "")
    if m is None or int(m[1]) > 23 or int(m[2]) > 59:
        return None
    return time(int(m[1]), int(m[2]))
