"""/admin/mail shows the mail backlog, and its JSON endpoint counts it down as the mail is ingested."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from helpdesk.db import session
from helpdesk.tickets import inbound, intake
from helpdesk.tickets.models import Ticket
from tests.intake.conftest import make_mail


def test_backlog_counts_down_as_stored_mail_is_ingested(app, admin_client):
    for n in range(3):
        inbound.store_raw(make_mail(subject=f"咨询 {n}", body=f"第 {n} 封"), internal_date=datetime.now(UTC), source="eml")  # fmt: skip
    page = admin_client.get("/admin/mail").get_data(as_text=True)
    assert 'data-backlog="stored">3<' in page and "admin_mail.js" in page
    url = re.search(r'data-backlog-url="([^"]+)"', page).group(1)
    seen = [admin_client.get(url).get_json()]
    for _ in range(3):
        intake.ingest_pending(limit=1)
        seen.append(admin_client.get(url).get_json())
    assert [s["stored"] for s in seen] == [3, 2, 1, 0]
    assert all(s["failed"] == 0 and s["claimed"] == 0 for s in seen)
    assert session.query(Ticket).count() == 3

    ticket = session.query(Ticket).first()
    ticket.ocr_pending = True
    session.commit()
    assert admin_client.get(url).get_json()["ocr_pending"] == 1
    assert admin_client.get(url).headers["Content-Type"].startswith("application/json")


def test_backlog_needs_an_admin(app, agent_client, client):
    assert agent_client.get("/admin/mail/backlog").status_code == 403
    assert client.get("/admin/mail/backlog").status_code in (302, 401)


@pytest.mark.sqlite_only
@pytest.mark.browser
def test_the_mail_page_shows_the_backlog_going_down(app, users, live_server, page):
    from playwright.sync_api import expect

    from tests.conftest import browser_login, screenshot

    for n in range(2):
        inbound.store_raw(make_mail(subject=f"咨询 {n}"), internal_date=datetime.now(UTC), source="eml")
    browser_login(page, live_server, "admin1")
    page.goto(f"{live_server.url}/admin/mail")
    stored = page.locator('#mail-backlog [data-backlog="stored"]')
    expect(stored).to_have_text("2")
    intake.ingest_pending(limit=1)
    expect(stored).to_have_text("1", timeout=15_000)  # the page's own script fetched the new count
    intake.ingest_pending(limit=1)
    expect(stored).to_have_text("0", timeout=15_000)
    expect(page.locator("[data-backlog-status]")).to_contain_text("更新于")
    screenshot(page, "admin-mail-backlog")
