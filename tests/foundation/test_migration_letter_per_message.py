"""Revision d5b8e3f41a27 on a database that holds tickets: each ticket's letter moves onto its first
inbound message, in the shape it was stored in (today's and the one before issue 12)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from helpdesk import migrate
from helpdesk.letters import Letter
from tests.foundation.test_migration_whole_subjects import _alembic, _database, _insert
from tests.tickets.factories import CHANGE_LETTER

PREVIOUS = "d5b2f8a41c07"
REVISION = "d5b8e3f41a27"
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)

#: the shape stored before issue 12: every field carries repaired/original, findings say "field"
OLDER_SHAPE = {
    "type": "cancel",
    "type_reasons": ["标题为“注销说明”"],
    "fields": [
        {"name": "company_name", "value": "苏州恒达贸易有限公司", "confidence": 0.9, "repaired": False,
         "original": None, "evidence": {"source": "body", "text": "苏州恒达贸易有限公司", "page": None,
                                        "start": 3, "end": 13}},
    ],
    "findings": [{"code": "seal_seen", "status": "unknown", "message": "未见印章", "field": "seal"}],
    "sources": [],
    "timings": {},
    "ocr_pending": False,
}  # fmt: skip


def test_upgrade_moves_each_ticket_letter_onto_its_first_inbound_message(db_kind, tmp_path, request):
    engine = _database(db_kind, tmp_path, request)
    _alembic(engine, PREVIOUS)
    meta = sa.MetaData()
    meta.reflect(engine, only=["tickets", "messages", "inbound_mails"])
    tickets, messages, inbound = (meta.tables[n] for n in ("tickets", "messages", "inbound_mails"))
    assert "letter" in tickets.c and "letter" not in messages.c  # really the old schema
    today = CHANGE_LETTER.to_dict()
    with engine.begin() as conn:
        t_today = _insert(conn, tickets, type="change", letter=today, fields={"company_name": "改过的名称"})
        note = _insert(conn, messages, ticket_id=t_today, kind="note", created_at=T0 - timedelta(hours=1))
        first = _insert(conn, messages, ticket_id=t_today, kind="inbound", created_at=T0)
        later = _insert(conn, messages, ticket_id=t_today, kind="inbound", created_at=T0 + timedelta(days=1))
        t_older = _insert(conn, tickets, type="cancel", letter=OLDER_SHAPE)
        older_message = _insert(conn, messages, ticket_id=t_older, kind="inbound", created_at=T0)
        # merged: its message now belongs to the target; the stored mail still names the merged ticket
        target = _insert(conn, tickets, type="cancel", letter=None)
        merged = _insert(
            conn, tickets, type="cancel", letter=OLDER_SHAPE, status="merged", merged_into_id=target
        )
        mail = _insert(conn, inbound, message_key="k1", raw=b"x", raw_sha256="a" * 64, ticket_id=merged)
        moved = _insert(conn, messages, ticket_id=target, kind="inbound", inbound_mail_id=mail, created_at=T0)
        bare = _insert(conn, tickets, type="change", letter=today)  # made by a script: no message
        nothing = _insert(conn, tickets, type="inquiry", letter=None)
        nothing_message = _insert(conn, messages, ticket_id=nothing, kind="inbound", created_at=T0)
    # fmt: skip

    _alembic(engine, REVISION)

    assert migrate.current_revision(engine) == REVISION
    meta = sa.MetaData()
    meta.reflect(engine, only=["tickets", "messages"])
    tickets, messages = meta.tables["tickets"], meta.tables["messages"]
    assert "letter" not in tickets.c  # one home: the reading lives on the message
    with engine.connect() as conn:
        letters = dict(conn.execute(sa.select(messages.c.id, messages.c.letter)).all())
        fields = conn.scalar(sa.select(tickets.c.fields).where(tickets.c.id == t_today))
        bare_rows = conn.execute(
            sa.select(messages.c.kind, messages.c.letter).where(messages.c.ticket_id == bare)
        ).all()
    assert letters[first] == today and Letter.from_dict(letters[first]) == CHANGE_LETTER
    assert (
        letters[note] is None and letters[later] is None
    )  # the first inbound mail, not a note or a later one
    assert Letter.from_dict(letters[older_message]).get("company_name").value == "苏州恒达贸易有限公司"
    assert Letter.from_dict(letters[older_message]).finding("seal_seen").field == "seal"
    assert letters[moved] == OLDER_SHAPE  # the merged ticket's reading stays with the mail it came from
    assert letters[nothing_message] is None
    assert [(kind, letter) for kind, letter in bare_rows] == [("note", today)]  # nothing lost
    assert fields == {"company_name": "改过的名称"}  # the agent's values are not touched
    _alembic(engine, "head")
    assert migrate.pending_changes(engine) == []
    engine.dispose()
