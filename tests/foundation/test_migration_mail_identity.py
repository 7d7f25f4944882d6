"""Revision c3a1e7d20b11 on a database that holds mail: keys by content, Message-IDs kept, claims added."""

from __future__ import annotations

import sqlalchemy as sa

from helpdesk import migrate
from helpdesk.mail.identity import content_key
from tests.foundation.test_migration_whole_subjects import _alembic, _database, _insert
from tests.intake.conftest import make_mail

PREVIOUS = "c4e1a7d29b53"
REVISION = "c3a1e7d20b11"


def test_upgrade_rekeys_stored_mail_by_content_and_keeps_message_ids(db_kind, tmp_path, request):
    engine = _database(db_kind, tmp_path, request)
    _alembic(engine, PREVIOUS)
    meta = sa.MetaData()
    meta.reflect(engine, only=["inbound_mails", "tickets"])
    inbound, tickets = meta.tables["inbound_mails"], meta.tables["tickets"]
    assert "message_id" not in inbound.c and "related_ticket_id" not in tickets.c  # really the old schema
    with_id = make_mail(subject="变更说明", message_id="<Letter-1@Corp.example>")
    without_id = b"From: a@corp.example\r\nSubject: no id\r\n\r\nbody\r\n"
    routed = b"Received: from mx2 by mx1\r\n" + without_id  # the same mail, by another route
    with engine.begin() as conn:
        ticket = _insert(conn, tickets, subject="变更说明", type="change", status="new")
        rows = {
            "with_id": _insert(
                conn, inbound, message_key="letter-1@corp.example", raw=with_id, status="ingested",
                ticket_id=ticket, raw_sha256="a" * 64,
            ),
            "without_id": _insert(conn, inbound, message_key="sha256:" + "b" * 64, raw=without_id, raw_sha256="b" * 64),
            "routed": _insert(conn, inbound, message_key="sha256:" + "c" * 64, raw=routed, raw_sha256="c" * 64),
        }  # fmt: skip

    _alembic(engine, REVISION)

    assert migrate.current_revision(engine) == REVISION
    meta = sa.MetaData()
    meta.reflect(engine, only=["inbound_mails", "tickets"])
    inbound = meta.tables["inbound_mails"]
    with engine.connect() as conn:
        got = {
            r.id: r
            for r in conn.execute(
                sa.select(
                    inbound.c.id,
                    inbound.c.message_key,
                    inbound.c.message_id,
                    inbound.c.status,
                    inbound.c.ticket_id,
                    inbound.c.claim_token,
                    inbound.c.claimed_at,
                )
            )
        }
    assert len(got) == 3  # no row lost
    first, second, third = (got[rows[k]] for k in ("with_id", "without_id", "routed"))
    assert first.message_key == content_key(with_id) and first.message_id == "letter-1@corp.example"
    assert (first.status, first.ticket_id) == ("ingested", ticket)  # the row's history is untouched
    assert second.message_key == content_key(without_id) and second.message_id is None
    # two rows of one content under different old keys both stay, the later one marked apart
    assert third.message_key == f"{content_key(without_id)}:{rows['routed']}"
    assert all(r.claim_token is None and r.claimed_at is None for r in got.values())
    assert "related_ticket_id" in meta.tables["tickets"].c
    _alembic(engine, "head")
    assert migrate.pending_changes(engine) == []
    engine.dispose()
