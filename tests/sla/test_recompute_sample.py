"""The set-based recompute (sla/recompute.py and clock.write_recomputed) against each clock's own computation
(clock.recompute) on a random sample: every ticket type, receipts at any second of the day (nights, weekends,
the days around the edit), fresh, paused, resumed, stopped and reopened clocks; the moved count is the
number of tickets whose deadline actually changed. Runs on SQLite and PostgreSQL (the `app` fixture)."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from helpdesk.db import session
from helpdesk.sla import clock, service
from helpdesk.sla.models import SlaClock
from helpdesk.tickets import lifecycle
from helpdesk.tickets.models import Ticket, TicketStatus
from tests.tickets.factories import make_ticket

SH = ZoneInfo("Asia/Shanghai")
TYPES = ("change", "unbind", "cancel", "recovery", "inquiry")
#: every computed column of a clock, and the stop's figures (a stopped clock must keep them all)
COLUMNS = ("due_at", "warn_at", "budget_minutes", "remaining_minutes", "provisional", "explanation", "policy",
           "paused_at", "resumed_at", "stopped_at", "outcome", "handling_minutes")  # fmt: skip


def snapshot() -> dict[int, dict[str, Any]]:
    """Every clock row (by id) and its ticket's deadline copies, as stored."""
    session.expire_all()
    out = {}
    for row in session.scalars(select(SlaClock)):
        ticket = session.get(Ticket, row.ticket_id)
        current = ticket.sla_clock_no == row.clock_no
        out[row.id] = {k: getattr(row, k) for k in COLUMNS} | {
            "id": row.id,
            "ticket": row.ticket_id,
            "current": current,
            "copy": (ticket.due_at, ticket.warn_at) if current else None,
        }
    return out


def tickets_of_every_kind(rng: random.Random, n: int) -> dict[int, str]:
    """n tickets received at random moments (to the microsecond) from 2026-09-18 to 10-06, each in one
    of the clock states; returns ticket id -> state."""
    start = datetime(2026, 9, 18, tzinfo=SH)
    states = {}
    for i in range(n):
        received = start + timedelta(microseconds=rng.randrange(0, 18 * 86_400 * 1_000_000))
        ticket = make_ticket(type=TYPES[i % len(TYPES)], received_at=received)
        kind = ("fresh", "fresh", "paused", "resumed", "stopped", "stopped while waiting", "reopened")[i % 7]
        later = received + timedelta(minutes=rng.randrange(10, 3 * 24 * 60))
        if kind in ("paused", "resumed", "stopped while waiting"):
            lifecycle.change_status(ticket, TicketStatus.WAITING, by=None, at=later)
            later += timedelta(minutes=rng.randrange(10, 2 * 24 * 60))
        if kind == "resumed":
            lifecycle.change_status(ticket, TicketStatus.OPEN, by=None, at=later)
        if kind in ("stopped", "stopped while waiting", "reopened"):
            lifecycle.change_status(ticket, TicketStatus.RESOLVED, by=None, at=later)
        if kind == "reopened":  # clock 1 stopped, clock 2 running from the reopen
            later += timedelta(minutes=rng.randrange(10, 24 * 60))
            lifecycle.change_status(ticket, TicketStatus.OPEN, by=None, at=later)
        session.commit()
        states[ticket.id] = kind
    return states


def own_computation(ticket_id: int) -> tuple[bool, dict[str, Any]]:
    """clock.recompute of one ticket on the stored calendar and policies (rolled back): whether its due
    moved, and its current clock's columns and copies as that computation leaves them."""
    session.expire_all()
    ticket = session.get(Ticket, ticket_id)
    moved = clock.recompute(ticket)
    session.flush()
    row = ticket.clock
    figures = {k: getattr(row, k) for k in COLUMNS} | {"copy": (ticket.due_at, ticket.warn_at)}
    session.rollback()
    return moved, figures


def test_the_set_based_recompute_equals_each_clocks_own_computation(app, users):
    rng = random.Random(2026)
    states = tickets_of_every_kind(rng, 70)
    assert set(states.values()) == {
        "fresh",
        "paused",
        "resumed",
        "stopped",
        "stopped while waiting",
        "reopened",
    }
    # different policies per type, so that several counters and business hours take part
    service.update_policy("unbind", mode="business_hours", days=2, business_start="08:30",
                          business_end="17:30", warn_percent=60, by=users["admin"])  # fmt: skip
    service.update_policy("cancel", mode="working_days", days=3, business_start="09:00",
                          business_end="18:00", warn_percent=50, by=users["admin"])  # fmt: skip

    for edit in (
        lambda: service.set_day(date(2026, 9, 24), "off", name="台风停工", by=users["admin"]),
        lambda: service.set_day(date(2026, 9, 27), "work", name="调休上班", by=users["admin"]),
        lambda: service.set_day(date(2026, 9, 24), "default", by=users["admin"]),
    ):
        before = snapshot()
        result = edit()
        assert result is not None
        after = snapshot()
        moved_tickets = {
            was["ticket"]
            for cid, was in before.items()
            if was["current"] and was["stopped_at"] is None and was["due_at"] != after[cid]["due_at"]
        }
        assert result.moved == len(moved_tickets) > 0
        for cid, was in before.items():
            if was["stopped_at"] is not None:  # stopped clocks (closed, or a reopened ticket's first) stay
                assert after[cid] == was, (cid, states[was["ticket"]])
        # each sampled ticket recomputed alone on the edited calendar (clock.recompute, rolled back) finds
        # exactly what the set-based recompute stored, and nothing left to move
        fresh_checked = 0
        for tid in rng.sample(sorted(states), 35):
            own_moved, own = own_computation(tid)
            current = next(v for v in after.values() if v["ticket"] == tid and v["current"])
            stored = {k: current[k] for k in COLUMNS} | {"copy": current["copy"]}
            session.expire_all()
            assert stored == own, (tid, states[tid])
            assert own_moved is False, (tid, states[tid])
            row = session.scalar(
                select(SlaClock).where(SlaClock.ticket_id == tid, SlaClock.id == current["id"])
            )
            if row.paused_at is None and row.resumed_at is None and row.stopped_at is None:
                # a fresh clock, also against the calendar's own functions (not the recompute's Counter)
                fresh_checked += 1
                policy = clock.policy_for(row.ticket_type)
                cal = clock.calendar_for(policy)
                due_by = (
                    cal.due_by_working_days if policy.mode == "working_days" else cal.due_by_business_hours
                )
                deadline = due_by(row.started_at, policy.days)
                assert (row.due_at, row.explanation) == (deadline.due_at, deadline.explanation), tid
                assert row.budget_minutes == cal.business_minutes_between(row.started_at, deadline.due_at)
                assert row.warn_at == cal.business_point(row.started_at, deadline.due_at, policy.warn_ratio)
        assert fresh_checked > 5
