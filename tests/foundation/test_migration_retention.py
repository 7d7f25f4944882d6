"""Revision f3b7d2c9a4e1 on a database with tickets, mails and attachments: the removal marks and
the retention_removals table appear, and every existing row keeps its bytes, unmarked."""

from __future__ import annotations

import sqlalchemy as sa

from helpdesk import migrate
from tests.foundation.test_migration_whole_subjects import _alembic, _database, _insert

PREVIOUS = "f2a7c9d41e68"
REVISION = "f3b7d2c9a4e1"
TABLES = ["tickets", "messages", "attachments", "inbound_mails"]


def test_upgrade_adds_removal_marks_and_keeps_material(db_kind, tmp_path, request):
    engine = _database(db_kind, tmp_path, request)
    _alembic(engine, PREVIOUS)
    assert "retention_removals" not in sa.inspect(engine).get_table_names()  # really the old schema
    meta = sa.MetaData()
    meta.reflect(engine, only=TABLES)
    tickets, messages, attachments, inbound = (meta.tables[n] for n in TABLES)
    with engine.begin() as conn:
        ticket = _insert(conn, tickets, subject="注销说明", type="cancel", status="resolved")
        mail = _insert(
            conn,
            inbound,
            message_key="c:" + "a" * 64,
            raw_sha256="a" * 64,
            raw=b"From: a@b.cn\r\n\r\nhi",
            ticket_id=ticket,
        )
        message = _insert(
            conn, messages, ticket_id=ticket, kind="inbound", body_text="请注销账号", inbound_mail_id=mail
        )
        _insert(
            conn,
            attachments,
            ticket_id=ticket,
            message_id=message,
            sha256="b" * 64,
            stored_name="bb/bb/" + "b" * 64,
            original_name="营业执照.pdf",
            size=3,
            data=b"PDF",
        )

    _alembic(engine, REVISION)

    assert migrate.current_revision(engine) == REVISION
    meta = sa.MetaData()
    meta.reflect(engine, only=[*TABLES, "retention_removals"])
    with engine.begin() as conn:
        t = meta.tables
        assert conn.execute(
            sa.select(t["inbound_mails"].c.raw, t["inbound_mails"].c.raw_removed_at)
        ).one() == (
            b"From: a@b.cn\r\n\r\nhi",
            None,
        )
        assert conn.execute(sa.select(t["messages"].c.body_text, t["messages"].c.body_removed_at)).one() == (
            "请注销账号",
            None,
        )
        assert conn.execute(sa.select(t["attachments"].c.data, t["attachments"].c.removed_at)).one() == (
            b"PDF",
            None,
        )
        _insert(
            conn,
            t["retention_removals"],
            ticket_id=ticket,
            kind="raw_mail",
            items=1,
            bytes=20,
            policy_days=30,
        )
        assert conn.execute(sa.select(sa.func.count()).select_from(t["retention_removals"])).scalar_one() == 1
    _alembic(engine, "head")
    assert migrate.pending_changes(engine) == []
