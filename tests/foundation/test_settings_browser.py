"""The settings page in a real Chromium at 1366x768: a supervisor turns the second approval on with
the keyboard; screenshots for the record."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from helpdesk.core.models import Setting
from helpdesk.db import session
from tests.conftest import browser_login, screenshot

pytestmark = [pytest.mark.sqlite_only, pytest.mark.browser]


def test_supervisor_turns_on_the_second_approval(app, users, live_server, page):
    page.set_viewport_size({"width": 1366, "height": 768})
    browser_login(page, live_server, "super1")
    page.click("header.top nav >> text=设置")
    assert page.locator("h1").inner_text() == "设置"
    assert page.locator('[data-setting="second_approval"]').inner_text() == "未开启"
    screenshot(page, "settings")
    button = page.locator("button", has_text="开启主管审批")
    button.focus()
    with page.expect_navigation():  # the form posts, then the redirect back to the settings page
        page.keyboard.press("Enter")
    expect(page.locator('[data-setting="second_approval"]')).to_have_text("已开启")
    session.expire_all()
    assert session.get(Setting, "require_second_approval").value is True
    screenshot(page, "settings-approval-on")
