"""Every dashboard figure against values counted by hand from the known history in history.py."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
from sqlalchemy import select

from helpdesk.dashboard import periods, queries
from helpdesk.dashboard.queries import Period, now_panel, period_report
from helpdesk.db import session
from helpdesk.mail.models import Mailbox, OutboundMail
from helpdesk.sla import clock as sla_clock
from helpdesk.sla.models import SlaClock
from helpdesk.tickets import queries as queue
from helpdesk.tickets.models import Ticket
from tests.dashboard.history import NOW, SH, at, build

PERIOD = Period("custom", date(2026, 9, 28), date(2026, 10, 11))


@pytest.fixture
def h(app, users):
    return build()


def ids(h, *names):
    return sorted(h.t[n].id for n in names)


def test_engine_wrote_the_deadlines_counted_by_hand(h):
    t = h.t
    assert t["T1"].due_at == at("09-30 18:42").replace(day=9, month=10, hour=17, minute=0)
    assert t["T2"].due_at == at("10-10 13:00")  # resumed with 660 minutes left, Sat 10-10 is a workday
    assert t["T2"].clock.paused_minutes == 720
    assert t["T4"].sla_clock_no == 2 and t["T4"].due_at == at("10-08 17:00")
    assert t["T5"].sla_clock_no == 2 and t["T5"].due_at == at("10-12 17:00")
    assert t["T8"].clock.remaining_minutes == 0 and t["T8"].due_at is None
    assert t["T10"].due_at == at("10-13 09:30")


# ------------------------------------------------------------------------------------------- now


def test_now_panel_counts(h):
    p = now_panel(NOW.astimezone(UTC))
    assert p.by_status_type == {
        ("new", "change"): 1,
        ("new", "inquiry"): 1,
        ("new", "recovery"): 1,
        ("open", "change"): 2,
        ("waiting", "unbind"): 1,
    }
    assert p.open_total == 6
    assert p.due_today == 2  # T5, T9: 17:00 today
    assert p.due_4h == 3  # T5, T9 (180 min) and T10 (210 min, tomorrow 09:30)
    assert p.breached == 2  # T7 running past due, and T8 paused after its due: a pause hides no breach
    assert p.breached_paused == 1  # of which T8
    assert [(r.id, r.past_due_minutes) for r in p.breached_rows] == [
        (h.t["T7"].id, 780),
        (h.t["T8"].id, None),
    ]
    assert p.unassigned == 3  # T7, T9, T10
    assert p.oldest_unassigned["id"] == h.t["T7"].id and p.oldest_unassigned["age_minutes"] == 2220
    assert p.waiting == 1
    assert p.ageing == [1, 2, 1, 2]  # T11 | T9, T10 | T5 (clock 2) | T7, T8
    assert p.calendar_missing == []


def test_now_panel_links_select_exactly_the_tickets(h):
    f = now_panel(NOW.astimezone(UTC)).figures
    assert f.get("now.due_today").filters == {"due": "today"}
    assert f.get("now.due_4h").filters == {"view": "due_soon"}
    assert f.get("now.breached").filters == {"view": "breached"}
    assert f.get("now.unassigned").filters == {"view": "unassigned"}
    assert f.get("now.waiting").filters == {"view": "waiting"}
    assert f.get("now.open.new.change").filters == {"status": "new", "type": "change"}
    assert f.get("now.open.type.change").filters == {"status": "new,open,waiting", "type": "change"}
    assert f.get("now.breached_paused").ids == ids(h, "T8")
    assert f.get("now.age.0").ids == ids(h, "T11")
    assert f.get("now.age.1").ids == ids(h, "T9", "T10")
    assert f.get("now.age.2").ids == ids(h, "T5")
    assert f.get("now.age.3").ids == ids(h, "T7", "T8")


def test_every_filter_figure_equals_the_queues_own_count(h):
    """A figure linked by filters counts exactly what the queue lists for those filters."""
    now = NOW.astimezone(UTC)
    ck = queue.new_clock(SH, now)
    figs = {**now_panel(now).figures.items, **period_report(PERIOD, now).figures.items}
    checked = 0
    for key, fig in figs.items():
        if fig.filters is None:
            continue
        query = queue.QueueQuery.from_args({k: str(v) for k, v in fig.filters.items()})
        assert not query.problems, key
        listed = session.scalars(select(Ticket.id).where(*queue.filter_conditions(query, None, ck))).all()
        assert len(listed) == fig.value, key
        checked += 1
    assert checked > 30


def test_now_panel_mail_health_and_outbox(h):
    session.add(
        Mailbox(
            name="zxzj@mail.test/INBOX",
            last_poll_at=at("10-12 13:59").astimezone(UTC),
            last_success_at=at("10-12 13:30").astimezone(UTC),
            last_error="connection refused",
        )
    )
    for i, (ticket, failed, sent) in enumerate(
        [("T1", False, None), ("T2", False, None), ("T3", True, None), ("T4", False, at("10-09 09:31"))]
    ):
        session.add(
            OutboundMail(
                ticket_id=h.t[ticket].id,
                to_addr="x@corp.test",
                subject="s",
                body_text="b",
                message_id=f"m{i}@helpdesk.test",
                failed=failed,
                sent_at=sent,
            )
        )
    session.commit()
    p = now_panel(NOW.astimezone(UTC))
    assert p.outbox_waiting == 2 and p.outbox_failed == 1
    assert p.figures.get("now.mail.waiting").ids == ids(h, "T1", "T2")
    assert p.figures.get("now.mail.failed").ids == ids(h, "T3")
    (box,) = p.mailboxes
    assert box["failing"] and box["last_success_at"] == at("10-12 13:30")


def test_calendar_warning_from_first_of_november(h):
    assert now_panel(datetime(2026, 10, 31, 23, 0, tzinfo=SH)).calendar_missing == []
    assert now_panel(datetime(2026, 11, 1, 0, 30, tzinfo=SH)).calendar_missing == [2027]


def test_latest_at_position_is_exact_at_close_of_business(h):
    cal = sla_clock.calendar()
    # 1 business day before Mon 10-12 09:00 is Sat 10-10 09:00 (position of Fri 10-09 17:00): every moment
    # from Fri 17:00 to Sat 09:00 has that position, so the latest is Sat 09:00
    limit = queries.latest_at_position(cal, at("10-12 09:00"), -480)
    assert limit == at("10-10 09:00")
    assert cal.business_minutes_between(at("10-09 18:30"), at("10-12 09:00")) == 480
    assert limit == queries.latest_at_position(cal, at("10-12 09:00"), -480)
    # inside business hours the limit is the moment itself
    assert queries.latest_at_position(cal, at("10-12 14:00"), 240) == at("10-13 10:00")


# ------------------------------------------------------------------------------------------- period


def test_period_report_figures(h):
    r = period_report(PERIOD, NOW.astimezone(UTC))
    assert r.received == 10  # T1 T2 T3 T5 T6 T7 T8 T9 T10 T13 (T4 came in 09-18, T11 on 10-12)
    t = r.total
    assert t.resolved == 6  # T1 T2 T3 T4(clock 2) T5(clock 1) T6
    assert t.met == 4  # T1 T2 T5 T6
    assert t.compliance == pytest.approx(4 / 6)
    assert sorted(t.handling) == [240, 420, 900, 1290, 1440, 1800]
    assert t.median_minutes == 1095  # (900 + 1290) / 2
    assert t.p90_minutes == 1800  # nearest rank: ceil(0.9 * 6) = 6th
    assert t.paused_total == 2100 and sorted(t.paused) == [720, 1380]
    assert t.reopened == 1 and t.reopen_rate == pytest.approx(1 / 6)  # T5's first resolution

    by_clock = {(res.ticket_id, res.no): res for res in r.resolutions}
    expected = {  # (ticket, clock): (met, handling, paused, agent)
        ("T1", 1): (True, 900, 0, h.a),
        ("T2", 1): (True, 1290, 720, h.b),
        ("T3", 1): (False, 1800, 0, h.a),
        ("T4", 2): (False, 1440, 0, h.a),
        ("T5", 1): (True, 420, 0, h.b),
        ("T6", 1): (True, 240, 1380, h.a),
    }
    assert set(by_clock) == {(h.t[n].id, no) for n, no in expected}
    agents = {(res.ticket_id, res.no): res.agent_id for res in r.resolutions}
    for (name, no), (met, handling, paused, agent) in expected.items():
        c = by_clock[(h.t[name].id, no)]
        assert (c.met, c.handling_minutes, c.paused_minutes) == (met, handling, paused), name
        assert agents[(h.t[name].id, no)] == agent.id, name

    assert {k: (s.resolved, s.met) for k, s in r.by_type.items()} == {
        "change": (2, 2),
        "unbind": (1, 1),
        "cancel": (1, 0),
        "recovery": (0, 0),
        "inquiry": (2, 1),
    }
    assert r.by_type_received == {"change": 3, "unbind": 2, "cancel": 1, "recovery": 1, "inquiry": 3}


def test_period_breaches_with_reasons(h):
    r = period_report(PERIOD, NOW.astimezone(UTC))
    got = [
        (b.clock.ticket_id, b.clock.no, b.clock.breach_due, b.over_minutes, b.still_open, b.reasons)
        for b in r.breaches
    ]
    assert got == [
        (h.t["T3"].id, 1, at("09-30 17:00"), 360, False, ["到期时仍未分配客服"]),
        (h.t["T8"].id, 1, at("09-30 17:00"), 60, True, ["等待企业补充前已超时"]),
        (h.t["T4"].id, 2, at("10-08 17:00"), 30, False, ["企业回复后重新打开（第 2 次计时）"]),
        (h.t["T7"].id, 1, at("10-09 17:00"), 780, True, ["到期时仍未分配客服"]),
    ]
    assert dict(r.breach_reasons) == {
        "到期时仍未分配客服": 2,
        "等待企业补充前已超时": 1,
        "企业回复后重新打开": 1,
    }
    assert r.breaches_by_type == {"cancel": 1, "unbind": 1, "inquiry": 1, "change": 1}


def test_period_series_and_people(h):
    r = period_report(PERIOD, NOW.astimezone(UTC))
    daily = {d: (rec, res) for d, rec, res in r.daily if rec or res}
    assert daily == {
        date(2026, 9, 28): (3, 0),
        date(2026, 9, 29): (1, 0),
        date(2026, 9, 30): (2, 0),
        date(2026, 10, 8): (2, 2),
        date(2026, 10, 9): (1, 3),
        date(2026, 10, 10): (1, 1),
    }
    assert len(r.daily) == 14
    assert r.weekly == [(date(2026, 9, 28), 0, 0), (date(2026, 10, 5), 6, 4)]
    people = {a.id: a for a in r.agents}
    a, b = people[h.a.id], people[h.b.id]
    assert (a.open_assigned, a.stats.resolved, a.stats.met, a.stats.median_minutes) == (1, 4, 2, 1170)
    assert (b.open_assigned, b.stats.resolved, b.stats.met, b.stats.median_minutes) == (2, 2, 2, 855)


def test_period_links_select_exactly_the_tickets(h):
    f = period_report(PERIOD, NOW.astimezone(UTC)).figures
    assert f.get("report.received").filters == {
        "view": "all",
        "received_from": "2026-09-28",
        "received_to": "2026-10-11",
    }
    assert f.get("report.resolved").ids == ids(h, "T1", "T2", "T3", "T4", "T5", "T6")
    assert f.get("report.met").ids == ids(h, "T1", "T2", "T5", "T6")
    assert f.get("report.missed").ids == ids(h, "T3", "T4")
    assert f.get("report.reopened").ids == ids(h, "T5")
    assert f.get("report.paused").ids == ids(h, "T2", "T6")
    assert f.get("report.breaches").ids == ids(h, "T3", "T4", "T7", "T8")
    assert f.get("report.breaches.open").ids == ids(h, "T7", "T8")
    assert f.get("report.type.inquiry.met").ids == ids(h, "T6")
    assert f.get(f"people.{h.b.id}.open").filters == {"status": "new,open,waiting", "assignee": h.b.id}
    assert f.get(f"people.{h.a.id}.resolved").ids == ids(h, "T1", "T3", "T4", "T6")


def test_every_clock_stores_its_outcome_counted_by_hand(h):
    """The clocks as stored when their events happened: outcome, handling and paused minutes, per clock."""
    rows = session.execute(
        select(
            SlaClock.ticket_id,
            SlaClock.clock_no,
            SlaClock.stop_status,
            SlaClock.outcome,
            SlaClock.handling_minutes,
            SlaClock.paused_minutes,
        )
    ).all()
    names = {t.id: n for n, t in h.t.items()}
    got = {(names[r[0]], r[1]): tuple(r[2:]) for r in rows}
    assert got == {
        ("T1", 1): ("resolved", "met", 900, 0),
        ("T2", 1): ("resolved", "met", 1290, 720),
        ("T3", 1): ("resolved", "breached", 1800, 0),
        ("T4", 1): ("resolved", "met", 660, 0),  # Fri 09-18 15-17 (120) + Sun 09-20 workday (480) + 60
        ("T4", 2): ("rejected", "breached", 1440, 0),
        ("T5", 1): ("resolved", "met", 420, 0),
        ("T5", 2): (None, None, None, 0),
        ("T6", 1): ("resolved", "met", 240, 1380),
        ("T7", 1): (None, None, None, 0),
        ("T8", 1): (None, None, None, 0),
        ("T9", 1): (None, None, None, 0),
        ("T10", 1): (None, None, None, 0),
        ("T11", 1): (None, None, None, 0),
        ("T13", 1): ("merged", "met", 60, 0),
    }
    # the running clocks' deadlines are the tickets' queue copies; a paused one keeps the due it paused under
    for name in ("T5", "T7", "T9", "T10", "T11"):
        assert h.t[name].clock.due_at == h.t[name].due_at, name
    assert h.t["T8"].clock.due_at == at("09-30 17:00") and h.t["T8"].clock.paused_after_due


def test_filters_by_type_and_agent(h):
    now = NOW.astimezone(UTC)
    r = period_report(PERIOD, now, ticket_type="inquiry")
    assert (r.received, r.total.resolved, r.total.met) == (3, 2, 1)
    assert [b.clock.ticket_id for b in r.breaches] == [h.t["T4"].id]
    r = period_report(PERIOD, now, agent_id=h.b.id)
    assert (r.total.resolved, r.total.met) == (2, 2)
    assert r.received == 3  # T2, T5, T8 are B's
    assert [b.clock.ticket_id for b in r.breaches] == [h.t["T8"].id]


def test_periods_in_local_time():
    today = date(2026, 10, 14)  # a Wednesday
    assert queries.period_for("week", today) == Period("week", date(2026, 10, 12), date(2026, 10, 18))
    assert queries.period_for("last_week", today).first == date(2026, 10, 5)
    assert queries.period_for("month", today) == Period("month", date(2026, 10, 1), date(2026, 10, 31))
    assert queries.period_for("last_month", today) == Period(
        "last_month", date(2026, 9, 1), date(2026, 9, 30)
    )
    custom = queries.period_for("custom", today, "2026-10-11", "2026-09-28")
    assert (custom.first, custom.last) == (date(2026, 9, 28), date(2026, 10, 11))
    assert custom.start == datetime.combine(date(2026, 9, 28), time(0), tzinfo=SH)
    assert queries.period_for("custom", today, "garbage", "").key == "month"
    # the default: a rolling 30 days, so the 1st of a month is not an empty "本月"
    assert queries.period_for("30d", date(2026, 12, 1)) == Period("30d", date(2026, 11, 2), date(2026, 12, 1))


def test_quantiles_by_nearest_rank():
    assert periods.quantile([5, 1, 3, 2, 4, 6, 7, 8, 9, 10], 0.9) == 9
    assert periods.quantile([7], 0.9) == 7
    assert periods.quantile([], 0.9) is None
    assert periods.median([4, 1, 3]) == 3 and periods.median([4, 1, 3, 2]) == 2.5


def test_breach_without_assignment_events_keeps_the_current_assignee(app):
    from helpdesk.dashboard.report import StoppedClock, _Timeline, breach_reasons
    from tests.dashboard.history import seed_calendar

    seed_calendar()
    received, due = at("09-28 09:00"), at("09-30 17:00")
    c = StoppedClock(1, 1, "change", received, due, at("10-08 10:00"), None, 1440, False, None, False)
    cals = sla_clock.TypeCalendars()
    assert breach_reasons(c, _Timeline(), 7, cals) == ["办理超时"]  # assigned (7) by what the ticket says
    assert breach_reasons(c, _Timeline(), None, cals) == ["到期时仍未分配客服"]
