"""Recompute the open clocks after a calendar or policy change (in the edit's own transaction).

Set-based, in two parts:

- the fresh clocks (never paused) of every "working days" policy, most of them, are computed in the
  database: sla.bulk makes one row per ticket type and day of receipt from `clock.Counter` (deadline,
  provisional flag, the openings of the following working days, the explanation's texts), and
  `clock.rewrite_fresh_in_sql` joins the clocks to those rows, computes each clock's figures in integer
  microseconds exactly as the Counter does and keeps only those that change (INSERT ... SELECT into a
  temporary table), then writes them and the tickets' copies with UPDATE ... FROM that table;
- the others (paused, resumed, business-hours policies, or a day whose UTC offset changes) are computed
  per clock here (`clock.clock_values`), and `clock.write_recomputed` writes them the same way (COPY into
  the temporary table on PostgreSQL, executemany by primary key on SQLite).

Every write is guarded by the clock as read (not stopped, its explanation unchanged), and the moved
count is counted from what was written, so it is exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple

from sqlalchemy import DateTime, String, and_, func, or_, select, type_coerce

from helpdesk.db import session, unit_of_work
from helpdesk.sla import bulk, clock
from helpdesk.sla.models import SlaClock

BATCH = 5000  #: rows per fetch when recomputing open clocks
NAME_LOOKBACK_DAYS = 32  #: an explanation names the holiday run around the receipt: up to 31 days before it


class _Read(NamedTuple):
    """An open clock as read for a recompute (the attributes clock.clock_values reads)."""

    id: int
    ticket_id: int
    clock_no: int
    ticket_type: str
    started_at: datetime
    paused_at: datetime | None
    resumed_at: datetime | None
    remaining_minutes: int | None
    budget_minutes: int | None
    paused_minutes: int | None
    due_at: datetime | None
    warn_at: datetime | None
    provisional: bool | None
    policy: str | None
    explanation: str | None


def _utc(text: str | None) -> datetime | None:
    """A time as SQLite holds it (UTC text), aware."""
    return None if text is None else datetime.fromisoformat(text + "+00:00")  # one C call, no replace()


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


def recompute_open_tickets() -> int:
    """Recompute every open clock on the stored calendar and policies; returns how many due times moved. Commits."""
    with unit_of_work():
        return recompute_open().moved


def recompute_open_tickets_report() -> Recomputed:
    """As recompute_open_tickets, with the whole report (checked, rewritten, moved, provisional cleared). Commits."""
    with unit_of_work():
        return recompute_open()


#: the computed columns compared with the stored ones (a clock whose figures stay the same is not written)
_COMPARED = (
    "due_at",
    "warn_at",
    "budget_minutes",
    "remaining_minutes",
    "provisional",
    "explanation",
    "policy",
)


def recompute_open(*, window: tuple[date, date] | None = None, ticket_type: str | None = None) -> Recomputed:
    """Recompute the open clocks in the caller's transaction (flushes; never commits).

    `window`: only the days from first to last changed (a calendar edit), so only the clocks that can
    see them are read: a fresh clock reads the days from its receipt to its due day (and, for the
    holiday names in its explanation, up to 31 days before the receipt); paused and resumed clocks are
    always read. `ticket_type`: only that type's policy changed. Without either, every open clock.

    Each rewrite is guarded by the clock as read (its explanation, not stopped): a clock
    paused or stopped meanwhile was computed by its own transaction and is left alone. A clock whose
    figures stay the same is not written at all, so its calendar_version keeps naming the calendar it
    was last computed with (rewriting 100,000 rows only to stamp a version costs seconds on PostgreSQL).
    """
    c = SlaClock.__table__.c
    s = session()
    s.flush()
    stored = clock.all_policies()
    counters: dict[str, tuple[clock.Policy, clock.Counter]] = {}
    sqlite = s.get_bind().dialect.name == "sqlite"
    # the times as the driver gives them: psycopg's aware datetimes as they are, SQLite's text parsed
    # below by datetime.fromisoformat (SQLAlchemy's per-value processing cost a third of the read)
    raw: Any = String() if sqlite else DateTime(timezone=True)
    columns = [
        c.id, c.ticket_id, c.clock_no, c.ticket_type, type_coerce(c.started_at, raw),
        type_coerce(c.paused_at, raw), type_coerce(c.resumed_at, raw), c.remaining_minutes, c.budget_minutes,
        c.paused_minutes, type_coerce(c.due_at, raw), type_coerce(c.warn_at, raw), c.provisional, c.policy,
        c.explanation,
    ]  # fmt: skip
    query = select(*columns).where(c.stopped_at.is_(None))
    in_window = None
    if window is not None:
        first = datetime.combine(window[0], time(0), tzinfo=clock.TZ).astimezone(UTC)
        after = datetime.combine(window[1] + timedelta(days=1), time(0), tzinfo=clock.TZ).astimezone(UTC)
        in_window = (first, after + timedelta(days=NAME_LOOKBACK_DAYS))
    by_sql = _plan_fresh_in_sql(stored, ticket_type, in_window)
    if ticket_type is not None:
        query = query.where(c.ticket_type == ticket_type)
    if by_sql.types:  # those fresh clocks are done: the rest (paused, resumed, other policies) here
        query = query.where(
            ~and_(c.paused_at.is_(None), c.resumed_at.is_(None), c.ticket_type.in_(by_sql.types))
        )
    if in_window is not None:
        query = query.where(
            or_(
                c.paused_at.is_not(None),
                c.resumed_at.is_not(None),
                and_(c.started_at < in_window[1], c.due_at >= in_window[0]),
            )
        )
    query = query.order_by(c.id).execution_options(yield_per=BATCH)
    rewrites: list[clock.Rewrite] = []
    checked = cleared = 0
    for row in s.execute(query):
        if sqlite:
            row = _Read(*row[:4], _utc(row[4]), _utc(row[5]), _utc(row[6]), *row[7:10], _utc(row[10]),
                        _utc(row[11]), *row[12:])  # fmt: skip
        checked += 1
        entry = counters.get(row.ticket_type)
        if entry is None:
            policy = stored.get(row.ticket_type) or clock.default_policy(row.ticket_type)
            entry = counters[row.ticket_type] = (policy, clock.counter_for(policy))
        policy, counter = entry
        if row.paused_at is None and row.resumed_at is None:
            # a fresh clock (most of them): clock_values' fresh branch inline, without its dict
            fresh = counter.fresh(row.started_at)
            due, warn, budget, provisional, _received = fresh
            remaining, mode, version = row.remaining_minutes, policy.mode, counter.cal.version
            explanation = counter.explanation(fresh)
            if (due, warn, budget, provisional, explanation, mode) == (
                row.due_at, row.warn_at, row.budget_minutes, row.provisional, row.explanation, row.policy
            ):  # fmt: skip
                continue
        else:
            values = clock.clock_values(row, policy, counter, rebudget=True)
            old = (row.due_at, row.warn_at, row.budget_minutes, row.remaining_minutes, row.provisional,
                   row.explanation, row.policy)  # fmt: skip
            new = tuple(values.get(k, was) for k, was in zip(_COMPARED, old, strict=True))
            if new == old:
                continue
            due, warn, budget, remaining, provisional, explanation, mode = new
            version = values["calendar_version"]
        cleared += bool(row.provisional) and provisional is False
        rewrites.append(
            clock.Rewrite(
                row.id,
                row.ticket_id,
                row.clock_no,
                row.explanation,
                due,
                warn,
                budget,
                remaining,
                provisional,
                explanation,
                mode,
                version,
                due != row.due_at,
                row.paused_at is None,
            )  # fmt: skip
        )
    # the fresh clocks computed and written in SQL after the others were read (a clock paused meanwhile
    # is then neither read here as paused nor written there: its own transaction computed it)
    done = clock.rewrite_fresh_in_sql(by_sql.where, by_sql.params, by_sql.days) if by_sql.types else _NONE
    moved, changed = clock.write_recomputed(rewrites)
    return Recomputed(
        checked + done.checked,
        changed + done.rewritten,
        moved + done.moved,
        cleared + done.provisional_cleared,
    )


_NONE = clock.SqlRecomputed(0, 0, 0, 0)


@dataclass(frozen=True)
class _BySql:
    """The fresh clocks to recompute in SQL: their types, the condition on sla_clocks AS c, the day rows."""

    types: tuple[str, ...] = ()
    where: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    days: list[tuple[Any, ...]] = field(default_factory=list)


def _plan_fresh_in_sql(
    stored: dict[str, clock.Policy], ticket_type: str | None, in_window: tuple[datetime, datetime] | None
) -> _BySql:
    """The fresh clocks of every type whose policy sla.bulk can compute in SQL from per-day offsets
    (clock.rewrite_fresh_in_sql then recomputes and writes them in a few statements)."""
    c = SlaClock.__table__.c
    s = session()
    sqlite = s.get_bind().dialect.name == "sqlite"
    fresh = [c.stopped_at.is_(None), c.paused_at.is_(None), c.resumed_at.is_(None)]
    where = "c.stopped_at IS NULL AND c.paused_at IS NULL AND c.resumed_at IS NULL"
    params: dict[str, Any] = {}
    if ticket_type is not None:
        fresh.append(c.ticket_type == ticket_type)
    if in_window is not None:
        fresh += [c.started_at < in_window[1], c.due_at >= in_window[0]]
        where += " AND c.started_at < :window_after AND c.due_at >= :window_first"
        params["window_first"], params["window_after"] = (
            (clock._sqlite_time(t) for t in in_window) if sqlite else in_window
        )
    ranges = s.execute(
        select(c.ticket_type, func.min(c.started_at), func.max(c.started_at))
        .where(*fresh)
        .group_by(c.ticket_type)
    ).all()
    types: list[str] = []
    days: list[tuple[Any, ...]] = []
    for kind, earliest, latest in ranges:
        policy = stored.get(kind) or clock.default_policy(kind)
        counter = clock.counter_for(policy)
        rows = bulk.day_rows(
            counter, kind, earliest.astimezone(counter.tz).date(), latest.astimezone(counter.tz).date()
        )
        if rows is not None:
            types.append(kind)
            days += rows
    numbered = bulk.numbered(days)
    if numbered is None:  # no day rows, or days that do not fall on one grid (then all per clock)
        return _BySql()
    params["day_base"], days = numbered
    names = [f"type_{i}" for i in range(len(types))]
    params.update(zip(names, types, strict=True))
    where += f" AND c.ticket_type IN ({', '.join(':' + n for n in names)})"
    return _BySql(tuple(types), where, params, days)
