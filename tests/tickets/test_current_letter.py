"""A follow-up mail's letter is read and stored on its message; the ticket shows the newest reading,
with an agent's earlier correction still winning (and marked as one)."""

from __future__ import annotations

from sqlalchemy import select

from helpdesk.auth import services as auth_services
from helpdesk.db import session
from helpdesk.letters import Letter
from helpdesk.letters.current import AGENT_SOURCE, current_letter
from helpdesk.tickets import intake, services
from helpdesk.tickets.models import Message, MessageKind, Ticket
from tests.intake.conftest import make_mail

FIRST = (
    "注销说明\n\n我公司北京恒达贸易有限公司在平台有两个账号：zxkt_hengda、zxkt_hengda2。"
    "由于账号重复的原因，现申请注销账号zxkt_hengda2。\n\n北京恒达贸易有限公司\n2026年11月20日"
)
FOLLOW_UP = (
    "您好，补充说明：\n\n我公司北京恒达贸易有限公司申请注销账号zxkt_hengda2，事由：该账号为员工误注册。\n"
    "联系人：王五 13812345678\n\n北京恒达贸易有限公司\n2026年11月25日"
)
CORRECTED = "北京恒达贸易股份有限公司"


def _inbound(ticket_id: int) -> list[Message]:
    return list(
        session.scalars(
            select(Message)
            .where(Message.ticket_id == ticket_id, Message.kind == MessageKind.INBOUND.value)
            .order_by(Message.created_at, Message.id)
        )
    )


def test_follow_up_letter_is_stored_on_its_message_and_an_agent_correction_still_wins(app, users):
    first = intake.import_eml(make_mail(subject="注销说明", body=FIRST, sender="wang@hengda.cn"))
    ticket = session.get(Ticket, first.ticket_id)
    assert ticket.fields["reason"] == "账号重复"
    services.update_fields(ticket, {"company_name": CORRECTED}, by=users["agent"])

    reply = make_mail(
        subject=f"Re: [ZXZJ#{ticket.id}] 注销说明 补充", body=FOLLOW_UP, sender="wang@hengda.cn"
    )
    assert intake.import_eml(reply).outcome == "threaded"
    session.expire_all()
    ticket = session.get(Ticket, first.ticket_id)

    # each inbound message keeps its own reading
    first_message, second_message = _inbound(ticket.id)
    assert Letter.from_dict(first_message.letter).get("reason").value == "账号重复"
    follow_up = Letter.from_dict(second_message.letter)
    assert follow_up.get("reason").value == "该账号为员工误注册"
    assert follow_up.get("company_name").value == "北京恒达贸易有限公司"

    # the ticket's letter: the newest reading of each field, the agent's value over it
    now = current_letter(ticket)
    assert now.values["reason"] == "该账号为员工误注册"
    assert now.values["contact"] == "王五 13812345678"
    assert now.values["company_name"] == CORRECTED
    assert now.is_corrected("company_name") and not now.is_corrected("reason")
    company = now.letter.get("company_name")
    assert (company.value, company.evidence.source) == (CORRECTED, AGENT_SOURCE)
    assert ticket.fields["company_name"] == CORRECTED and ticket.fields["reason"] == "该账号为员工误注册"
    assert "该账号为员工误注册" in ticket.search_text


def test_ticket_page_and_api_show_the_follow_up_reading_and_mark_the_correction(app, users, agent_client):
    first = intake.import_eml(make_mail(subject="注销说明", body=FIRST, sender="wang@hengda.cn"))
    ticket = session.get(Ticket, first.ticket_id)
    services.update_fields(ticket, {"company_name": CORRECTED}, by=users["agent"])
    intake.import_eml(
        make_mail(subject=f"Re: [ZXZJ#{ticket.id}] 补充", body=FOLLOW_UP, sender="wang@hengda.cn")
    )

    page = agent_client.get(f"/tickets/{first.ticket_id}").get_data(as_text=True)
    assert "已人工修改" in page and CORRECTED in page and "该账号为员工误注册" in page

    token = auth_services.issue_api_token(users["agent"])
    body = (
        app.test_client()
        .get(f"/api/v1/tickets/{first.ticket_id}", headers={"Authorization": f"Bearer {token}"})
        .json
    )
    assert body["fields"]["company_name"] == CORRECTED and body["fields"]["reason"] == "该账号为员工误注册"
    read = {f["name"]: f["value"] for f in body["letter"]["fields"]}
    assert read["reason"] == "该账号为员工误注册" and read["company_name"] == "北京恒达贸易有限公司"
    assert body["letter"]["type"] == "cancel" and isinstance(body["findings"], list)


def test_follow_up_without_a_letter_keeps_the_first_reading(app):
    first = intake.import_eml(make_mail(subject="注销说明", body=FIRST, sender="li@hengda.cn"))
    thanks = make_mail(
        subject=f"Re: [ZXZJ#{first.ticket_id}] 注销说明", body="好的，谢谢。", sender="li@hengda.cn"
    )
    assert intake.import_eml(thanks).outcome == "threaded"
    session.expire_all()
    ticket = session.get(Ticket, first.ticket_id)
    assert all(m.letter for m in _inbound(ticket.id))  # the reply's (empty) reading is stored too
    now = current_letter(ticket)
    assert now.read.type == "cancel" and now.values["reason"] == "账号重复"
    assert ticket.fields["target_accounts"] == ["zxkt_hengda2"]
