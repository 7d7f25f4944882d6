"""Revision f2b4d6a8c0e3 on a database with tickets: the short words' index (ticket_search_grams)
appears and holds every one- and two-character piece of each ticket's search_text; the tickets and the
trigram index are untouched."""

from __future__ import annotations

import sqlalchemy as sa

from helpdesk import migrate
from tests.foundation.test_migration_whole_subjects import _alembic, _database, _insert

PREVIOUS = "f2a9c4e6b8d1"
REVISION = "f2b4d6a8c0e3"


def _short(conn: sa.Connection, dialect: str, word: str) -> list[int]:
    """Ticket ids the new index finds for a word of one or two characters, through the index itself."""
    if dialect == "sqlite":
        sql = "SELECT rowid FROM ticket_search_grams WHERE ticket_search_grams MATCH :w ORDER BY rowid"
        return list(conn.execute(sa.text(sql), {"w": f'"{word}"'}).scalars())
    sql = "SELECT ticket_id FROM ticket_search_grams WHERE grams @> ARRAY[:w]::text[] ORDER BY ticket_id"
    return list(conn.execute(sa.text(sql), {"w": word}).scalars())


def test_upgrade_indexes_the_short_pieces_of_existing_tickets(db_kind, tmp_path, request):
    engine = _database(db_kind, tmp_path, request)
    _alembic(engine, PREVIOUS)
    assert "ticket_search_grams" not in sa.inspect(engine).get_table_names()  # really the old schema
    meta = sa.MetaData()
    meta.reflect(engine, only=["tickets", "enterprises", "platform_accounts"])
    tickets, enterprises, accounts = (meta.tables[n] for n in ("tickets", "enterprises", "platform_accounts"))
    with engine.begin() as conn:
        ent = _insert(conn, enterprises, name="宁波远航进出口有限公司", name_key="宁波远航进出口有限公司",
                      uscc="91330200MA2AAAAA1X", org_code="MA2AAAAA1")  # fmt: skip
        _insert(conn, accounts, enterprise_id=ent, account_name="ningbo_yh01", status="active")
        first = _insert(conn, tickets, subject="变更说明", requester_email="zhou@corp.cn", fields={},
                        status="open", search_text="变更说明 zhou@corp.cn 周敏 宁波远航进出口有限公司")  # fmt: skip
        second = _insert(conn, tickets, subject="找回账号", requester_email="wu@corp.cn", fields={},
                         status="new", search_text="找回账号 wu@corp.cn 吴昊")  # fmt: skip
        empty = _insert(
            conn, tickets, subject="咨询", requester_email="", fields={}, status="new", search_text=""
        )

    _alembic(engine, REVISION)

    assert migrate.current_revision(engine) == REVISION
    dialect = engine.dialect.name
    with engine.begin() as conn:
        assert _short(conn, dialect, "周敏") == [first]
        assert _short(conn, dialect, "周") == [first]
        assert _short(conn, dialect, "远航") == [first]
        assert _short(conn, dialect, "吴昊") == [second]
        assert _short(conn, dialect, "更说") == [first]  # every piece, not only the words
        assert _short(conn, dialect, "敏宁") == []  # a space parts the pieces: no piece across two words
        assert _short(conn, dialect, "账") == [second]
        rows = conn.execute(sa.select(tickets.c.id, tickets.c.subject).order_by(tickets.c.id)).all()
        assert [tuple(r) for r in rows] == [(first, "变更说明"), (second, "找回账号"), (empty, "咨询")]
        # the records keep their rows; on PostgreSQL their words get pg_trgm indexes, used by LIKE
        assert conn.execute(sa.select(enterprises.c.uscc)).scalars().all() == ["91330200MA2AAAAA1X"]
        assert conn.execute(sa.select(accounts.c.account_name)).scalars().all() == ["ningbo_yh01"]
        if dialect == "postgresql":
            names = set(
                conn.execute(
                    sa.text("SELECT indexname FROM pg_indexes WHERE indexname LIKE '%_trgm'")
                ).scalars()
            )
            assert {"ix_enterprises_name_key_trgm", "ix_enterprises_uscc_trgm", "ix_enterprises_org_code_trgm",
                    "ix_platform_accounts_account_name_trgm"} <= names  # fmt: skip
            sql = "SELECT id FROM enterprises WHERE name_key LIKE '%远航进出口%'"
            assert conn.execute(sa.text(sql)).scalars().all() == [ent]
    _alembic(engine, "head")
    assert migrate.pending_changes(engine) == []
