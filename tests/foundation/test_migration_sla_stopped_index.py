"""Revision f2a9c4e6b8d1 on a database with running and stopped clocks: the clocks are kept, the
index of stopped clocks becomes partial, and SQLite's planner walks the tick's deadline index."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from helpdesk import migrate
from tests.foundation.test_migration_whole_subjects import _alembic, _database, _insert

PREVIOUS = "f2a9c4e8d1b6"
REVISION = "f2a9c4e6b8d1"
AT = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)
#: the SLA tick's breach query (sla.jobs.claim_next) and the report's read of stops (dashboard.report)
TICK = (
    "SELECT id FROM sla_clocks WHERE stopped_at IS NULL AND paused_at IS NULL AND breached_at IS NULL "
    "AND due_at <= :now ORDER BY due_at LIMIT 1"
)
REPORT = "SELECT id FROM sla_clocks WHERE stopped_at >= :start AND stopped_at < :end"


def _stopped_index(conn: sa.Connection) -> str:
    if conn.dialect.name == "sqlite":
        sql = "SELECT sql FROM sqlite_master WHERE name = 'ix_sla_clocks_stopped_at'"
    else:
        sql = "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_sla_clocks_stopped_at'"
    return conn.execute(sa.text(sql)).scalar_one()


def _plan(conn: sa.Connection, sql: str, **params: object) -> str:
    return " / ".join(row[-1] for row in conn.execute(sa.text("EXPLAIN QUERY PLAN " + sql), params))


def test_upgrade_keeps_clocks_and_makes_the_stopped_index_partial(db_kind, tmp_path, request):
    engine = _database(db_kind, tmp_path, request)
    _alembic(engine, PREVIOUS)
    meta = sa.MetaData()
    meta.reflect(engine, only=["tickets", "sla_clocks"])
    tickets, clocks = meta.tables["tickets"], meta.tables["sla_clocks"]
    with engine.begin() as conn:
        assert "NOT NULL" not in _stopped_index(conn).upper()  # really the old index
        running = _insert(conn, tickets, type="change", status="open", subject="运行中")
        stopped = _insert(conn, tickets, type="change", status="resolved", subject="已办结")
        _insert(conn, clocks, ticket_id=running, clock_no=1, ticket_type="change", started_at=AT, due_at=AT)
        _insert(conn, clocks, ticket_id=stopped, clock_no=1, ticket_type="change", started_at=AT, due_at=AT,
                stopped_at=AT, outcome="met")  # fmt: skip

    _alembic(engine, REVISION)

    assert migrate.current_revision(engine) == REVISION
    with engine.begin() as conn:
        rows = conn.execute(
            sa.select(clocks.c.ticket_id, clocks.c.stopped_at).order_by(clocks.c.ticket_id)
        ).all()
        assert [(r.ticket_id, r.stopped_at is not None) for r in rows] == [(running, False), (stopped, True)]
        assert "stopped_at IS NOT NULL" in _stopped_index(conn)
        if conn.dialect.name == "sqlite":
            tick = _plan(conn, TICK, now=AT)
            assert "ix_sla_clocks_breach_due" in tick and "TEMP B-TREE" not in tick
            assert "ix_sla_clocks_stopped_at" in _plan(conn, REPORT, start=AT, end=AT)
        stops = conn.execute(sa.text(REPORT), {"start": AT.replace(tzinfo=None) if conn.dialect.name == "sqlite" else AT, "end": datetime(2027, 1, 1)}).all()  # fmt: skip
        assert len(stops) == 1
    _alembic(engine, "head")
    assert migrate.pending_changes(engine) == []
