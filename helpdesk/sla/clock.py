"""The SLA clock of a ticket: start, pause, resume, stop and recompute, on the stored calendar.

This is the only code that writes a clock (the `sla_clocks` row and the ticket's due_at / warn_at
copies) and the only code that says what state a clock is in. Functions here only change rows in the
caller's transaction (they never commit): tickets.services owns the unit of work. The calendar maths
is in sla.calendar (pure).

A clock is in one of four states, read from its row:

- fresh: started, never paused. due_at, warn_at and the budget follow from started_at and the
  policy (`Counter.fresh`, the same code for one ticket and for 100,000 in `recompute_open_tickets`);
- paused: paused_at set; warn_at is None, remaining_minutes holds what was left;
- resumed: resumed_at set; due_at = resumed_at + remaining_minutes of business time;
- stopped: stopped_at set, with its outcome (met / breached) and handling minutes, stored at the stop.

The business time already used before a pause is `budget - remaining`: it was counted on the calendar
in force at the time and a later calendar or policy change does not rewrite it. A recompute gives a
paused or resumed clock the new budget minus that used time.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import event, func, select, text
from sqlalchemy.orm import ORMExecuteState, Session

from helpdesk.db import session
from helpdesk.sla import bulk
from helpdesk.sla.calendar import WorkCalendar
from helpdesk.sla.models import CalendarDay, CalendarYear, SlaClock, SlaPolicy

DEFAULT_TZ = "Asia/Shanghai"
TZ = ZoneInfo(DEFAULT_TZ)
_US_PER_MINUTE = 60_000_000
_MAX_CACHED = 200_000  #: receipt minutes whose explanation prefix a Counter keeps


@dataclass(frozen=True)
class Policy:
    ticket_type: str
    mode: str  #: working_days / business_hours
    days: int
    start: time
    end: time
    warn_ratio: float


class Fresh(NamedTuple):
    """A fresh clock's figures: aware UTC times, whole business minutes."""

    due_at: datetime
    warn_at: datetime
    budget_minutes: int
    provisional: bool
    local_received: datetime  #: the start in the calendar's zone (for the explanation)


_cache: dict[tuple[Any, ...], WorkCalendar] = {}
_counters: dict[tuple[Policy, str], Counter] = {}
_cache_lock = threading.Lock()


def _hm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def default_policy(ticket_type: str) -> Policy:
    """2 working days, 09:00-17:00, warning at 75 %: the policy of a type without a stored row."""
    return Policy(ticket_type, "working_days", 2, time(9), time(17), 0.75)


def policy_from_row(row: SlaPolicy) -> Policy:
    return Policy(
        row.ticket_type,
        row.mode or "working_days",
        row.days or 2,
        _hm(row.business_start or "09:00"),
        _hm(row.business_end or "17:00"),
        row.warn_ratio if row.warn_ratio is not None else 0.75,
    )


def policy_for(ticket_type: str) -> Policy:
    stored = _stored_policies()
    return stored.get(ticket_type) or default_policy(ticket_type)


def all_policies() -> dict[str, Policy]:
    """Every stored policy by ticket type (types without a row use `default_policy`)."""
    return {row.ticket_type: policy_from_row(row) for row in session.scalars(select(SlaPolicy))}


#: tables whose edit changes a calendar or a policy: a flush or statement touching one drops the
#: transaction's remembered calendar state (`_stored_state`)
_CALENDAR_TABLES = ("calendar_days", "calendar_years", "sla_policies")
_STATE_KEY = "sla.calendar_state"


def _stored_state() -> tuple[Any, ...]:
    """The stored calendar's version (counts and newest edits), asked once per transaction.

    Ingest starts a clock for every mail of a chunk in one transaction: asking once saves two queries
    a ticket. A new transaction asks again (another process may have edited the calendar meanwhile),
    and an edit inside this one forgets the answer (`_forget_on_flush`, `_forget_on_statement`).
    """
    s = session()
    remembered = s.info.get(_STATE_KEY)
    transaction = s.get_transaction()
    if (
        remembered is not None
        and transaction is not None
        and remembered[0] is transaction
        and not _edits_pending(s)
    ):
        return remembered[1]
    days = s.execute(select(func.count(CalendarDay.day), func.max(CalendarDay.updated_at))).one()
    years = s.execute(
        select(func.count(CalendarYear.year), func.max(CalendarYear.updated_at), func.sum(CalendarYear.year))
    ).one()
    state = (*days, *years)
    s.info[_STATE_KEY] = (s.get_transaction(), state, None)
    return state


def _stored_policies() -> dict[str, Policy]:
    """Every stored policy, read once per transaction beside the calendar state (`_stored_state`)."""
    _stored_state()
    s = session()
    transaction, state, policies = s.info[_STATE_KEY]
    if policies is None:
        policies = all_policies()
        s.info[_STATE_KEY] = (transaction, state, policies)
    return policies


def _edits_pending(s: Session) -> bool:
    """A calendar day, year or policy changed in the session and not flushed yet."""
    return any(
        getattr(obj, "__tablename__", None) in _CALENDAR_TABLES for obj in (*s.new, *s.dirty, *s.deleted)
    )


@event.listens_for(Session, "after_flush")
def _forget_on_flush(s: Session, _context: Any) -> None:
    if _STATE_KEY in s.info and _edits_pending(s):
        del s.info[_STATE_KEY]


@event.listens_for(Session, "do_orm_execute")
def _forget_on_statement(state: ORMExecuteState) -> None:
    if _STATE_KEY not in state.session.info or state.is_select:
        return
    if state.is_update or state.is_delete or state.is_insert:
        if getattr(getattr(state.statement, "table", None), "name", "") not in _CALENDAR_TABLES:
            return
    elif not any(name in str(state.statement).lower() for name in _CALENDAR_TABLES):
        return  # text() that names none of them
    state.session.info.pop(_STATE_KEY, None)


def calendar(hours: tuple[time, time] = (time(9), time(17)), tz: str = DEFAULT_TZ) -> WorkCalendar:
    """The stored calendar with these business hours; rebuilt only when the stored days change."""
    state = _stored_state()
    key = (state, hours, tz)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    rows = session.execute(select(CalendarDay.day, CalendarDay.kind, CalendarDay.name)).all()
    known = session.scalars(select(CalendarYear.year).where(CalendarYear.status == "official")).all()
    built = WorkCalendar.from_rows(rows, known_years=known, hours=hours, tz=tz)
    with _cache_lock:
        # one stored state at a time (old states are dead), but every set of business hours of it:
        # policies with different hours must not evict each other's calendar
        stale = [k for k in _cache if k[0] != state]
        for k in stale:
            del _cache[k]
        if stale:
            _counters.clear()
        _cache[key] = built
    return built


def calendar_for(policy: Policy) -> WorkCalendar:
    return calendar((policy.start, policy.end))


def counter_for(policy: Policy, cal: WorkCalendar | None = None) -> Counter:
    """The (cached) fresh-clock counter of a policy on the stored calendar."""
    cal = cal or calendar_for(policy)
    key = (policy, cal.version)
    counter = _counters.get(key)
    if counter is None or counter.cal is not cal:
        counter = Counter(policy, cal)
        with _cache_lock:
            _counters[key] = counter
    return counter


class TypeCalendars:
    """Each ticket type's policy and calendar, looked up once per request (one query for the policies).

    Types whose policies share business hours share one calendar; the calendars themselves come from
    the module's cache (`calendar`), the only calendar cache of the service.
    """

    def __init__(self) -> None:
        self._policies = all_policies()
        self._calendars: dict[str, WorkCalendar] = {}
        self._by_hours: dict[tuple[time, time], WorkCalendar] = {}

    def policy(self, ticket_type: str) -> Policy:
        return self._policies.get(ticket_type) or default_policy(ticket_type)

    def __call__(self, ticket_type: str) -> WorkCalendar:
        cal = self._calendars.get(ticket_type)
        if cal is None:
            policy = self.policy(ticket_type)
            hours = (policy.start, policy.end)
            cal = self._by_hours.get(hours)
            if cal is None:
                cal = self._by_hours[hours] = calendar_for(policy)
            self._calendars[ticket_type] = cal
        return cal


class Counter:
    """Fresh clocks of one policy on one calendar, fast enough to recompute 100,000 tickets at once.

    The results are exactly the calendar's: due_at is `due_by_working_days` / `due_by_business_hours`,
    the budget `business_minutes_between(start, due)`, warn_at `business_point(start, due, ratio)` and
    the explanation `Deadline.explanation` (tests check this). What depends only on the day of receipt
    (the deadline, the explanation after the receipt time, the openings of the days after it) is
    computed once per day; the rest is a little arithmetic on the position of the receipt in its day.
    """

    def __init__(self, policy: Policy, cal: WorkCalendar) -> None:
        self.policy, self.cal, self.tz = policy, cal, cal.tz
        self.open_us = _time_us(policy.start)
        self.day_us = _time_us(policy.end) - self.open_us
        self.working_days = policy.mode != "business_hours"
        self._days: dict[date, tuple[bool, datetime | None, bool]] = {}
        self._openings: dict[tuple[date, int], tuple[datetime, datetime | None]] = {}
        self._explanations: dict[tuple[date, int], str] = {}
        self._prefixes: dict[tuple[date, int, int], str] = {}

    def fresh(self, started: datetime) -> Fresh:
        """Due, warning, budget and provisional flag of a clock started at `started` (aware)."""
        local = started.astimezone(self.tz)
        d = local.date()
        day = self._days.get(d) or self._day(d)
        working, due, provisional = day
        day_us = self.day_us
        x = (
            ((local.hour * 60 + local.minute) * 60 + local.second) * 1_000_000
            + local.microsecond
            - self.open_us
        )
        x = 0 if x <= 0 else day_us if x >= day_us else x  #: business time of day d before the receipt
        if self.working_days:
            # close of business on the n-th working day after d: every working day counted is whole
            total = (day_us - x if working else 0) + self.policy.days * day_us
        else:
            total = self.policy.days * day_us
            due = self._advance(started, d, working, x, total)
            provisional = bool(self.cal.missing_years(d.year, due.astimezone(self.tz).year))
        warn = self._advance(started, d, working, x, round(total * self.policy.warn_ratio))
        return Fresh(due, warn, total // _US_PER_MINUTE, provisional, local)

    def explanation(self, fresh: Fresh) -> str:
        """The calendar's explanation of a fresh clock (cached per day and time of day for working days)."""
        local = fresh.local_received
        if not self.working_days:
            return self.cal.due_by_business_hours(local, self.policy.days).explanation
        d, hour, minute = local.date(), local.hour, local.minute
        x = ((hour * 60 + minute) * 60 + local.second) * 1_000_000 + local.microsecond - self.open_us
        key = (d, 0 if x < 0 else 1 if x < self.day_us else 2)
        prefix = self._prefixes.get((d, hour, minute))
        if prefix is None:
            if len(self._prefixes) > _MAX_CACHED:  # a long-running worker: keep the cache bounded
                self._prefixes.clear()
            prefix = self._prefixes[(d, hour, minute)] = f"收到 {local:%Y-%m-%d %H:%M}"
        rest = self._explanations.get(key)
        if rest is None:
            text = self.cal.due_by_working_days(local, self.policy.days).explanation
            if not text.startswith(prefix):  # a format without the receipt first: never cached
                return text
            rest = self._explanations[key] = text[len(prefix) :]
        return prefix + rest

    def _day(self, d: date) -> tuple[bool, datetime | None, bool]:
        working = self.cal.is_working_day(d)
        due, provisional = None, False
        if self.working_days:
            deadline = self.cal.due_by_working_days(
                datetime.combine(d, time(12), tzinfo=self.tz), self.policy.days
            )
            due, provisional = deadline.due_at.astimezone(UTC), deadline.provisional
        day = self._days[d] = (working, due, provisional)
        return day

    def _opening(self, d: date, k: int) -> tuple[datetime, datetime | None]:
        """The opening of the k-th working day after d (d itself for k == 0): local, and in UTC when its
        business hours keep one UTC offset (then UTC arithmetic equals the calendar's wall-clock one)."""
        key = (d, k)
        known = self._openings.get(key)
        if known is None:
            day = self.cal.working_day_after(d, k) if k else d
            opening = datetime.combine(day, self.policy.start, tzinfo=self.tz)
            closing = datetime.combine(day, self.policy.end, tzinfo=self.tz)
            fixed = opening.utcoffset() == closing.utcoffset()
            known = self._openings[key] = (opening, opening.astimezone(UTC) if fixed else None)
        return known

    def _advance(self, started: datetime, d: date, working: bool, x: int, used: int) -> datetime:
        """The earliest moment (UTC) `used` business microseconds after `started` (at position x of day d)."""
        if used == 0:
            return started.astimezone(UTC)
        if working and x + used <= self.day_us:
            k, offset = 0, x + used
        else:
            rest = used - (self.day_us - x if working else 0)  # > 0: counted on the working days after d
            k = (rest + self.day_us - 1) // self.day_us
            offset = rest - (k - 1) * self.day_us
        opening, opening_utc = self._openings.get((d, k)) or self._opening(d, k)
        if opening_utc is not None:
            return opening_utc + timedelta(microseconds=offset)
        return (opening + timedelta(microseconds=offset)).astimezone(UTC)


# ------------------------------------------------------------------------------------ one ticket
#
# `ticket` is any object with id, type, sla_clock_no, due_at and warn_at (the tickets row): sla never
# imports tickets. These functions change the clock row and the ticket's two deadline copies in the
# caller's transaction; they never commit.

MET, BREACHED = "met", "breached"


def current(ticket: Any) -> SlaClock | None:
    """The ticket's current clock row (None before the first start)."""
    if ticket.id is None:
        return None
    return session.scalar(
        select(SlaClock).where(SlaClock.ticket_id == ticket.id, SlaClock.clock_no == ticket.sla_clock_no)
    )


def mark_notified(ticket: Any, *, warned_at: datetime | None, breached_at: datetime | None) -> None:
    """Record when the current clock's warning and breach notices went out (seeded history: the demo)."""
    row = current(ticket)
    if row is not None:
        row.warned_at, row.breached_at = warned_at, breached_at


def paused_since(ticket: Any) -> datetime | None:
    """When the ticket's running clock was paused (None when it is not paused)."""
    row = current(ticket)
    return row.paused_at if row is not None and row.stopped_at is None else None


def start(ticket: Any, at: datetime) -> SlaClock:
    """Start the ticket's clock at `at` (the IMAP INTERNALDATE of the mail); the ticket must have an id."""
    if not ticket.sla_clock_no:
        ticket.sla_clock_no = 1
    row = current(ticket)
    if row is None:
        row = SlaClock(ticket_id=ticket.id, clock_no=ticket.sla_clock_no)
        session.add(row)
    row.ticket_type = ticket.type
    row.started_at = at
    row.paused_at = row.resumed_at = row.remaining_minutes = row.budget_minutes = None
    row.stopped_at = row.stop_status = row.stopped_by_id = row.outcome = row.handling_minutes = None
    row.warned_at = row.breached_at = row.shortest_resume_minutes = None
    row.paused_minutes = 0
    row.paused_after_due = row.type_changed = False
    _compute(row)
    _copy(ticket, row)
    return row


def restart(ticket: Any, at: datetime) -> SlaClock:
    """A reopen: stop nothing (the old clock stopped at the close), start clock number + 1 at `at`."""
    ticket.sla_clock_no = (ticket.sla_clock_no or 0) + 1
    return start(ticket, at)


def pause(ticket: Any, at: datetime) -> int:
    """Stop the clock while waiting on the enterprise; returns the business minutes left."""
    row = current(ticket)
    if row is None or row.stopped_at is not None:
        return 0
    if row.paused_at is not None or row.due_at is None:
        return row.remaining_minutes or 0
    remaining = max(0, _calendar_of(row).business_minutes_between(at, row.due_at))
    row.paused_at = at
    row.remaining_minutes = remaining
    row.paused_after_due = row.paused_after_due or at > row.due_at
    row.warn_at = (
        None  # due_at stays: the due in force at the pause, which a close while waiting is judged by
    )
    row.explanation = _paused_text(at, remaining)
    _copy(ticket, row)
    return remaining


def resume(ticket: Any, at: datetime) -> int:
    """Restart a paused clock at `at` with the business time that was left; returns minutes paused."""
    row = current(ticket)
    if row is None or row.paused_at is None or row.stopped_at is not None:
        return 0
    paused = max(0, _calendar_of(row).business_minutes_between(row.paused_at, at))
    row.paused_minutes = (row.paused_minutes or 0) + paused
    row.paused_at = None
    row.resumed_at = at
    left = row.remaining_minutes or 0
    if row.shortest_resume_minutes is None or left < row.shortest_resume_minutes:
        row.shortest_resume_minutes = left
    _compute(row)
    _copy(ticket, row)
    return paused


def stop(ticket: Any, at: datetime, status: str, by_id: int | None) -> SlaClock | None:
    """Stop the clock at a close (resolved / rejected / merged) and store its outcome, once.

    Closed while waiting, the clock counts until the pause began (the final pause is paused time) and
    is judged against the due that was in force then. Handling = business minutes from the start to
    that end, minus the minutes paused before it.
    """
    row = current(ticket)
    if row is None or row.stopped_at is not None:
        return row
    cal = _calendar_of(row)
    end = row.paused_at or at
    handling = max(0, cal.business_minutes_between(row.started_at, end) - (row.paused_minutes or 0))
    if row.paused_at is not None:
        row.paused_minutes = (row.paused_minutes or 0) + max(
            0, cal.business_minutes_between(row.paused_at, at)
        )
    row.stopped_at, row.stop_status, row.stopped_by_id = at, status, by_id
    row.handling_minutes = handling
    row.outcome = MET if row.due_at is None or end <= row.due_at else BREACHED
    row.warn_at = None
    return row


def recompute(ticket: Any) -> bool:
    """Recompute a clock after a calendar, policy or type change; True when due_at moved."""
    row = current(ticket)
    if row is None or row.stopped_at is not None:
        return False
    before = row.due_at
    if row.ticket_type != ticket.type:
        row.type_changed = True
        row.ticket_type = ticket.type
    _compute(row, rebudget=True)
    _copy(ticket, row)
    return before != row.due_at


def state(
    *, stopped: bool, paused: bool, due_at: datetime | None, warn_at: datetime | None, now: datetime
) -> str:
    """ok / warn / breached / paused / stopped: the one place a clock's state is named."""
    if stopped:
        return "stopped"
    if paused:
        return "paused"
    if due_at is None:
        return "stopped"
    if due_at <= now:
        return "breached"
    if warn_at is not None and warn_at <= now:
        return "warn"
    return "ok"


def business_minutes_left(row: SlaClock | None, now: datetime) -> int | None:
    """Business minutes until due (negative when past), the stored remainder while paused, None if none."""
    if row is None or row.stopped_at is not None:
        return None
    if row.paused_at is not None:
        return row.remaining_minutes
    if row.due_at is None:
        return None
    return _calendar_of(row).business_minutes_between(now, row.due_at)


def _calendar_of(row: SlaClock) -> WorkCalendar:
    return calendar_for(policy_for(row.ticket_type))


def _copy(ticket: Any, row: SlaClock) -> None:
    """The ticket's copies of the running clock's deadlines (None while paused), for the queue index."""
    running = row.paused_at is None and row.stopped_at is None
    ticket.due_at = row.due_at if running else None
    ticket.warn_at = row.warn_at if running else None


def _compute(row: SlaClock, *, rebudget: bool = False) -> None:
    """Set due_at, warn_at, budget, explanation from the clock's stored start / pause / resume state."""
    policy = policy_for(row.ticket_type)
    for name, value in clock_values(row, policy, counter_for(policy), rebudget=rebudget).items():
        setattr(row, name, value)


def clock_values(clock: Any, policy: Policy, counter: Counter, *, rebudget: bool) -> dict[str, Any]:
    """The computed columns of a clock (an SlaClock, or a row with the same attributes) on `counter`'s calendar.

    `rebudget`: a paused or resumed clock takes the budget of the current policy and calendar, minus
    the business time it had used (a fresh clock is always computed from scratch).
    """
    cal = counter.cal
    started = clock.started_at
    values: dict[str, Any] = {"policy": policy.mode, "calendar_version": cal.version}
    if clock.paused_at is None and clock.resumed_at is None:
        fresh = counter.fresh(started)
        values.update(
            due_at=fresh.due_at,
            warn_at=fresh.warn_at,
            budget_minutes=fresh.budget_minutes,
            provisional=fresh.provisional,
            explanation=counter.explanation(fresh),
        )
        return values
    budget = clock.budget_minutes or 0
    remaining = clock.remaining_minutes or 0
    if rebudget:
        new_budget = counter.fresh(started).budget_minutes
        remaining = max(0, new_budget - (budget - remaining))
        budget = new_budget
        values.update(budget_minutes=budget, remaining_minutes=remaining)
    if clock.paused_at is not None:
        values["explanation"] = _paused_text(clock.paused_at, remaining)
        return values
    resumed = clock.resumed_at
    due = cal.add_business_minutes(resumed, remaining)
    used_before = budget - remaining
    warn_left = max(0, int(policy.warn_ratio * budget - used_before))
    values.update(
        due_at=due.astimezone(UTC),
        warn_at=cal.add_business_minutes(resumed, warn_left).astimezone(UTC),
        provisional=bool(cal.missing_years(_local(started).year, due.year)),
        explanation=(
            f"{_local(resumed):%Y-%m-%d %H:%M} 恢复计时，暂停期间（共 {_hours(clock.paused_minutes)}"
            f"工作时间）不计；剩余 {_hours(remaining)}；截止 {_local(due):%Y-%m-%d %H:%M}"
        ),
    )
    if values["provisional"]:
        values["explanation"] += "（暂定：所涉年份的放假安排尚未录入，按周一至周五推算）"
    return values


def _paused_text(at: datetime, remaining: int) -> str:
    return f"等待企业补充材料，计时暂停（{_local(at):%Y-%m-%d %H:%M} 起），剩余 {_hours(remaining)}。"


def _local(at: datetime) -> datetime:
    return at.astimezone(TZ)


def _time_us(t: time) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


def _hours(minutes: int | None) -> str:
    minutes = minutes or 0
    hours, rest = divmod(abs(minutes), 60)
    sign = "-" if minutes < 0 else ""
    return f"{sign}{hours} 小时 {rest} 分" if rest else f"{sign}{hours} 小时"


# ------------------------------------------------------------------------- many clocks at once
#
# The bulk write of a recompute (sla.recompute computes the figures): the clocks' rows and the
# tickets' copies, in a few statements, each clock only if it is still as it was read.


class Rewrite(NamedTuple):
    """The new figures of one clock, with what was read of it (the guard of its write)."""

    id: int
    ticket_id: int
    clock_no: int
    read_explanation: str | None  #: the clock as read: every start, pause and resume rewrites it
    due_at: datetime | None
    warn_at: datetime | None
    budget_minutes: int | None
    remaining_minutes: int | None
    provisional: bool | None
    explanation: str | None
    policy: str | None
    calendar_version: str | None
    moved: bool  #: due_at differs from the one read
    running: bool  #: not paused: the ticket holds copies of its due_at / warn_at


_REWRITTEN = ("due_at", "warn_at", "budget_minutes", "remaining_minutes", "provisional", "explanation",
              "policy", "calendar_version")  # fmt: skip
_BULK_ROWS = 100_000  #: clocks per COPY and UPDATE on PostgreSQL (a bound on the temporary table)
_SQLITE_CACHE_KB = 131_072  #: SQLite's page cache during a bulk write (KiB)


def write_recomputed(rewrites: list[Rewrite]) -> tuple[int, int]:
    """Write recomputed clocks and their tickets' copies; returns (moved, rewritten), as written.

    Each clock is written only if it is as it was read (its explanation, not stopped): a clock paused,
    resumed or stopped meanwhile was computed by its own transaction and is left alone, and not
    counted, so the moved count is exact. A ticket's due_at / warn_at follow its running clock when
    that clock was written. Flushes nothing and never commits (the caller's unit of work does).
    """
    if not rewrites:
        return 0, 0
    connection = session().connection()
    if connection.dialect.name == "postgresql":
        return _write_postgresql(connection, rewrites)
    # SQLite's page cache (2 MB by default) is far smaller than the clocks' and tickets' pages and
    # indexes that 100,000 rewrites touch; a larger one for this write saves re-reading them
    cache = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    connection.exec_driver_sql(f"PRAGMA cache_size = {-_SQLITE_CACHE_KB}")
    try:
        return _write_executemany(rewrites)
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {int(cache)}")


#: the temporary table of recomputed figures (COPY from Python, or INSERT ... SELECT from sla.bulk), dropped after the write
_REWRITES_TABLE = "sla_recompute_rewrites"
_PG_COLUMNS = (
    ("id", "integer"), ("ticket_id", "integer"), ("clock_no", "integer"), ("read_explanation", "text"),
    ("due_at", "timestamptz"), ("warn_at", "timestamptz"), ("budget_minutes", "integer"),
    ("remaining_minutes", "integer"), ("provisional", "boolean"), ("explanation", "text"),
    ("policy", "text"), ("calendar_version", "text"), ("moved", "boolean"), ("running", "boolean"),
)  # fmt: skip


def _pg_update_from_rewrites(connection: Any) -> tuple[int, int]:
    """PostgreSQL: write the figures of the rewrites table, each clock only if it is as it was read,
    (moved, rewritten) from the clocks' RETURNING; then the running clocks' tickets, guarded by the clock
    holding the new explanation (i.e. written: our UPDATE holds its row lock until the commit). Two
    statements, not one with the tickets' UPDATE fed by a CTE: the hash join of the second is 10 %
    faster than the CTE's nested loop over 90,000 clocks (measured)."""
    sets = ", ".join(f"{name} = s.{name}" for name in _REWRITTEN)
    clocks = (
        f"WITH written AS (UPDATE sla_clocks AS c SET {sets} FROM {_REWRITES_TABLE} AS s "
        "WHERE c.id = s.id AND c.stopped_at IS NULL AND c.explanation IS NOT DISTINCT FROM s.read_explanation "
        "RETURNING s.moved) SELECT count(*), count(*) FILTER (WHERE moved) FROM written"
    )
    copies = (
        f"UPDATE tickets AS t SET due_at = s.due_at, warn_at = s.warn_at FROM {_REWRITES_TABLE} AS s "
        "WHERE s.running AND t.id = s.ticket_id AND t.sla_clock_no = s.clock_no AND EXISTS "
        "(SELECT 1 FROM sla_clocks AS c WHERE c.id = s.id AND c.stopped_at IS NULL "
        "AND c.explanation IS NOT DISTINCT FROM s.explanation)"
    )
    # the planner's row estimate for the join (a temporary table is never auto-analysed)
    connection.exec_driver_sql(f"ANALYZE {_REWRITES_TABLE}")
    rewritten, moved = connection.exec_driver_sql(clocks).one()
    if rewritten:
        connection.exec_driver_sql(copies)
    connection.exec_driver_sql(f"TRUNCATE {_REWRITES_TABLE}")
    return moved, rewritten


def _sqlite_update_from_rewrites(connection: Any) -> tuple[int, int]:
    """SQLite: as _pg_update_from_rewrites, in three statements (the moved clocks, the others, the
    running clocks' tickets guarded by the clock holding the new explanation, i.e. written)."""
    sets = ", ".join(f"{name} = s.{name}" for name in _REWRITTEN)
    clocks = (
        f"UPDATE sla_clocks SET {sets} FROM {_REWRITES_TABLE} AS s WHERE sla_clocks.id = s.id AND s.moved = ? "
        "AND sla_clocks.stopped_at IS NULL AND sla_clocks.explanation IS s.read_explanation"
    )
    moved = connection.exec_driver_sql(clocks, (1,)).rowcount
    rewritten = moved + connection.exec_driver_sql(clocks, (0,)).rowcount
    connection.exec_driver_sql(
        f"UPDATE tickets SET due_at = s.due_at, warn_at = s.warn_at FROM {_REWRITES_TABLE} AS s "
        "WHERE s.running = 1 AND tickets.id = s.ticket_id AND tickets.sla_clock_no = s.clock_no AND EXISTS "
        "(SELECT 1 FROM sla_clocks WHERE sla_clocks.id = s.id AND sla_clocks.stopped_at IS NULL "
        "AND sla_clocks.explanation IS s.explanation)"
    )
    connection.exec_driver_sql(f"DELETE FROM {_REWRITES_TABLE}")
    return moved, rewritten


def _create_rewrites_table(connection: Any) -> None:
    if connection.dialect.name == "postgresql":
        definition = ", ".join(f"{name} {kind}" for name, kind in _PG_COLUMNS)
        connection.exec_driver_sql(f"CREATE TEMPORARY TABLE {_REWRITES_TABLE} ({definition}) ON COMMIT DROP")
    else:  # times as text, as every stored time on SQLite; the id as rowid (UPDATE ... FROM looks it up)
        definition = ", ".join(f"{name} {_SQLITE_TYPES.get(kind, kind)}" for name, kind in _PG_COLUMNS)
        definition = definition.replace("id integer", "id INTEGER PRIMARY KEY", 1)
        connection.exec_driver_sql(f"CREATE TEMPORARY TABLE {_REWRITES_TABLE} ({definition})")


_SQLITE_TYPES = {
    "timestamptz": "TEXT",
    "text": "TEXT",
    "boolean": "INTEGER",
    "bigint": "INTEGER",
    "float8": "REAL",
}


def _write_postgresql(connection: Any, rewrites: list[Rewrite]) -> tuple[int, int]:
    """COPY the figures into a temporary table, then one UPDATE ... FROM it per 100,000 clocks.
    psycopg formats binary COPY rows in C; the arrays of the former unnest() statement were dumped
    element by element in Python (4.5 s of 100,000 rows' 15 s, profiled)."""
    names = ", ".join(name for name, _kind in _PG_COLUMNS)
    _create_rewrites_table(connection)
    cursor = connection.connection.driver_connection.cursor()  # the same connection: the same transaction
    moved = rewritten = 0
    try:
        for first in range(0, len(rewrites), _BULK_ROWS):
            with cursor.copy(f"COPY {_REWRITES_TABLE} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types([kind for _name, kind in _PG_COLUMNS])  # binary: a quarter of text's CPU
                for rewrite in rewrites[first : first + _BULK_ROWS]:
                    copy.write_row(rewrite)
            count_moved, count = _pg_update_from_rewrites(connection)
            rewritten += count
            moved += count_moved
    finally:
        cursor.close()
    connection.exec_driver_sql(f"DROP TABLE {_REWRITES_TABLE}")
    return moved, rewritten


class SqlRecomputed(NamedTuple):
    """What rewrite_fresh_in_sql did: clocks checked, deadlines moved, rows rewritten, provisional cleared."""

    checked: int
    moved: int
    rewritten: int
    provisional_cleared: int


def rewrite_fresh_in_sql(where: str, params: dict[str, Any], days: list[tuple]) -> SqlRecomputed:
    """Recompute the fresh clocks matching `where` (SQL on sla_clocks AS c, with :named `params`, among
    them :day_base) in the database from the numbered per-day rows of sla.bulk (`days`, covering every
    receipt day they have), and write them and their tickets' copies as write_recomputed does. Never
    commits."""
    s = session()
    connection = s.connection()
    dialect = connection.dialect.name
    sqlite = dialect == "sqlite"
    if sqlite:  # the deadlines as SQLite stores times (text)
        days = [(*row[:5], _sqlite_time(row[5]), *row[6:]) for row in days]
    names = [name for name, _kind in bulk.DAY_COLUMNS]
    kinds = [(_SQLITE_TYPES.get(kind, kind) if sqlite else kind) for _name, kind in bulk.DAY_COLUMNS]
    kinds[-1] += " PRIMARY KEY"  # day_id
    connection.exec_driver_sql(
        f"CREATE TEMPORARY TABLE {bulk.DAYS_TABLE} ({', '.join(f'{n} {k}' for n, k in zip(names, kinds, strict=True))})"
        + ("" if sqlite else " ON COMMIT DROP")
    )
    mark = "?" if sqlite else "%s"
    connection.exec_driver_sql(
        f"CREATE INDEX {bulk.DAYS_TABLE}_no ON {bulk.DAYS_TABLE} (ticket_type, day_no)"
    )
    connection.exec_driver_sql(
        f"INSERT INTO {bulk.DAYS_TABLE} ({', '.join(names)}) VALUES ({', '.join([mark] * len(names))})", days
    )
    _create_rewrites_table(connection)
    checked = s.execute(text(f"SELECT count(*) FROM sla_clocks AS c WHERE {where}"), params).scalar_one()
    s.execute(text(bulk.fresh_rewrites_sql(dialect, _REWRITES_TABLE, where)), params)
    cleared = connection.exec_driver_sql(
        f"SELECT count(*) FROM {_REWRITES_TABLE} AS s JOIN sla_clocks AS c ON c.id = s.id "
        + (
            "WHERE c.provisional = 1 AND s.provisional = 0"
            if sqlite
            else "WHERE c.provisional AND NOT s.provisional"
        )
    ).scalar_one()
    if sqlite:
        cache = connection.exec_driver_sql("PRAGMA cache_size").scalar()
        connection.exec_driver_sql(f"PRAGMA cache_size = {-_SQLITE_CACHE_KB}")
        try:
            moved, rewritten = _sqlite_update_from_rewrites(connection)
        finally:
            connection.exec_driver_sql(f"PRAGMA cache_size = {int(cache)}")
    else:
        moved, rewritten = _pg_update_from_rewrites(connection)
    connection.exec_driver_sql(f"DROP TABLE {_REWRITES_TABLE}")
    connection.exec_driver_sql(f"DROP TABLE {bulk.DAYS_TABLE}")
    return SqlRecomputed(checked, moved, rewritten, cleared)


def _write_executemany(rewrites: list[Rewrite]) -> tuple[int, int]:
    """SQLite: one executemany UPDATE by primary key for the moved clocks (its row count is the moved
    count), one for the others, one for the running clocks' tickets (guarded by the clock holding the
    new explanation, i.e. written). The parameters are made here as the driver takes them (times as
    SQLAlchemy stores them on SQLite, "YYYY-MM-DD HH:MM:SS.ffffff" UTC, so that they compare as text
    with every other stored time): SQLAlchemy's per-value processing cost more than the UPDATEs."""
    connection = session().connection()
    sets = ", ".join(f"{name} = ?" for name in _REWRITTEN)
    clocks = f"UPDATE sla_clocks SET {sets} WHERE id = ? AND stopped_at IS NULL AND explanation IS ?"
    # each time formatted once, for the clock and for its ticket's copy (isoformat was a fifth of the write)
    times = [(_sqlite_time(r.due_at), _sqlite_time(r.warn_at)) for r in rewrites]
    moved = rewritten = 0
    for group in (True, False):
        params = [
            (
                due,
                warn,
                r.budget_minutes,
                r.remaining_minutes,
                r.provisional,
                r.explanation,
                r.policy,
                r.calendar_version,
                r.id,
                r.read_explanation,
            )  # fmt: skip
            for r, (due, warn) in zip(rewrites, times, strict=True)
            if r.moved is group
        ]
        if params:
            count = connection.exec_driver_sql(clocks, params).rowcount
            rewritten += count
            moved += count if group else 0
    copies = (
        "UPDATE tickets SET due_at = ?, warn_at = ? WHERE id = ? AND sla_clock_no = ? AND EXISTS "
        "(SELECT 1 FROM sla_clocks WHERE id = ? AND stopped_at IS NULL AND explanation IS ?)"
    )
    params = [
        (due, warn, r.ticket_id, r.clock_no, r.id, r.explanation)
        for r, (due, warn) in zip(rewrites, times, strict=True)
        if r.running
    ]
    if params:
        connection.exec_driver_sql(copies, params)
    return moved, rewritten


def _sqlite_time(at: datetime | None) -> str | None:
    """An aware time as helpdesk.db.UTCDateTime stores it on SQLite (UTC, microseconds always written)."""
    if at is None:
        return None
    text = at.isoformat(" ", "microseconds")
    if text.endswith("+00:00"):  # the computed times are UTC already: no conversion per value
        return text[:-6]
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
