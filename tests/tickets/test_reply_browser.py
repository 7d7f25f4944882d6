"""The reply box in a real Chromium: a macro goes in at the cursor and keeps the typed text, `::`
search, a draft survives a reload, Ctrl+Enter sends (and the sent reply's draft is gone).

The app runs in a werkzeug thread on SQLite; the test thread reads the database only in short
sessions of its own (an open read would block the server's writes).
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from helpdesk.db import session, session_factory
from helpdesk.mail.models import OutboundMail
from helpdesk.tickets.models import Macro, ReplyDraft
from tests.conftest import browser_login, screenshot
from tests.tickets.factories import make_ticket

pytestmark = [pytest.mark.sqlite_only, pytest.mark.browser]


def macro_body(key: str, page) -> str:
    return page.locator(f'#macro option[value="{key}"]').get_attribute("data-body")


def drafts_and_replies() -> tuple[list[str], int]:
    with session_factory() as own:
        bodies = list(own.scalars(select(ReplyDraft.body)))
        replies = own.scalar(
            select(func.count()).select_from(OutboundMail).where(OutboundMail.kind == "reply")
        )
        return bodies, replies or 0


def test_reply_box_inserts_searches_keeps_drafts_and_sends_with_ctrl_enter(live_server, page, users):
    ticket_id = make_ticket().id
    assert session.scalar(select(Macro).where(Macro.key == "contacts")) is not None  # seeded
    session.remove()

    browser_login(page, live_server, "agent1")
    page.goto(f"{live_server.url}/tickets/{ticket_id}")
    page.keyboard.press("2")  # the conversation tab, where the reply box lives (the letter is tab 1)
    box = page.locator("#reply-body")

    # typed text, the cursor in the middle: the macro goes in there and nothing typed is lost
    box.click()
    page.keyboard.type("您好！开头的话。结尾的话。")
    page.evaluate("""() => { const t = document.querySelector('#reply-body');
                       const at = t.value.indexOf('结尾'); t.setSelectionRange(at, at); }""")
    page.select_option("#macro", "contacts")
    contacts = macro_body("contacts", page)
    assert box.input_value() == "您好！开头的话。" + contacts + "结尾的话。"
    assert page.locator("#macro").input_value() == ""  # ready for the next one

    # with the keyboard (Shift+Tab to the list): arrows only move the choice, Enter inserts it
    before = box.input_value()
    page.evaluate("() => document.querySelector('#reply-body').setSelectionRange(0, 0)")
    page.locator("#macro").focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    chosen = page.locator("#macro").input_value()
    assert chosen and box.input_value() == before  # nothing inserted while browsing
    chosen_body = macro_body(chosen, page)
    page.keyboard.press("Enter")
    assert box.input_value() == chosen_body + before  # at the cursor (the start), the rest kept
    assert page.evaluate("document.activeElement.id") == "reply-body"
    page.evaluate(
        f"() => {{ const t = document.querySelector('#reply-body'); t.value = t.value.slice({len(chosen_body)}); }}"
    )
    assert box.input_value() == before

    # "::" quick search at the end of the text: type to filter, arrows to choose, Enter inserts
    page.evaluate(
        "() => { const t = document.querySelector('#reply-body'); t.setSelectionRange(t.value.length, t.value.length); t.focus(); }"
    )
    page.keyboard.type("::浏览器")
    popup = page.locator("#macro-search")
    assert popup.is_visible() and box.get_attribute("aria-expanded") == "true"
    options = popup.get_by_role("option")
    assert options.count() >= 1 and "推荐哪些浏览器版本" in options.first.inner_text()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowUp")
    assert options.first.get_attribute("aria-selected") == "true"
    assert box.get_attribute("aria-activedescendant") == options.first.get_attribute("id")
    page.keyboard.press("Enter")
    browsers = macro_body("faq_browsers", page)
    expected = "您好！开头的话。" + contacts + "结尾的话。" + browsers
    assert box.input_value() == expected  # "::浏览器" replaced by the macro
    assert popup.is_hidden() and box.get_attribute("aria-expanded") == "false"

    # Esc closes the list and leaves the text and the focus alone
    page.keyboard.type("::")
    assert popup.is_visible()
    page.keyboard.press("Escape")
    assert popup.is_hidden() and page.evaluate("document.activeElement.id") == "reply-body"
    page.keyboard.press("Backspace")
    page.keyboard.press("Backspace")
    assert box.input_value() == expected
    screenshot(page, "reply-box")

    # the draft is saved on the server as the agent types, and comes back after a reload
    page.wait_for_function(
        "n => document.querySelector('form[data-reply-box]').dataset.draftSaved == n", arg=len(expected)
    )
    assert "草稿已保存" in page.locator("[data-draft-status]").inner_text()
    assert drafts_and_replies()[0] == [expected]
    page.reload()
    page.keyboard.press("2")
    assert page.locator("#reply-body").input_value() == expected
    assert "已恢复" in page.locator("[data-draft-status]").inner_text()

    # text the server has not got yet: leaving the page asks first (the draft endpoint is cut off here)
    page.route("**/draft", lambda route: route.abort())
    dialogs: list[str] = []

    def stay(dialog) -> None:
        dialogs.append(dialog.type)
        dialog.dismiss()  # "stay on this page"

    page.on("dialog", stay)
    page.locator("#reply-body").press("Control+End")
    page.keyboard.type("！")
    page.wait_for_function(
        "() => document.querySelector('[data-draft-status]').textContent.includes('未能保存')"
    )
    page.get_by_role("link", name="工单队列").click()
    page.wait_for_function("() => true")
    assert dialogs == ["beforeunload"]
    assert page.locator("#reply-body").input_value() == expected + "！"  # still here, text intact
    page.remove_listener("dialog", stay)
    page.unroute("**/draft")
    page.locator("#reply-body").press("Control+End")
    page.keyboard.press("Backspace")  # back to what the server has: nothing unsaved
    page.wait_for_function(
        "() => document.querySelector('[data-draft-status]').textContent.includes('草稿已保存')"
    )

    # Ctrl+Enter sends; the draft is deleted with the reply
    page.locator("#reply-body").focus()
    with page.expect_navigation():
        page.keyboard.press("Control+Enter")
    assert "回复已放入发件箱" in page.locator(".flashes").inner_text()
    assert re.search(rf"/tickets/{ticket_id}", page.url)
    assert page.locator("#reply-body").input_value() == ""
    assert drafts_and_replies() == ([], 1)
    assert "结尾的话" in page.locator(".conversation").inner_text()
