"""Replies join their ticket (by our Message-ID, else by the subject tag from a known sender)."""

from __future__ import annotations

from sqlalchemy import func, select

from helpdesk.db import session
from helpdesk.mail.models import OutboundMail
from helpdesk.tickets import intake, services
from helpdesk.tickets.models import Ticket, TicketStatus
from tests.intake.conftest import make_mail


def first_ticket() -> Ticket:
    return session.scalars(select(Ticket).order_by(Ticket.id)).first()


def tickets() -> int:
    return session.scalar(select(func.count()).select_from(Ticket))


def test_reply_to_our_acknowledgement_threads_by_header(app):
    intake.import_eml(make_mail(subject="解绑说明", sender="a@corp.cn"))
    ack = session.scalars(select(OutboundMail).where(OutboundMail.kind == "ack")).one()
    assert "[ZXZJ#1]" in ack.subject
    reply = make_mail(
        subject="回复：已收到", sender="a@corp.cn", headers={"In-Reply-To": f"<{ack.message_id}>"}
    )
    result = intake.import_eml(reply)
    assert result.outcome == "threaded" and result.ticket_id == 1
    assert tickets() == 1
    assert len(first_ticket().messages) == 3  # inbound, our ack, the reply


def test_reply_threads_by_subject_tag_from_the_same_sender(app):
    intake.import_eml(make_mail(subject="注销说明", sender="b@corp.cn"))
    result = intake.import_eml(make_mail(subject="Re: [ZXZJ#1] 注销说明 补充营业执照", sender="B@corp.cn"))
    assert result.outcome == "threaded" and tickets() == 1


def test_subject_tag_from_a_stranger_does_not_thread(app):
    intake.import_eml(make_mail(subject="注销说明", sender="b@corp.cn"))
    result = intake.import_eml(make_mail(subject="Re: [ZXZJ#1] 我也要注销", sender="stranger@evil.cn"))
    assert result.outcome == "created" and tickets() == 2


def test_same_message_imported_twice_is_one_ticket(app):
    raw = make_mail(subject="重复导入", message_id="<dup-1@corp.cn>")
    assert intake.import_eml(raw).outcome == "created"
    assert intake.import_eml(raw).outcome == "duplicate"
    assert tickets() == 1


def test_enterprise_reply_resumes_a_waiting_ticket(app, users):
    intake.import_eml(make_mail(subject="变更说明", sender="c@corp.cn"))
    ticket = first_ticket()
    services.reply(ticket, "请补充盖章的变更说明。", by=users["agent"], request_material=True)
    assert ticket.status == "waiting" and ticket.due_at is None and ticket.clock.remaining_minutes is not None
    intake.import_eml(make_mail(subject=f"Re: [ZXZJ#{ticket.id}] 变更说明", sender="c@corp.cn"))
    session.refresh(ticket)
    assert ticket.status == "open" and ticket.due_at is not None
    kinds = [e.kind for e in ticket.events]
    assert "sla_paused" in kinds and "sla_resumed" in kinds


def test_enterprise_reply_reopens_a_resolved_ticket_with_a_new_clock(app, users):
    intake.import_eml(make_mail(subject="找回账号", sender="d@corp.cn"))
    ticket = first_ticket()
    services.set_status(ticket, TicketStatus.RESOLVED, by=users["agent"])
    assert ticket.resolved_at is not None
    intake.import_eml(make_mail(subject=f"回复：[ZXZJ#{ticket.id}] 还是登不上", sender="d@corp.cn"))
    session.refresh(ticket)
    assert ticket.status == "open" and ticket.sla_clock_no == 2 and ticket.resolved_at is None


def test_auto_reply_from_the_enterprise_gets_no_acknowledgement(app):
    intake.import_eml(
        make_mail(subject="自动回复：休假中", sender="e@corp.cn", headers={"Auto-Submitted": "auto-replied"})
    )
    assert session.scalar(select(func.count()).select_from(OutboundMail)) == 0
    assert any(e.kind == "auto_reply_suppressed" for e in first_ticket().events)


def test_mail_from_our_own_address_gets_no_acknowledgement(app):
    intake.import_eml(make_mail(subject="来自自己", sender="zxzj@ec.com.cn"))
    assert session.scalar(select(func.count()).select_from(OutboundMail)) == 0


def test_two_installations_mailing_each_other_stop_after_the_limit(app):
    # another desk acknowledges our acknowledgement without any auto headers: the per-sender limit stops it
    for i in range(10):
        intake.import_eml(make_mail(subject=f"Re: 已收到 {i}", sender="robot@other-desk.cn"))
    acks = session.scalar(
        select(func.count()).select_from(OutboundMail).where(OutboundMail.to_addr == "robot@other-desk.cn")
    )
    assert acks == intake.AUTO_REPLIES_PER_SENDER_PER_DAY
