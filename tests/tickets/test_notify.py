"""Notices beyond SLA: an enterprise replied on my ticket, a ticket assigned to me, an approval waiting,
my approval request decided — each exactly once, in the transaction of the event that causes it."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from helpdesk.auth.models import Role
from helpdesk.db import session, unit_of_work
from helpdesk.mail.models import OutboundMail
from helpdesk.records.models import PendingApproval
from helpdesk.tickets import intake, lifecycle, notify, services
from helpdesk.tickets.models import Notification, Ticket
from tests.conftest import make_user
from tests.intake.conftest import make_mail

FIRST = (
    "注销说明\n\n我公司北京恒达贸易有限公司申请注销账号zxkt_hengda2。\n\n北京恒达贸易有限公司\n2026年11月20日"
)


def _notices(user_id: int, kind: str | None = None) -> list[Notification]:
    query = select(Notification).where(Notification.user_id == user_id)
    if kind:
        query = query.where(Notification.kind == kind)
    return list(session.scalars(query.order_by(Notification.id)))


def test_assigned_to_me_is_told_once_and_claiming_for_oneself_is_not(app, users):
    agent, supervisor = users["agent"], users["supervisor"]
    first = intake.import_eml(make_mail(subject="注销说明", body=FIRST, sender="wang@hengda.cn"))
    ticket = session.get(Ticket, first.ticket_id)
    services.assign(ticket, agent, by=supervisor)
    (notice,) = _notices(agent.id, notify.ASSIGNED)
    assert notice.ticket_id == ticket.id and "李主管将" in notice.message and ticket.number in notice.message
    other = intake.import_eml(make_mail(subject="变更说明", body="变更说明", sender="li@hengda.cn"))
    assert services.claim(session.get(Ticket, other.ticket_id), by=agent)
    assert len(_notices(agent.id, notify.ASSIGNED)) == 1  # taking a ticket yourself tells you nothing


def test_a_reply_from_the_enterprise_tells_the_assignee(app, users):
    agent = users["agent"]
    first = intake.import_eml(make_mail(subject="注销说明", body=FIRST, sender="wang@hengda.cn"))
    ticket = session.get(Ticket, first.ticket_id)
    assert services.claim(ticket, by=agent)
    reply = make_mail(
        subject=f"Re: [ZXZJ#{ticket.id}] 注销说明", body="附上营业执照。", sender="wang@hengda.cn"
    )
    assert intake.import_eml(reply).outcome == "threaded"
    (notice,) = _notices(agent.id, notify.REPLIED)
    assert notice.ticket_id == ticket.id and "企业来信回复" in notice.message
    # not by mail unless the setting says so
    assert (
        session.scalar(select(func.count()).select_from(OutboundMail).where(OutboundMail.kind == "notice"))
        == 0
    )


def test_an_unassigned_ticket_tells_nobody_of_a_reply(app, users):
    first = intake.import_eml(make_mail(subject="注销说明", body=FIRST, sender="wang@hengda.cn"))
    reply = make_mail(
        subject=f"Re: [ZXZJ#{first.ticket_id}] 注销说明", body="补充。", sender="wang@hengda.cn"
    )
    intake.import_eml(reply)
    assert session.scalar(select(func.count()).select_from(Notification)) == 0


def test_approval_waiting_and_decided(app, users):
    agent, supervisor = users["agent"], users["supervisor"]
    second = make_user("super2", Role.SUPERVISOR, display_name="周主管")
    first = intake.import_eml(make_mail(subject="注销说明", body=FIRST, sender="wang@hengda.cn"))
    with unit_of_work():
        ticket = session.get(Ticket, first.ticket_id)
        pending = PendingApproval(ticket_id=ticket.id, action="cancel", params={"account": "zxkt_hengda2"},
                                  requested_by_id=agent.id)  # fmt: skip
        session.add(pending)
        session.flush()
        lifecycle.record(ticket, "approval_requested", by=agent, field="cancel", new="zxkt_hengda2",
                         detail={"approval": pending.id})  # fmt: skip
    for s in (supervisor, second):
        (waiting,) = _notices(s.id, notify.APPROVAL_WAITING)
        assert "等待审批" in waiting.message and "zxkt_hengda2" in waiting.message
    assert _notices(agent.id, notify.APPROVAL_WAITING) == []
    with unit_of_work():
        ticket = session.get(Ticket, first.ticket_id)
        lifecycle.record(ticket, "approval_declined", by=supervisor, field="cancel",
                         detail={"approval": pending.id, "reason": "缺少营业执照"})  # fmt: skip
    (decided,) = _notices(agent.id, notify.APPROVAL_DECIDED)
    assert decided.message.endswith("被驳回：缺少营业执照")


def test_a_rolled_back_event_leaves_no_notice(app, users):
    agent, supervisor = users["agent"], users["supervisor"]
    first = intake.import_eml(make_mail(subject="注销说明", body=FIRST, sender="wang@hengda.cn"))
    with pytest.raises(RuntimeError), unit_of_work():
        ticket = session.get(Ticket, first.ticket_id)
        lifecycle.record(ticket, "assigned", by=supervisor, field="assignee", new=agent.id)
        raise RuntimeError("the service failed after the event")
    assert _notices(agent.id) == []


@pytest.mark.parametrize("app_overrides", [{"HELPDESK_NOTIFY_BY_MAIL": "true"}])
def test_by_mail_when_the_setting_says_so(app, users):
    agent, supervisor = users["agent"], users["supervisor"]
    agent.email = "agent1@desk.example"
    session.commit()
    first = intake.import_eml(make_mail(subject="注销说明", body=FIRST, sender="wang@hengda.cn"))
    services.assign(session.get(Ticket, first.ticket_id), agent, by=supervisor)
    (mail,) = session.scalars(select(OutboundMail).where(OutboundMail.kind == "notice")).all()
    assert mail.to_addr == "agent1@desk.example" and mail.subject.startswith("[工单通知]")


def test_two_supervisors_assigning_at_once_tell_the_agent_once_per_assignment(app, users, database_url):
    """Two web processes assign the same ticket to the same agent at once: the second sees no change
    (or a version conflict), so one assignment, one notice."""
    agent, supervisor = users["agent"], users["supervisor"]
    second = make_user("super2", Role.SUPERVISOR, display_name="周主管")
    first = intake.import_eml(make_mail(subject="注销说明", body=FIRST, sender="wang@hengda.cn"))
    version = session.get(Ticket, first.ticket_id).version
    agent_id, by_ids = agent.id, [supervisor.id, second.id]
    # on SQLite a transaction of this thread would hold the write lock (and after the rollback even
    # reading an expired object's id begins one): only ids cross into the threads
    session.rollback()
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def assign(by_id: int) -> None:
        with app.app_context():
            try:
                barrier.wait()
                from helpdesk.auth.models import User

                services.assign(session.get(Ticket, first.ticket_id), session.get(User, agent_id),
                                by=session.get(User, by_id), expected_version=version)  # fmt: skip
            except Exception as exc:  # noqa: BLE001 - the loser's conflict is expected
                errors.append(exc)
            finally:
                session.remove()

    threads = [threading.Thread(target=assign, args=(by_id,)) for by_id in by_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    session.expire_all()
    assert len(_notices(agent_id, notify.ASSIGNED)) == 1, errors
    assert len(errors) <= 1, errors


def test_the_notifications_page_names_each_kind(app, users, client):
    from tests.conftest import login

    agent, supervisor = users["agent"], users["supervisor"]
    first = intake.import_eml(make_mail(subject="注销说明", body=FIRST, sender="wang@hengda.cn"))
    services.assign(session.get(Ticket, first.ticket_id), agent, by=supervisor)
    login(client, "agent1")
    page = client.get("/notifications").get_data(as_text=True)
    assert '<td class="nowrap" data-kind="assigned_to_me">分配给我</td>' in page
    assert client.get("/notifications/count").get_json() == {"unread": 1}
