"""Two-factor login: enrolment, the second step, recovery codes, its throttle, the role requirement, resets."""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from helpdesk.auth import services, totp, two_factor
from helpdesk.auth.models import LoginAttempt, RecoveryCode, Role, User, UserSession
from helpdesk.db import session
from helpdesk.records.models import AuditEntry
from tests.conftest import PASSWORD, browser_login, csrf_token_from, page_csrf, screenshot
from tests.foundation.test_cli_and_schema import run_cli

QUEUE = "/"  # the queue, where a login lands


def _path(location: str) -> str:
    return urlsplit(location).path


def _password_step(client: FlaskClient, username: str, *, remember: bool = False, next_path: str = "") -> str:
    """The first step; returns where the login sends the browser."""
    data = {"username": username, "password": PASSWORD, "csrf_token": page_csrf(client, "/login")}
    if remember:
        data["remember"] = "y"
    response = client.post("/login" + (f"?next={next_path}" if next_path else ""), data=data)
    assert response.status_code == 302
    return response.headers["Location"]


def _post_code(client: FlaskClient, code: str) -> tuple[int, str]:
    page = client.get("/login/2fa").get_data(as_text=True)
    response = client.post("/login/2fa", data={"code": code, "csrf_token": csrf_token_from(page)})
    return response.status_code, response.headers.get("Location", "") or response.get_data(as_text=True)


def _enrol_in_browser(client: FlaskClient, path: str = "/account/2fa/enrol") -> tuple[str, list[str]]:
    """Scan (read the secret off the page, as a person would type it), confirm, read the recovery codes."""
    page = client.get(path).get_data(as_text=True)
    assert "<svg" in page  # the QR code, drawn on the server
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")
    # the previous step's code: the login that follows may then use .now() (a step is accepted once)
    code = pyotp.TOTP(secret).at(time.time() - 30)
    response = client.post(path, data={"code": code, "csrf_token": csrf_token_from(page)})
    assert response.status_code == 200
    shown = response.get_data(as_text=True)
    assert "只显示这一次" in shown
    codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", shown)
    return secret, codes


def _enrolled(user: User) -> tuple[str, list[str]]:
    """Enrol through the service (for tests about what comes after)."""
    secret = two_factor.begin_enrolment(user)
    codes = two_factor.confirm_enrolment(user, pyotp.TOTP(secret).at(time.time() - 30))
    return secret, codes


def _audit(action: str) -> list[AuditEntry]:
    return list(
        session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))
    )


def test_enrol_from_the_account_page_then_log_in_with_a_code(app: Flask, agent_client, users):
    page = agent_client.get("/account/2fa").get_data(as_text=True)
    assert "未启用" in page and "/account/2fa/enrol" in page
    secret, codes = _enrol_in_browser(agent_client)
    assert len(codes) == 10 and len(set(codes)) == 10
    stored = session.scalars(
        select(RecoveryCode.code_hash).where(RecoveryCode.user_id == users["agent"].id)
    ).all()
    assert sorted(stored) == sorted(totp.recovery_code_hash(c) for c in codes)
    assert not set(codes) & set(stored)  # hashed, never the codes themselves
    assert "已启用" in agent_client.get("/account/2fa").get_data(as_text=True)
    assert "只显示这一次" not in agent_client.get("/account/2fa").get_data(as_text=True)  # shown once

    browser = app.test_client()
    assert _password_step(browser, "agent1").endswith("/login/2fa")
    status, location = _post_code(browser, pyotp.TOTP(secret).now())
    assert status == 302 and _path(location) == QUEUE
    assert browser.get(QUEUE).status_code == 200
    [entry] = _audit("2fa_enrol")
    assert entry.actor_id == users["agent"].id and entry.entity_id == str(users["agent"].id)


def test_a_wrong_code_and_a_replayed_code_are_refused(app: Flask, users):
    secret, _ = _enrolled(users["agent"])
    browser = app.test_client()
    _password_step(browser, "agent1")
    right = pyotp.TOTP(secret).now()
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    assert _post_code(browser, wrong)[0] == 401
    assert _post_code(browser, "not-a-code")[0] == 401
    assert browser.get(QUEUE).status_code == 302
    assert _post_code(browser, right)[0] == 302
    again = app.test_client()
    _password_step(again, "agent1")
    assert _post_code(again, right)[0] == 401  # the same step twice: a replayed code
    assert again.get(QUEUE).status_code == 302


def test_a_recovery_code_works_once_and_not_twice(app: Flask, users):
    _, codes = _enrolled(users["agent"])
    first = app.test_client()
    _password_step(first, "agent1")
    assert _post_code(first, codes[0].upper().replace("-", " "))[0] == 302  # typed loosely from paper
    assert "还剩 9 个未用的恢复码" in first.get(QUEUE).get_data(as_text=True)
    second = app.test_client()
    _password_step(second, "agent1")
    assert _post_code(second, codes[0])[0] == 401
    assert second.get(QUEUE).status_code == 302
    [entry] = _audit("2fa_recovery_used")
    assert entry.detail == {"left": 9} and entry.actor_id == users["agent"].id
    assert two_factor.recovery_codes_left(users["agent"]) == 9


def test_wrong_codes_count_against_the_login_throttle(app: Flask, users):
    secret, _ = _enrolled(users["agent"])
    browser = app.test_client()
    _password_step(browser, "agent1")
    for _ in range(services.MAX_FAILURES_PER_USER):
        assert _post_code(browser, "000000" if pyotp.TOTP(secret).now() != "000000" else "111111")[0] == 401
    # locked: even the right code is not checked now, and the password step cannot reset the count
    assert _post_code(browser, pyotp.TOTP(secret).now())[0] == 429
    other = app.test_client()
    data = {"username": "agent1", "password": PASSWORD, "csrf_token": page_csrf(other, "/login")}
    assert other.post("/login", data=data).status_code == 429
    assert session.query(LoginAttempt).filter_by(username="agent1").count() >= services.MAX_FAILURES_PER_USER


def test_the_right_password_alone_does_not_clear_wrong_codes(app: Flask, users):
    _enrolled(users["agent"])
    browser = app.test_client()
    _password_step(browser, "agent1")
    _post_code(browser, "000001")
    _password_step(app.test_client(), "agent1")
    assert session.query(LoginAttempt).filter_by(username="agent1").count() == 1


def test_the_half_logged_in_state_is_no_login(app: Flask, users):
    _enrolled(users["agent"])
    browser = app.test_client()
    _password_step(browser, "agent1", remember=True)
    assert browser.get_cookie("remember_token") is None  # no remember-me before the second step
    for path in (QUEUE, "/account/2fa/enrol", "/account/2fa", "/account/sessions", "/notifications/count"):
        response = browser.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path
    assert session.query(UserSession).filter_by(user_id=users["agent"].id).count() == 0
    token = services.issue_api_token(users["agent"])  # API tokens are no cookie login: unaffected
    assert browser.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_remember_me_is_issued_after_the_second_step(app: Flask, users):
    secret, _ = _enrolled(users["agent"])
    browser = app.test_client()
    _password_step(browser, "agent1", remember=True, next_path="/account/sessions")
    status, location = _post_code(browser, pyotp.TOTP(secret).now())
    assert status == 302 and location.endswith("/account/sessions")  # the next the login asked for
    remember = browser.get_cookie("remember_token")
    assert remember is not None
    thief = app.test_client()
    thief.set_cookie("remember_token", remember.value)
    assert thief.get(QUEUE).status_code == 200


def test_a_role_requirement_forces_enrolment_after_the_password(app: Flask, users, admin_client):
    token = page_csrf(admin_client, "/admin/users")
    assert (
        admin_client.post("/admin/users/two-factor", data={"role": "agent", "csrf_token": token}).status_code
        == 302
    )
    assert two_factor.required_roles() == {Role.AGENT}
    [entry] = [e for e in _audit("setting") if e.entity_id == two_factor.REQUIRED_ROLES_KEY]
    assert (entry.before, entry.after, entry.actor_id) == ("", "agent", users["admin"].id)

    browser = app.test_client()
    assert _password_step(browser, "agent1", remember=True).endswith("/login/2fa/enrol")
    assert browser.get(QUEUE).status_code == 302  # nothing else until enrolled
    assert browser.get_cookie("remember_token") is None
    secret, codes = _enrol_in_browser(browser, "/login/2fa/enrol")
    assert len(codes) == 10
    assert browser.get(QUEUE).status_code == 200  # enrolled: now logged in
    assert browser.get_cookie("remember_token") is not None
    # a role that is not required logs in with the password alone
    assert _path(_password_step(app.test_client(), "super1")) == QUEUE
    # and the agent cannot turn it off while the role requires it
    page = browser.get("/account/2fa").get_data(as_text=True)
    assert "不能关闭" in page and "/account/2fa/disable" not in page
    with_code = {"off_code": pyotp.TOTP(secret).now(), "csrf_token": csrf_token_from(page)}
    browser.post("/account/2fa/disable", data=with_code)
    session.expire_all()
    assert session.get(User, users["agent"].id).has_totp


def test_an_existing_session_of_a_required_role_must_enrol_first(app: Flask, agent_client, users):
    two_factor.set_required_roles({Role.AGENT}, by=users["admin"])
    response = agent_client.get(QUEUE)
    assert response.status_code == 302 and response.headers["Location"].endswith("/account/2fa/enrol")
    assert agent_client.get("/account/2fa/enrol").status_code == 200
    assert "管理员要求" in agent_client.get("/account/2fa/enrol").get_data(as_text=True)
    token = services.issue_api_token(users["agent"])
    assert agent_client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    _enrol_in_browser(agent_client)
    assert agent_client.get(QUEUE).status_code == 200


def test_admin_resets_a_users_second_factor(app: Flask, users, admin_client):
    _enrolled(users["agent"])
    page = admin_client.get("/admin/users").get_data(as_text=True)
    assert "已启用" in page
    response = admin_client.post(
        f"/admin/users/{users['agent'].id}/two-factor/reset", data={"csrf_token": csrf_token_from(page)}
    )
    assert response.status_code == 302
    session.expire_all()
    agent = session.get(User, users["agent"].id)
    assert not agent.has_totp and agent.totp_secret is None
    assert session.query(RecoveryCode).filter_by(user_id=agent.id).count() == 0
    assert _path(_password_step(app.test_client(), "agent1")) == QUEUE  # the password alone again
    [entry] = _audit("2fa_reset")
    assert (entry.actor_id, entry.entity_id, entry.before, entry.after) == (
        users["admin"].id,
        str(agent.id),
        "on",
        "off",
    )


def test_the_reset_voids_a_half_done_login(app: Flask, users):
    secret, _ = _enrolled(users["agent"])
    browser = app.test_client()
    _password_step(browser, "agent1")
    two_factor.reset(users["agent"], by=users["admin"])
    _enrolled(users["agent"])  # someone enrols again meanwhile: the old half-login must not finish
    response = browser.get("/login/2fa")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")


def test_agents_cannot_reset_or_set_the_requirement(agent_client, users):
    token = page_csrf(agent_client, "/")
    assert (
        agent_client.post("/admin/users/two-factor", data={"role": "agent", "csrf_token": token}).status_code
        == 403
    )
    reset = agent_client.post(
        f"/admin/users/{users['admin'].id}/two-factor/reset", data={"csrf_token": token}
    )
    assert reset.status_code == 403
    assert two_factor.required_roles() == set()


def test_disable_needs_a_code_or_the_password_and_is_audited(app: Flask, agent_client, users):
    secret, _ = _enrolled(users["agent"])
    page = agent_client.get("/account/2fa").get_data(as_text=True)
    token = csrf_token_from(page)
    agent_client.post("/account/2fa/disable", data={"off_password": "wrong-password", "csrf_token": token})
    session.expire_all()
    assert session.get(User, users["agent"].id).has_totp
    assert session.query(LoginAttempt).filter_by(username="agent1").count() == 1  # counts for the throttle
    agent_client.post("/account/2fa/disable", data={"off_password": PASSWORD, "csrf_token": token})
    session.expire_all()
    assert not session.get(User, users["agent"].id).has_totp
    [entry] = _audit("2fa_disable")
    assert (entry.before, entry.after) == ("on", "off")


def test_regenerated_recovery_codes_replace_the_old_ones(app: Flask, agent_client, users):
    secret, old = _enrolled(users["agent"])
    page = agent_client.get("/account/2fa").get_data(as_text=True)
    response = agent_client.post(
        "/account/2fa/recovery-codes",
        data={"new_code": pyotp.TOTP(secret).now(), "csrf_token": csrf_token_from(page)},
    )
    new = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", response.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(old)
    browser = app.test_client()
    _password_step(browser, "agent1")
    assert _post_code(browser, old[1])[0] == 401
    assert _post_code(browser, new[1])[0] == 302
    assert len(_audit("2fa_recovery_new")) == 1


def test_second_step_needs_the_password_step_first(client, users):
    response = client.get("/login/2fa")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
    response = client.get("/login/2fa/enrol")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")


def test_codes_match_only_within_the_drift_window():
    secret = totp.new_secret()
    now = 1_800_000_000.0
    app_code = pyotp.TOTP(secret)
    assert totp.matching_step(secret, app_code.at(now), now, None) == totp.step_at(now)
    assert totp.matching_step(secret, app_code.at(now - 30), now, None) == totp.step_at(now) - 1
    assert totp.matching_step(secret, app_code.at(now - 90), now, None) is None
    assert totp.matching_step(secret, app_code.at(now), now, totp.step_at(now)) is None  # used already
    assert totp.matching_step(secret, "１２３４５６", now, None) is None  # full-width digits are no code


@pytest.mark.sqlite_only
def test_the_operator_resets_a_locked_out_admin_from_the_command_line(
    app: Flask, users, database_url, tmp_path
):
    _enrolled(users["admin"])
    env = {"HELPDESK_DATABASE_URL": database_url, "HELPDESK_INSTANCE_DIR": str(tmp_path / "cli-instance")}
    done = run_cli("reset-2fa", "admin1", env=env)
    assert done.returncode == 0, done.stderr
    session.expire_all()
    assert not session.get(User, users["admin"].id).has_totp
    [entry] = _audit("2fa_reset")
    assert entry.actor_id is None and entry.detail == {"via": "cli"}
    assert run_cli("reset-2fa", "nobody", env=env).returncode != 0


@pytest.mark.sqlite_only
@pytest.mark.browser
def test_a_person_enrols_and_logs_in_with_the_keyboard_in_chromium(live_server, page, users):
    browser_login(page, live_server, "agent1")
    page.click("text=两步验证")
    page.click("text=启用两步验证")
    qr = page.locator("figure.qr svg")
    box = qr.bounding_box()
    assert box is not None and box["width"] > 100  # drawn under our CSP, no image service
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    screenshot(page, "two_factor_enrol")
    page.keyboard.type(pyotp.TOTP(secret).at(time.time() - 30))  # the code field has the focus
    page.keyboard.press("Enter")
    page.wait_for_selector("#recovery-codes")
    assert page.locator("#recovery-codes li").count() == 10
    screenshot(page, "two_factor_recovery_codes")
    page.keyboard.press("Enter")  # "我已保存，继续" has the focus
    page.wait_for_url(lambda url: url.endswith("/account/2fa"))
    page.click("button:has-text('退出')")
    page.wait_for_url(lambda url: "/login" in url)
    page.fill("input[name=username]", "agent1")
    page.fill("input[name=password]", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: url.endswith("/login/2fa"))
    page.keyboard.type(pyotp.TOTP(secret).now())
    screenshot(page, "two_factor_second_step")
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/login" not in url)
    assert "王客服" in page.locator(".me").inner_text()
