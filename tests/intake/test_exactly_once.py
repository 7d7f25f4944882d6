"""Exactly once in one process: identity by content, claims and their fence, strangers, budgets."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from helpdesk.db import session, utcnow
from helpdesk.mail.models import InboundMail, OutboundMail
from helpdesk.tickets import inbound as stored
from helpdesk.tickets import intake, reading
from helpdesk.tickets.models import Attachment, Message, Ticket, TicketEvent
from tests.intake.conftest import make_mail
from tests.intake.hostile import slow_pdf


def tickets() -> list[Ticket]:
    return list(session.scalars(select(Ticket).order_by(Ticket.id)))


def acks() -> int:
    return session.scalar(select(func.count()).select_from(OutboundMail).where(OutboundMail.kind == "ack"))


def notes(ticket: Ticket) -> str:
    return "\n".join(m.body_text for m in ticket.messages if m.kind == "note")


def test_two_different_mails_with_one_message_id_make_two_tickets(app):
    first = make_mail(subject="注销说明", sender="a@corp-a.example.cn", message_id="<0@localhost>")
    second = make_mail(subject="咨询申报时间", sender="b@corp-b.example.cn", message_id="<0@localhost>")
    assert intake.import_eml(first).outcome == "created"
    result = intake.import_eml(second)
    assert result.outcome == "created"
    one, two = tickets()
    assert (one.requester_email, two.requester_email) == ("a@corp-a.example.cn", "b@corp-b.example.cn")
    assert "Message-ID <0@localhost>" in notes(two) and f"ZXZJ#{one.id}" in notes(two)
    assert "Message-ID" not in notes(one)
    kinds = session.scalars(select(TicketEvent.kind).where(TicketEvent.ticket_id == two.id)).all()
    assert "message_id_reused" in kinds
    assert acks() == 2


def test_a_byte_identical_copy_and_a_copy_by_another_route_are_one_mail(app):
    raw = make_mail(subject="解绑说明", sender="c@corp-c.example.cn")
    assert intake.import_eml(raw).outcome == "created"
    assert intake.import_eml(raw).outcome == "duplicate"
    # the same mail delivered by another route: other trace headers in front, LF line ends
    routed = (
        b"Return-Path: <c@corp-c.example.cn>\r\nDelivered-To: zxzj@ec.com.cn\r\n"
        b"Received: from mx2.example by mail.ec.com.cn; Tue, 1 Dec 2026 09:00:00 +0800\r\n"
        b"X-Spam-Status: No, score=0.1\r\nARC-Seal: i=1; a=rsa-sha256; d=example; s=x; cv=none; b=abc\r\n"
    ) + raw
    assert intake.import_eml(routed.replace(b"\r\n", b"\n")).outcome == "duplicate"
    # one changed byte of what the sender wrote is another mail
    changed = raw.replace(b"To: zxzj@ec.com.cn", b"To: zxzj@ec.com.cn, li@ec.com.cn")
    assert changed != raw and intake.import_eml(changed).outcome == "created"
    assert len(tickets()) == 2 and acks() == 2
    assert session.scalar(select(func.count()).select_from(InboundMail)) == 2


def test_a_mail_claimed_by_another_path_is_left_to_it_until_its_claim_expires(app):
    inbound, _ = stored.store_raw(make_mail(sender="d@corp-d.example.cn"), internal_date=utcnow())
    token, won = stored.claim([inbound.id])  # another path, alive
    assert won == [inbound.id]
    assert stored.claim([inbound.id])[1] == []
    result = intake.ingest(inbound)
    assert result.outcome == "elsewhere" and tickets() == []
    # that path died: after the lease TTL its claim may be taken over
    session.execute(
        update(InboundMail)
        .where(InboundMail.id == inbound.id)
        .values(claimed_at=utcnow() - stored.claim_ttl() - timedelta(seconds=1))
    )
    session.commit()
    assert intake.ingest(session.get(InboundMail, inbound.id)).outcome == "created"
    assert len(tickets()) == 1 and acks() == 1
    assert intake.ingest(session.get(InboundMail, inbound.id)).outcome == "duplicate"


def test_a_path_whose_claim_was_taken_over_rolls_back_its_ticket(app):
    inbound, _ = stored.store_raw(make_mail(sender="e@corp-e.example.cn"), internal_date=utcnow())
    slow_token, _ = stored.claim([inbound.id])
    [prepared] = reading.prepare_all([inbound.raw])  # the slow path has read the mail ...
    session.execute(  # ... but stalled past its claim, and another path took the mail over
        update(InboundMail)
        .where(InboundMail.id == inbound.id)
        .values(claimed_at=utcnow() - stored.claim_ttl() - timedelta(seconds=1))
    )
    session.commit()
    fast_token, won = stored.claim([inbound.id])
    assert won == [inbound.id] and fast_token != slow_token
    late = intake.ingest(session.get(InboundMail, inbound.id), prepared=prepared, token=slow_token)
    assert late.outcome == "elsewhere" and tickets() == [] and acks() == 0  # fenced: nothing written
    done = intake.ingest(session.get(InboundMail, inbound.id), prepared=prepared, token=fast_token)
    assert done.outcome == "created" and len(tickets()) == 1 and acks() == 1


def test_a_strangers_reply_by_headers_becomes_a_new_linked_ticket(app, agent_client):
    original = make_mail(subject="注销说明", sender="owner@corp-f.example.cn", message_id="<letter-f@corp-f>")
    first = intake.import_eml(original)
    own = make_mail(
        subject="Re: 注销说明",
        sender="owner@corp-f.example.cn",
        headers={"In-Reply-To": "<letter-f@corp-f>"},
        attachments=[("营业执照.pdf", "application/pdf", b"%PDF-1.4 owner")],
    )
    assert intake.import_eml(own).outcome == "threaded"
    stranger = make_mail(
        subject="Re: 注销说明",
        sender="mallory@evil.example",
        headers={"In-Reply-To": "<letter-f@corp-f>", "References": "<letter-f@corp-f>"},
        attachments=[("营业执照.pdf", "application/pdf", b"%PDF-1.4 forged")],
    )
    result = intake.import_eml(stranger)
    assert result.outcome == "created" and result.ticket_id != first.ticket_id
    victim, new = session.get(Ticket, first.ticket_id), session.get(Ticket, result.ticket_id)
    assert new.related_ticket_id == victim.id and new.requester_email == "mallory@evil.example"
    assert f"ZXZJ#{victim.id}" in notes(new)
    names = session.scalars(select(Attachment.sha256).where(Attachment.ticket_id == victim.id)).all()
    assert len(names) == 1  # the owner's attachment only: the stranger's went to the new ticket
    assert all(m.sender != "mallory@evil.example" for m in victim.messages)
    assert (
        "related" in session.scalars(select(TicketEvent.kind).where(TicketEvent.ticket_id == victim.id)).all()
    )


def test_a_pdf_that_overruns_the_budget_still_makes_its_ticket_from_the_body(app):
    app.config["HELPDESK"].values["HELPDESK_PARSE_SECONDS"] = 1
    raw = make_mail(
        subject="解绑说明",
        sender="g@corp-g.example.cn",
        body="解绑说明\n我司在平台有2个账号（corp_g1、corp_g2），申请将专项资金申报与账号corp_g2解绑。",
        attachments=[("解绑说明.pdf", "application/pdf", slow_pdf())],
    )
    result = intake.import_eml(raw)
    assert result.outcome == "created"
    [ticket] = tickets()
    assert ticket.type == "unbind"  # read from the body
    assert "未能在时限内读出" in notes(ticket) and "超过 1 秒" in notes(ticket)
    names = set(session.scalars(select(Attachment.original_name).where(Attachment.ticket_id == ticket.id)))
    assert names == {"解绑说明.pdf", "original.eml"}
    assert acks() == 1


def test_a_mail_no_worker_can_read_becomes_a_fallback_ticket_from_its_headers(app):
    # a memory cap too small for any reading: every worker ends with MemoryError or dies
    app.config["HELPDESK"].values["HELPDESK_PARSE_MEMORY_MB"] = 40
    raw = make_mail(
        subject="无法读取的邮件",
        sender="h@corp-h.example.cn",
        attachments=[("数据.txt", "text/plain", "明细".encode() * 1_500_000)],
    )
    result = intake.import_eml(raw)
    assert result.outcome == "failed" and result.ticket_id
    ticket = session.get(Ticket, result.ticket_id)
    assert ticket.subject == "无法读取的邮件" and ticket.requester_email == "h@corp-h.example.cn"
    eml = session.scalars(select(Attachment).where(Attachment.ticket_id == ticket.id)).one()
    assert eml.original_name == "original.eml" and eml.size == len(raw)
    assert session.get(InboundMail, result.inbound_id).status == "ingested"


def test_a_mail_that_killed_its_reader_again_and_again_goes_to_the_fallback(app):
    inbound, _ = stored.store_raw(make_mail(sender="i@corp-i.example.cn"), internal_date=utcnow())
    for _ in range(intake.MAX_ATTEMPTS):  # each claim was taken by a process that died with it
        stored.claim([inbound.id])
        session.execute(update(InboundMail).values(claimed_at=utcnow() - timedelta(hours=1)))
        session.commit()
    result = intake.ingest(session.get(InboundMail, inbound.id))
    assert result.outcome == "failed" and "都未完成" in result.detail
    assert len(tickets()) == 1 and session.get(InboundMail, inbound.id).status == "ingested"


@pytest.mark.parametrize("path", ["retry", "import"])
def test_every_path_claims_first(app, path):
    inbound, _ = stored.store_raw(make_mail(sender="j@corp-j.example.cn"), internal_date=utcnow())
    stored.claim([inbound.id])  # the poll has it
    if path == "retry":
        assert intake.ingest_pending() == []
    else:
        assert intake.import_eml(inbound.raw).outcome == "elsewhere"
    assert tickets() == [] and session.scalar(select(func.count()).select_from(Message)) == 0


def test_a_mail_with_too_many_attachments_keeps_the_rest_in_its_original(app):
    many = [
        (f"附件{i}.pdf", "application/pdf", b"%%PDF-1.4 %d" % i) for i in range(reading.MAX_ATTACHMENTS + 30)
    ]
    result = intake.import_eml(make_mail(subject="很多附件", sender="k@corp-k.example.cn", attachments=many))
    ticket = session.get(Ticket, result.ticket_id)
    names = session.scalars(select(Attachment.original_name).where(Attachment.ticket_id == ticket.id)).all()
    assert len(names) == reading.MAX_ATTACHMENTS + 1 and "original.eml" in names
    assert f"带有 {reading.MAX_ATTACHMENTS + 30} 个附件" in notes(ticket)


def test_a_huge_body_is_stored_whole_and_its_letter_read_from_the_start(app):
    letter = "解绑说明\n我司在平台有2个账号（corp_l1、corp_l2），申请将专项资金申报与账号corp_l2解绑。\n"
    body = letter + "附：往来记录。\n" * (reading.LETTER_TEXT_LIMIT)
    result = intake.import_eml(make_mail(subject="解绑说明", sender="l@corp-l.example.cn", body=body))
    ticket = session.get(Ticket, result.ticket_id)
    assert ticket.type == "unbind"
    inbound = [m for m in ticket.messages if m.kind == "inbound"][0]
    assert len(inbound.body_text.rstrip()) >= len(body.rstrip())  # nothing cut from what is stored


@pytest.mark.ocr
def test_the_ocr_job_reads_a_scanned_letter_in_its_sandbox(app):
    from helpdesk.tickets import ocr_job
    from tests.letters.make_letters import text_image

    scan = text_image(
        [
            "注销说明",
            "外贸发展专项资金（中小）网络管理应用项目组：",
            "我司在商务部业务系统统一平台存在2个账号，现申请注销账号scan_corp_b。",
            "特此说明！",
            "2026年11月20日",
        ],
        fmt="JPEG",
    )
    result = intake.import_eml(
        make_mail(
            subject="说明",
            sender="m@corp-m.example.cn",
            body="见附件。",
            attachments=[("scan.jpg", "image/jpeg", scan)],
        )
    )
    ticket = session.get(Ticket, result.ticket_id)
    assert ticket.ocr_pending and ticket.type == "inquiry"  # intake reads no scans
    assert ocr_job.run_ocr_pending() == 1
    session.expire_all()
    ticket = session.get(Ticket, result.ticket_id)
    assert not ticket.ocr_pending and ticket.type == "cancel"
    kinds = session.scalars(select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket.id)).all()
    assert "ocr_done" in kinds and "type" in kinds
