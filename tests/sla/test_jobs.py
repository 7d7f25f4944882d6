"""SLA jobs: one warning at 75 % and one breach at 100 % per clock, to the right people, in the app and by
mail, also with two workers running the step at once; nothing while paused; the daily calendar check."""

from __future__ import annotations

import threading
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from helpdesk.auth.models import User
from helpdesk.db import session
from helpdesk.mail.models import OutboundMail
from helpdesk.sla import service
from helpdesk.tickets import lifecycle
from helpdesk.tickets import notices as jobs
from helpdesk.tickets.models import Notification, Ticket, TicketEvent, TicketStatus
from tests.tickets.factories import make_ticket

SH = ZoneInfo("Asia/Shanghai")
SENDER = "zxzj@ec.com.cn"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SH)


def tick(when: str) -> tuple[int, int]:
    return jobs.tick(SENDER, SH, now=at(when))


def notices(kind: str | None = None) -> list[tuple[str, int, str, int]]:
    """(username, ticket id, kind, clock) of every notification, sorted."""
    query = select(User.username, Notification.ticket_id, Notification.kind, Notification.clock_no).join(
        User, User.id == Notification.user_id
    )
    if kind:
        query = query.where(Notification.kind == kind)
    return sorted(tuple(r) for r in session.execute(query))


def count(model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where))


# received Mon 2026-03-09 10:00: due Wed 03-11 17:00; 23 h of business time, 75 % = 17 h 15 min -> Wed 11:15


def test_one_warning_at_75_percent_and_one_breach_at_100_percent(app, users):
    ticket = make_ticket(received_at=at("2026-03-09 10:00"))
    assert tick("2026-03-11 11:14") == (0, 0)
    assert tick("2026-03-11 11:15") == (1, 0)
    assert tick("2026-03-11 16:59") == (0, 0)
    assert tick("2026-03-11 17:00") == (0, 1)
    assert tick("2026-03-12 09:00") == (0, 0)
    # unassigned: the warning goes to the supervisors (the admin is one too), the breach as well
    assert notices() == [
        ("admin1", ticket.id, "sla_breach", 1),
        ("admin1", ticket.id, "sla_warning", 1),
        ("super1", ticket.id, "sla_breach", 1),
        ("super1", ticket.id, "sla_warning", 1),
    ]
    mails = session.scalars(
        select(OutboundMail).where(OutboundMail.kind == "sla").order_by(OutboundMail.id)
    ).all()
    assert sorted(m.to_addr for m in mails) == sorted(["super1@helpdesk.test", "admin1@helpdesk.test"] * 2)
    assert "已用去 75% 的处理时限，截止 03-11 17:00" in mails[0].subject
    assert "已超过 2 个工作日的处理时限" in mails[-1].subject
    row = session.get(Ticket, ticket.id)
    session.refresh(row)
    assert row.clock.warned_at == at("2026-03-11 11:15") and row.clock.breached_at == at("2026-03-11 17:00")
    kinds = session.scalars(
        select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind.like("sla_%"))
    ).all()
    assert sorted(kinds) == ["sla_breach", "sla_warning"]


def test_warning_goes_to_the_assignee_and_the_breach_also_to_the_supervisors(app, users):
    ticket = make_ticket(received_at=at("2026-03-09 10:00"), assignee_id=users["agent"].id, status="open")
    tick("2026-03-11 12:00")
    assert notices("sla_warning") == [("agent1", ticket.id, "sla_warning", 1)]
    tick("2026-03-11 18:00")
    assert notices("sla_breach") == [
        ("admin1", ticket.id, "sla_breach", 1),
        ("agent1", ticket.id, "sla_breach", 1),
        ("super1", ticket.id, "sla_breach", 1),
    ]


def test_a_worker_that_was_down_sends_the_breach_and_no_late_warning(app, users):
    make_ticket(received_at=at("2026-03-09 10:00"))
    assert tick("2026-03-12 10:00") == (0, 1)
    assert tick("2026-03-12 10:01") == (0, 0)
    assert notices("sla_warning") == []


def test_a_clock_past_its_deadline_is_never_warned_only_breached(app, users):
    # a ticket made between a tick's breach pass and its warning pass (found by the chaos run,
    # tests/production/test_chaos.py): the warning pass must leave it to the next breach pass
    make_ticket(received_at=at("2026-03-09 10:00"))
    now = at("2026-03-12 10:00")
    assert jobs.step(jobs.WARNING, now, SENDER, SH) is None
    assert jobs.step(jobs.BREACH, now, SENDER, SH) is True
    assert notices("sla_warning") == [] and count(TicketEvent, TicketEvent.kind == "sla_warning") == 0


def test_paused_tickets_get_no_warning_and_no_breach(app, users):
    make_ticket(received_at=at("2026-03-09 10:00"), status="waiting")
    assert tick("2026-03-20 10:00") == (0, 0)
    assert notices() == []


def test_a_reopened_ticket_has_a_new_clock_and_is_warned_again(app, users):
    ticket = make_ticket(received_at=at("2026-03-09 10:00"), assignee_id=users["agent"].id, status="open")
    assert tick("2026-03-11 17:30") == (0, 1)  # breached (implies the warning)
    row = session.get(Ticket, ticket.id)
    session.refresh(row)
    lifecycle.change_status(row, TicketStatus.RESOLVED, by=None, at=at("2026-03-12 10:00"))
    session.commit()
    lifecycle.change_status(row, TicketStatus.OPEN, by=None, at=at("2026-03-16 10:00"))  # Mon: due Wed 03-18
    session.commit()
    assert row.sla_clock_no == 2 and row.clock.warned_at is None
    assert tick("2026-03-18 12:00") == (1, 0)
    assert tick("2026-03-18 17:00") == (0, 1)
    assert notices("sla_warning") == [("agent1", ticket.id, "sla_warning", 2)]
    assert [n for n in notices("sla_breach") if n[0] == "agent1"] == [
        ("agent1", ticket.id, "sla_breach", 1),
        ("agent1", ticket.id, "sla_breach", 2),
    ]


def test_two_workers_at_once_send_each_notice_exactly_once(app, users):
    """Two threads, each with its own session, run the same step at the same moment (both databases)."""
    ids = [make_ticket(received_at=at("2026-03-09 10:00"), subject=f"工单 {i}").id for i in range(12)]
    results: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def run_both(when: str) -> None:
        barrier = threading.Barrier(2)

        def worker() -> None:
            try:
                with app.app_context():
                    barrier.wait(timeout=30)
                    results.append(tick(when))
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors

    run_both("2026-03-11 12:00")
    assert sum(w for w, _ in results) == 12
    results.clear()
    run_both("2026-03-11 17:30")
    assert sum(b for _, b in results) == 12
    session.expire_all()
    per_kind = {kind: count(TicketEvent, TicketEvent.kind == kind) for kind in ("sla_warning", "sla_breach")}
    assert per_kind == {"sla_warning": 12, "sla_breach": 12}
    # two supervisors (super1, admin1) get each warning and each breach, exactly once
    assert count(Notification) == 12 * 2 * 2
    assert count(OutboundMail, OutboundMail.kind == "sla") == 12 * 2 * 2
    for ticket_id in ids:
        assert count(Notification, Notification.ticket_id == ticket_id) == 4


def test_daily_check_tells_the_admins_once_per_missing_year(app, users):
    now = at("2026-11-26 08:00")
    assert jobs.check_calendar_coverage(SENDER, SH, now=now) == [2027]
    assert jobs.check_calendar_coverage(SENDER, SH, now=now) == [2027]
    rows = notices("calendar_missing")
    assert rows == [("admin1", None, "calendar_missing", 2027)]
    mail = session.scalars(select(OutboundMail).where(OutboundMail.to_addr == "admin1@helpdesk.test")).one()
    assert "2027 年放假安排尚未录入" in mail.subject
    # before 1 November next year does not matter yet
    assert jobs.check_calendar_coverage(SENDER, SH, now=at("2026-10-31 23:00")) == []
    notice = service.parse_notice(2027, ["2027-01-01=元旦"], [])
    service.import_year(notice, source="https://www.gov.cn/2027", by=users["admin"])
    assert jobs.check_calendar_coverage(SENDER, SH, now=now) == []


def test_banner_text_from_1_november_of_the_year_before(app):
    assert (
        service.calendar_banner(date(2026, 11, 26))
        == "2027 年放假安排尚未录入，跨年工单的截止时间按周一至周五暂定"
    )
    assert service.calendar_banner(date(2026, 11, 1)) is not None
    assert service.calendar_banner(date(2026, 10, 31)) is None
    assert (
        service.calendar_banner(date(2027, 3, 1)) == "2027 年放假安排尚未录入，工单的截止时间按周一至周五暂定"
    )


def test_the_scheduled_step_runs_under_a_lease(app, users):
    from helpdesk.core import leases

    make_ticket(received_at=at("2026-03-09 10:00"))
    with leases.held("sla-tick") as other:  # another worker's lock
        assert other is not None
        assert jobs.scheduled_tick(SENDER, SH, now=at("2026-03-11 12:00")) is None  # the other worker acts
        assert notices() == []
    assert jobs.scheduled_tick(SENDER, SH, now=at("2026-03-11 12:00")) == (1, 0)
