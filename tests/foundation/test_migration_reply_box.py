"""Revision f2a6c9e1d4b8 on a database with macros: owner_id appears (NULL: shared), reply_drafts is new."""

from __future__ import annotations

import sqlalchemy as sa

from helpdesk import migrate
from tests.foundation.test_migration_whole_subjects import _alembic, _database, _insert

PREVIOUS = "f2a7c9e4b1d6"
REVISION = "f2a6c9e1d4b8"


def test_upgrade_keeps_macros_shared_and_adds_reply_drafts(db_kind, tmp_path, request):
    engine = _database(db_kind, tmp_path, request)
    _alembic(engine, PREVIOUS)
    inspector = sa.inspect(engine)
    assert "reply_drafts" not in inspector.get_table_names()  # really the old schema
    assert "owner_id" not in {c["name"] for c in inspector.get_columns("macros")}
    meta = sa.MetaData()
    meta.reflect(engine, only=["users", "macros", "tickets"])
    with engine.begin() as conn:
        uid = _insert(
            conn, meta.tables["users"], username="agent1", role="agent", active=True, password_hash="x"
        )
        _insert(
            conn,
            meta.tables["macros"],
            key="contacts",
            title="客服联系方式",
            body="您好！",
            category="常见问题",
        )
        tid = _insert(conn, meta.tables["tickets"], subject="变更说明", type="change", status="new")

    _alembic(engine, REVISION)

    assert migrate.current_revision(engine) == REVISION
    meta = sa.MetaData()
    meta.reflect(engine, only=["macros", "reply_drafts"])
    macros, drafts = meta.tables["macros"], meta.tables["reply_drafts"]
    with engine.begin() as conn:
        rows = conn.execute(sa.select(macros.c.key, macros.c.title, macros.c.owner_id)).all()
        assert [tuple(r) for r in rows] == [("contacts", "客服联系方式", None)]  # kept, and shared
        _insert(conn, macros, key="p-mine", title="我的", body="我的模板", category="", owner_id=uid)
        _insert(conn, drafts, ticket_id=tid, user_id=uid, body="正在写的回复")
        assert conn.execute(sa.select(drafts.c.body)).scalars().all() == ["正在写的回复"]
    with engine.connect() as conn, conn.begin():  # one draft per ticket and user
        try:
            _insert(conn, drafts, ticket_id=tid, user_id=uid, body="第二份")
        except sa.exc.IntegrityError:
            duplicate_refused = True
        else:
            duplicate_refused = False
        conn.rollback()
    assert duplicate_refused
    _alembic(engine, "head")
    assert migrate.pending_changes(engine) == []
