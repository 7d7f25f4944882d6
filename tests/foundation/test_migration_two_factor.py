"""Revision f2a7c9e4b1d6 on a database with users and logins: TOTP columns and recovery codes appear,
the users, their sessions and the settings are kept, and nobody has a second factor yet."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command

from helpdesk import migrate
from tests.foundation.test_migration_whole_subjects import _alembic, _database, _insert

PREVIOUS = "f3b7d2c9a4e1"
REVISION = "f2a7c9e4b1d6"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_upgrade_adds_two_factor_and_keeps_users_and_sessions(db_kind, tmp_path, request):
    engine = _database(db_kind, tmp_path, request)
    _alembic(engine, PREVIOUS)
    assert "user_recovery_codes" not in sa.inspect(engine).get_table_names()  # really the old schema
    assert "totp_secret" not in {c["name"] for c in sa.inspect(engine).get_columns("users")}
    meta = sa.MetaData()
    meta.reflect(engine, only=["users", "user_sessions", "settings"])
    users, sessions = meta.tables["users"], meta.tables["user_sessions"]
    with engine.begin() as conn:
        admin = _insert(conn, users, username="admin1", role="admin", active=True, password_hash="h1")
        agent = _insert(conn, users, username="agent1", role="agent", active=False, password_hash="h2")
        _insert(conn, sessions, user_id=admin, key_hash="a" * 64, user_agent="Firefox", address="10.0.0.1")
        conn.execute(
            meta.tables["settings"].insert().values(key="require_second_approval", value=True, updated_at=NOW)
        )

    _alembic(engine, REVISION)

    assert migrate.current_revision(engine) == REVISION
    meta = sa.MetaData()
    meta.reflect(engine, only=["users", "user_sessions", "user_recovery_codes", "settings"])
    users, codes = meta.tables["users"], meta.tables["user_recovery_codes"]
    with engine.begin() as conn:
        rows = conn.execute(
            sa.select(users.c.username, users.c.active, users.c.password_hash, users.c.totp_secret,
                      users.c.totp_enabled_at, users.c.totp_last_step).order_by(users.c.id)
        ).all()  # fmt: skip
        assert [tuple(r) for r in rows] == [
            ("admin1", True, "h1", None, None, None),
            ("agent1", False, "h2", None, None, None),
        ]
        kept = conn.execute(sa.select(meta.tables["user_sessions"].c.user_agent)).scalars().all()
        assert kept == ["Firefox"]
        setting = meta.tables["settings"]
        assert conn.execute(
            sa.select(setting.c.value).where(setting.c.key == "require_second_approval")
        ).scalar_one()
        _insert(conn, codes, user_id=agent, code_hash="c" * 64)
        conn.execute(users.update().where(users.c.id == agent).values(totp_secret="S" * 32, totp_last_step=1))
        assert conn.execute(sa.select(sa.func.count()).select_from(codes)).scalar_one() == 1
        conn.execute(users.delete().where(users.c.id == agent))  # the codes go with their user
        assert conn.execute(sa.select(sa.func.count()).select_from(codes)).scalar_one() == 0

    _alembic(engine, PREVIOUS, command.downgrade)
    assert "user_recovery_codes" not in sa.inspect(engine).get_table_names()
    _alembic(engine, "head")
    assert migrate.pending_changes(engine) == []
