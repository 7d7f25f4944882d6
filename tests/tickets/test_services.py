"""The lifecycle services the workspace adds or relies on: next, claim, bulk, presence, conflicts."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from helpdesk.auth.models import User
from helpdesk.db import session, utcnow
from helpdesk.mail.models import OutboundMail
from helpdesk.tickets import macros, queries, services
from helpdesk.tickets.models import Attachment, Macro, Message, SavedFilter, Ticket, TicketEvent, TicketStatus
from tests.conftest import make_user
from tests.tickets.factories import make_ticket


def fresh(ticket_id: int) -> Ticket:
    session.expire_all()
    return session.get(Ticket, ticket_id)


def test_next_gives_the_most_urgent_unassigned_ticket_of_the_agents_types(app, users):
    agent = users["agent"]
    now = utcnow()
    make_ticket(type="inquiry", received_at=now - timedelta(days=10))  # most urgent, but not agent's type
    later = make_ticket(type="change", received_at=now - timedelta(hours=1))
    urgent = make_ticket(type="change", received_at=now - timedelta(days=5))
    make_ticket(type="change", received_at=now - timedelta(days=9), assignee_id=users["supervisor"].id)
    agent.ticket_types = "change,unbind"
    session.commit()

    got = services.next_ticket(by=agent)
    assert got is not None and got.id == urgent.id
    row = fresh(urgent.id)
    assert row.assignee_id == agent.id and row.status == "open"
    assert services.next_ticket(by=agent).id == later.id
    assert services.next_ticket(by=agent) is None
    kinds = session.scalars(select(TicketEvent.kind).where(TicketEvent.ticket_id == urgent.id)).all()
    assert "assigned" in kinds and "status" in kinds


def _in_threads(app, count: int, work) -> list:
    """Run work(i) in `count` threads at once, each in its own app context (its own scoped session)."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list = []

    def run(i: int) -> None:
        with app.app_context():
            try:
                barrier.wait()
                results[i] = work(i)
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)
            finally:
                session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


def test_next_pressed_by_several_agents_at_once_gives_each_a_different_ticket(app, users):
    agents = [make_user(f"next{i}", users["agent"].role_enum) for i in range(4)]
    agent_ids = [a.id for a in agents]
    now = utcnow()
    for i in range(6):
        make_ticket(type="change", received_at=now - timedelta(hours=i + 1))
    session.remove()

    def work(i: int) -> int | None:
        ticket = services.next_ticket(by=session.get(User, agent_ids[i]))
        return ticket.id if ticket else None

    got = _in_threads(app, 4, work)
    assert None not in got and len(set(got)) == 4
    for agent_id, ticket_id in zip(agent_ids, got, strict=True):
        assert fresh(ticket_id).assignee_id == agent_id


def test_claim_race_has_exactly_one_winner(app, users):
    ticket_id = make_ticket().id
    agents = [make_user(f"claim{i}", users["agent"].role_enum).id for i in range(3)]
    session.remove()

    def work(i: int) -> bool:
        return services.claim(session.get(Ticket, ticket_id), by=session.get(User, agents[i]))

    results = _in_threads(app, 3, work)
    assert sorted(results) == [False, False, True]
    assert fresh(ticket_id).assignee_id == agents[results.index(True)]


def test_request_material_replies_and_pauses_the_clock_in_one_step(app, users):
    ticket = make_ticket()
    services.reply(
        ticket,
        "请补充营业执照扫描件。",
        by=users["agent"],
        request_material=True,
        expected_version=ticket.version,
    )
    row = fresh(ticket.id)
    assert row.status == "waiting" and row.clock.paused_at is not None and row.due_at is None
    assert row.assignee_id == users["agent"].id
    mail = session.scalar(select(OutboundMail).where(OutboundMail.ticket_id == ticket.id))
    assert (
        mail.kind == "request"
        and f"[ZXZJ#{ticket.id}]" in mail.subject
        and mail.to_addr == "zhang@example.com"
    )


def test_a_reply_moves_the_version_so_a_stale_form_conflicts(app, users):
    ticket = make_ticket()
    seen = ticket.version
    services.reply(ticket, "您好，已收到。", by=users["agent"], expected_version=seen)
    with pytest.raises(services.Conflict):
        services.change_type(fresh(ticket.id), "unbind", by=users["supervisor"], expected_version=seen)
    assert fresh(ticket.id).type == "change"


def test_concurrent_save_of_a_loaded_ticket_raises_conflict_and_applies_nothing(app, users):
    ticket = make_ticket()
    ticket_id, version = ticket.id, ticket.version
    session.remove()

    # another agent changes the ticket after we loaded it: our flush hits version_id_col
    mine = session.get(Ticket, ticket_id)
    with app.app_context():
        other = session.get(Ticket, ticket_id)
        services.update_fields(other, {"company_name": "别人改的"}, by=session.get(User, users["agent"].id))
        session.remove()
    with pytest.raises(services.Conflict):
        services.update_fields(
            mine, {"company_name": "我改的"}, by=users["supervisor"], expected_version=version
        )
    assert fresh(ticket_id).fields["company_name"] == "别人改的"


def test_update_fields_records_each_change(app, users):
    ticket = make_ticket()
    changed = services.update_fields(
        ticket,
        {"company_name": "新名称有限公司", "reason": "统一社会信用代码填写错误"},
        by=users["agent"],
        expected_version=ticket.version,
    )
    assert changed == 1
    event = session.scalar(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "field")
    )
    assert (event.field, event.old_value, event.new_value) == (
        "company_name",
        "北京示例科技有限公司",
        "新名称有限公司",
    )
    assert "新名称有限公司" in fresh(ticket.id).search_text


def test_merge_moves_messages_and_attachments_and_stops_the_clock(app, users):
    target = make_ticket(sender="a@corp.cn")
    dup = make_ticket(sender="a@corp.cn", body="重复发送")
    session.add(Attachment(ticket_id=dup.id, sha256="0" * 64, stored_name="x", original_name="a.pdf", size=3))
    session.commit()
    services.merge(dup, target, by=users["agent"], expected_version=dup.version)
    dup, target = fresh(dup.id), fresh(target.id)
    assert dup.status == "merged" and dup.merged_into_id == target.id and dup.resolved_at is not None
    assert len(target.messages) == 2 and len(target.attachments) == 1 and not dup.messages


def test_bulk_actions_need_a_supervisor(app, users):
    ids = [make_ticket().id, make_ticket().id]
    with pytest.raises(services.TicketError):
        services.bulk_assign(ids, users["agent"], by=users["agent"])
    assert services.bulk_assign(ids, users["agent"], by=users["supervisor"]) == 2
    assert all(fresh(i).assignee_id == users["agent"].id and fresh(i).status == "open" for i in ids)
    assert services.bulk_set_status(ids, TicketStatus.RESOLVED, by=users["supervisor"]) == 2
    assert all(fresh(i).status == "resolved" for i in ids)
    with pytest.raises(services.TicketError):
        services.bulk_set_status(ids, TicketStatus.MERGED, by=users["supervisor"])


def test_heartbeats_show_who_else_has_the_ticket_open(app, users):
    ticket = make_ticket()
    now = utcnow()
    services.heartbeat(ticket.id, users["agent"], now)
    services.heartbeat(ticket.id, users["supervisor"], now - timedelta(minutes=5))  # went away
    services.heartbeat(ticket.id + 1, users["admin"], now)  # another ticket
    assert [v["name"] for v in queries.viewers(ticket.id, now, exclude=users["admin"].id)] == ["王客服"]
    assert queries.viewers(ticket.id, now, exclude=users["agent"].id) == []
    services.heartbeat(ticket.id, users["agent"], now + timedelta(seconds=10))  # updates, no duplicate row
    assert len(queries.viewers(ticket.id, now + timedelta(seconds=10))) == 1
    services.leave(ticket.id, users["agent"])
    assert queries.viewers(ticket.id, now) == []
    from helpdesk.core.models import Setting

    services.heartbeat(ticket.id + 2, users["agent"], now + timedelta(hours=2))  # a page opened later
    keys = session.scalars(select(Setting.key).where(queries.presence_range(None))).all()
    assert keys == [f"viewing:{ticket.id + 2}:{users['agent'].id}"]  # the old rows were swept


def test_saved_filters_belong_to_their_user(app, users):
    row = services.save_filter(users["agent"], "我的变更", "view=mine&type=change&after=1~2~3")
    assert row.query == "view=mine&type=change"
    services.save_filter(users["agent"], "我的变更", "type=unbind")  # same name replaces
    assert [f.query for f in queries.saved_filters(users["agent"])] == ["type=unbind"]
    with pytest.raises(services.TicketError):
        services.delete_filter(users["supervisor"], row.id)
    services.delete_filter(users["agent"], row.id)
    assert session.scalar(select(SavedFilter)) is None


def test_seeded_macros_cover_the_faq_and_fill_placeholders(app, users):
    keys = set(session.scalars(select(Macro.key)))
    for key in (
        "request_licence",
        "request_stamped_letter",
        "recovery_instructions",
        "contacts",
        "resolved_change",
        "resolved_unbind",
        "resolved_cancel",
        "resolved_recovery",
        "faq_browsers",
        "faq_register",
        "faq_review_status",
        "faq_print_forms",
    ):
        assert key in keys
    assert session.scalar(select(Macro).where(Macro.key == "request_licence")).action == "request_material"
    assert macros.seed_macros() == ""  # idempotent
    ticket = make_ticket(fields={"company_name": "北京示例科技有限公司", "target_accounts": ["zxkt_b"]})
    from zoneinfo import ZoneInfo

    values = macros.placeholder_values(ticket, tz=ZoneInfo("Asia/Shanghai"))
    text = macros.render("{company} {account} {number} {due} {other}", values)
    assert text.startswith(f"北京示例科技有限公司 zxkt_b ZXZJ#{ticket.id} ")
    assert text.endswith("{other}") and "年" in text


def test_macros_are_edited_by_supervisors_only(app, users):
    with pytest.raises(services.TicketError):
        services.save_macro(None, key="x", title="t", body="b", category="", action="", by=users["agent"])
    macro = services.save_macro(
        None, key="x", title="t", body="b {company}", category="c", action="", by=users["supervisor"]
    )
    with pytest.raises(services.TicketError):
        services.save_macro(
            None, key="x", title="t2", body="b", category="", action="", by=users["supervisor"]
        )
    services.delete_macro(macro, by=users["supervisor"])
    assert session.scalar(select(Macro).where(Macro.key == "x")) is None


def test_note_does_not_need_the_version(app, users):
    ticket = make_ticket()
    note = services.add_note(ticket, "已电话联系企业。", by=users["agent"])
    assert session.get(Message, note.id).kind == "note"
