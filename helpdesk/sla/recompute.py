"""Recompute the open clocks after a calendar or policy change (in the edit's own transaction).

The new figures are computed per clock from the per-day precomputed offsets (`clock.Counter`); only
the clocks whose figures or explanation changed are staged, in a temporary table (one executemany
insert), then written set-based by three UPDATE ... FROM statements (the moved clocks, the other
changed ones, the tickets' due_at / warn_at copies of the running ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    column,
    insert,
    or_,
    select,
    table,
    update,
)

from helpdesk.db import UTCDateTime, session, unit_of_work
from helpdesk.sla import clock
from helpdesk.sla.models import SlaClock

BATCH = 5000  #: rows per fetch when recomputing open clocks
NAME_LOOKBACK_DAYS = 32  #: an explanation names the holiday run around the receipt: up to 31 days before it

#: the figures of the clocks a recompute changes, staged for the set-based writes (a temporary table)
STAGED = Table(
    "sla_recompute_staged",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("ticket_id", Integer),
    Column("clock_no", Integer),
    Column("read_explanation", Text),
    Column("due_at", UTCDateTime()),
    Column("warn_at", UTCDateTime()),
    Column("budget_minutes", Integer),
    Column("remaining_minutes", Integer),
    Column("provisional", Boolean),
    Column("explanation", Text),
    Column("policy", String(30)),
    Column("calendar_version", String(64)),
    Column("moved", Boolean),
    Column("running", Boolean),
    prefixes=["TEMPORARY"],
)

#: the tickets' copies of the running clock's deadlines (sla knows the table, never the tickets package)
TICKET_COPIES = table(
    "tickets",
    column("id"),
    column("sla_clock_no"),
    column("due_at", UTCDateTime()),
    column("warn_at", UTCDateTime()),
)


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


_COMPARED = (
    "due_at",
    "warn_at",
    "budget_minutes",
    "remaining_minutes",
    "provisional",
    "explanation",
    "policy",
)
_WRITTEN = (*_COMPARED, "calendar_version")


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
    columns = [
        c.id, c.ticket_id, c.clock_no, c.ticket_type, c.started_at, c.paused_at, c.resumed_at,
        c.remaining_minutes, c.budget_minutes, c.paused_minutes, c.due_at, c.warn_at, c.provisional,
        c.policy, c.explanation,
    ]  # fmt: skip
    query = select(*columns).where(c.stopped_at.is_(None))
    if ticket_type is not None:
        query = query.where(c.ticket_type == ticket_type)
    if window is not None:
        first = datetime.combine(window[0], time(0), tzinfo=clock.TZ).astimezone(UTC)
        after = datetime.combine(window[1] + timedelta(days=1), time(0), tzinfo=clock.TZ).astimezone(UTC)
        query = query.where(
            or_(
                c.paused_at.is_not(None),
                c.resumed_at.is_not(None),
                and_(c.started_at < after + timedelta(days=NAME_LOOKBACK_DAYS), c.due_at >= first),
            )
        )
    query = query.order_by(c.id).execution_options(yield_per=BATCH)
    keys = [col.key for col in columns]
    staged: list[dict[str, Any]] = []
    checked = cleared = 0
    for row in s.execute(query):
        checked += 1
        entry = counters.get(row.ticket_type)
        if entry is None:
            policy = stored.get(row.ticket_type) or clock.default_policy(row.ticket_type)
            entry = counters[row.ticket_type] = (policy, clock.counter_for(policy))
        policy, counter = entry
        current = dict(zip(keys, row, strict=True))
        values = clock.clock_values(row, policy, counter, rebudget=True)
        if all(values.get(k, current[k]) == current[k] for k in _COMPARED):
            continue
        due = values.get("due_at", row.due_at)
        cleared += bool(row.provisional) and values.get("provisional", row.provisional) is False
        staged.append(
            {k: values[k] if k in values else current[k] for k in _WRITTEN}
            | {
                "id": row.id,
                "ticket_id": row.ticket_id,
                "clock_no": row.clock_no,
                "read_explanation": row.explanation,
                "moved": due != row.due_at,
                "running": row.paused_at is None,
            }
        )
    if not staged:
        return Recomputed(checked, 0, 0, cleared)
    connection = s.connection()
    STAGED.create(connection)  # a temporary table, created and dropped inside the edit's transaction
    try:
        _executemany(insert(STAGED), staged)
        moved, changed = _write_staged()
    finally:
        STAGED.drop(connection)
    return Recomputed(checked, changed, moved, cleared)


def _write_staged() -> tuple[int, int]:
    """Write the staged figures in three statements; returns (moved, rewritten), counted as written.

    Each clock is written only if it is as it was read (its explanation, not stopped): every start,
    pause and resume rewrites the explanation (it names their times), so a clock changed meanwhile by
    its own transaction is left alone, and not counted. The moved clocks go in their own statement,
    so that its row count is the moved count. The tickets' due_at / warn_at copies follow the running
    clocks that were written (the clock now holds the staged explanation).
    """
    c, t, st = SlaClock.__table__.c, TICKET_COPIES.c, STAGED.c
    rewrite = (
        update(SlaClock.__table__)
        .where(c.id == st.id, c.stopped_at.is_(None), c.explanation == st.read_explanation)
        .values({k: st[k] for k in _WRITTEN})
    )
    moved = session.execute(rewrite.where(st.moved.is_(True))).rowcount
    rest = session.execute(rewrite.where(st.moved.is_(False))).rowcount
    written = (
        select(c.id).where(c.id == st.id, c.stopped_at.is_(None), c.explanation == st.explanation).exists()
    )
    session.execute(
        update(TICKET_COPIES)
        .where(t.id == st.ticket_id, t.sla_clock_no == st.clock_no, st.running.is_(True), written)
        .values(due_at=st.due_at, warn_at=st.warn_at)
    )
    return moved, moved + rest


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
