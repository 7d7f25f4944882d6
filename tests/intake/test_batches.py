"""Ingest a chunk of mail in one transaction, a savepoint per mail (tickets/intake.py ingest_chunk).

One mail that fails falls back alone to its inquiry ticket; its neighbours in the same chunk become
their normal tickets; nothing is doubled. What a mail writes counts for the mails after it in the
same chunk (a reused Message-ID, the acknowledgement rate limit), as if each had committed alone.
"""

from __future__ import annotations

from sqlalchemy import func, select

from helpdesk.db import session
from helpdesk.mail.models import InboundMail, OutboundMail
from helpdesk.tickets import intake, poll
from helpdesk.tickets.models import Attachment, Message, Ticket, TicketEvent
from tests.intake.conftest import make_mail
from tests.intake.test_overlap import DOCX, letter_docx
from tests.records.test_lookup import firms  # noqa: F401  (the fixture)


def letter_mail(i: int, **kwargs) -> bytes:
    return make_mail(
        subject=f"解绑说明（第 {i} 号）",
        body="您好，附件是我司的解绑说明，请处理。",
        sender=kwargs.pop("sender", f"staff{i}@corp{i}.example.cn"),
        attachments=[("解绑说明.docx", DOCX, letter_docx(i))],
        **kwargs,
    )


def test_one_bad_mail_in_a_chunk_falls_back_alone_and_its_neighbours_are_normal_tickets(
    app, imap, imap_settings, monkeypatch
):
    real = intake.link_enterprise

    def breaks_on_the_middle_one(ticket, letter, sender, batch=None):
        real(ticket, letter, sender, batch)
        if sender == "staff1@corp1.example.cn":  # after it wrote: the savepoint must undo that too
            raise RuntimeError("letter reader exploded")

    monkeypatch.setattr(intake, "link_enterprise", breaks_on_the_middle_one)
    assert intake.PENDING_CHUNK >= 3  # the three mails are one chunk, one transaction
    for i in range(3):
        imap.append(letter_mail(i))
    report = poll.poll_once(imap_settings)
    assert (report.created, report.failed, report.marked, report.errors) == (2, 1, 3, [])

    rows = session.scalars(select(InboundMail).order_by(InboundMail.id)).all()
    assert [r.status for r in rows] == ["ingested"] * 3
    assert all(r.claim_token is None for r in rows)
    tickets = {t.id: t for t in session.scalars(select(Ticket))}
    assert len(tickets) == 3 and len({r.ticket_id for r in rows}) == 3  # one ticket per mail
    first, bad, third = (tickets[r.ticket_id] for r in rows)

    for good in (first, third):
        assert good.type == "unbind"
        assert good.due_at is not None
        kinds = [m.kind for m in good.messages]
        assert kinds.count("inbound") == 1 and kinds.count("outbound") == 1  # its mail and its ack
    assert bad.type == "inquiry"
    assert bad.subject == "解绑说明（第 1 号）"
    assert [m.kind for m in bad.messages] == ["note"]  # the failed attempt's message was rolled back
    assert "letter reader exploded" in bad.messages[0].body_text
    eml = session.scalars(select(Attachment).where(Attachment.ticket_id == bad.id)).one()
    assert eml.original_name == "original.eml"
    assert [e.kind for e in session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == bad.id))] == [
        "created"
    ]
    assert session.scalar(select(func.count()).select_from(Message).where(Message.kind == "inbound")) == 2
    acks = session.scalars(select(OutboundMail.to_addr).where(OutboundMail.kind == "ack")).all()
    assert sorted(acks) == ["staff0@corp0.example.cn", "staff2@corp2.example.cn"]

    again = poll.poll_once(imap_settings)  # nothing left to do, nothing doubled
    assert (again.fetched, again.created, again.failed) == (0, 0, 0)
    assert session.scalar(select(func.count()).select_from(Ticket)) == 3


def test_neighbours_in_a_chunk_see_each_others_writes(app, imap, imap_settings):
    # the same Message-ID on two different mails, and one sender past the acknowledgement limit,
    # all inside one chunk: each mail sees what the ones before it wrote
    imap.append(letter_mail(0, message_id="<same@corp0.example.cn>"))
    imap.append(letter_mail(1, message_id="<same@corp0.example.cn>"))
    for i in range(2, 2 + intake.AUTO_REPLIES_PER_SENDER_PER_DAY + 1):
        imap.append(letter_mail(i, sender="busy@corp.example.cn"))
    report = poll.poll_once(imap_settings)
    total = 2 + intake.AUTO_REPLIES_PER_SENDER_PER_DAY + 1
    assert (report.created, report.failed, report.errors) == (total, 0, [])

    ids = session.scalars(select(Message.message_id).where(Message.kind == "inbound")).all()
    assert ids.count("same@corp0.example.cn") == 1  # the second keeps it in its raw mail only
    first, second = session.scalars(select(InboundMail).order_by(InboundMail.id).limit(2)).all()
    reused = session.scalars(
        select(TicketEvent).where(
            TicketEvent.ticket_id == second.ticket_id, TicketEvent.kind == "message_id_reused"
        )
    ).one()
    assert reused.detail["ticket"] == first.ticket_id  # settled earlier in the same transaction
    busy_acks = session.scalar(
        select(func.count()).select_from(OutboundMail).where(OutboundMail.to_addr == "busy@corp.example.cn")
    )
    assert busy_acks == intake.AUTO_REPLIES_PER_SENDER_PER_DAY
    suppressed = session.scalar(
        select(func.count()).select_from(TicketEvent).where(TicketEvent.kind == "auto_reply_suppressed")
    )
    assert suppressed == 1


def test_the_batched_enterprise_lookup_answers_as_the_one_by_one_lookup(firms, users):  # noqa: F811
    from helpdesk.records import lookup
    from helpdesk.tickets.models import Ticket as TicketRow

    a, b, c = firms
    session.add(TicketRow(subject="x", requester_email="stranger@else.cn", enterprise_id=b.id))
    session.commit()
    evidences = [
        ((b.uscc,), (), ("hengda",), ("苏州恒达贸易有限公司",), ""),
        ((), (f"{a.org_code[:8]}-{a.org_code[8]}",), (), (), ""),
        ((), (), ("ZXKT_HENGDA", "yunfan", "nobody"), (), ""),
        ((), (), (), ("苏州市恒达贸易有限公司",), ""),  # near-identical name
        ((), (), (), ("深圳(前海)星辰供应链管理有限公司",), ""),
        ((), (), (), ("苏州恒达",), "info@yunfan.cn"),  # too far: the sender decides
        ((), (), (), (), "BOSS@hengda.cn"),
        ((), (), (), (), "hengda2@mail.test"),  # an account's e-mail
        ((), (), (), (), "stranger@else.cn"),  # an earlier linked ticket's requester
        ((), (), (), ("北京完全无关科技公司",), "nobody@else.cn"),
        ((), (), (), (), ""),
    ]
    batched = lookup.candidates_many(evidences)
    for usccs, orgs, accounts, names, sender in evidences:
        one = lookup.candidates(usccs=usccs, org_codes=orgs, accounts=accounts, names=names, sender=sender)
        assert batched[(usccs, orgs, accounts, names, sender)] == one, (usccs, orgs, accounts, names, sender)
    assert sum(1 for found in batched.values() if found) == 9  # the sample is not all misses
