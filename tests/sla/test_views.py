"""SLA pages: supervisors only, CSRF, the month view, single days, a year from its notice (checked, then
confirmed), policies; every change audited and the open tickets' deadlines recomputed with the count shown."""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from helpdesk.db import session
from helpdesk.records.models import AuditEntry
from helpdesk.sla import service, views
from helpdesk.sla.models import CalendarDay, CalendarYear, SlaPolicy
from helpdesk.sla.seed import seed_days
from helpdesk.tickets.models import Ticket
from tests.conftest import page_csrf
from tests.tickets.factories import make_ticket

SH = ZoneInfo("Asia/Shanghai")
BANNER = "2027 年放假安排尚未录入，跨年工单的截止时间按周一至周五暂定"
NOTICE = "https://www.gov.cn/zhengce/content/202511/content_7048916.htm"

#: the 2026 notice as published (ranges include weekends), and 2025's
OFF_2026 = """2026-01-01:2026-01-03 元旦
2026-02-15:2026-02-23 春节
2026-04-04:2026-04-06 清明节
2026-05-01:2026-05-05 劳动节
2026-06-19:2026-06-21 端午节
2026-09-25:2026-09-27 中秋节
2026-10-01:2026-10-07 国庆节"""
WORK_2026 = "2026-01-04 元旦\n2026-02-14 春节\n2026-02-28 春节\n2026-05-09 劳动节\n2026-09-20 国庆节\n2026-10-10 国庆节"
OFF_2025 = """2025-01-01 元旦
2025-01-28:2025-02-04 春节
2025-04-04:2025-04-06 清明节
2025-05-01:2025-05-05 劳动节
2025-05-31:2025-06-02 端午节
2025-10-01:2025-10-08 国庆节"""
WORK_2025 = "2025-01-26 春节\n2025-02-08 春节\n2025-04-27 劳动节\n2025-09-28 国庆节\n2025-10-11 国庆节"


def text(response) -> str:
    return response.get_data(as_text=True)


def flashes(html: str) -> list[str]:
    return re.findall(r'<p class="flash [^"]*">(.*?)</p>', html, re.S)


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/sla/calendar", "GET"),
        ("/sla/calendar/year/2026", "GET"),
        ("/sla/calendar/import", "GET"),
        ("/sla/policies", "GET"),
        ("/sla/calendar/day", "POST"),
        ("/sla/calendar/import", "POST"),
        ("/sla/policies/change", "POST"),
        ("/sla/recompute", "POST"),
    ],
)
def test_agents_are_refused(agent_client, path, method):
    token = page_csrf(agent_client, "/")
    response = agent_client.open(
        path, method=method, data={"csrf_token": token, "day": "2026-03-10", "state": "off"}
    )
    assert response.status_code == 403
    assert session.scalars(select(AuditEntry)).all() == []


def test_post_without_csrf_token_is_refused(supervisor_client):
    response = supervisor_client.post("/sla/calendar/day", data={"day": "2026-03-10", "state": "off"})
    assert response.status_code == 400
    assert session.get(CalendarDay, date(2026, 3, 10)) is None


def test_month_view_shows_holidays_make_up_days_and_sources(supervisor_client):
    html = text(supervisor_client.get("/sla/calendar?month=2026-10"))
    assert "2026 年 10 月" in html
    assert 'data-day="2026-10-01" data-working="0"' in html  # 国庆节
    assert 'data-day="2026-10-10" data-working="1"' in html  # Saturday make-up working day
    assert 'data-day="2026-10-12" data-working="1"' in html
    assert "国庆节" in html and "chinesecalendar" in html
    # the year table with the check counts: 2026 has 19 weekday days off and 6 make-up days
    row = re.search(r'<tr data-year="2026">(.*?)</tr>', html, re.S).group(1)
    assert re.findall(r'<td class="num">(\d+)</td>', row) == ["19", "6"]
    row = re.search(r'<tr data-year="2025">(.*?)</tr>', html, re.S).group(1)
    assert re.findall(r'<td class="num">(\d+)</td>', row) == ["18", "5"]


def test_local_day_off_is_audited_and_moves_the_open_deadlines(supervisor_client, users):
    moved = make_ticket(received_at=datetime(2026, 3, 9, 10, tzinfo=SH))  # due Wed 03-11 17:00
    make_ticket(received_at=datetime(2026, 3, 12, 10, tzinfo=SH))  # due Mon 03-16: not affected
    token = page_csrf(supervisor_client, "/sla/calendar")
    response = supervisor_client.post(
        "/sla/calendar/day",
        data={
            "csrf_token": token,
            "day": "2026-03-10",
            "state": "off",
            "name": "台风停工",
            "reason": "市政府通知",
        },
        follow_redirects=True,
    )
    assert response.status_code == 200
    (message,) = flashes(text(response))
    assert "已修改 2026-03-10" in message and "其中 1 张的截止时间有变动" in message
    assert 'data-day="2026-03-10" data-working="0"' in text(response)
    row = session.get(CalendarDay, date(2026, 3, 10))
    assert (row.kind, row.name, row.source, row.updated_by_id) == (
        "off",
        "台风停工",
        "admin",
        users["supervisor"].id,
    )
    session.expire_all()
    assert session.get(Ticket, moved.id).due_at == datetime(2026, 3, 12, 17, tzinfo=SH)
    audit = session.scalars(select(AuditEntry).where(AuditEntry.entity == "calendar_day")).one()
    assert audit.actor_id == users["supervisor"].id and audit.detail["moved"] == 1


def test_weekday_made_a_working_day_again_needs_no_row(supervisor_client):
    token = page_csrf(supervisor_client, "/sla/calendar")
    response = supervisor_client.post(
        "/sla/calendar/day",
        data={"csrf_token": token, "day": "2026-03-10", "state": "work"},
        follow_redirects=True,
    )
    assert "没有变化" in flashes(text(response))[0]
    assert session.scalars(select(AuditEntry)).all() == []


def test_import_year_is_checked_first_then_confirmed(supervisor_client, users):
    ticket = make_ticket(received_at=datetime(2026, 12, 31, 10, tzinfo=SH))
    assert session.get(Ticket, ticket.id).clock.provisional is True
    token = page_csrf(supervisor_client, "/sla/calendar/import")
    form = {
        "csrf_token": token,
        "year": "2027",
        "source": NOTICE,
        "off": "2027-01-01 元旦\n2027-02-05:2027-02-11 春节\n2027-02-13",
        "work": "2027-02-14",
    }
    preview = text(supervisor_client.post("/sla/calendar/import", data=form))
    assert '<strong data-count="days_off">6</strong>' in preview
    assert '<strong data-count="makeup">1</strong>' in preview
    assert "2 个周末日本就休息" in preview and "2027-02-13（周六）本就是周末休息日" in preview
    assert session.get(CalendarYear, 2027) is None  # nothing stored before the confirmation
    response = supervisor_client.post(
        "/sla/calendar/import", data=form | {"confirm": "1"}, follow_redirects=True
    )
    (message,) = flashes(text(response))
    assert "已录入 2027 年放假安排：工作日放假 6 天，调休上班 1 天" in message
    assert "其中 1 张的截止时间有变动，1 张不再是暂定" in message
    year = session.get(CalendarYear, 2027)
    assert (year.status, year.source) == ("official", NOTICE)
    work = session.get(CalendarDay, date(2027, 2, 14))
    assert (work.kind, work.name, work.source) == ("work", "春节", NOTICE)  # named after the nearest holiday
    session.expire_all()
    row = session.get(Ticket, ticket.id)
    assert row.clock.provisional is False and row.due_at == datetime(2027, 1, 5, 17, tzinfo=SH)
    entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "import_year")).all()
    assert len([e for e in entries if e.entity == "calendar_day"]) == 7
    (year_entry,) = [e for e in entries if e.entity == "calendar_year"]
    assert year_entry.detail["days_off"] == 6 and year_entry.detail["moved"] == 1
    assert year_entry.actor_id == users["supervisor"].id


@pytest.mark.parametrize(
    ("year", "off", "work", "counts"),
    [(2025, OFF_2025, WORK_2025, (18, 5)), (2026, OFF_2026, WORK_2026, (19, 6))],
)
def test_the_notice_as_published_gives_the_packages_days_and_the_check_counts(app, year, off, work, counts):
    notice = service.parse_notice(year, [off], [work])
    assert notice.counts == counts
    package = {(r.day, r.kind) for r in seed_days(year, year)}
    assert {(d, "off") for d, _ in notice.days_off} | {(d, "work") for d, _ in notice.makeup_days} == package


def test_an_official_year_is_only_replaced_on_purpose(supervisor_client):
    token = page_csrf(supervisor_client, "/sla/calendar/import")
    form = {
        "csrf_token": token,
        "year": "2026",
        "source": NOTICE,
        "off": OFF_2026,
        "work": WORK_2026,
        "confirm": "1",
    }
    response = supervisor_client.post("/sla/calendar/import", data=form)
    assert response.status_code == 400
    assert "2026 年已有官方安排" in text(response)
    response = supervisor_client.post(
        "/sla/calendar/import", data=form | {"replace": "1"}, follow_redirects=True
    )
    assert "工作日放假 19 天，调休上班 6 天" in flashes(text(response))[0]
    assert session.get(CalendarDay, date(2026, 10, 1)).source == NOTICE


@pytest.mark.parametrize(
    ("off", "work", "error"),
    [
        ("2027-01-01", "2027-02-15", "2027-02-15 是周一，本就上班"),
        ("2026-12-31", "", "不在 2027 年内"),
        ("2027-02-11:2027-02-05", "", "结束日期早于开始日期"),
        ("2027-02-30", "", "日期不存在"),
        ("明天", "", "看不懂的日期"),
        ("2027-02-05:2027-02-11", "2027-02-06", "同时出现在放假和调休上班中"),
    ],
)
def test_bad_notices_are_refused_with_the_reason(supervisor_client, off, work, error):
    token = page_csrf(supervisor_client, "/sla/calendar/import")
    response = supervisor_client.post(
        "/sla/calendar/import",
        data={"csrf_token": token, "year": "2027", "source": NOTICE, "off": off, "work": work},
    )
    assert response.status_code == 400
    assert error in text(response)
    assert session.get(CalendarYear, 2027) is None


def test_policy_page_saves_audits_and_recomputes(supervisor_client, users):
    ticket = make_ticket(type="unbind", received_at=datetime(2026, 3, 9, 10, tzinfo=SH))
    html = text(supervisor_client.get("/sla/policies"))
    assert 'data-type="unbind"' in html
    token = page_csrf(supervisor_client, "/sla/policies")
    response = supervisor_client.post(
        "/sla/policies/unbind",
        data={
            "csrf_token": token,
            "mode": "working_days",
            "days": "3",
            "business_start": "09:00",
            "business_end": "17:30",
            "warn_percent": "80",
        },
        follow_redirects=True,
    )
    (message,) = flashes(text(response))
    assert "已保存“解绑”的时限" in message and "其中 1 张的截止时间有变动" in message
    policy = session.get(SlaPolicy, "unbind")
    assert (policy.days, policy.business_end, policy.warn_ratio) == (3, "17:30", 0.8)
    session.expire_all()
    assert session.get(Ticket, ticket.id).due_at == datetime(2026, 3, 12, 17, 30, tzinfo=SH)
    fields = sorted(
        a.field for a in session.scalars(select(AuditEntry).where(AuditEntry.entity == "sla_policy"))
    )
    assert fields == ["business_end", "days", "warn_ratio"]


def test_policy_page_refuses_nonsense(supervisor_client):
    token = page_csrf(supervisor_client, "/sla/policies")
    response = supervisor_client.post(
        "/sla/policies/change",
        data={
            "csrf_token": token,
            "mode": "working_days",
            "days": "2",
            "business_start": "18:00",
            "business_end": "09:00",
            "warn_percent": "75",
        },
        follow_redirects=True,
    )
    assert "上班早于下班" in flashes(text(response))[0]
    assert session.get(SlaPolicy, "change").business_start == "09:00"
    assert supervisor_client.post("/sla/policies/nosuchtype", data={"csrf_token": token}).status_code == 404


def test_banner_for_supervisors_and_admins_from_1_november(
    supervisor_client, admin_client, agent_client, monkeypatch
):
    monkeypatch.setattr(views, "_today", lambda: date(2026, 11, 26))
    assert BANNER in text(supervisor_client.get("/"))
    assert BANNER in text(admin_client.get("/sla/calendar"))
    assert BANNER not in text(agent_client.get("/"))
    monkeypatch.setattr(views, "_today", lambda: date(2026, 10, 31))
    assert BANNER not in text(supervisor_client.get("/"))
    monkeypatch.setattr(views, "_today", lambda: date(2026, 11, 26))
    service.import_year(service.parse_notice(2027, ["2027-01-01"], []), source=NOTICE, by=None)
    assert BANNER not in text(supervisor_client.get("/"))


def test_year_page_lists_the_days_and_the_check(supervisor_client):
    html = text(supervisor_client.get("/sla/calendar/year/2025"))
    assert (
        '<strong data-count="days_off">18</strong>' in html
        and '<strong data-count="makeup">5</strong>' in html
    )
    assert "2025-01-28" in html and "2025-10-11" in html
    assert supervisor_client.get("/sla/calendar/year/1999").status_code == 404


def test_the_notice_text_pasted_is_checked_then_confirmed(supervisor_client):
    token = page_csrf(supervisor_client, "/sla/calendar/import")
    form = {
        "csrf_token": token,
        "year": "2027",
        "source": NOTICE,
        "text": "一、元旦：1月1日（周五）至3日（周日）放假，共3天。"
        "二、春节：2月6日（农历腊月三十、周六）至14日（农历正月初八、周日）放假调休，共9天。2月20日（周六）上班。",
        "off": "",
        "work": "",
    }
    preview = text(supervisor_client.post("/sla/calendar/import", data=form))
    assert '<strong data-count="days_off">6</strong>' in preview  # 1 Jan, 8-12 Feb
    assert '<strong data-count="makeup">1</strong>' in preview
    assert session.get(CalendarYear, 2027) is None
    # the confirmation step carries the date lines the prose was read into
    assert "2027-02-06:2027-02-14 春节" in preview
    confirm = {k: v for k, v in form.items() if k != "text"} | {
        "off": "2027-01-01:2027-01-03 元旦\n2027-02-06:2027-02-14 春节",
        "work": "2027-02-20 春节",
        "confirm": "1",
    }
    response = supervisor_client.post("/sla/calendar/import", data=confirm, follow_redirects=True)
    assert "工作日放假 6 天，调休上班 1 天" in flashes(text(response))[0]
    assert session.get(CalendarDay, date(2027, 2, 20)).kind == "work"


def test_a_notice_of_another_year_is_refused(supervisor_client):
    token = page_csrf(supervisor_client, "/sla/calendar/import")
    form = {
        "csrf_token": token,
        "year": "2027",
        "source": NOTICE,
        "off": "",
        "work": "",
        "text": "国务院办公厅关于2026年部分节假日安排的通知 一、元旦：1月1日放假。",
    }
    response = supervisor_client.post("/sla/calendar/import", data=form)
    assert response.status_code == 400
    assert "粘贴的是 2026 年的通知" in text(response)
