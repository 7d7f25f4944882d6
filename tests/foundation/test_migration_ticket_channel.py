"""Revision f2a7c9d41e68 on a database with tickets: every ticket so far came by mail, and a form's
one-time key is unique from now on."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from helpdesk import migrate
from tests.foundation.test_migration_whole_subjects import _alembic, _database, _insert

PREVIOUS = "e1f4c2a7b9d3"
REVISION = "f2a7c9d41e68"


def test_upgrade_marks_old_tickets_as_mail_and_keys_are_unique(db_kind, tmp_path, request):
    engine = _database(db_kind, tmp_path, request)
    _alembic(engine, PREVIOUS)
    assert "channel" not in {c["name"] for c in sa.inspect(engine).get_columns("tickets")}
    meta = sa.MetaData()
    meta.reflect(engine, only=["tickets"])
    tickets = meta.tables["tickets"]
    with engine.begin() as conn:
        old = _insert(conn, tickets, subject="变更说明", requester_email="a@b.cn")

    _alembic(engine, REVISION)

    assert migrate.current_revision(engine) == REVISION
    meta = sa.MetaData()
    meta.reflect(engine, only=["tickets"])
    tickets = meta.tables["tickets"]
    with engine.begin() as conn:
        row = conn.execute(sa.select(tickets.c.subject, tickets.c.channel).where(tickets.c.id == old)).one()
        assert tuple(row) == ("变更说明", "mail")
        _insert(conn, tickets, subject="电话", channel="phone", client_key="k1")
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        _insert(conn, tickets, subject="电话again", channel="phone", client_key="k1")
    _alembic(engine, "head")
    assert migrate.pending_changes(engine) == []
