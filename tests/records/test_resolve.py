"""Resolving tickets: one transaction for records, audit, event, status and reply; applied once."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from helpdesk.core.models import Setting
from helpdesk.db import session
from helpdesk.mail.models import OutboundMail
from helpdesk.records.models import AuditEntry, Enterprise, PendingApproval, PlatformAccount, Qualification
from helpdesk.records.resolutions import PreconditionFailed
from helpdesk.tickets import lifecycle, resolve, services
from helpdesk.tickets.models import Ticket, TicketEvent
from tests.records.factories import make_enterprise, make_ticket, make_uscc


@pytest.fixture
def acme(app):
    ent = make_enterprise(accounts=("hengda1", "zxkt_hengda2"))
    session.commit()
    return ent


def _unbind_ticket(ent: Enterprise) -> Ticket:
    t = make_ticket("unbind", enterprise=ent, company_name=ent.name, account_names=["hengda1", "zxkt_hengda2"],
                    account_count=2, target_accounts=["hengda1"])  # fmt: skip
    session.commit()
    return t


def _count(model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_unbind_resolves_the_ticket_with_event_audit_and_reply(acme, users):
    ticket = _unbind_ticket(acme)
    outcome = resolve.apply_resolution(ticket, "unbind", {"account": "hengda1"}, by=users["agent"],
                                       expected_version=ticket.version)  # fmt: skip
    assert outcome.status == "applied" and "hengda1" in outcome.message
    session.expire_all()
    t = session.get(Ticket, ticket.id)
    assert t.status == "resolved" and t.resolved_at is not None and t.assignee_id == users["agent"].id
    kinds = [e.kind for e in t.events]
    assert "resolution" in kinds and "status" in kinds
    audit = session.scalars(select(AuditEntry)).all()
    assert [(a.ticket_id, a.action, a.field, a.before, a.after) for a in audit] == [
        (t.id, "unbind", "app_bound", "已绑定", "未绑定")
    ]
    mail = session.scalars(select(OutboundMail)).one()
    assert mail.to_addr == "contact@hengda.cn" and mail.kind == "resolution"
    assert "hengda1" in mail.body_text and "已解绑" in mail.body_text and f"ZXZJ#{t.id}" in mail.subject


def test_change_reply_names_old_and_new_codes(acme, users):
    new = make_uscc()
    ticket = make_ticket(
        "change", enterprise=acme, company_name=acme.name, old_value=acme.uscc, new_value=new
    )
    session.commit()
    old = acme.uscc
    resolve.apply_resolution(ticket, "change", {"new_uscc": new, "old_uscc": old}, by=users["agent"])
    mail = session.scalars(select(OutboundMail)).one()
    assert f"由 {old} 变更为 {new}" in mail.body_text and "未审核" in mail.body_text
    assert session.get(Enterprise, acme.id).uscc == new


def test_change_checks_the_letters_company_name_by_default(acme, users):
    ticket = make_ticket("change", enterprise=acme, company_name="完全不同的公司")
    session.commit()
    with pytest.raises(PreconditionFailed) as exc:
        resolve.apply_resolution(ticket, "change", {"new_uscc": make_uscc()}, by=users["agent"])
    assert exc.value.rule == "change.company_matches"


def test_recovery_replies_with_account_names_never_a_password(acme, users):
    ticket = make_ticket("recovery", enterprise=acme, company_name=acme.name, subject="找回账号")
    session.commit()
    resolve.apply_resolution(ticket, "recovery", {}, by=users["agent"])
    body = session.scalars(select(OutboundMail)).one().body_text
    assert "hengda1" in body and "zxkt_hengda2" in body and "不会通过邮件提供或重置密码" in body
    assert "password" not in body.lower()
    assert session.get(Ticket, ticket.id).status == "resolved"


def test_a_failure_halfway_leaves_nothing_changed(acme, users, monkeypatch):
    ticket = _unbind_ticket(acme)
    version = ticket.version

    def broken_reply(*args, **kwargs):
        session.flush()  # the record change and the audit entry are already in the transaction
        raise RuntimeError("SMTP template exploded")

    monkeypatch.setattr(lifecycle, "queue_reply", broken_reply)
    with pytest.raises(RuntimeError):
        resolve.apply_resolution(
            ticket, "unbind", {"account": "hengda1"}, by=users["agent"], expected_version=version
        )
    session.expire_all()
    assert (
        session.scalar(select(PlatformAccount.app_bound).where(PlatformAccount.account_name == "hengda1"))
        is True
    )
    assert _count(AuditEntry) == 0 and _count(OutboundMail) == 0 and _count(TicketEvent) == 0
    t = session.get(Ticket, ticket.id)
    assert (t.status, t.version, t.assignee_id) == ("open", version, None)


def test_a_refused_precondition_changes_nothing(acme, users):
    ticket = _unbind_ticket(acme)
    with pytest.raises(PreconditionFailed):
        resolve.apply_resolution(ticket, "unbind", {"account": "zxkt_hengda2"}, by=users["agent"])
    session.expire_all()
    assert session.get(Ticket, ticket.id).status == "open"
    assert _count(AuditEntry) == 0 and _count(OutboundMail) == 0 and _count(TicketEvent) == 0


def test_applying_twice_applies_once_with_a_clear_message(acme, users):
    ticket = _unbind_ticket(acme)
    version = ticket.version
    resolve.apply_resolution(
        ticket, "unbind", {"account": "hengda1"}, by=users["agent"], expected_version=version
    )
    with pytest.raises(services.TicketError) as exc:  # the double click: same form, same version
        resolve.apply_resolution(
            ticket, "unbind", {"account": "hengda1"}, by=users["agent"], expected_version=version
        )
    assert "已办结" in str(exc.value) and "没有重复办理" in str(exc.value)
    assert _count(AuditEntry) == 1 and _count(OutboundMail) == 1


def test_a_stale_page_gets_a_conflict(acme, users):
    ticket = _unbind_ticket(acme)
    with pytest.raises(services.Conflict):
        resolve.apply_resolution(ticket, "unbind", {"account": "hengda1"}, by=users["agent"],
                                 expected_version=ticket.version - 1)  # fmt: skip


def test_an_unlinked_ticket_cannot_be_resolved(app, users):
    ticket = make_ticket("unbind", enterprise=None)
    session.commit()
    with pytest.raises(services.TicketError, match="关联企业"):
        resolve.apply_resolution(ticket, "unbind", {"account": "x"}, by=users["agent"])


def test_link_enterprise_records_an_event_and_bumps_the_version(acme, users):
    ticket = make_ticket("unbind", enterprise=None)
    session.commit()
    version = ticket.version
    assert resolve.link_enterprise(ticket, acme, by=users["agent"], expected_version=version)
    session.expire_all()
    t = session.get(Ticket, ticket.id)
    assert t.enterprise_id == acme.id and t.version == version + 1
    event = session.scalars(select(TicketEvent).where(TicketEvent.kind == "enterprise_linked")).one()
    assert event.new_value == str(acme.id) and event.actor_id == users["agent"].id
    with pytest.raises(services.Conflict):
        resolve.link_enterprise(t, None, by=users["agent"], expected_version=version)


def _concurrent(app, ticket_id: int, user_ids: list[int], params: dict) -> list[str]:
    from helpdesk.auth.models import User

    results: list[str] = []
    barrier = threading.Barrier(len(user_ids))

    def worker(user_id: int) -> None:
        with app.app_context():
            try:
                user = session.get(User, user_id)
                t = session.get(Ticket, ticket_id)
                version = t.version
                session.rollback()  # end the read: both requests now race for the row
                barrier.wait(timeout=10)
                resolve.apply_resolution(t, "unbind", params, by=user, expected_version=version)
                results.append("applied")
            except services.TicketError as exc:
                results.append(f"refused: {exc}")
            except Exception as exc:  # pragma: no cover - reported by the assertion below
                results.append(f"error: {exc!r}")
            finally:
                session.remove()

    threads = [threading.Thread(target=worker, args=(uid,)) for uid in user_ids]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    return results


def test_two_agents_applying_at_once_apply_once(app, acme, users):
    ticket = _unbind_ticket(acme)
    ticket_id = ticket.id
    session.remove()
    results = _concurrent(app, ticket_id, [users["agent"].id, users["supervisor"].id], {"account": "hengda1"})
    assert sorted(r.split(":")[0] for r in results) == ["applied", "refused"], results
    assert _count(AuditEntry) == 1 and _count(OutboundMail) == 1
    assert (
        session.scalar(select(func.count()).select_from(TicketEvent).where(TicketEvent.kind == "resolution"))
        == 1
    )


# ------------------------------------------------------------------------------------------ second approval


@pytest.fixture
def approval_on(app):
    session.add(Setting(key="require_second_approval", value=True))
    session.commit()


def _cancel_ticket(ent: Enterprise) -> Ticket:
    t = make_ticket("cancel", enterprise=ent, company_name=ent.name, target_accounts=["zxkt_hengda2"],
                    subject="注销说明")  # fmt: skip
    session.commit()
    return t


def test_cancel_without_the_setting_is_applied_at_once(acme, users):
    ticket = _cancel_ticket(acme)
    outcome = resolve.apply_resolution(ticket, "cancel", {"account": "zxkt_hengda2"}, by=users["agent"])
    assert outcome.status == "applied"
    assert (
        session.scalar(select(PlatformAccount.status).where(PlatformAccount.account_name == "zxkt_hengda2"))
        == "cancelled"
    )


def test_cancel_with_second_approval_waits_for_a_supervisor(acme, users, approval_on):
    ticket = _cancel_ticket(acme)
    outcome = resolve.apply_resolution(ticket, "cancel", {"account": "hengda2"}, by=users["agent"])
    assert outcome.status == "pending" and outcome.approval_id
    session.expire_all()
    assert session.get(Ticket, ticket.id).status == "open"
    assert (
        session.scalar(select(PlatformAccount.status).where(PlatformAccount.account_name == "zxkt_hengda2"))
        == "active"
    )
    assert _count(AuditEntry) == 0 and _count(OutboundMail) == 0
    assert session.scalars(select(TicketEvent.kind)).all() == ["approval_requested"]

    with pytest.raises(services.TicketError, match="待主管审批"):  # a second click queues nothing more
        resolve.apply_resolution(ticket, "cancel", {"account": "zxkt_hengda2"}, by=users["agent"])
    pending = session.get(PendingApproval, outcome.approval_id)
    with pytest.raises(services.TicketError, match="只有主管"):
        resolve.approve(pending, by=users["agent"])

    done = resolve.approve(pending, by=users["supervisor"])
    assert done.status == "applied"
    session.expire_all()
    assert session.get(Ticket, ticket.id).status == "resolved"
    assert session.get(PendingApproval, pending.id).decision == "approved"
    audit = session.scalars(select(AuditEntry)).all()
    assert {a.actor_id for a in audit} == {users["supervisor"].id}
    assert audit[0].detail["requested_by"] == users["agent"].id
    assert _count(OutboundMail) == 1
    with pytest.raises(services.TicketError, match="不能重复审批"):
        resolve.approve(pending, by=users["admin"])


def test_the_requester_cannot_approve_their_own_cancel(acme, users, approval_on):
    ticket = _cancel_ticket(acme)
    outcome = resolve.apply_resolution(ticket, "cancel", {"account": "zxkt_hengda2"}, by=users["supervisor"])
    with pytest.raises(services.TicketError, match="不能审批自己"):
        resolve.approve(session.get(PendingApproval, outcome.approval_id), by=users["supervisor"])
    resolve.approve(session.get(PendingApproval, outcome.approval_id), by=users["admin"])


def test_a_declined_cancel_leaves_the_ticket_open(acme, users, approval_on):
    ticket = _cancel_ticket(acme)
    outcome = resolve.apply_resolution(ticket, "cancel", {"account": "zxkt_hengda2"}, by=users["agent"])
    resolve.decline(
        session.get(PendingApproval, outcome.approval_id), by=users["supervisor"], reason="营业执照不清晰"
    )
    session.expire_all()
    assert session.get(Ticket, ticket.id).status == "open"
    assert session.get(PendingApproval, outcome.approval_id).decision_note == "营业执照不清晰"
    assert (
        session.scalar(select(PlatformAccount.status).where(PlatformAccount.account_name == "zxkt_hengda2"))
        == "active"
    )
    # a new request may be made after the decline
    again = resolve.apply_resolution(ticket, "cancel", {"account": "zxkt_hengda2"}, by=users["agent"])
    assert again.status == "pending"


def test_a_refused_precondition_queues_no_approval(acme, users, approval_on):
    ticket = _cancel_ticket(acme)
    with pytest.raises(PreconditionFailed):
        resolve.apply_resolution(ticket, "cancel", {"account": "nobody"}, by=users["agent"])
    assert _count(PendingApproval) == 0


def test_qualification_untouched_by_unbind(acme, users):
    ticket = _unbind_ticket(acme)
    resolve.apply_resolution(ticket, "unbind", {"account": "hengda1"}, by=users["agent"])
    assert session.scalar(select(Qualification.review_status)) == "未公示"
