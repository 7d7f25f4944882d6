"""Resolutions that respect the checks: blocked, material requested, overridden with a reason,
the previewed reply queued as edited; and checks an agent can believe."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from helpdesk.core.models import Setting
from helpdesk.db import session
from helpdesk.mail.models import OutboundMail
from helpdesk.records import findings
from helpdesk.records.models import AuditEntry, PendingApproval, PlatformAccount
from helpdesk.tickets import resolve
from helpdesk.tickets.models import Message, Ticket
from tests.conftest import page_csrf
from tests.records.factories import letter, make_enterprise, make_ticket


@pytest.fixture
def acme(app):
    ent = make_enterprise(accounts=("hengda1", "zxkt_hengda2"))
    session.commit()
    return ent


def _cancel_ticket(ent, **fields):
    t = make_ticket("cancel", enterprise=ent, subject="注销说明", company_name=ent.name,
                    account_names=["hengda1", "zxkt_hengda2"], account_count=2,
                    target_accounts=["zxkt_hengda2"], **fields)  # fmt: skip
    session.commit()
    return t


def test_a_cancel_without_the_licence_is_blocked_until_the_licence_arrives(acme, users):
    ticket = _cancel_ticket(acme, has_licence=False)
    with pytest.raises(resolve.Blocked) as exc:
        resolve.apply_resolution(ticket, "cancel", {"account": "zxkt_hengda2"}, by=users["agent"])
    assert "营业执照" in str(exc.value)
    assert session.get(PlatformAccount, _account(acme, "zxkt_hengda2")).status == "active"

    items = resolve.request_material(ticket, "cancel", by=users["agent"])
    assert items == ["加盖公章的营业执照扫描件"]
    session.expire_all()
    t = session.get(Ticket, ticket.id)
    assert t.status == "waiting"
    mail = session.scalars(select(OutboundMail)).one()
    assert "加盖公章的营业执照扫描件" in mail.body_text and mail.kind == "request"

    # the enterprise's reply carries the licence: its reading becomes the ticket's current letter
    session.add(Message(ticket_id=t.id, kind="inbound", sender="contact@hengda.cn", subject="回复：注销说明",
                        letter=letter("cancel", has_licence=True)))  # fmt: skip
    session.commit()
    assert findings.gate_checks(session.get(Ticket, t.id), "cancel") == []
    outcome = resolve.apply_resolution(session.get(Ticket, t.id), "cancel", {"account": "zxkt_hengda2"},
                                       by=users["agent"])  # fmt: skip
    assert outcome.status == "applied"
    assert session.get(PlatformAccount, _account(acme, "zxkt_hengda2")).status != "active"


def _account(ent, name):
    return session.scalar(select(PlatformAccount.id).where(PlatformAccount.account_name == name))


def test_an_override_is_audited_and_shown_to_the_approver(acme, users, supervisor_client):
    session.add(Setting(key="require_second_approval", value=True))
    ticket = _cancel_ticket(acme, seal="none")
    outcome = resolve.apply_resolution(ticket, "cancel", {"account": "zxkt_hengda2"}, by=users["agent"],
                                       override_reason="已电话核实，盖章件原件已寄到")  # fmt: skip
    assert outcome.status == "pending"
    pending = session.scalars(select(PendingApproval)).one()
    assert pending.params["override"]["reason"] == "已电话核实，盖章件原件已寄到"
    assert [c["code"] for c in pending.params["override"]["checks"]] == ["gate_seal"]
    page = supervisor_client.get("/records/approvals").get_data(as_text=True)
    assert "已电话核实，盖章件原件已寄到" in page and acme.name in page and "未见公章" in page
    assert "注销审批（1）" in page

    resolve.approve(pending, by=users["supervisor"])
    audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "cancel")).all()
    assert audit and all(a.detail["override"]["reason"] == "已电话核实，盖章件原件已寄到" for a in audit)


def test_the_reply_edited_in_the_preview_is_the_one_queued(acme, agent_client):
    ticket = make_ticket("unbind", enterprise=acme, company_name=acme.name, account_names=["hengda1", "zxkt_hengda2"],
                         account_count=2, target_accounts=["hengda1"])  # fmt: skip
    session.commit()
    token = page_csrf(agent_client, f"/tickets/{ticket.id}")
    form = {"csrf_token": token, "action": "unbind", "account": "hengda1", "version": ticket.version}
    page = agent_client.post(f"/records/tickets/{ticket.id}/resolve/preview", data=form).get_data(
        as_text=True
    )
    assert "已解绑账号 hengda1" in page and 'name="reply"' in page
    assert session.get(Ticket, ticket.id).status != "resolved"  # the preview changed nothing
    checks = findings.gate_fingerprint([])
    edited = "苏州恒达贸易有限公司：\n\n已为您解绑 hengda1，请用新账号重新申请。（客服改写）"
    response = agent_client.post(f"/records/tickets/{ticket.id}/resolve",
                                 data={**form, "reply": edited, "checks": checks})  # fmt: skip
    assert response.status_code == 302
    mail = session.scalars(select(OutboundMail)).one()
    assert mail.body_text == edited
    assert session.get(Ticket, ticket.id).status == "resolved"


def test_checks_that_changed_since_the_preview_refuse_the_apply(acme, users):
    ticket = _cancel_ticket(acme)
    stale = findings.gate_fingerprint([])  # the preview showed no blocker
    ticket.fields = {**(ticket.fields or {}), "has_licence": False}
    session.commit()
    with pytest.raises(resolve.TicketError, match="核对结果已经变化"):
        resolve.apply_resolution(
            ticket, "cancel", {"account": "zxkt_hengda2"}, by=users["agent"], checks=stale
        )


def test_an_inquiry_has_no_records_cross(app):
    ticket = make_ticket("inquiry", subject="请问申报时间", requester="someone@elsewhere.test")
    session.commit()
    assert [c for c in findings.ticket_checks(ticket) if c["status"] == "fail"] == []


def test_a_resolved_ticket_says_so(acme, agent_client):
    ticket = _cancel_ticket(acme, status="resolved")
    page = agent_client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "已办结" in page and "已经注销" not in page and "✗" not in page


@pytest.mark.parametrize("written", ["zxkt_hengdaO2", "hengda1l"])
def test_an_account_slip_gets_a_did_you_mean(app, written):
    ent = make_enterprise(accounts=("hengda11", "zxkt_hengda02"))
    ticket = make_ticket(
        "cancel", enterprise=ent, company_name=ent.name, account_names=[written], target_accounts=[written]
    )
    session.commit()
    expected = "hengda11" if written == "hengda1l" else "zxkt_hengda02"
    messages = [
        c["message"]
        for c in findings.ticket_checks(ticket)
        if c["code"] in ("records_accounts", "records_cancel_target")
    ]
    assert messages and all(f"您是否指 {expected}" in m for m in messages)


def test_the_edited_resolution_reply_is_what_the_enterprise_receives(app, acme, agent_client, smtp):
    from helpdesk.mail import outbox

    ticket = make_ticket("unbind", enterprise=acme, company_name=acme.name, account_names=["hengda1", "zxkt_hengda2"],
                         account_count=2, target_accounts=["hengda1"])  # fmt: skip
    session.commit()
    token = page_csrf(agent_client, f"/tickets/{ticket.id}")
    form = {"csrf_token": token, "action": "unbind", "account": "hengda1", "version": ticket.version}
    agent_client.post(f"/records/tickets/{ticket.id}/resolve/preview", data=form)
    edited = "苏州恒达贸易有限公司：\n\n已为您解绑 hengda1。如有疑问请回复本邮件。（客服在预览中改写）"
    response = agent_client.post(f"/records/tickets/{ticket.id}/resolve",
                                 data={**form, "reply": edited, "checks": findings.gate_fingerprint([])})  # fmt: skip
    assert response.status_code == 302
    settings = outbox.SmtpSettings(host=smtp.host, port=smtp.port, security="none", sender="zxzj@ec.com.cn",
                                   attachments_dir=str(app.config["HELPDESK"].attachments_dir))  # fmt: skip
    assert outbox.send_pending(settings) == 1
    (received,) = smtp.wait_for(1)
    body = received.message.get_body(("plain",)).get_content()
    assert edited in body.replace("\r\n", "\n")
    assert "已解绑账号 hengda1" not in body  # the generated wording was replaced, not appended
    assert received.message["To"] and ticket.requester_email in received.message["To"]
