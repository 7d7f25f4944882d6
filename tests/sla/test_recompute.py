"""The set-based recompute of open clocks (sla/recompute.py) after calendar and policy edits: the same
figures as each clock's own computation, the moved count exact, and a clock changed meanwhile left alone."""

from __future__ import annotations

import random
import re
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from helpdesk.db import session
from helpdesk.sla import clock, service
from helpdesk.sla.models import SlaClock
from helpdesk.tickets import lifecycle
from helpdesk.tickets.models import Ticket, TicketStatus
from tests.tickets.factories import make_ticket

SH = ZoneInfo("Asia/Shanghai")
FIGURES = ("due_at", "warn_at", "budget_minutes", "remaining_minutes", "provisional", "explanation", "policy")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SH)


def figures(ticket_id: int) -> dict[str, Any]:
    """The current clock's computed columns and the ticket's deadline copies, read from the database."""
    session.expire_all()
    ticket = session.get(Ticket, ticket_id)
    row = ticket.clock
    return {k: getattr(row, k) for k in FIGURES} | {"copy": (ticket.due_at, ticket.warn_at)}


def open_tickets(rng: random.Random, n: int) -> list[int]:
    """n open tickets received at random moments of September 2026; some waiting, some resumed."""
    ids = []
    start = at("2026-09-14 00:00")
    for i in range(n):
        received = start + timedelta(minutes=rng.randrange(0, 16 * 24 * 60))
        ticket = make_ticket(type=rng.choice(["change", "unbind", "inquiry"]), received_at=received)
        ids.append(ticket.id)
        if i % 5 == 1:  # waiting on the enterprise three hours later
            lifecycle.change_status(ticket, TicketStatus.WAITING, by=None, at=received + timedelta(hours=3))
        if i % 10 == 1:  # and answered a day later: resumed
            lifecycle.change_status(ticket, TicketStatus.OPEN, by=None, at=received + timedelta(hours=27))
        session.commit()
    return ids


def test_the_recompute_equals_each_clocks_own_computation_on_a_random_sample(app, users):
    rng = random.Random(13)
    ids = open_tickets(rng, 60)
    service.update_policy(
        "unbind",
        mode="business_hours",
        days=2,
        business_start="08:30",
        business_end="17:30",
        warn_percent=60,
        by=users["admin"],
    )
    result = service.set_day(date(2026, 9, 29), "off", name="台风停工", by=users["admin"])
    assert result is not None and result.moved > 0
    for tid in rng.sample(ids, 20):
        batch = figures(tid)
        ticket = session.get(Ticket, tid)
        clock.recompute(ticket)  # the per-ticket path on the same stored calendar and policies
        session.flush()
        own = {k: getattr(ticket.clock, k) for k in FIGURES} | {"copy": (ticket.due_at, ticket.warn_at)}
        session.rollback()
        assert batch == own, tid


def test_the_moved_count_is_the_number_of_deadlines_that_moved(app, users):
    ids = open_tickets(random.Random(5), 40)
    before = {tid: figures(tid)["due_at"] for tid in ids}
    result = service.set_day(date(2026, 9, 24), "off", by=users["admin"])
    after = {tid: figures(tid)["due_at"] for tid in ids}
    moved = [tid for tid in ids if before[tid] != after[tid]]
    assert 0 < len(moved) < len(ids)
    assert result.moved == len(moved)


def test_a_clock_changed_meanwhile_is_left_alone_and_not_counted(app, users, monkeypatch):
    ids = [make_ticket(received_at=at("2026-09-22 10:00") + timedelta(hours=i)).id for i in range(4)]
    victim = ids[1]
    victim_clock = session.scalar(select(SlaClock.id).where(SlaClock.ticket_id == victim))
    # fresh clocks are computed in SQL into a temporary table, then written from it (both databases)
    writes = {
        name: getattr(clock, name) for name in ("_sqlite_update_from_rewrites", "_pg_update_from_rewrites")
    }

    def paused_by_another_transaction(name: str, connection: Any) -> tuple[int, int]:
        # between the computation and the write, the ticket's own transaction pauses its clock
        session.execute(
            update(SlaClock)
            .where(SlaClock.id == victim_clock)
            .values(paused_at=at("2026-09-22 12:00"), warn_at=None, explanation="另一事务暂停了计时")
            .execution_options(synchronize_session=False)
        )
        session.execute(
            update(Ticket)
            .where(Ticket.id == victim)
            .values(due_at=None, warn_at=None)
            .execution_options(synchronize_session=False)
        )
        return writes[name](connection)

    for name in writes:
        monkeypatch.setattr(
            clock, name, lambda connection, name=name: paused_by_another_transaction(name, connection)
        )
    untouched = figures(victim)["due_at"]
    result = service.set_day(date(2026, 9, 23), "off", by=users["admin"])
    assert (result.checked, result.moved, result.changed) == (4, 3, 3)
    kept = figures(victim)
    assert kept["explanation"] == "另一事务暂停了计时"
    assert kept["due_at"] == untouched  # the due in force at the pause, not the recomputed one
    assert kept["copy"] == (None, None)  # the paused ticket's copies were not rewritten either
    for tid in ids:
        if tid != victim:
            assert figures(tid)["due_at"] != untouched


def test_a_recompute_written_in_several_statements_counts_and_writes_the_same(app, users, monkeypatch):
    """PostgreSQL writes 20,000 clocks a statement: with 2 a statement, the moved clocks of 40 tickets take several, and
    the figures and the moved count are those of each clock's own computation."""
    monkeypatch.setattr(clock, "_BULK_ROWS", 2)
    rng = random.Random(21)
    ids = open_tickets(rng, 40)
    before = {tid: figures(tid)["due_at"] for tid in ids}
    result = service.set_day(date(2026, 9, 24), "off", by=users["admin"])
    after = {tid: figures(tid) for tid in ids}
    assert result.moved == sum(before[tid] != after[tid]["due_at"] for tid in ids) > 2
    for tid in rng.sample(ids, 12):
        ticket = session.get(Ticket, tid)
        clock.recompute(ticket)
        session.flush()
        own = {k: getattr(ticket.clock, k) for k in FIGURES} | {"copy": (ticket.due_at, ticket.warn_at)}
        session.rollback()
        assert after[tid] == own, tid


def test_recomputed_times_are_stored_as_every_other_time_is(app, users):
    """On SQLite times are text and compare as text: the bulk write must store them in the format the
    ORM writes (microseconds always), or a deadline equal to "now" would compare as before it."""
    from sqlalchemy import text

    ids = open_tickets(random.Random(8), 12)
    orm_written = session.execute(text("SELECT started_at FROM sla_clocks ORDER BY id")).scalars().all()
    result = service.set_day(date(2026, 9, 24), "off", by=users["admin"])
    assert result.moved > 0
    stored = session.execute(
        text("SELECT c.due_at, t.due_at FROM sla_clocks c JOIN tickets t ON t.id = c.ticket_id WHERE c.paused_at IS NULL")
    ).all()  # fmt: skip
    if session.get_bind().dialect.name == "sqlite":
        pattern = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}")
        assert all(pattern.fullmatch(v) for v in orm_written)
        assert stored and all(pattern.fullmatch(a) and a == b for a, b in stored)
    assert len(stored) == sum(1 for tid in ids if figures(tid)["copy"][0] is not None)
