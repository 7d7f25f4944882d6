"""Logins as database rows: logout, password change and deactivation end them for good."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from helpdesk.auth import services
from helpdesk.auth.models import Role, User, UserSession
from helpdesk.db import session
from tests.conftest import PASSWORD, csrf_token_from, make_user, page_csrf


def _login(client: FlaskClient, username: str, *, remember: bool = False) -> None:
    data = {"username": username, "password": PASSWORD, "csrf_token": page_csrf(client, "/login")}
    if remember:
        data["remember"] = "y"
    assert client.post("/login", data=data).status_code == 302


def _copy(app: Flask, source: FlaskClient, name: str) -> FlaskClient:
    """A new browser holding only a copy of `source`'s cookie `name`."""
    cookie = source.get_cookie(name)
    assert cookie is not None, f"no {name} cookie"
    thief = app.test_client()
    thief.set_cookie(name, cookie.value)
    return thief


def _logout(client: FlaskClient) -> None:
    assert client.post("/logout", data={"csrf_token": page_csrf(client, "/")}).status_code == 302


def test_copied_session_cookie_is_refused_after_logout(app, users):
    browser = app.test_client()
    _login(browser, "agent1")
    thief = _copy(app, browser, "session")
    assert thief.get("/").status_code == 200  # the copy works while the login lasts
    _logout(browser)
    assert thief.get("/").status_code == 302
    assert "/login" in thief.get("/").headers["Location"]


def test_copied_remember_me_cookie_is_refused_after_logout(app, users):
    browser = app.test_client()
    _login(browser, "agent1", remember=True)
    thief = _copy(app, browser, "remember_token")  # another browser: no session cookie, only remember-me
    assert thief.get("/").status_code == 200
    _logout(browser)
    late = app.test_client()  # a fresh copy of the stolen cookie, as a thief would replay it
    late.set_cookie("remember_token", thief.get_cookie("remember_token").value)
    assert late.get("/").status_code == 302
    assert thief.get("/").status_code == 302  # the thief's browser, with the session it was given
    assert session.query(UserSession).filter_by(user_id=users["agent"].id).count() == 0


def test_logout_deletes_only_this_login(app, users):
    first, second = app.test_client(), app.test_client()
    _login(first, "agent1")
    _login(second, "agent1")
    _logout(first)
    assert first.get("/").status_code == 302
    assert second.get("/").status_code == 200


def test_user_sees_other_sessions_and_ends_one(app, users):
    here, phone = app.test_client(), app.test_client()
    _login(phone, "agent1")
    _login(here, "agent1")
    page = here.get("/account/sessions").get_data(as_text=True)
    assert page.count("结束这个登录") == 1 and "当前登录" in page
    other = session.query(UserSession).filter_by(user_id=users["agent"].id).order_by(UserSession.id).first()
    response = here.post(f"/account/sessions/{other.id}/end", data={"csrf_token": csrf_token_from(page)})
    assert response.status_code == 302
    assert "已结束这个登录" in here.get("/account/sessions").get_data(as_text=True)
    assert phone.get("/").status_code == 302
    assert here.get("/").status_code == 200


def test_user_cannot_end_another_users_session(app, users):
    mine, theirs = app.test_client(), app.test_client()
    _login(theirs, "super1")
    _login(mine, "agent1")
    row = session.query(UserSession).filter_by(user_id=users["supervisor"].id).one()
    token = page_csrf(mine, "/account/sessions")
    mine.post(f"/account/sessions/{row.id}/end", data={"csrf_token": token})
    assert theirs.get("/").status_code == 200


def test_api_token_is_refused_after_deactivation_and_after_reactivation(app, users):
    agent = users["agent"]
    token = services.issue_api_token(agent)
    api = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/v1/me", headers=headers).status_code == 200
    services.set_active(agent, False, by=users["admin"])
    assert api.get("/api/v1/me", headers=headers).status_code == 401
    services.set_active(agent, True, by=users["admin"])
    assert api.get("/api/v1/me", headers=headers).status_code == 401
    assert services.user_for_token(token) is None


def test_deactivation_ends_sessions_for_good(app, users):
    browser = app.test_client()
    _login(browser, "agent1", remember=True)
    services.set_active(users["agent"], False, by=users["admin"])
    services.set_active(users["agent"], True, by=users["admin"])
    assert browser.get("/").status_code == 302  # neither the session nor the remember-me cookie is back
    assert session.query(UserSession).filter_by(user_id=users["agent"].id).count() == 0


def test_password_change_revokes_the_api_token(app, users):
    token = services.issue_api_token(users["agent"])
    services.change_password(users["agent"], PASSWORD, "brand-new-pass")
    assert services.user_for_token(token) is None
    assert session.query(UserSession).filter_by(user_id=users["agent"].id).count() == 1  # the new one


def test_last_admin_cannot_be_demoted(admin_client, users):
    admin = users["admin"]
    token = page_csrf(admin_client, "/admin/users")
    response = admin_client.post(f"/admin/users/{admin.id}/role", data={"role": "agent", "csrf_token": token})
    assert response.status_code == 302
    assert "唯一在用的管理员" in admin_client.get("/admin/users").get_data(as_text=True)
    session.expire_all()
    assert session.get(User, admin.id).role == Role.ADMIN.value


def test_last_admin_cannot_be_deactivated_by_the_cli_either(users):
    admin = users["admin"]
    try:
        services.set_active(admin, False)
    except services.AuthError as exc:
        assert "唯一在用的管理员" in str(exc)
    else:
        raise AssertionError("the last admin was deactivated")
    session.expire_all()
    assert session.get(User, admin.id).active


def test_an_admin_may_step_down_when_another_admin_remains(admin_client, users):
    make_user("admin2", Role.ADMIN)
    token = page_csrf(admin_client, "/admin/users")
    admin_client.post(f"/admin/users/{users['admin'].id}/role", data={"role": "agent", "csrf_token": token})
    session.expire_all()
    assert session.get(User, users["admin"].id).role == Role.AGENT.value
