"""The queue in a real Chromium at 1366x768: dense rows, the sticky bulk bar, 我的待办 for agents,
search from the keyboard with marked hits, and "n" asking before a second ticket."""

from __future__ import annotations

from datetime import timedelta

import pytest

from helpdesk.db import session, session_factory, utcnow
from helpdesk.tickets.models import Ticket
from tests.conftest import browser_login, screenshot
from tests.tickets.factories import make_ticket

pytestmark = [pytest.mark.sqlite_only, pytest.mark.browser]

VISIBLE_ROWS = """() => Array.from(document.querySelectorAll('table.queue tbody tr[data-href]'))
    .filter(r => { const b = r.getBoundingClientRect(); return b.top >= 0 && b.bottom <= window.innerHeight; }).length"""
IN_VIEW = """sel => { const b = document.querySelector(sel).getBoundingClientRect();
    return b.top >= 0 && b.bottom <= window.innerHeight && b.height > 0; }"""


def _many_tickets(n: int = 60) -> None:
    now = utcnow()
    kinds = ("change", "unbind", "cancel", "recovery", "inquiry")
    for i in range(n):
        make_ticket(
            type=kinds[i % len(kinds)],
            subject=f"{'变更说明' if i % 2 else '解绑说明'}（苏州恒达贸易有限公司 第{i}号）关于统一社会信用代码的更正申请",
            sender=f"contact{i}@corp{i % 7}.cn",
            received_at=now - timedelta(hours=2 + i * 3),
            letter=None,
            fields={"company_name": f"苏州恒达贸易有限公司{i}"},
        )
    session.remove()


def test_twenty_rows_fit_and_the_bulk_bar_stays_in_view(live_server, page, users):
    _many_tickets()
    browser_login(page, live_server, "super1")
    page.goto(live_server.url + "/")
    assert page.viewport_size == {"width": 1366, "height": 768}
    screenshot(page, "queue")
    visible = page.evaluate(VISIBLE_ROWS)
    assert visible >= 20, f"only {visible} rows fit the screen"
    assert page.evaluate(IN_VIEW, ".bulk-bar")
    # scrolled to the bottom of a 50-row page, the bulk bar is still on screen
    page.keyboard.press("End")
    page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
    assert page.evaluate("() => window.scrollY") > 0
    assert page.evaluate(IN_VIEW, ".bulk-bar")
    # the pager tells where we are and how many there are
    pager = page.inner_text(".result-count")
    assert "共 60 张" in pager and "第 1 页" in pager and "共 2 页" in pager
    page.click("a[rel=next]")
    assert "第 2 页" in page.inner_text(".result-count")
    assert page.locator("table.queue tbody tr[data-href]").count() == 10


def test_agent_lands_on_my_work_searches_and_is_asked_before_a_second_ticket(live_server, page, users):
    mine = make_ticket(subject="我的变更说明", assignee_id=users["agent"].id, body="请尽快办理")
    other = make_ticket(subject="解绑说明", body="附件是<b>盖章</b>的解绑说明和营业执照")
    session.remove()
    browser_login(page, live_server, "agent1")
    page.goto(live_server.url + "/")
    assert page.inner_text("nav.tabs a[aria-current=page]").startswith("我的待办")
    assert page.locator("table.queue tbody tr[data-href]").count() == 1
    # "/" focuses the search box; a word of another ticket's body finds it, marked and escaped
    page.keyboard.press("/")
    page.keyboard.type("营业执照")
    page.keyboard.press("Enter")
    page.wait_for_url("**q=*")
    row = page.locator(f"table.queue tbody tr[data-href$='/tickets/{other.id}']")
    assert row.count() == 1
    assert row.locator("mark").first.inner_text() == "营业执照"
    assert "<b>盖章</b>" in row.inner_text()  # shown as text, not as markup
    # "n" while holding a ticket asks first; Enter confirms
    page.goto(live_server.url + f"/tickets/{mine.id}")
    page.keyboard.press("n")
    page.wait_for_selector("text=再领取一张工单？")
    with session_factory() as own:
        assert own.get(Ticket, other.id).assignee_id is None
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/tickets/{other.id}")
    with session_factory() as own:
        assert own.get(Ticket, other.id).assignee_id == users["agent"].id
