"""Recompute the open clocks after a calendar or policy change (in the edit's own transaction).

A row is rewritten only when its figures or its explanation changed; all rewrites go in one
executemany per table (the clock rows, then the tickets' due_at / warn_at copies of the running ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, column, or_, select, table, update

from helpdesk.db import UTCDateTime, session, unit_of_work
from helpdesk.sla import clock
from helpdesk.sla.models import SlaClock

BATCH = 5000  #: rows per fetch when recomputing open clocks
NAME_LOOKBACK_DAYS = 32  #: an explanation names the holiday run around the receipt: up to 31 days before it

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
    clocks: list[dict[str, Any]] = []
    copies: list[dict[str, Any]] = []
    checked = moved = cleared = 0
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
        moved += due != row.due_at
        cleared += bool(row.provisional) and values.get("provisional", row.provisional) is False
        clocks.append(
            {"b_" + k: values[k] if k in values else current[k] for k in _WRITTEN}
            | {"b_id": row.id, "b_read_explanation": row.explanation}
        )
        if row.paused_at is None:
            copies.append(
                {
                    "b_tid": row.ticket_id,
                    "b_no": row.clock_no,
                    "b_due_at": due,
                    "b_warn_at": values.get("warn_at", row.warn_at),
                }
            )
    if clocks:
        _write_clocks(clocks)
    if copies:
        t = TICKET_COPIES.c
        _executemany(
            update(TICKET_COPIES)
            .where(t.id == bindparam("b_tid"), t.sla_clock_no == bindparam("b_no"))
            .values(
                due_at=bindparam("b_due_at", type_=UTCDateTime()),
                warn_at=bindparam("b_warn_at", type_=UTCDateTime()),
            ),
            copies,
        )
    return Recomputed(checked, len(clocks), moved, cleared)


def _write_clocks(params: list[dict[str, Any]]) -> None:
    """Write recomputed clock rows (one executemany), each guarded by the inputs it was computed from."""
    c = SlaClock.__table__.c
    _executemany(
        update(SlaClock.__table__)
        .where(
            c.id == bindparam("b_id"),
            c.stopped_at.is_(None),
            # every start, pause and resume rewrites the explanation (it names their times): a clock
            # whose explanation is still the one read has not moved meanwhile
            c.explanation == bindparam("b_read_explanation", type_=c.explanation.type),
        )
        .values({k: bindparam(f"b_{k}", type_=c[k].type) for k in _WRITTEN}),
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
