"""Admin edits of the stored calendar and SLA policies: audited, each one unit of work with its recompute.

A calendar or policy change and the recompute of every open clock it causes commit together, so no
ticket is left with a deadline from a calendar that no longer exists.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from helpdesk.auth.models import User
from helpdesk.db import session, unit_of_work
from helpdesk.records.models import AuditEntry
from helpdesk.sla.calendar import WEEKDAY_ZH, year_summary
from helpdesk.sla.models import CalendarDay, CalendarYear, SlaPolicy
from helpdesk.sla.recompute import Recomputed, recompute_open

TICKET_TYPES = ("change", "unbind", "cancel", "recovery", "inquiry")
MODES = {
    "working_days": "按工作日（不计收到当日，第 N 个工作日下班截止）",
    "business_hours": "按工作时间（只计上班时间）",
}
MAX_RANGE_DAYS = 31  #: the longest run of days off a notice gives (the longest so far is 9)


class CalendarError(ValueError):
    """A refused calendar or policy change, with a Chinese message for the supervisor."""


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
        result = recompute_open(window=(day, day))
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
        result = recompute_open(window=(date(year, 1, 1), date(year, 12, 31)))
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
    if ticket_type not in TICKET_TYPES:
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
        result = recompute_open(ticket_type=ticket_type)
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


# ---------------------------------------------------------------------------------------- helpers


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
