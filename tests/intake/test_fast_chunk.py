"""A chunk is first ingested without a savepoint per mail (intake.ingest_chunk's fast path). A mail that
loses its claim half-way through undoes the chunk, which is ingested again with a savepoint per mail:
only that mail is left to the path that holds it, the others become their tickets, once each."""

from __future__ import annotations

from sqlalchemy import func, select, update

from helpdesk.db import session, utcnow
from helpdesk.mail.models import InboundMail, OutboundMail
from helpdesk.tickets import inbound as stored
from helpdesk.tickets import intake, reading
from helpdesk.tickets.models import Message, Ticket
from tests.intake.conftest import make_mail


def test_a_claim_lost_in_the_middle_of_a_chunk_leaves_only_that_mail(app):
    raws = [make_mail(subject=f"注销说明 {i}", sender=f"u{i}@corp{i}.example.cn") for i in range(3)]
    rows = [stored.store_raw(raw, internal_date=utcnow())[0] for raw in raws]
    ids = [row.id for row in rows]
    token, won = stored.claim(ids)
    assert won == ids
    readings = reading.prepare_all(raws)

    # another path took the second one over (ours had expired) after we claimed: the fast path
    # writes the first mail's ticket, then the second one's settle finds the claim gone
    session.execute(update(InboundMail).where(InboundMail.id == ids[1]).values(claim_token="theirs"))
    session.commit()
    items = [(session.get(InboundMail, i), r) for i, r in zip(ids, readings, strict=True)]
    results = intake.ingest_chunk(items, token)

    assert [r.outcome for r in results] == ["created", "elsewhere", "created"]
    session.rollback()
    mails = {m.id: m for m in session.scalars(select(InboundMail))}
    assert [mails[i].status for i in ids] == ["ingested", "stored", "ingested"]
    assert mails[ids[1]].claim_token == "theirs" and mails[ids[1]].ticket_id is None
    # the undone fast path left nothing behind: two tickets, each with its mail and its ack
    assert session.scalar(select(func.count()).select_from(Ticket)) == 2
    assert session.scalar(select(func.count()).select_from(Message).where(Message.kind == "inbound")) == 2
    acks = session.scalars(select(OutboundMail.to_addr).where(OutboundMail.kind == "ack")).all()
    assert sorted(acks) == ["u0@corp0.example.cn", "u2@corp2.example.cn"]
    assert {mails[ids[0]].ticket_id, mails[ids[2]].ticket_id} == {
        t.id for t in session.scalars(select(Ticket))
    }


def test_a_chunk_without_trouble_takes_no_savepoint_per_mail(app):
    raws = [make_mail(subject=f"解绑说明 {i}", sender=f"v{i}@corp{i}.example.cn") for i in range(3)]
    ids = [stored.store_raw(raw, internal_date=utcnow())[0].id for raw in raws]
    token, _ = stored.claim(ids)
    readings = reading.prepare_all(raws)
    statements: list[str] = []
    from sqlalchemy import event

    bind = session.get_bind()

    def note(_conn, _cursor, statement, *_args):
        statements.append(statement.split()[0].upper())

    event.listen(bind, "before_cursor_execute", note)
    try:
        items = [(session.get(InboundMail, i), r) for i, r in zip(ids, readings, strict=True)]
        results = intake.ingest_chunk(items, token)
    finally:
        event.remove(bind, "before_cursor_execute", note)
    assert [r.outcome for r in results] == ["created"] * 3
    # at most the batched enterprise lookup's own savepoint, not one per mail
    assert statements.count("SAVEPOINT") <= 1
