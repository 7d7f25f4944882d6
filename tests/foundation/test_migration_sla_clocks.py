"""Revision d5b2f8a41c07 on a database that holds tickets in every clock state: each clock and each
report figure is the same after the upgrade (stored outcomes) as before it (the frozen replay)."""

from __future__ import annotations

import importlib.util
from datetime import UTC, date, datetime
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
    """A Beijing time of 2026, in UTC: the old tables are reflected (plain DATETIME), and SQLite would
    store an aware Beijing time as its wall-clock digits, read back as UTC, 8 hours off."""
    return datetime.fromisoformat(f"2026-{text}").replace(tzinfo=SH).astimezone(UTC)


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
    # D: received Mon 03-09 10:00, due Wed 03-11 17:00; waiting from 14:00 (1,140 min left); resolved while
    # waiting Fri 03-13 10:00: the clock counts until the pause, 240 min, met; the last pause is paused time
    # (Mon 180 + Tue..Thu 3 x 480 + Fri 60 = 1,680)
    d = ticket("D", "resolved", "03-09 10:00")
    event(d, "created", "03-09 10:00", due_at=at("03-11 17:00").isoformat())
    event(d, "status", "03-09 14:00", "new", "waiting")
    event(d, "sla_paused", "03-09 14:00", remaining_minutes=1140)
    event(d, "status", "03-13 10:00", "waiting", "resolved")
    # E: received Tue 03-10 09:00, merged into A at 09:30: stopped as merged (30 min), not a handled request
    e = ticket("E", "merged", "03-10 09:00", due_at=at("03-12 17:00"), merged_into_id=a)
    event(e, "created", "03-10 09:00", due_at=at("03-12 17:00").isoformat())
    event(e, "status", "03-10 09:30", "new", "merged")
    # F: received Mon 03-02 10:00 as an inquiry, made a change at 11:00, resolved Tue 03-03 10:00: 420 + 60
    f = ticket("F", "resolved", "03-02 10:00", due_at=at("03-04 17:00"))
    event(f, "created", "03-02 10:00", due_at=at("03-04 17:00").isoformat())
    event(f, "type", "03-02 11:00", "inquiry", "change")
    event(f, "status", "03-03 10:00", "new", "resolved")
    # G: reopened twice. Mon 03-02 10:00 - 12:00 (120), Tue 03-03 10:00 - 11:00 (60), Wed 03-04 09:00 - 10:00 (60)
    g = ticket("G", "resolved", "03-02 10:00", due_at=at("03-06 17:00"))
    conn.execute(
        tickets.update().where(tickets.c.id == g).values(sla_clock_no=3, sla_started_at=at("03-04 09:00"))
    )
    event(g, "created", "03-02 10:00", due_at=at("03-04 17:00").isoformat())
    event(g, "status", "03-02 12:00", "new", "resolved")
    event(g, "status", "03-03 10:00", "resolved", "open")
    event(g, "sla_restarted", "03-03 10:00", clock=2, due_at=at("03-05 17:00").isoformat())
    event(g, "status", "03-03 11:00", "open", "resolved")
    event(g, "status", "03-04 09:00", "resolved", "open")
    event(g, "sla_restarted", "03-04 09:00", clock=3, due_at=at("03-06 17:00").isoformat())
    event(g, "status", "03-04 10:00", "open", "resolved")
    # H: received Mon 03-02 10:00, due Wed 03-04 17:00, warned and breached, resolved Fri 03-06 10:00:
    # 420 + 3 x 480 + 60 = 1,920, breached
    h = ticket("H", "resolved", "03-02 10:00", due_at=at("03-04 17:00"), warned_at=at("03-04 11:00"), breached_at=at("03-04 17:00"))  # fmt: skip
    event(h, "created", "03-02 10:00", due_at=at("03-04 17:00").isoformat())
    event(h, "status", "03-06 10:00", "new", "resolved")
    return ids


def _plain(value: Any) -> Any:
    """A stored value as both databases and the replay give it back: datetimes naive UTC."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    return value


def test_upgrade_stores_every_clock_and_keeps_every_report_figure(db_kind, tmp_path, request):
    engine = _database(db_kind, tmp_path, request)
    _alembic(engine, PREVIOUS)
    with engine.begin() as conn:
        ids = _history(conn)
    frozen = _frozen()
    now = NOW.astimezone(UTC)
    with engine.connect() as conn:  # each clock and the report's resolutions as the old replay found them
        traces = list(frozen.replay_all(conn, now))
        replayed = {
            (row["ticket_id"], row["clock_no"]): {k: _plain(v) for k, v in row.items()}
            for ticket, trace in traces
            for row in frozen.clock_rows(ticket, trace)
        }
        before = sorted(
            (t.id, c.no, c.met, c.handling_minutes, c.reopened)
            for t, trace in traces
            for c in trace
            if c.stop is not None
            and MARCH.start <= c.stop < MARCH.end
            and c.stop_status in ("resolved", "rejected")
        )
    _alembic(engine, REVISION)
    with engine.connect() as conn:
        table = sa.Table("sla_clocks", sa.MetaData(), autoload_with=conn)
        stored = {
            (r.ticket_id, r.clock_no): {k: _plain(v) for k, v in r._mapping.items() if k != "id"}
            for r in conn.execute(sa.select(table))
        }
        columns = {c["name"] for c in sa.inspect(conn).get_columns("tickets")}
    assert stored == replayed  # every column of every clock row, as the replay before the upgrade
    # and what those rows say, counted by hand (see _history)
    A, B, C, D, E, F, G, H = (ids[k] for k in "ABCDEFGH")
    said = {
        key: (r["outcome"], r["handling_minutes"], r["stop_status"], r["paused_minutes"], r["type_changed"])
        for key, r in stored.items()
    }
    assert said == {
        (A, 1): ("met", 480, "resolved", 0, False),
        (B, 1): ("breached", 1440, "resolved", 0, False),
        (B, 2): (None, None, None, 0, False),
        (C, 1): (None, None, None, 0, False),
        (D, 1): ("met", 240, "resolved", 1680, False),
        (E, 1): ("met", 30, "merged", 0, False),
        (F, 1): ("met", 480, "resolved", 0, True),
        (G, 1): ("met", 120, "resolved", 0, False),
        (G, 2): ("met", 60, "resolved", 0, False),
        (G, 3): ("met", 60, "resolved", 0, False),
        (H, 1): ("breached", 1920, "resolved", 0, False),
    }
    assert stored[(C, 1)]["paused_at"] is not None and stored[(C, 1)]["remaining_minutes"] == 1320
    assert stored[(D, 1)]["paused_at"] is not None  # closed in its pause: judged at the pause
    assert stored[(B, 2)]["warned_at"] is not None and stored[(B, 1)]["warned_at"] is None
    assert stored[(H, 1)]["breached_at"] is not None and stored[(H, 1)]["warned_at"] is not None
    assert stored[(F, 1)]["ticket_type"] == "change"
    assert "sla_paused_at" not in columns and {"due_at", "warn_at", "sla_clock_no"} <= columns
    _alembic(engine, "head")
    assert migrate.pending_changes(engine) == []
    report = period_report(MARCH, NOW)
    after = sorted((r.ticket_id, r.no, r.met, r.handling_minutes, r.reopened) for r in report.resolutions)
    assert after == before
    assert before == [
        (A, 1, True, 480, False),
        (B, 1, False, 1440, True),
        (D, 1, True, 240, False),
        (F, 1, True, 480, False),
        (G, 1, True, 120, True),
        (G, 2, True, 60, True),
        (G, 3, True, 60, False),
        (H, 1, False, 1920, False),
    ]  # E was merged: a duplicate, not a handled request
    assert (report.total.resolved, report.total.met, report.total.reopened) == (8, 6, 3)
    # B's first clock and H resolved late; B's second clock runs past its due (03-12 17:00) at NOW
    assert sorted((b.clock.ticket_id, b.clock.no, b.still_open) for b in report.breaches) == [
        (B, 1, False),
        (B, 2, True),
        (H, 1, False),
    ]
    session.remove()
