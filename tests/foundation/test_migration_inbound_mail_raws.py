"""Revision a7d3e5f1c2b9 on a database with stored mail: every mail's raw bytes move to
inbound_mail_raws unchanged (an emptied one too), the rows keep their keys and history, and
InboundMail.raw reads them back; the downgrade puts them back in place."""

from __future__ import annotations

import sqlalchemy as sa

from helpdesk import migrate
from tests.foundation.test_migration_whole_subjects import _alembic, _database, _insert

PREVIOUS = "f2b4d6a8c0e3"
REVISION = "a7d3e5f1c2b9"

LETTER = (
    "From: li@corp.cn\r\nTo: zxzj@ec.com.cn\r\nSubject: =?utf-8?b?5Y+Y5pu06K+05piO?=\r\n"
    "Message-ID: <l1@corp.cn>\r\n\r\n变更说明，请查收。\r\n"
).encode()
BINARY = bytes(range(256)) * 700  # every byte value, past SQLite's page size (overflow pages)


def test_upgrade_moves_every_raw_mail_into_its_own_table(db_kind, tmp_path, request):
    engine = _database(db_kind, tmp_path, request)
    _alembic(engine, PREVIOUS)
    assert "inbound_mail_raws" not in sa.inspect(engine).get_table_names()  # really the old schema
    meta = sa.MetaData()
    meta.reflect(engine, only=["inbound_mails", "tickets"])
    inbound, tickets = meta.tables["inbound_mails"], meta.tables["tickets"]
    with engine.begin() as conn:
        ticket = _insert(conn, tickets, subject="变更说明", fields={}, status="open")
        ids = {
            "letter": _insert(conn, inbound, message_key="c:" + "a" * 64, raw=LETTER, status="ingested",
                              ticket_id=ticket, uid=7, attempts=1),
            "binary": _insert(conn, inbound, message_key="c:" + "b" * 64, raw=BINARY, status="stored"),
            "emptied": _insert(conn, inbound, message_key="c:" + "c" * 64, raw=b"", status="ingested"),
        }  # fmt: skip

    _alembic(engine, REVISION)

    assert migrate.current_revision(engine) == REVISION
    assert "raw" not in {c["name"] for c in sa.inspect(engine).get_columns("inbound_mails")}
    with engine.begin() as conn:
        moved = dict(conn.execute(sa.text("SELECT inbound_mail_id, raw FROM inbound_mail_raws")).all())
        assert {k: bytes(moved[i]) for k, i in ids.items()} == {
            "letter": LETTER,
            "binary": BINARY,
            "emptied": b"",
        }
        row = conn.execute(
            sa.text("SELECT message_key, status, ticket_id, uid, attempts FROM inbound_mails WHERE id = :i"),
            {"i": ids["letter"]},
        ).one()
        assert tuple(row) == ("c:" + "a" * 64, "ingested", ticket, 7, 1)
    _alembic(engine, "head")
    assert migrate.pending_changes(engine) == []

    # the model reads the moved bytes through InboundMail.raw, in Python and in a query
    from sqlalchemy.orm import Session

    from helpdesk.mail.models import InboundMail

    with Session(engine) as s:
        assert s.get(InboundMail, ids["binary"]).raw == BINARY
        assert s.scalar(sa.select(InboundMail.raw).where(InboundMail.id == ids["letter"])) == LETTER
        assert (
            s.scalar(
                sa.select(sa.func.count()).select_from(InboundMail).where(sa.func.length(InboundMail.raw) > 0)
            )
            == 2
        )
    engine.dispose()


def test_downgrade_puts_the_raw_bytes_back(db_kind, tmp_path, request):
    engine = _database(db_kind, tmp_path, request)
    _alembic(engine, PREVIOUS)
    meta = sa.MetaData()
    meta.reflect(engine, only=["inbound_mails"])
    with engine.begin() as conn:
        mail = _insert(conn, meta.tables["inbound_mails"], message_key="c:" + "d" * 64, raw=BINARY)
    _alembic(engine, REVISION)
    from alembic import command

    _alembic(engine, PREVIOUS, command.downgrade)
    assert "inbound_mail_raws" not in sa.inspect(engine).get_table_names()
    with engine.begin() as conn:
        raw = conn.execute(sa.text("SELECT raw FROM inbound_mails WHERE id = :i"), {"i": mail}).scalar_one()
    assert bytes(raw) == BINARY
    engine.dispose()
