"""Revision d5b2f8a41c07 on a database that holds tickets in every clock state: each clock and each
report figure is the same after the upgrade (stored outcomes) as before it (the frozen replay)."""

from __future__ import annotations

import importlib.util
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from helpdesk import migrate
from helpdesk.dashboard.periods import Period
from helpdesk.dashboard.report import period_report
from helpdesk.db import session
from helpdesk.sla.seed import seed_days
from tests.foundation.test_migration_whole_subjects import _alembic, _database, _insert

PREVIOUS = "c3a1e7d20b11"
REVISION = "d5b2f8a41c07"
SH = ZoneInfo("Asia/Shanghai")
MARCH = Period("custom", date(2026, 3, 1), date(2026, 3, 31))
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=SH)
MODULE = next((Path(migrate.__file__).parent / "migrations" / "versions").glob(f"*_{REVISION}_*.py"))


def at(text: str) -> datetime:
    return datetime.fromisoformat(f"2026-{text}").replace(tzinfo=SH)


def _frozen() -> Any:
    spec = importlib.util.spec_from_file_location("frozen_sla_clocks", MODULE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _history(conn: sa.Connection) -> dict[str, int]:
    meta = sa.MetaData()
    meta.reflect(conn)
    tickets, events = meta.tables["tickets"], meta.tables["ticket_events"]
    for row in seed_days(2026, 2026):
        conn.execute(meta.tables["calendar_days"].insert().values(day=row.day, kind=row.kind, name=row.name or "", source="package", updated_at=at("01-01 00:00")))  # fmt: skip
    conn.execute(meta.tables["calendar_years"].insert().values(year=2026, status="official", source="package", updated_at=at("01-01 00:00")))  # fmt: skip
    user = _insert(conn, meta.tables["users"], username="agent", role="agent", active=True)
    ids: dict[str, int] = {}

    def ticket(name: str, status: str, received: str, **clock: Any) -> int:
        ids[name] = _insert(conn, tickets, type="change", status=status, received_at=at(received), sla_started_at=at(received), sla_policy="working_days", sla_clock_no=1, **clock)  # fmt: skip
        return ids[name]

    def event(
        tid: int, kind: str, when: str, old: str | None = None, new: str | None = None, **detail: Any
    ) -> None:
        _insert(conn, events, ticket_id=tid, kind=kind, at=at(when), old_value=old, new_value=new, actor_id=user, detail=detail)  # fmt: skip

    # A: received Mon 03-09 10:00, due Wed 03-11 17:00; resolved Tue 03-10 10:00: met, handling 420 + 60 = 480
    a = ticket("A", "resolved", "03-09 10:00", due_at=at("03-11 17:00"))
    event(a, "created", "03-09 10:00", due_at=at("03-11 17:00").isoformat())
    event(a, "status", "03-10 10:00", "new", "resolved")
    # B: received Mon 03-02 10:00, due Wed 03-04 17:00; resolved Thu 03-05 10:00: breached, 420 + 480 + 480 + 60
    # = 1440; reopened Tue 03-10 16:30: clock 2 runs, due Thu 03-12 17:00, warned
    b = ticket("B", "open", "03-02 10:00", due_at=at("03-12 17:00"), warned_at=at("03-12 11:00"))
    conn.execute(
        tickets.update().where(tickets.c.id == b).values(sla_clock_no=2, sla_started_at=at("03-10 16:30"))
    )
    event(b, "created", "03-02 10:00", due_at=at("03-04 17:00").isoformat())
    event(b, "status", "03-05 10:00", "open", "resolved")
    event(b, "status", "03-10 16:30", "resolved", "open")
    event(b, "sla_restarted", "03-10 16:30", clock=2, due_at=at("03-12 17:00").isoformat())
    # C: received Mon 03-09 10:00, waiting from 11:00 with 22 h (1,320 min) left: paused, due kept 03-11 17:00
    c = ticket("C", "waiting", "03-09 10:00", sla_paused_at=at("03-09 11:00"), sla_remaining_minutes=1320)
    event(c, "created", "03-09 10:00", due_at=at("03-11 17:00").isoformat())
    event(c, "status", "03-09 11:00", "new", "waiting")
    event(c, "sla_paused", "03-09 11:00", remaining_minutes=1320)
    return ids


def test_upgrade_stores_every_clock_and_keeps_every_report_figure(db_kind, tmp_path, request):
    engine = _database(db_kind, tmp_path, request)
    _alembic(engine, PREVIOUS)
    with engine.begin() as conn:
        ids = _history(conn)
    frozen = _frozen()
    with engine.connect() as conn:  # the report's resolutions as the old replay found them
        before = sorted(
            (t.id, c.no, c.met, c.handling_minutes, c.reopened)
            for t, trace in frozen.replay_all(conn, NOW.astimezone(ZoneInfo("UTC")))
            for c in trace
            if c.stop is not None
            and MARCH.start <= c.stop < MARCH.end
            and c.stop_status in ("resolved", "rejected")
        )
    _alembic(engine, REVISION)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT ticket_id, clock_no, outcome, handling_minutes, paused_at IS NOT NULL, "
                "remaining_minutes, warned_at IS NOT NULL FROM sla_clocks ORDER BY ticket_id, clock_no"
            )
        ).all()
        columns = {c["name"] for c in sa.inspect(conn).get_columns("tickets")}
    assert [tuple(r) for r in rows] == [
        (ids["A"], 1, "met", 480, False, None, False),
        (ids["B"], 1, "breached", 1440, False, None, False),
        (ids["B"], 2, None, None, False, None, True),
        (ids["C"], 1, None, None, True, 1320, False),
    ]
    assert "sla_paused_at" not in columns and {"due_at", "warn_at", "sla_clock_no"} <= columns
    _alembic(engine, "head")
    assert migrate.pending_changes(engine) == []
    report = period_report(MARCH, NOW)
    after = sorted((r.ticket_id, r.no, r.met, r.handling_minutes, r.reopened) for r in report.resolutions)
    assert after == before == [(ids["A"], 1, True, 480, False), (ids["B"], 1, False, 1440, True)]
    assert (report.total.resolved, report.total.met, report.total.reopened) == (2, 1, 1)
    # B's first clock resolved late; its second runs past its due (03-12 17:00) at NOW
    assert [(b.clock.ticket_id, b.clock.no, b.still_open) for b in report.breaches] == [
        (ids["B"], 1, False),
        (ids["B"], 2, True),
    ]
    session.remove()
