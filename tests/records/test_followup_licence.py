"""A cancel without the business licence, through the real mail path: blocked, the material requested in
one step, the enterprise's reply with the licence read like the first letter, then the cancel done.
And the gate checked again when an approver approves."""

from __future__ import annotations

import random
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from sqlalchemy import select

from helpdesk.core.models import Setting
from helpdesk.db import session
from helpdesk.mail.models import OutboundMail
from helpdesk.records import findings
from helpdesk.records.keys import name_key
from helpdesk.records.models import Enterprise, PendingApproval, PlatformAccount
from helpdesk.tickets import intake, resolve, services
from helpdesk.tickets.models import Ticket
from helpdesk.tickets.services import TicketError
from tests.letters.make_letters import ADDRESSEE, docx_bytes, licence_lines, text_pdf

COMPANY = "苏州恒达贸易有限公司"
USCC = "91110108551385082Q"
SENDER = "contact@hengda.cn"
DOCX = ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document")
LETTER = [
    "注销说明",
    ADDRESSEE,
    f"{COMPANY}在商务部业务系统统一平台存在2个账号，账号信息分别是hengda1、zxkt_hengda2，由于账号重复原因，"
    "现申请注销zxkt_hengda2，账号注销后对企业之前申报项目无影响。",
    f"统一社会信用代码：{USCC}",
    "特此说明！",
    f"{COMPANY}（盖章）",
    "2026年11月20日",
]


@pytest.fixture
def hengda(app) -> Enterprise:
    ent = Enterprise(name=COMPANY, name_key=name_key(COMPANY), uscc=USCC, org_code=USCC[8:17],
                     contact_email=SENDER)  # fmt: skip
    session.add(ent)
    session.flush()
    session.add_all([
        PlatformAccount(enterprise_id=ent.id, account_name="hengda1", app_bound=True),
        PlatformAccount(enterprise_id=ent.id, account_name="zxkt_hengda2"),
    ])  # fmt: skip
    session.commit()
    return ent


def _mail(subject: str, text: str, attachments: list[tuple[str, bytes, tuple[str, str]]],
          in_reply_to: str | None = None) -> bytes:  # fmt: skip
    msg = EmailMessage()
    msg["From"] = f"王经理 <{SENDER}>"
    msg["To"] = "zxzj@ec.com.cn"
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="hengda.cn")
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
        msg["References"] = f"<{in_reply_to}>"
    msg.set_content(text)
    for name, data, (maintype, subtype) in attachments:
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return bytes(msg)


def _cancel_letter() -> int:
    result = intake.import_eml(
        _mail("注销说明", "您好，附件是注销说明。", [("注销说明.docx", docx_bytes(LETTER, seal=True), DOCX)])
    )
    assert result.outcome == "created"
    return result.ticket_id


def _ticket(ticket_id: int) -> Ticket:
    session.expire_all()
    return session.get(Ticket, ticket_id)


def _account(name: str) -> PlatformAccount:
    return session.scalars(select(PlatformAccount).where(PlatformAccount.account_name == name)).one()


def _seal_confirmed(ticket_id: int, agent) -> None:
    # the seal hint is not a verdict: the agent looked at the letter and confirms the stamp
    services.update_fields(_ticket(ticket_id), {"seal": "seal"}, by=agent)


def test_a_cancel_waits_for_the_licence_that_arrives_by_mail_and_is_read(hengda, users):
    agent = users["agent"]
    ticket_id = _cancel_letter()
    ticket = _ticket(ticket_id)
    assert ticket.enterprise_id == hengda.id  # linked by the letter's USCC

    blockers = findings.gate_checks(_ticket(ticket_id), "cancel")
    assert [b["code"] for b in blockers] == ["gate_licence"]
    with pytest.raises(resolve.Blocked) as refused:
        resolve.apply_resolution(_ticket(ticket_id), "cancel", {"account": "zxkt_hengda2"}, by=agent)
    assert "营业执照" in str(refused.value)
    assert _account("zxkt_hengda2").status == "active"

    # one step: the request goes out and the ticket waits (SLA paused)
    assert resolve.request_material(_ticket(ticket_id), "cancel", by=agent) == ["加盖公章的营业执照扫描件"]
    ticket = _ticket(ticket_id)
    assert ticket.status == "waiting"
    request = session.scalars(select(OutboundMail).where(OutboundMail.kind == "request")).one()
    assert "加盖公章的营业执照扫描件" in request.body_text and f"ZXZJ#{ticket_id}" in request.subject

    # the enterprise answers that mail with the stamped licence as a PDF, through the real intake path
    licence = text_pdf([licence_lines(COMPANY, USCC, random.Random(7))])
    reply = _mail(f"回复：{request.subject}", "您好，营业执照加盖公章扫描件已附上。",
                  [("营业执照.pdf", licence, ("application", "pdf"))], in_reply_to=request.message_id)  # fmt: skip
    joined = intake.import_eml(reply)
    assert joined.ticket_id == ticket_id and joined.outcome != "created"

    ticket = _ticket(ticket_id)
    assert ticket.status == "open"  # the reply resumed the clock
    read = [m for m in ticket.messages if m.kind == "inbound"][-1]
    assert any(a.original_name == "营业执照.pdf" and a.message_id == read.id for a in ticket.attachments)
    values = findings.ticket_values(ticket)
    assert values["has_licence"] is True  # the follow-up's attachment was read
    assert findings.gate_checks(ticket, "cancel") == []
    # the licence-only follow-up does not undo what the letter said (its seal, its accounts)
    assert values["seal"] == "seal" and values["target_accounts"] == ["zxkt_hengda2"]
    checks = {c["code"]: c for c in findings.ticket_checks(ticket)}
    assert checks["required_attachments"]["status"] == "pass", checks["required_attachments"]
    assert not [c for c in checks.values() if c["status"] == "fail"], checks

    outcome = resolve.apply_resolution(ticket, "cancel", {"account": "zxkt_hengda2"}, by=agent)
    assert outcome.status == "applied"
    assert _account("zxkt_hengda2").status != "active"
    assert _ticket(ticket_id).status == "resolved"
    notice = session.scalars(select(OutboundMail).where(OutboundMail.kind != "request")
                             .order_by(OutboundMail.id.desc())).first()  # fmt: skip
    assert notice is not None and "zxkt_hengda2" in notice.body_text


def test_the_gate_is_checked_again_when_the_approver_approves(hengda, users):
    agent, supervisor = users["agent"], users["supervisor"]
    session.add(Setting(key="require_second_approval", value=True))
    session.commit()
    ticket_id = _cancel_letter()
    _seal_confirmed(ticket_id, agent)
    services.update_fields(_ticket(ticket_id), {"has_licence": True}, by=agent)  # seen on the phone
    assert findings.gate_checks(_ticket(ticket_id), "cancel") == []
    outcome = resolve.apply_resolution(_ticket(ticket_id), "cancel", {"account": "zxkt_hengda2"}, by=agent)
    assert outcome.status == "pending"

    # before the approval a colleague finds the licence is not there after all
    services.update_fields(_ticket(ticket_id), {"has_licence": False}, by=agent)
    pending = session.scalars(select(PendingApproval)).one()
    with pytest.raises(TicketError) as refused:
        resolve.approve(pending, by=supervisor)
    assert "审批时重新核对" in str(refused.value) and "营业执照" in str(refused.value)
    session.expire_all()
    assert session.scalars(select(PendingApproval)).one().decision is None
    assert _account("zxkt_hengda2").status == "active"
    assert _ticket(ticket_id).status != "resolved"

    # with the licence confirmed again, the same approval goes through
    services.update_fields(_ticket(ticket_id), {"has_licence": True}, by=agent)
    done = resolve.approve(session.scalars(select(PendingApproval)).one(), by=supervisor)
    assert done.status == "applied" and _account("zxkt_hengda2").status != "active"


def test_an_override_named_at_request_still_covers_its_check_at_approval(hengda, users):
    agent, supervisor = users["agent"], users["supervisor"]
    session.add(Setting(key="require_second_approval", value=True))
    session.commit()
    ticket_id = _cancel_letter()
    _seal_confirmed(ticket_id, agent)
    outcome = resolve.apply_resolution(_ticket(ticket_id), "cancel", {"account": "zxkt_hengda2"}, by=agent,
                                       override_reason="营业执照原件已当面核验")  # fmt: skip
    assert outcome.status == "pending"
    # the licence check still fails, but the request overrode exactly that check with a reason
    pending = session.scalars(select(PendingApproval)).one()
    assert resolve.approve(pending, by=supervisor).status == "applied"


def test_a_licence_only_reading_does_not_undo_the_letter_it_follows():
    from helpdesk.letters import read as read_letter
    from helpdesk.letters.current import field_values, merge_readings
    from tests.letters.make_letters import make_mail

    first = read_letter(
        make_mail(subject="注销说明", attachments=[("注销说明.docx", docx_bytes(LETTER, seal=True))])
    )
    licence = text_pdf([licence_lines(COMPANY, USCC, random.Random(3))])
    second = read_letter(
        make_mail(subject="回复：注销说明", text="营业执照已附上。", attachments=[("营业执照.pdf", licence)])
    )
    assert field_values(second)["seal"] == "unknown"  # alone, the licence mail knows nothing of a seal

    merged = merge_readings([first, second])
    values = field_values(merged)
    assert values["has_licence"] is True and values["seal"] == field_values(first)["seal"]
    assert values["target_accounts"] == ["zxkt_hengda2"]
    by_code = {f.code: f for f in merged.findings}
    assert by_code["required_attachments"].status == "pass"
    assert by_code["target_listed"].status == next(
        f.status for f in first.findings if f.code == "target_listed"
    )
