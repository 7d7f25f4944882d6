"""SLA warnings and breaches: what is due, claimed once per clock. The notices are raised by tickets.

The deadlines are stored on the clock rows (warn_at, due_at); these steps only compare timestamps,
under the partial indexes of running clocks not yet warned / breached. Each claim is a compare-and-set
on the clock (warned_at / breached_at IS NULL, still running, still past its time): the caller raises
the notice only when its claim changed the row, so each notice goes out once per clock. A reopened
ticket starts a new clock row, so it can be warned and breached again.

sla reports and claims; it never writes a notification or a mail (tickets.notices does, in the same
unit of work as the claim), so sla does not depend on tickets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update

from helpdesk.db import session
from helpdesk.sla.models import SlaClock

WARNING, BREACH = "sla_warning", "sla_breach"


@dataclass(frozen=True)
class Claim:
    """A due notice of one clock: won is False when another worker claimed it first."""

    kind: str  #: sla_warning / sla_breach
    ticket_id: int
    clock_no: int
    due_at: datetime | None
    won: bool


def _columns(kind: str) -> tuple[object, object]:
    return (
        (SlaClock.warn_at, SlaClock.warned_at) if kind == WARNING else (SlaClock.due_at, SlaClock.breached_at)
    )


def claim_next(kind: str, now: datetime) -> Claim | None:
    """Claim the most overdue running clock of this kind (flushes; never commits); None when none is due."""
    column, flag = _columns(kind)
    running: tuple[Any, ...] = (
        SlaClock.stopped_at.is_(None),
        SlaClock.paused_at.is_(None),
        flag.is_(None),
        column <= now,
    )
    if kind == WARNING:
        # a clock already past its deadline is the breach's (which marks it warned too), never a late
        # warning: a ticket made between a tick's breach pass and its warning pass would get both
        running += (or_(SlaClock.due_at.is_(None), SlaClock.due_at > now),)
    row = session.execute(
        select(SlaClock.id, SlaClock.ticket_id, SlaClock.clock_no, SlaClock.due_at)
        .where(*running)
        .order_by(column)
        .limit(1)
    ).first()
    if row is None:
        return None
    # the claim: the row still matches (not claimed, not paused, not stopped) in the same statement
    won = (
        session.execute(
            update(SlaClock)
            .where(SlaClock.id == row.id, *running)
            .values({flag.key: now})
            .execution_options(synchronize_session=False)
        ).rowcount
        == 1
    )
    if won and kind == BREACH:
        # a breach implies the warning: never send a late warning after the breach
        session.execute(
            update(SlaClock)
            .where(SlaClock.id == row.id, SlaClock.warned_at.is_(None))
            .values(warned_at=now)
            .execution_options(synchronize_session=False)
        )
    # won is False: another worker claimed it first (or the clock was paused or stopped meanwhile)
    return Claim(kind, row.ticket_id, row.clock_no, row.due_at, won)
