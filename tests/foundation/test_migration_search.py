"""Revision f2a9c4e8d1b6 on a database with tickets: the search index appears and holds every ticket's
words (subject, body, note, attachment name, letter evidence); the tickets themselves are untouched."""

from __future__ import annotations

import sqlalchemy as sa

from helpdesk import migrate
from tests.foundation.test_migration_whole_subjects import _alembic, _database, _insert

PREVIOUS = "f2a6c9e1d4b8"
REVISION = "f2a9c4e8d1b6"


def _indexed(conn: sa.Connection, dialect: str, word: str) -> list[int]:
    """Ticket ids the new index finds for `word`, through the index itself (MATCH / LIKE)."""
    if dialect == "sqlite":
        sql = "SELECT rowid FROM ticket_search WHERE ticket_search MATCH :w ORDER BY rowid"
        return list(conn.execute(sa.text(sql), {"w": f'"{word}"'}).scalars())
    sql = "SELECT ticket_id FROM ticket_search WHERE doc LIKE :w ORDER BY ticket_id"
    return list(conn.execute(sa.text(sql), {"w": f"%{word}%"}).scalars())


def test_upgrade_builds_the_search_index_from_existing_tickets(db_kind, tmp_path, request):
    engine = _database(db_kind, tmp_path, request)
    _alembic(engine, PREVIOUS)
    assert "ticket_search" not in sa.inspect(engine).get_table_names()  # really the old schema
    meta = sa.MetaData()
    meta.reflect(engine, only=["tickets", "messages", "attachments"])
    tickets, messages, attachments = (meta.tables[n] for n in ("tickets", "messages", "attachments"))
    letter = {"type": "change", "fields": [{"name": "company_name", "value": "宁波远航进出口有限公司",
              "evidence": {"source": "body", "text": "宁波远航进出口有限公司"}, "confidence": 0.9}]}  # fmt: skip
    with engine.begin() as conn:
        first = _insert(
            conn, tickets, subject="变更说明 甲", requester_email="li@corp.cn", fields={}, status="open"
        )
        second = _insert(
            conn, tickets, subject="解绑说明 乙", requester_email="wu@corp.cn", fields={}, status="new"
        )
        msg = _insert(conn, messages, ticket_id=first, kind="inbound", subject="变更说明 甲",
                      body_text="我司海关编码登记有误，请更正。", letter=letter)  # fmt: skip
        _insert(conn, messages, ticket_id=second, kind="note", body_text="已电话回访记录乙")
        _insert(conn, attachments, ticket_id=second, message_id=msg, sha256="0" * 64, stored_name="a",
                original_name="营业执照扫描件.pdf")  # fmt: skip

    _alembic(engine, REVISION)

    assert migrate.current_revision(engine) == REVISION
    with engine.begin() as conn:
        dialect = engine.dialect.name
        assert _indexed(conn, dialect, "海关编码") == [first]
        assert _indexed(conn, dialect, "远航进出口") == [first]  # the letter's evidence
        assert _indexed(conn, dialect, "li@corp.cn") == [first]
        assert _indexed(conn, dialect, "回访记录乙") == [second]  # a note
        assert _indexed(conn, dialect, "营业执照扫描件") == [second]  # an attachment's name
        assert _indexed(conn, dialect, "变更说明") == [first]
        subjects = conn.execute(sa.select(tickets.c.subject).order_by(tickets.c.id)).scalars().all()
        assert subjects == ["变更说明 甲", "解绑说明 乙"]
    _alembic(engine, "head")
    assert migrate.pending_changes(engine) == []
