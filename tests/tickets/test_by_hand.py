"""Tickets by hand: a phone call or a visit becomes a ticket with its SLA from that moment; the
acknowledgement is optional; a form posted twice opens one ticket."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from helpdesk.db import Refused, session, utcnow
from helpdesk.mail.models import OutboundMail
from helpdesk.sla import clock
from helpdesk.tickets import by_hand
from helpdesk.tickets.models import Message, Ticket
from tests.conftest import page_csrf
from tests.records.factories import make_enterprise


def _count(model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def _form(token: str, **extra: str) -> dict[str, str]:
    return {
        "csrf_token": token,
        "channel": "phone",
        "type": "cancel",
        "enterprise": "",
        "contact": "王经理 13812345678",
        "email": "",
        "note": "企业来电：申请注销多余的账号 hengda2，稍后补寄盖章说明。",
        "client_key": "k-" + token[:20],
    } | extra


def test_a_phone_ticket_gets_its_sla_from_its_creation(app, users, agent_client):
    enterprise = make_enterprise(accounts=("hengda1", "hengda2"))
    token = page_csrf(agent_client, "/tickets/new")
    before = utcnow()
    response = agent_client.post("/tickets/new", data=_form(token, enterprise=enterprise.uscc))
    assert response.status_code == 302
    ticket = session.scalars(select(Ticket)).one()
    assert (ticket.channel, ticket.type, ticket.status) == ("phone", "cancel", "open")
    assert ticket.enterprise_id == enterprise.id and ticket.assignee_id == users["agent"].id
    assert before - timedelta(seconds=1) <= ticket.received_at <= utcnow()
    row = clock.current(ticket)
    assert row.started_at == ticket.received_at
    # the same two working days as a mail received at that moment
    policy = clock.policy_for("cancel")
    expected = clock.calendar_for(policy).due_by_working_days(ticket.received_at, policy.days).due_at
    assert ticket.due_at == expected and ticket.due_at > ticket.received_at
    (note,) = session.scalars(select(Message).where(Message.ticket_id == ticket.id)).all()
    assert note.kind == "note" and "王经理 13812345678" in note.body_text and "hengda2" in note.body_text
    assert _count(OutboundMail) == 0  # no acknowledgement unless asked
    page = agent_client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "电话" in page and enterprise.name in page


def test_the_acknowledgement_is_sent_when_asked(app, users, agent_client):
    enterprise = make_enterprise()
    token = page_csrf(agent_client, "/tickets/new")
    form = _form(token, enterprise=enterprise.name, email="wang@hengda.cn", acknowledge="y", channel="visit")
    assert agent_client.post("/tickets/new", data=form).status_code == 302
    (mail,) = session.scalars(select(OutboundMail)).all()
    assert mail.kind == "ack" and mail.to_addr == "wang@hengda.cn" and "来访" in mail.body_text


def test_a_form_posted_twice_opens_one_ticket(app, users, agent_client):
    enterprise = make_enterprise()
    token = page_csrf(agent_client, "/tickets/new")
    form = _form(token, enterprise=enterprise.uscc)
    first = agent_client.post("/tickets/new", data=form)
    second = agent_client.post("/tickets/new", data=form)
    assert first.headers["Location"] == second.headers["Location"]
    assert _count(Ticket) == 1


@pytest.mark.parametrize(
    ("enterprise", "extra", "message"),
    [
        ("91320500MA1XXXXXX0", {}, "企业档案中没有"),
        ("", {}, "请填写企业"),
        ("{uscc}", {"acknowledge": "y"}, "要发送受理确认，请填写企业的邮箱"),
        ("{uscc}", {"email": "not an address"}, "无效"),
    ],
)
def test_bad_forms_say_what_to_do_and_open_nothing(app, users, agent_client, enterprise, extra, message):
    known = make_enterprise()
    token = page_csrf(agent_client, "/tickets/new")
    form = _form(token, enterprise=enterprise.format(uscc=known.uscc), **extra)
    response = agent_client.post("/tickets/new", data=form)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert _count(Ticket) == 0


def test_login_and_csrf_are_required(app, users, client, agent_client):
    assert client.get("/tickets/new").status_code == 302  # to the login page
    enterprise = make_enterprise()
    response = agent_client.post(
        "/tickets/new", data=_form("x" * 40, enterprise=enterprise.uscc) | {"csrf_token": ""}
    )
    assert response.status_code == 400 and _count(Ticket) == 0


def test_several_enterprises_of_a_similar_name_ask_for_the_code(app, users):
    make_enterprise("苏州恒达贸易有限公司")
    make_enterprise("苏州恒达贸易股份有限公司", accounts=("hengda9",))
    with pytest.raises(Refused, match="统一社会信用代码"):
        by_hand.find_enterprise("苏州恒达贸易")


def test_the_same_form_posted_twice_at_once_opens_one_ticket(app, users):
    import threading

    from helpdesk.auth.models import User

    enterprise = make_enterprise()
    session.commit()
    request = by_hand.ByHand(channel="phone", type="inquiry", enterprise=enterprise.uscc, contact="王经理",
                             note="咨询申报进度", client_key="same-form-key")  # fmt: skip
    barrier = threading.Barrier(2)
    opened: list[int] = []
    errors: list[BaseException] = []

    def post() -> None:
        with app.app_context():
            try:
                barrier.wait()
                opened.append(by_hand.open_ticket(request, by=session.get(User, users["agent"].id)).id)
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)
            finally:
                session.remove()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == [] and len(opened) == 2 and opened[0] == opened[1]
    assert _count(Ticket) == 1
