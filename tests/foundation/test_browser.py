"""A person logs in with a real Chromium and sees the home page in Chinese."""

from __future__ import annotations

import pytest

from tests.conftest import browser_login, screenshot

pytestmark = [pytest.mark.sqlite_only, pytest.mark.browser]


def test_login_with_the_keyboard_and_see_the_queue(live_server, page, users):
    page.goto(live_server.url + "/")
    assert "/login" in page.url
    assert page.locator("h1").inner_text().startswith("外贸发展专项资金")
    browser_login(page, live_server, "agent1")
    assert page.locator("header.top").inner_text().count("工单队列") == 1
    assert "王客服" in page.locator(".me").inner_text()
    screenshot(page, "home")


def test_wrong_password_shows_a_chinese_message(live_server, page, users):
    page.goto(live_server.url + "/login")
    page.fill("input[name=username]", "agent1")
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    assert "用户名或密码不正确" in page.locator(".flashes").inner_text()


def test_navigation_follows_the_role(live_server, page, users):
    browser_login(page, live_server, "admin1")
    nav = page.locator("header.top nav").inner_text()
    assert "用户管理" in nav
    page.click("text=用户管理")
    assert page.locator("h1").inner_text() == "用户管理"
