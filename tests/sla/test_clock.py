"""The SLA clock on tickets: start, pause over a holiday, resume after hours, reopen, policy and calendar
changes, the provisional year, and the batch recompute of open tickets.

Expected values are counted by hand on the 2026 schedule (see tests/sla/test_calendar.py): 国庆节 off
Thu 10-01 .. Wed 10-07, make-up working days Sun 09-20 and Sat 10-10.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from helpdesk.db import session
from helpdesk.records.models import AuditEntry
from helpdesk.sla import clock, service
from helpdesk.sla.models import SlaClock
from helpdesk.sla.seed import official_calendar
from helpdesk.tickets import lifecycle, services
from helpdesk.tickets.models import Ticket, TicketEvent, TicketStatus
from tests.tickets.factories import make_ticket

SH = ZoneInfo("Asia/Shanghai")
NOTICE_2027 = "https://www.gov.cn/zhengce/content/2027-notice.htm"


def at(text: str) -> datetime:
    """A Beijing time, e.g. at('2026-09-30 18:42')."""
    return datetime.fromisoformat(text).replace(tzinfo=SH)


def reload(ticket: Ticket) -> Ticket:
    session.expire_all()
    return session.get(Ticket, ticket.id)


def set_status(ticket: Ticket, status: str, when: datetime) -> None:
    lifecycle.change_status(ticket, TicketStatus(status), by=None, at=when)
    session.commit()


# -- the counter is the calendar, only faster ------------------------------------------------------

CAL_2025_2026 = official_calendar(2025, 2026)  # 2027 is missing: provisional across New Year


@settings(max_examples=300, deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 6, 30)),
    mode=st.sampled_from(["working_days", "business_hours"]),
    days=st.integers(1, 5),
    hours=st.sampled_from([(time(9), time(17)), (time(8, 30), time(17, 30)), (time(9), time(12))]),
    ratio=st.sampled_from([0.5, 0.75, 0.8, 0.9]),
)
def test_counter_gives_exactly_the_calendars_figures(moment, mode, days, hours, ratio):
    policy = clock.Policy("change", mode, days, *hours, ratio)
    cal = CAL_2025_2026.replace(hours=hours)
    started = moment.replace(microsecond=0, tzinfo=SH).astimezone(UTC)
    counter = clock.Counter(policy, cal)
    fresh = counter.fresh(started)
    deadline = (cal.due_by_working_days if mode == "working_days" else cal.due_by_business_hours)(
        started, days
    )
    assert fresh.due_at == deadline.due_at
    assert fresh.provisional == deadline.provisional
    assert fresh.budget_minutes == cal.business_minutes_between(started, deadline.due_at)
    assert fresh.warn_at == cal.business_point(started, deadline.due_at, ratio)
    assert counter.explanation(fresh) == deadline.explanation
    assert counter.explanation(counter.fresh(started + timedelta(minutes=7))) == (
        (cal.due_by_working_days if mode == "working_days" else cal.due_by_business_hours)(
            started + timedelta(minutes=7), days
        ).explanation
    )


# -- one ticket --------------------------------------------------------------------------------------


def test_ticket_stores_its_deadline_and_the_explanation(app):
    ticket = make_ticket(type="change", received_at=at("2026-09-30 18:42"))
    ticket = reload(ticket)
    assert ticket.due_at == at("2026-10-09 17:00")
    assert ticket.warn_at == at("2026-10-09 13:00")  # 75 % of 16 business hours: 10-08 all day + 4 h
    assert ticket.clock.budget_minutes == 16 * 60
    assert ticket.clock.provisional is False
    assert ticket.clock.policy == "working_days"
    assert ticket.clock.calendar_version == clock.calendar().version
    assert ticket.clock.explanation == (
        "收到 2026-09-30 18:42（周三，下班后）；不计当日；"
        "第1个工作日 2026-10-08（国庆节后首个工作日），第2个工作日 2026-10-09；截止 2026-10-09 17:00"
    )


def test_make_up_sunday_counts_as_the_first_working_day(app):
    ticket = reload(make_ticket(received_at=at("2026-09-18 11:00")))
    assert ticket.due_at == at("2026-09-21 17:00")
    assert "第1个工作日 2026-09-20（周日，调休上班）" in ticket.clock.explanation


def test_pause_spanning_the_holiday_carries_the_remaining_business_time(app):
    # received Tue 09-29 10:00: due Thu 10-08 17:00, 7 h + 8 h + 8 h = 23 h of business time
    ticket = make_ticket(received_at=at("2026-09-29 10:00"))
    assert reload(ticket).due_at == at("2026-10-08 17:00")
    ticket = reload(ticket)
    set_status(ticket, "waiting", at("2026-09-30 12:00"))  # 10 h used, 13 h left
    ticket = reload(ticket)
    assert ticket.due_at is None and ticket.warn_at is None
    assert ticket.clock.remaining_minutes == 13 * 60
    assert "剩余 13 小时" in ticket.clock.explanation
    set_status(ticket, "open", at("2026-10-09 10:00"))  # after the holiday
    ticket = reload(ticket)
    # 10-09 10:00 + 13 h: 7 h on Fri 10-09, then 6 h on Sat 10-10, a make-up working day
    assert ticket.due_at == at("2026-10-10 15:00")
    # paused 09-30 12:00 .. 10-09 10:00: 5 h + 8 h (10-08) + 1 h; the holiday costs nothing
    assert ticket.clock.paused_minutes == 14 * 60
    # 75 % of 23 h = 17 h 15 min; 10 h were used before the pause: 7 h 15 min after the resume
    assert ticket.warn_at == at("2026-10-10 09:15")
    resumed = session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "sla_resumed")
    ).one()
    assert resumed.detail["paused_minutes"] == 14 * 60
    assert "恢复计时" in ticket.clock.explanation and "截止 2026-10-10 15:00" in ticket.clock.explanation


def test_resume_after_hours_starts_counting_at_the_next_opening(app):
    ticket = make_ticket(received_at=at("2026-03-09 10:00"))  # Mon; due Wed 03-11 17:00 (23 h)
    set_status(reload(ticket), "waiting", at("2026-03-09 11:00"))  # 22 h left
    set_status(reload(ticket), "open", at("2026-03-16 20:00"))  # Mon evening, after hours
    ticket = reload(ticket)
    # from Tue 03-17 09:00: 8 h Tue + 8 h Wed + 6 h Thu
    assert ticket.due_at == at("2026-03-19 15:00")
    assert ticket.clock.paused_minutes == (6 + 4 * 8 + 8) * 60


def test_reopen_starts_a_new_clock(app):
    ticket = make_ticket(received_at=at("2026-03-02 10:00"))
    set_status(reload(ticket), "resolved", at("2026-03-03 10:00"))
    session.execute(
        update(SlaClock).where(SlaClock.ticket_id == ticket.id).values(warned_at=at("2026-03-03 09:00"))
    )
    session.commit()
    set_status(reload(ticket), "open", at("2026-03-10 16:30"))
    ticket = reload(ticket)
    assert ticket.sla_clock_no == 2
    assert ticket.clock.started_at == at("2026-03-10 16:30")
    assert ticket.due_at == at("2026-03-12 17:00")
    assert ticket.clock.warned_at is None and ticket.clock.breached_at is None
    assert ticket.clock.paused_minutes == 0 and ticket.clock.remaining_minutes is None


def test_type_change_recomputes_with_the_new_types_policy(app, users):
    service.update_policy(
        "inquiry",
        mode="working_days",
        days=1,
        business_start="09:00",
        business_end="17:00",
        warn_percent=75,
        by=users["supervisor"],
    )
    ticket = make_ticket(type="change", received_at=at("2026-03-09 10:00"))
    assert reload(ticket).due_at == at("2026-03-11 17:00")
    services.change_type(reload(ticket), "inquiry", by=users["supervisor"])
    ticket = reload(ticket)
    assert ticket.due_at == at("2026-03-10 17:00")
    assert ticket.clock.budget_minutes == 15 * 60


def test_policy_change_recomputes_open_tickets_and_reports_how_many_moved(app, users):
    running = make_ticket(type="change", received_at=at("2026-03-09 10:00"))
    other_type = make_ticket(type="unbind", received_at=at("2026-03-09 10:00"))
    paused = make_ticket(type="change", received_at=at("2026-03-09 10:00"), status="waiting")
    closed = make_ticket(type="change", received_at=at("2026-03-02 10:00"), status="resolved")
    closed_due = reload(closed).due_at
    result = service.update_policy(
        "change",
        mode="business_hours",
        days=3,
        business_start="09:00",
        business_end="17:00",
        warn_percent=80,
        by=users["supervisor"],
    )
    assert result.moved == 1  # the running change ticket; the paused one has no due time to move
    assert result.checked == 2  # the open change tickets: a policy moves only its own type
    assert reload(running).due_at == at("2026-03-12 10:00")  # 24 business hours from Mon 10:00
    assert reload(running).clock.policy == "business_hours"
    assert reload(running).warn_at == at("2026-03-11 13:12")  # 80 % of 24 h = 19 h 12 min
    assert reload(other_type).due_at == at("2026-03-11 17:00")
    assert reload(paused).clock.remaining_minutes == 24 * 60 - 1  # the minute used before the pause
    assert reload(closed).due_at == closed_due
    audit = session.scalars(select(AuditEntry).where(AuditEntry.entity == "sla_policy")).all()
    assert {(a.entity_id, a.field, a.before, a.after) for a in audit} >= {
        ("change", "mode", "working_days", "business_hours"),
        ("change", "days", "2", "3"),
        ("change", "warn_ratio", "0.75", "0.8"),
    }
    assert all(a.actor_id == users["supervisor"].id for a in audit)


def test_policy_change_gives_a_resumed_clock_the_new_budget_minus_the_time_used(app, users):
    ticket = make_ticket(received_at=at("2026-03-09 10:00"))  # 23 h budget
    set_status(reload(ticket), "waiting", at("2026-03-09 12:00"))  # 2 h used
    set_status(reload(ticket), "open", at("2026-03-10 09:00"))
    assert reload(ticket).due_at == at("2026-03-12 14:00")  # 21 h from Tue 09:00
    service.update_policy(
        "change",
        mode="working_days",
        days=3,
        business_start="09:00",
        business_end="17:00",
        warn_percent=75,
        by=users["supervisor"],
    )
    ticket = reload(ticket)
    assert ticket.clock.budget_minutes == 31 * 60
    assert ticket.clock.remaining_minutes == 29 * 60
    assert ticket.due_at == at("2026-03-13 14:00")


def test_calendar_edit_recomputes_open_deadlines_and_counts_the_moved_ones(app, users):
    before_day = make_ticket(received_at=at("2026-03-06 10:00"))  # due Tue 03-10 17:00: moves
    crossing = make_ticket(received_at=at("2026-03-09 10:00"))  # due Wed 03-11 17:00: moves
    after_day = make_ticket(received_at=at("2026-03-11 10:00"))  # due Fri 03-13: the 10th is behind it
    waiting = make_ticket(received_at=at("2026-03-09 10:00"), status="waiting")
    updated = {t.id: reload(t).updated_at for t in (before_day, crossing, after_day)}
    result = service.set_day(
        date(2026, 3, 10), "off", name="台风停工", reason="市政府通知", by=users["supervisor"]
    )
    assert result.moved == 2
    assert result.checked == 4
    assert reload(before_day).due_at == at("2026-03-11 17:00")
    assert reload(crossing).due_at == at("2026-03-12 17:00")
    assert reload(after_day).due_at == at("2026-03-13 17:00")
    assert reload(waiting).due_at is None
    assert "第1个工作日 2026-03-11（台风停工后首个工作日）" in reload(crossing).clock.explanation
    old_version = reload(after_day).clock.calendar_version
    for t in (before_day, crossing, after_day):  # a recompute is not an edit
        assert reload(t).updated_at == updated[t.id]
    # rewritten rows name the new calendar; an untouched one the calendar its figures came from
    assert reload(crossing).clock.calendar_version == clock.calendar().version != old_version
    entry = session.scalars(select(AuditEntry).where(AuditEntry.entity == "calendar_day")).one()
    assert entry.entity_id == "2026-03-10" and entry.before is None and '"off"' in entry.after
    assert entry.detail["moved"] == 2 and entry.detail["reason"] == "市政府通知"
    assert entry.actor_id == users["supervisor"].id
    # undoing it moves them back; doing nothing moves nothing
    assert service.set_day(date(2026, 3, 10), "default", by=users["supervisor"]).moved == 2
    assert reload(crossing).due_at == at("2026-03-11 17:00")
    assert service.set_day(date(2026, 3, 10), "default", by=users["supervisor"]) is None
    assert service.recompute_open_tickets() == 0


def test_received_on_new_years_eve_is_provisional_until_2027_is_entered(app, users):
    ticket = make_ticket(received_at=at("2026-12-31 10:00"))
    ticket = reload(ticket)
    # 2027 has no schedule: Fri 01-01 counts as a working day for now
    assert ticket.due_at == at("2027-01-04 17:00")
    assert ticket.clock.provisional is True
    assert "2027年尚无官方节假日安排" in ticket.clock.explanation
    notice = service.parse_notice(2027, ["2027-01-01=元旦", "2027-02-05:2027-02-11=春节"], ["2027-02-14"])
    result = service.import_year(notice, source=NOTICE_2027, by=users["admin"])
    assert result.moved == 1 and result.provisional_cleared == 1
    ticket = reload(ticket)
    assert ticket.due_at == at("2027-01-05 17:00")
    assert ticket.clock.provisional is False
    assert "暂定" not in ticket.clock.explanation
    assert "第1个工作日 2027-01-04（元旦后首个工作日）" in ticket.clock.explanation


def test_the_batch_recompute_equals_the_clock_of_each_ticket(app, users):
    tickets = [
        make_ticket(type=kind, received_at=at("2026-09-25 08:00") + timedelta(hours=7 * i))
        for i, kind in enumerate(["change", "unbind", "cancel", "recovery", "inquiry"] * 4)
    ]
    service.update_policy(
        "unbind",
        mode="business_hours",
        days=2,
        business_start="08:30",
        business_end="17:30",
        warn_percent=60,
        by=users["admin"],
    )
    service.set_day(date(2026, 9, 29), "off", by=users["admin"])
    stored = {t.id: (reload(t).due_at, reload(t).warn_at, reload(t).clock.explanation) for t in tickets}
    for t in tickets:  # what each ticket's own clock says now
        fresh = reload(t)
        clock.start(fresh, fresh.clock.started_at)
        assert (fresh.due_at, fresh.warn_at, fresh.clock.explanation) == stored[t.id]
        session.rollback()


def test_open_tickets_without_a_calendar_change_stay_put(app):
    for i in range(5):
        make_ticket(received_at=at("2026-03-02 10:00") + timedelta(days=i))
    assert service.recompute_open_tickets() == 0
    assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0


@pytest.mark.parametrize(
    ("received", "expected"),
    [
        ("2026-09-30T18:42:00+08:00", "2026-10-09 17:00"),
        ("2026-09-30T10:42:00Z", "2026-10-09 17:00"),  # 18:42 in Beijing
        ("2026-09-19T10:00:00+08:00", "2026-09-21 17:00"),  # a Saturday off: Sun 09-20 (make-up), Mon
    ],
)
def test_explain_due(app, received, expected):
    info = service.explain_due(datetime.fromisoformat(received), "change")
    assert f"{info.due_at:%Y-%m-%d %H:%M}" == expected


def test_an_edit_recomputes_every_ticket_it_can_touch(app, users):
    """After each edit (only the clocks that can see the day are read) a full recompute finds nothing left."""
    start = at("2026-09-14 08:00")
    for i in range(48):  # every 17 hours from mid-September into the National Day holiday and after it
        kind = ("change", "unbind", "inquiry")[i % 3]
        ticket = make_ticket(type=kind, received_at=start + timedelta(hours=17 * i), status="new")
        if i % 7 == 3:
            set_status(reload(ticket), "waiting", start + timedelta(hours=17 * i + 2))
        if i % 14 == 3:
            set_status(reload(ticket), "open", start + timedelta(hours=17 * i + 30))
    service.update_policy(
        "unbind",
        mode="business_hours",
        days=2,
        business_start="08:30",
        business_end="17:30",
        warn_percent=60,
        by=users["admin"],
    )
    edits = [
        (
            date(2026, 9, 30),
            "off",
            "台风停工",
        ),  # joins the holiday run: its name shows for receipts inside it
        (date(2026, 10, 10), "default", ""),  # the make-up Saturday is no longer worked
        (date(2026, 9, 21), "off", ""),
        (date(2026, 10, 17), "work", "补班"),
        (date(2026, 9, 30), "default", ""),
    ]
    for day, state, name in edits:
        assert service.set_day(day, state, name=name, by=users["admin"]) is not None
        leftover = service.recompute_open_tickets_report()
        assert (leftover.changed, leftover.moved) == (0, 0), (day, state)
