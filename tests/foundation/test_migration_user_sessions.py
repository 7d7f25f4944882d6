"""Revision e1f4c2a7b9d3 on a database with users: the sessions table appears, users are kept."""

from __future__ import annotations

import sqlalchemy as sa

from helpdesk import migrate
from tests.foundation.test_migration_whole_subjects import _alembic, _database, _insert

PREVIOUS = "d5b8e3f41a27"
REVISION = "e1f4c2a7b9d3"


def test_upgrade_adds_user_sessions_and_keeps_users(db_kind, tmp_path, request):
    engine = _database(db_kind, tmp_path, request)
    _alembic(engine, PREVIOUS)
    assert "user_sessions" not in sa.inspect(engine).get_table_names()  # really the old schema
    meta = sa.MetaData()
    meta.reflect(engine, only=["users"])
    users = meta.tables["users"]
    with engine.begin() as conn:
        uid = _insert(conn, users, username="admin1", role="admin", active=True, password_hash="x")

    _alembic(engine, REVISION)

    assert migrate.current_revision(engine) == REVISION
    meta = sa.MetaData()
    meta.reflect(engine, only=["users", "user_sessions"])
    sessions = meta.tables["user_sessions"]
    with engine.begin() as conn:
        assert conn.execute(sa.select(meta.tables["users"].c.username)).scalars().all() == ["admin1"]
        _insert(conn, sessions, user_id=uid, key_hash="a" * 64, user_agent="", address="")
        assert conn.execute(sa.select(sa.func.count()).select_from(sessions)).scalar_one() == 1
    _alembic(engine, "head")
    assert migrate.pending_changes(engine) == []
