"""The dashboard pages: access, drill-down links, the polled fragment, exports and bulk reassignment."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from helpdesk.dashboard import figures, views
from helpdesk.db import session
from helpdesk.tickets.models import Ticket, TicketEvent
from tests.conftest import page_csrf
from tests.dashboard.history import NOW, at, build

PERIOD_ARGS = "period=custom&from=2026-09-28&to=2026-10-11"


@pytest.fixture
def h(app, users, monkeypatch):
    monkeypatch.setattr(views, "_now", lambda: NOW.astimezone(UTC))
    return build()


def figure_href(html: str, key: str) -> str:
    match = re.search(rf'href="([^"]*)" data-figure="{re.escape(key)}"', html)
    assert match, f"no link for {key}"
    return match.group(1).replace("&amp;", "&")


def test_agent_gets_403_everywhere(h, agent_client):
    for path in (
        "/dashboard/",
        "/dashboard/now",
        "/dashboard/drill?key=now.age.3",
        "/dashboard/export/report.xlsx",
    ):
        assert agent_client.get(path).status_code == 403, path
    token = page_csrf(agent_client, "/")
    resp = agent_client.post(
        "/dashboard/reassign", data={"csrf_token": token, "from_user": h.b.id, "to_user": h.a.id}
    )
    assert resp.status_code == 403


def test_anonymous_is_sent_to_login(client):
    resp = client.get("/dashboard/")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_supervisor_page_links_numbers_to_the_queue(h, supervisor_client):
    html = supervisor_client.get(f"/dashboard/?{PERIOD_ARGS}").get_data(as_text=True)
    assert "SLA 看板" in html and "计算于 2026-10-12 14:00" in html
    assert parse_qs(urlsplit(figure_href(html, "now.due_today")).query) == {"due": ["today"]}
    assert urlsplit(figure_href(html, "now.due_today")).path == "/"
    assert parse_qs(urlsplit(figure_href(html, "now.breached")).query) == {"view": ["breached"]}
    ids = parse_qs(urlsplit(figure_href(html, "report.missed")).query)["ids"][0]
    assert ids == f"{h.t['T3'].id},{h.t['T4'].id}"
    received = parse_qs(urlsplit(figure_href(html, "report.received")).query)
    assert received == {"view": ["all"], "received_from": ["2026-09-28"], "received_to": ["2026-10-11"]}
    # the figures themselves
    assert re.search(r'data-figure="report.compliance">66.7%<', html)
    assert re.search(r'data-figure="report.median">18.2 小时<', html)  # 1095 min
    assert re.search(r'data-figure="report.p90">30.0 小时<', html)
    assert "到期时仍未分配客服" in html and "等待企业补充前已超时" in html
    assert html.count("<svg") == 4 and "每日收到与办结" in html and "未结工单账龄" in html


def test_now_fragment_is_polled(h, supervisor_client):
    page = supervisor_client.get("/dashboard/").get_data(as_text=True)
    assert 'data-poll="/dashboard/now"' in page
    assert "近 30 天 2026-09-13 至 2026-10-12" in page  # the default period ends today
    resp = supervisor_client.get("/dashboard/now", headers={"X-Requested-With": "fetch"})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "<html" not in body
    assert "计算于 2026-10-12 14:00" in body and 'data-figure="now.breached"' in body
    href = figure_href(body, "now.open.type.change")
    assert parse_qs(urlsplit(href).query) == {"status": ["new,open,waiting"], "type": ["change"]}


def test_big_figures_go_through_the_drill_page(h, supervisor_client, monkeypatch):
    monkeypatch.setattr(figures, "ID_LINK_LIMIT", 1)
    monkeypatch.setattr(views, "ID_LINK_LIMIT", 1)
    from helpdesk.dashboard import now

    monkeypatch.setattr(now, "ID_LINK_LIMIT", 1)
    html = supervisor_client.get(f"/dashboard/?{PERIOD_ARGS}").get_data(as_text=True)
    href = figure_href(html, "report.breaches")
    assert (
        href.startswith("/dashboard/drill?") and "key=report.breaches" in href and "from=2026-09-28" in href
    )
    listing = supervisor_client.get(href).get_data(as_text=True)
    assert "共 4 张工单" in listing
    for name in ("T3", "T4", "T7", "T8"):
        assert f"ZXZJ#{h.t[name].id}<" in listing
    # within the limit the drill endpoint hands over to the queue
    resp = supervisor_client.get("/dashboard/drill?key=now.age.0")
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/?ids={h.t['T11'].id}")
    assert supervisor_client.get("/dashboard/drill?key=nonsense").status_code == 404


def test_exports_xlsx_have_chinese_headers_real_dates_and_widths(h, supervisor_client):
    resp = supervisor_client.get(f"/dashboard/export/report.xlsx?{PERIOD_ARGS}")
    assert resp.status_code == 200 and "spreadsheetml" in resp.mimetype
    assert "sla-report-20260928-20261011.xlsx" in resp.headers["Content-Disposition"]
    wb = load_workbook(io.BytesIO(resp.data))
    assert wb.sheetnames == ["概要", "办结明细", "超时明细", "每日"]
    summary = wb["概要"]
    assert [c.value for c in summary[1]][:5] == ["分组", "收到", "办结（含驳回）", "按时办结", "按时办结率"]
    assert [c.value for c in summary[2]][1:4] == [10, 6, 4]
    assert summary["E2"].number_format == "0.0%" and summary["E2"].value == pytest.approx(4 / 6)
    assert summary.column_dimensions["A"].width >= 10
    detail = wb["办结明细"]
    started = detail["E2"].value
    assert isinstance(started, datetime) and detail["E2"].number_format == "yyyy-mm-dd hh:mm"

    breaches = load_workbook(
        io.BytesIO(supervisor_client.get(f"/dashboard/export/breaches.xlsx?{PERIOD_ARGS}").data)
    )["超时明细"]
    rows = list(breaches.iter_rows(values_only=True))
    assert rows[0][:3] == ("工单号", "主题", "类型")
    assert [r[0] for r in rows[1:]] == [f"ZXZJ#{h.t[n].id}" for n in ("T3", "T8", "T4", "T7")]
    assert rows[1][6] == at("09-30 17:00").replace(tzinfo=None)  # local time, as a real date
    assert rows[1][10] == "到期时仍未分配客服"


def test_exports_csv_is_utf8_with_bom(h, supervisor_client):
    resp = supervisor_client.get(f"/dashboard/export/breaches.csv?{PERIOD_ARGS}")
    assert resp.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(resp.data.decode("utf-8-sig"))))
    assert rows[0][0] == "工单号" and len(rows) == 5
    assert rows[1][6] == "2026-09-30 17:00"
    report = list(
        csv.reader(
            io.StringIO(
                supervisor_client.get(f"/dashboard/export/report.csv?{PERIOD_ARGS}").data.decode("utf-8-sig")
            )
        )
    )
    assert report[1][1:5] == ["10", "6", "4", "66.7%"]


def test_bulk_reassign_records_one_event_per_ticket(h, supervisor_client, users):
    token = page_csrf(supervisor_client, "/dashboard/")
    resp = supervisor_client.post(
        "/dashboard/reassign",
        data={"csrf_token": token, "from_user": h.b.id, "to_user": h.a.id, "scope": "all"},
    )
    assert resp.status_code == 302 and resp.headers["Location"].endswith("#people")
    session.expire_all()
    moved = {h.t["T5"].id, h.t["T8"].id}
    assert (
        set(session.scalars(select(Ticket.id).where(Ticket.assignee_id == h.a.id, Ticket.id.in_(moved))))
        == moved
    )
    events = session.scalars(
        select(TicketEvent).where(
            TicketEvent.kind == "assigned", TicketEvent.ticket_id.in_(moved), TicketEvent.detail.is_not(None)
        )
    ).all()
    bulk = [e for e in events if (e.detail or {}).get("bulk")]
    assert sorted(e.ticket_id for e in bulk) == sorted(moved)
    assert {(e.actor_id, e.old_value, e.new_value) for e in bulk} == {
        (users["supervisor"].id, str(h.b.id), str(h.a.id))
    }
    page = supervisor_client.get("/dashboard/").get_data(as_text=True)
    assert "已将 乙客服 的 2 张工单改派给 甲客服" in page


def test_bulk_reassign_scope_limit_and_unassign(h, supervisor_client):
    token = page_csrf(supervisor_client, "/dashboard/")
    supervisor_client.post(
        "/dashboard/reassign",
        data={"csrf_token": token, "from_user": h.b.id, "to_user": "none", "scope": "active"},
    )
    session.expire_all()
    assert session.get(Ticket, h.t["T5"].id).assignee_id is None  # open: moved back to the pool
    assert session.get(Ticket, h.t["T8"].id).assignee_id == h.b.id  # waiting: kept


def test_bulk_reassign_needs_csrf(h, supervisor_client):
    resp = supervisor_client.post("/dashboard/reassign", data={"from_user": h.b.id, "to_user": h.a.id})
    assert resp.status_code == 400
    session.expire_all()
    assert session.get(Ticket, h.t["T5"].id).assignee_id == h.b.id


def test_exports_keep_formulas_from_mail_subjects_as_text(h, supervisor_client):
    ticket = h.t["T3"]
    ticket.subject = '=HYPERLINK("http://evil.test","点我")'
    session.commit()
    sheet = load_workbook(
        io.BytesIO(supervisor_client.get(f"/dashboard/export/breaches.xlsx?{PERIOD_ARGS}").data)
    )
    cell = sheet["超时明细"]["B2"]
    assert cell.value == ticket.subject and cell.data_type == "s"
    text = supervisor_client.get(f"/dashboard/export/breaches.csv?{PERIOD_ARGS}").data.decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(text)))[1][1] == "'" + ticket.subject


def test_the_missing_year_is_said_once_on_the_dashboard(h, supervisor_client, monkeypatch):
    from datetime import date

    from helpdesk.sla import views as sla_views

    november = datetime(2026, 11, 2, 10, tzinfo=ZoneInfo("Asia/Shanghai"))
    monkeypatch.setattr(views, "_now", lambda: november.astimezone(UTC))
    monkeypatch.setattr(sla_views, "_today", lambda: date(2026, 11, 2))
    html = supervisor_client.get("/dashboard/").get_data(as_text=True)
    assert html.count("2027") and html.count("年的官方放假安排") == 1
    assert "calendar-banner" not in html  # the now panel says it; no second banner above it
    queue = supervisor_client.get("/").get_data(as_text=True)
    assert "calendar-banner" in queue  # elsewhere the banner stays
