"""A supervisor uses the dashboard in a real Chromium; an agent is refused. Screenshots for the record."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from helpdesk.dashboard import views
from helpdesk.tickets import queue_filters
from tests.conftest import browser_login, screenshot
from tests.dashboard.history import NOW, build

pytestmark = [pytest.mark.sqlite_only, pytest.mark.browser]

PERIOD_ARGS = "period=custom&from=2026-09-28&to=2026-10-11"
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@pytest.fixture
def h(app, users, monkeypatch):
    # the dashboard and the queue it links to both look at the same fixed moment
    monkeypatch.setattr(views, "_now", lambda: NOW.astimezone(UTC))
    monkeypatch.setattr(queue_filters, "utcnow", lambda: NOW.astimezone(UTC))
    return build()


def test_supervisor_clicks_a_number_and_lands_on_the_filtered_queue(h, live_server, page):
    browser_login(page, live_server, "super1")
    page.goto(f"{live_server.url}/dashboard/?{PERIOD_ARGS}")
    assert page.locator("h1").inner_text().startswith("SLA 看板")
    assert "计算于 2026-10-12 14:00" in page.locator("#now").inner_text()

    # the charts are drawn: five SVGs, each with bars of non-zero size
    charts = page.locator("svg.chart")
    assert charts.count() == 4
    for i in range(charts.count()):
        box = charts.nth(i).bounding_box()
        assert box and box["width"] > 200 and box["height"] > 80
    assert page.locator("svg.chart rect[height]").count() > 30
    heights = page.eval_on_selector_all("svg.chart rect", "els => els.map(e => e.getBBox().height)")
    assert max(heights) > 20
    assert "每日收到与办结" in page.locator("#charts").inner_text()
    screenshot(page, "dashboard")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#charts").screenshot(path=str(SHOTS / "dashboard-charts.png"))
    page.locator("#now").screenshot(path=str(SHOTS / "dashboard-now.png"))

    page.click('[data-figure="now.due_today"]')
    page.wait_for_url(lambda url: "/dashboard" not in url)
    parts = urlsplit(page.url)
    assert parts.path == "/" and parse_qs(parts.query) == {"due": ["today"]}
    assert page.locator("table.queue tbody tr[data-href]").count() == 2  # T5 and T9, as on the dashboard

    page.go_back()
    page.click('a[data-figure="report.missed"]')
    page.wait_for_url(lambda url: "ids=" in url)
    assert parse_qs(urlsplit(page.url).query)["ids"] == [f"{h.t['T3'].id},{h.t['T4'].id}"]

    page.go_back()
    page.click("svg.chart a >> nth=0")  # a bar of the breaches-by-type chart
    page.wait_for_url(lambda url: "ids=" in url)


def test_now_panel_refreshes_itself(h, live_server, page):
    browser_login(page, live_server, "super1")
    page.clock.install()
    page.goto(f"{live_server.url}/dashboard/")
    page.evaluate("document.querySelector('#now h2').textContent = 'stale'")
    page.clock.run_for(61_000)
    expect(page.locator("#now h2")).to_have_text("此刻")  # the fragment replaced the panel's content
    # T7 running past due and T8 paused after its due: a pause hides no breach
    assert page.locator("#now [data-figure='now.breached']").first.inner_text() == "2"


def test_agent_gets_403(h, live_server, page):
    browser_login(page, live_server, "agent1")
    assert "SLA 看板" not in page.locator("header.top nav").inner_text()
    response = page.goto(f"{live_server.url}/dashboard/")
    assert response.status == 403
    assert "没有权限" in page.content()
    screenshot(page, "dashboard-agent-403")
