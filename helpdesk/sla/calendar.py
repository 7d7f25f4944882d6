"""Working-day calendar and business-time arithmetic for SLA deadlines (pure: no Flask, no database).

China's official calendar: Monday to Friday, minus statutory days off (weekdays not worked), plus
make-up working days (调休: weekend days that are worked). The calendar takes these as sets; it never
looks them up itself (see `helpdesk.sla.seed` for the package data, the database for admin edits).

Usage::

    cal = WorkCalendar(days_off={date(2026, 10, 1), ...}, makeup_workdays={date(2026, 9, 20), ...},
                       known_years={2025, 2026}, labels={date(2026, 10, 1): "国庆节", ...})
    d = cal.due_by_working_days(received_at, 2)
    d.due_at          # datetime(2026, 10, 9, 17, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    d.provisional     # True when a day from receipt to due date lies in a year with no official schedule
    d.explanation     # "收到 2026-09-30 18:42（周三，下班后）；不计当日；第1个工作日 …；截止 2026-10-09 17:00"
    remaining = cal.business_minutes_between(paused_at, d.due_at)   # pause
    due_at = cal.add_business_minutes(resumed_at, remaining)          # resume

Business time is a position on a line: the business microseconds elapsed since the start of an
internal table of days (cumulative per day, so any conversion is one lookup or one `bisect`). A moment
outside business hours sits at the position of the nearest close of business before it. The table
covers whole years, is built on first use and grows when a date falls outside it.
"""

from __future__ import annotations

import hashlib
import threading
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

__all__ = [
    "CalendarDayRow",
    "Deadline",
    "DayKind",
    "Policy",
    "WorkCalendar",
    "year_summary",
]

Policy = Literal["working_days", "business_hours"]
DayKind = Literal["off", "work"]

WEEKDAY_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
DEFAULT_HOURS = (time(9), time(17))
DEFAULT_TZ = "Asia/Shanghai"
DEFAULT_SPAN = (2004, 2035)

_US_PER_SECOND = 1_000_000
_US_PER_MINUTE = 60 * _US_PER_SECOND
_OFFSET_TZ_TYPES = (ZoneInfo, timezone)
_ONE_DAY = timedelta(days=1)
_MAX_RUN = 31  # longest stretch of days off walked when naming a holiday (the longest is 9-10 days)


@dataclass(frozen=True, slots=True)
class CalendarDayRow:
    """One stored exception to Monday-Friday: a weekday off ('off') or a make-up weekend workday ('work')."""

    day: date
    kind: DayKind
    name: str | None = None  #: holiday name in Chinese, e.g. 国庆节 (for 'work': the holiday it makes up for)


class _DayRow(Protocol):
    day: date
    kind: str
    name: str | None


@dataclass(frozen=True, slots=True)
class Deadline:
    """A due time computed by a calendar; `explanation` is formatted (in Chinese) only when read."""

    due_at: datetime  #: aware, in the calendar's time zone
    provisional: bool  #: a day from receipt to due date lies in a year without an official schedule
    policy: Policy
    received_at: datetime  #: the receipt, in the calendar's time zone
    n: int  #: working days in the budget
    calendar: WorkCalendar = field(repr=False, compare=False)

    @property
    def explanation(self) -> str:
        return self.calendar.explain(self)

    @property
    def calendar_version(self) -> str:
        return self.calendar.version


def _deadline_factory():
    # Deadline(...) costs six object.__setattr__ calls (the frozen dataclass __init__); the hot path sets the
    # slots through their descriptors instead, about twice as fast. The result is an ordinary Deadline.
    new = object.__new__
    set_due, set_prov, set_policy, set_received, set_n, set_cal = (
        Deadline.__dict__[name].__set__
        for name in ("due_at", "provisional", "policy", "received_at", "n", "calendar")
    )

    def make(due_at, provisional, policy, received_at, n, calendar):
        d = new(Deadline)
        set_due(d, due_at)
        set_prov(d, provisional)
        set_policy(d, policy)
        set_received(d, received_at)
        set_n(d, n)
        set_cal(d, calendar)
        return d

    return make


_new_deadline = _deadline_factory()


class _Table:
    """Per-day arrays over whole years, indexed by `date.toordinal() - base`."""

    __slots__ = (
        "first_year",
        "last_year",
        "base",
        "ndays",
        "nwork",
        "cum_days",
        "cum_us",
        "unknown_cum",
        "workdays",
        "open_at",
        "close_at",
    )

    first_year: int
    last_year: int
    base: int  #: ordinal of first_year-01-01
    ndays: int
    nwork: int  #: working days in the table
    cum_days: list[int]  #: working days before day i (length ndays + 1)
    cum_us: list[int]  #: business microseconds before day i (length ndays + 1)
    unknown_cum: list[int]  #: days in years without an official schedule before day i
    workdays: list[int]  #: day index of the k-th working day
    open_at: list[datetime]  #: opening time of the k-th working day
    close_at: list[datetime]  #: closing time of the k-th working day


class WorkCalendar:
    """Working days (weekdays - days off + make-up days) with daily business hours in one time zone."""

    def __init__(
        self,
        *,
        days_off: Iterable[date] = (),
        makeup_workdays: Iterable[date] = (),
        known_years: Iterable[int] = (),
        hours: tuple[time, time] = DEFAULT_HOURS,
        tz: tzinfo | str = DEFAULT_TZ,
        labels: Mapping[date, str] | None = None,
        span: tuple[int, int] = DEFAULT_SPAN,
    ) -> None:
        # a weekend day "off" or a weekday "worked" changes nothing: dropped, so one redundant admin row
        # cannot stop every deadline from being computed (its label still names the day)
        self.days_off: frozenset[date] = frozenset(d for d in days_off if d.weekday() < 5)
        self.makeup_workdays: frozenset[date] = frozenset(d for d in makeup_workdays if d.weekday() >= 5)
        self.known_years: frozenset[int] = frozenset(known_years)
        self.labels: Mapping[date, str] = dict(labels or {})
        self.tz: tzinfo = ZoneInfo(tz) if isinstance(tz, str) else tz
        self.hours: tuple[time, time] = hours
        opening, closing = hours
        if opening.tzinfo is not None or closing.tzinfo is not None or not opening < closing:
            raise ValueError(f"business hours must be two naive times, opening before closing: {hours!r}")
        self._open_us = _time_us(opening)
        self._day_us = _time_us(closing) - self._open_us  #: business microseconds per working day
        self._off_ords = frozenset(d.toordinal() for d in self.days_off)
        self._work_ords = frozenset(d.toordinal() for d in self.makeup_workdays)
        years = [d.year for d in self.days_off | self.makeup_workdays] + list(self.known_years)
        self._span = (min([span[0], *years]), max([span[1], *years]))
        self._table: _Table | None = None  #: built on first use, see _extend
        self._lock = threading.Lock()
        self._version: str | None = None

    @classmethod
    def from_rows(cls, rows: Iterable[_DayRow], *, known_years: Iterable[int], **kwargs) -> WorkCalendar:
        """Build from stored rows (anything with .day, .kind 'off'/'work' and .name)."""
        rows = list(rows)
        labels = {r.day: r.name for r in rows if r.name}
        labels.update(kwargs.pop("labels", None) or {})
        return cls(
            days_off=[r.day for r in rows if r.kind == "off"],
            makeup_workdays=[r.day for r in rows if r.kind == "work"],
            known_years=known_years,
            labels=labels,
            **kwargs,
        )

    def replace(self, **changes) -> WorkCalendar:
        """A copy with some constructor arguments changed, e.g. ``cal.replace(days_off=cal.days_off | {d})``."""
        args = {
            "days_off": self.days_off,
            "makeup_workdays": self.makeup_workdays,
            "known_years": self.known_years,
            "hours": self.hours,
            "tz": self.tz,
            "labels": self.labels,
            "span": self._span,
        }
        args.update(changes)
        return WorkCalendar(**args)

    @property
    def version(self) -> str:
        """A fingerprint of everything that moves a deadline (days, known years, hours, time zone)."""
        if self._version is None:
            self._version = self._fingerprint()
        return self._version

    def __repr__(self) -> str:
        years = sorted(self.known_years)
        known = f"{years[0]}-{years[-1]}" if years else "none"
        opening, closing = self.hours
        return (
            f"<WorkCalendar {self.version} {self.tz} {opening:%H:%M}-{closing:%H:%M} known={known} "
            f"off={len(self.days_off)} work={len(self.makeup_workdays)}>"
        )

    # -- days -----------------------------------------------------------------------------------

    def is_working_day(self, d: date) -> bool:
        return d in self.makeup_workdays or (d.weekday() < 5 and d not in self.days_off)

    def is_known_year(self, year: int) -> bool:
        return year in self.known_years

    def missing_years(self, first_year: int, last_year: int) -> list[int]:
        """Years in [first_year, last_year] with no official schedule (treated as Monday-Friday)."""
        return [y for y in range(first_year, last_year + 1) if y not in self.known_years]

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after `d`."""
        return self.working_day_after(d, 1)

    def working_day_after(self, d: date, n: int) -> date:
        """The n-th working day strictly after `d` (n >= 1)."""
        if n < 1:
            raise ValueError(f"n must be >= 1, not {n}")
        o = d.toordinal()
        while True:
            t = self._table or self._extend(d.year, d.year)
            i = o - t.base
            if 0 <= i < t.ndays:
                k = t.cum_days[i + 1] + n - 1
                if k < t.nwork:
                    return date.fromordinal(t.base + t.workdays[k])
                self._extend(t.first_year, t.last_year + 1 + n // 200)
            else:
                self._extend(d.year, d.year)

    def holiday_name(self, d: date) -> str | None:
        """The Chinese holiday name of a day, e.g. 国庆节: its own label, else (for a day off) the names of
        the run of days off it belongs to, e.g. '国庆节、中秋节'; None for an ordinary day or weekend."""
        return self.labels.get(d) or (None if self.is_working_day(d) else self._run_name(d))

    def _run_name(self, d: date) -> str | None:
        """The labels found in the run of consecutive days off around `d`, joined, in date order."""
        lo = hi = d
        for _ in range(_MAX_RUN):
            if self.is_working_day(lo - _ONE_DAY):
                break
            lo -= _ONE_DAY
        for _ in range(_MAX_RUN):
            if self.is_working_day(hi + _ONE_DAY):
                break
            hi += _ONE_DAY
        names: list[str] = []
        while lo <= hi:
            name = self.labels.get(lo)
            if name and name not in names:
                names.append(name)
            lo += _ONE_DAY
        return "、".join(names) or None

    # -- deadlines ------------------------------------------------------------------------------

    def due_by_working_days(self, received: datetime, n: int = 2) -> Deadline:
        """Close of business on the n-th working day after the day of receipt (that day never counts)."""
        # hot path (a few list lookups, no formatting); anything unusual goes to _due_by_working_days
        local = received if received.tzinfo is self.tz else self._local(received)
        t = self._table
        if t is not None and n >= 1:
            i = local.toordinal() - t.base
            if 0 <= i < t.ndays:
                k = t.cum_days[i + 1] + n - 1
                if k < t.nwork:
                    provisional = t.unknown_cum[t.workdays[k] + 1] != t.unknown_cum[i]
                    return _new_deadline(t.close_at[k], provisional, "working_days", local, n, self)
        return self._due_by_working_days(local, n)

    def _due_by_working_days(self, local: datetime, n: int) -> Deadline:
        if n < 1:
            raise ValueError(f"n must be >= 1, not {n}")
        o = local.toordinal()
        while True:
            t = self._table or self._extend(local.year, local.year)
            i = o - t.base
            if 0 <= i < t.ndays:
                k = t.cum_days[i + 1] + n - 1
                if k < t.nwork:
                    provisional = t.unknown_cum[t.workdays[k] + 1] != t.unknown_cum[i]
                    return _new_deadline(t.close_at[k], provisional, "working_days", local, n, self)
                self._extend(t.first_year, t.last_year + 1 + n // 200)
            else:
                self._extend(local.year, local.year)

    def due_by_business_hours(self, received: datetime, n: int = 2) -> Deadline:
        """n working days' worth of business time, counted only inside business hours on working days."""
        if n < 1:
            raise ValueError(f"n must be >= 1, not {n}")
        local = self._local(received)
        due = self._add_us(local, n * self._day_us)
        t = self._table
        i, j = local.toordinal() - t.base, due.toordinal() - t.base
        if 0 <= i <= j < t.ndays:
            provisional = t.unknown_cum[j + 1] != t.unknown_cum[i]
        else:  # not reached: the table covered both days in _add_us and tables only grow
            provisional = bool(self.missing_years(local.year, due.year))
        return _new_deadline(due, provisional, "business_hours", local, n, self)

    # -- business time --------------------------------------------------------------------------

    def add_business_minutes(self, start: datetime, minutes: int) -> datetime:
        """The earliest moment at which `minutes` of business time have passed since `start` (may be < 0)."""
        return self._add_us(self._local(start), minutes * _US_PER_MINUTE)

    def add_business_seconds(self, start: datetime, seconds: int) -> datetime:
        """As add_business_minutes, in seconds."""
        return self._add_us(self._local(start), seconds * _US_PER_SECOND)

    def business_minutes_between(self, a: datetime, b: datetime) -> int:
        """Whole minutes of business time from a to b (negative when b < a; truncated toward zero)."""
        return _div_trunc(self._between_us(a, b), _US_PER_MINUTE)

    def business_seconds_between(self, a: datetime, b: datetime) -> int:
        """Whole seconds of business time from a to b (negative when b < a; truncated toward zero)."""
        return _div_trunc(self._between_us(a, b), _US_PER_SECOND)

    def business_seconds_left(self, now: datetime, due: datetime) -> int:
        """Business seconds from now until due; 0 or negative once due."""
        return self.business_seconds_between(now, due)

    def business_minutes_left(self, now: datetime, due: datetime) -> int:
        """Business minutes from now until due; 0 or negative once due."""
        return self.business_minutes_between(now, due)

    def business_point(self, start: datetime, end: datetime, fraction: float) -> datetime:
        """The moment when `fraction` of the business time from start to end has passed (e.g. 0.75 -> warn)."""
        used = round(self._between_us(start, end) * fraction)
        return self._add_us(self._local(start), used)

    # -- explanation ----------------------------------------------------------------------------

    def explain(self, deadline: Deadline) -> str:
        """The Chinese explanation of how `deadline` was counted."""
        received = deadline.received_at.astimezone(self.tz)
        due = deadline.due_at.astimezone(self.tz)
        parts = [f"收到 {received:%Y-%m-%d %H:%M}（{self._describe_receipt(received)}）"]
        if deadline.policy == "working_days":
            counted = [self.working_day_after(received.date(), k) for k in range(1, deadline.n + 1)]
            shown = list(enumerate(counted, 1))
            if len(shown) > 5:
                shown = [*shown[:2], None, shown[-1]]
            items = [
                "……" if s is None else f"第{s[0]}个工作日 {s[1]}{self._describe_counted(s[1])}" for s in shown
            ]
            parts.append("不计当日")
            parts.append("，".join(items))
        else:
            opening, closing = self.hours
            hours = deadline.n * self._day_us / 3_600_000_000
            parts.append(
                f"按工作时间计 {deadline.n} 个工作日共 {hours:g} 小时"
                f"（工作日 {opening:%H:%M}-{closing:%H:%M}）"
            )
            # the clock runs from the receipt if inside business hours, else from the next opening
            parts.append(f"起算 {self._add_us(received, 1):%Y-%m-%d %H:%M}")
        parts.append(f"截止 {due:%Y-%m-%d %H:%M}")
        missing = self.missing_years(received.year, due.year)
        if missing:
            years = "、".join(str(y) for y in missing)
            parts.append(f"{years}年尚无官方节假日安排，按周一至周五推算，截止时间为暂定")
        return "；".join(parts)

    def _describe_receipt(self, local: datetime) -> str:
        d = local.date()
        weekday = WEEKDAY_ZH[d.weekday()]
        if not self.is_working_day(d):
            name = self.holiday_name(d)
            if name:
                return f"{weekday}，节假日：{name}"
            return f"{weekday}，{'休息日' if d.weekday() >= 5 else '节假日'}"
        x = _time_us(local.time()) - self._open_us
        when = "上班前" if x < 0 else "工作时间内" if x < self._day_us else "下班后"
        return f"{weekday}，调休上班，{when}" if d.weekday() >= 5 else f"{weekday}，{when}"

    def _describe_counted(self, d: date) -> str:
        if d.weekday() >= 5:
            return f"（{WEEKDAY_ZH[d.weekday()]}，调休上班）"
        before = d - timedelta(days=1)
        if not self.is_working_day(before):
            name = self._run_name(before)
            if name:
                return f"（{name}后首个工作日）"
        return ""

    # -- internals ------------------------------------------------------------------------------

    def _local(self, dt: datetime) -> datetime:
        tz = dt.tzinfo
        if tz is self.tz:
            return dt
        # ZoneInfo and timezone always give an offset; only a home-made tzinfo may return None (= naive)
        if tz is None or (type(tz) not in _OFFSET_TZ_TYPES and dt.utcoffset() is None):
            raise ValueError(f"naive datetime {dt!r}: pass an aware datetime")
        return dt.astimezone(self.tz)

    def _pos(self, t: _Table, local: datetime) -> int | None:
        """Business microseconds from the table start to `local`; None if its day is outside the table."""
        i = local.toordinal() - t.base
        if not 0 <= i < t.ndays:
            return None
        x = ((local.hour * 60 + local.minute) * 60 + local.second) * _US_PER_SECOND
        x += local.microsecond - self._open_us
        before = t.cum_us[i]
        span = t.cum_us[i + 1] - before  # 0 on a day off
        return before + (0 if x <= 0 else span if x >= span else x)

    def _add_us(self, local: datetime, delta: int) -> datetime:
        if delta == 0:
            return local
        t = self._table
        if t is not None:  # hot path: _pos inlined; anything out of the table goes to the loop below
            i = local.toordinal() - t.base
            if 0 <= i < t.ndays:
                cum = t.cum_us
                x = ((local.hour * 60 + local.minute) * 60 + local.second) * _US_PER_SECOND
                x += local.microsecond - self._open_us
                before = cum[i]
                span = cum[i + 1] - before
                target = before + (0 if x <= 0 else span if x >= span else x) + delta
                if 0 < target <= cum[-1]:
                    i = bisect_left(cum, target) - 1
                    return t.open_at[t.cum_days[i]] + timedelta(microseconds=target - cum[i])
        while True:
            t = self._table or self._extend(local.year, local.year)
            p = self._pos(t, local)
            if p is None:
                self._extend(local.year, local.year)
                continue
            target = p + delta
            if target <= 0:
                self._extend(t.first_year - 1 - (-target // (self._day_us * 200)), t.last_year)
                continue
            if target > t.cum_us[-1]:
                self._extend(t.first_year, t.last_year + 1 + (target - t.cum_us[-1]) // (self._day_us * 200))
                continue
            # earliest moment at `target`: on the day i with cum_us[i] < target <= cum_us[i + 1], so that
            # a budget ending at close of business gives 17:00 that day, not 09:00 the next working day
            i = bisect_left(t.cum_us, target) - 1
            return t.open_at[t.cum_days[i]] + timedelta(microseconds=target - t.cum_us[i])

    def _between_us(self, a: datetime, b: datetime) -> int:
        la, lb = self._local(a), self._local(b)
        while True:
            t = self._table or self._extend(la.year, lb.year)
            pa, pb = self._pos(t, la), self._pos(t, lb)
            if pa is not None and pb is not None:
                return pb - pa
            self._extend(min(la.year, lb.year), max(la.year, lb.year))

    def _extend(self, first_year: int, last_year: int) -> _Table:
        """Build (or rebuild, larger) the table so that it covers [first_year, last_year] with a margin."""
        with self._lock:  # tables only grow: a rebuild always covers the table it replaces
            t = self._table
            lo, hi = self._span if t is None else (t.first_year, t.last_year)
            if first_year < lo:
                lo = first_year - 5
            if last_year > hi:
                hi = last_year + 5
            lo, hi = max(lo, 1), min(hi, 9998)  # 9998: the table's last close must stay below datetime.max
            if t is not None and (lo, hi) == (t.first_year, t.last_year):
                if t.first_year <= first_year and last_year <= t.last_year:
                    return t  # another thread extended it meanwhile
                raise OverflowError("business time beyond the years 1-9998")
            # one assignment of a finished table: readers without the lock see the old or the new one
            self._table = table = self._build(lo, hi)
            return table

    def _build(self, first_year: int, last_year: int) -> _Table:
        t = _Table()
        t.first_year, t.last_year = first_year, last_year
        t.base = base = date(first_year, 1, 1).toordinal()
        t.ndays = date(last_year, 12, 31).toordinal() + 1 - base
        off, work, known = self._off_ords, self._work_ords, self.known_years
        cum_days, unknown_cum, ordinals = [0], [0], []
        days = unknown = 0
        for year in range(first_year, last_year + 1):
            first = date(year, 1, 1).toordinal()
            unknown_year = year not in known
            for o in range(first, date(year, 12, 31).toordinal() + 1):
                if o in work or ((o - 1) % 7 < 5 and o not in off):  # ordinal 1 (0001-01-01) is a Monday
                    ordinals.append(o)
                    days += 1
                cum_days.append(days)
                unknown += unknown_year
                unknown_cum.append(unknown)
        opening, closing, tz, day_us = *self.hours, self.tz, self._day_us
        t.nwork = days
        t.cum_days, t.unknown_cum = cum_days, unknown_cum
        t.cum_us = [c * day_us for c in cum_days]
        t.workdays = [o - base for o in ordinals]
        dates = [date.fromordinal(o) for o in ordinals]
        t.open_at = [datetime.combine(d, opening, tzinfo=tz) for d in dates]
        t.close_at = [datetime.combine(d, closing, tzinfo=tz) for d in dates]
        return t

    def _fingerprint(self) -> str:
        opening, closing = self.hours
        content = "|".join(
            [
                ",".join(sorted(d.isoformat() for d in self.days_off)),
                ",".join(sorted(d.isoformat() for d in self.makeup_workdays)),
                ",".join(str(y) for y in sorted(self.known_years)),
                f"{opening.isoformat()}-{closing.isoformat()}",
                str(self.tz),
            ]
        )
        return hashlib.sha256(content.encode()).hexdigest()[:16]


def year_summary(source: WorkCalendar | Iterable[_DayRow], year: int) -> tuple[int, int]:
    """(weekday days off, make-up weekend workdays) in `year`, from a calendar or stored rows."""
    if isinstance(source, WorkCalendar):
        off, work = source.days_off, source.makeup_workdays
    else:
        rows = list(source)
        off = {r.day for r in rows if r.kind == "off" and r.day.weekday() < 5}
        work = {r.day for r in rows if r.kind == "work" and r.day.weekday() >= 5}
    return sum(d.year == year for d in off), sum(d.year == year for d in work)


def _time_us(t: time) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * _US_PER_SECOND + t.microsecond


def _div_trunc(value: int, unit: int) -> int:
    q = abs(value) // unit
    return q if value >= 0 else -q
