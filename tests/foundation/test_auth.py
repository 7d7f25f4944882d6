from __future__ import annotations

from sqlalchemy import func, select

from helpdesk.auth import services
from helpdesk.auth.models import LoginAttempt, User
from helpdesk.db import session
from tests.conftest import PASSWORD, csrf_token_from, login, page_csrf


def test_login_page_is_chinese_and_public(client):
    response = client.get("/login")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "登录" in html and 'name="csrf_token"' in html


def test_pages_redirect_anonymous_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_login_with_right_password_reaches_queue(client, users):
    response = login(client, "agent1")
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_wrong_password_is_refused_and_recorded(client, users):
    response = login(client, "agent1", "wrong-password")
    assert response.status_code == 401
    assert "用户名或密码不正确" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302
    assert session.scalar(select(func.count()).select_from(LoginAttempt)) == 1


def test_login_without_csrf_token_is_rejected(client, users):
    response = client.post("/login", data={"username": "agent1", "password": PASSWORD})
    assert response.status_code == 400
    assert "安全校验" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_post_without_csrf_token_changes_nothing(agent_client, users):
    before = users["agent"].password_hash
    response = agent_client.post(
        "/account/password", data={"old": PASSWORD, "new": "another-pass-1", "confirm": "another-pass-1"}
    )
    assert response.status_code == 400
    session.expire_all()
    assert session.get(User, users["agent"].id).password_hash == before


def test_throttle_after_repeated_failures_even_with_right_password(client, users):
    for _ in range(services.MAX_FAILURES_PER_USER):
        assert login(client, "agent1", "nope-nope").status_code == 401
    response = login(client, "agent1")
    assert response.status_code == 429
    assert "15 分钟" in response.get_data(as_text=True)


def test_throttle_per_address_covers_many_user_names(client, users):
    for i in range(services.MAX_FAILURES_PER_ADDRESS):
        login(client, f"nobody{i}", "x")
    assert login(client, "super1").status_code == 429


def test_deactivated_users_old_cookie_stops_working_at_once(app, users, admin_client):
    agent = app.test_client()
    login(agent, "agent1")
    assert agent.get("/").status_code == 200
    token = page_csrf(admin_client, "/admin/users")
    response = admin_client.post(
        f"/admin/users/{users['agent'].id}/active", data={"active": "0", "csrf_token": token}
    )
    assert response.status_code == 302
    assert agent.get("/").status_code == 302  # sent back to login
    assert login(app.test_client(), "agent1").status_code == 401


def test_password_change_ends_other_sessions_but_keeps_this_one(app, users):
    first, second = app.test_client(), app.test_client()
    login(first, "agent1")
    login(second, "agent1")
    token = page_csrf(first, "/account/password")
    response = first.post(
        "/account/password",
        data={"old": PASSWORD, "new": "brand-new-pass", "confirm": "brand-new-pass", "csrf_token": token},
    )
    assert response.status_code == 302
    assert first.get("/").status_code == 200
    assert second.get("/").status_code == 302
    assert login(app.test_client(), "agent1", "brand-new-pass").status_code == 302


def test_wrong_old_password_is_refused(agent_client):
    token = page_csrf(agent_client, "/account/password")
    response = agent_client.post(
        "/account/password",
        data={"old": "bad", "new": "brand-new-pass", "confirm": "brand-new-pass", "csrf_token": token},
    )
    assert response.status_code == 400
    assert "原密码不正确" in response.get_data(as_text=True)


def test_open_redirect_after_login_is_refused(client, users):
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login?next=//evil.example/x", data={"username": "agent1", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302
    assert "evil" not in response.headers["Location"]


def test_passwords_are_hashed(users):
    assert PASSWORD not in users["agent"].password_hash
    assert users["agent"].password_hash.startswith(("scrypt:", "pbkdf2:"))


def test_session_cookie_is_http_only(client, users):
    response = login(client, "agent1")
    cookie = next(c for c in response.headers.get_all("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_admin_cannot_deactivate_self(admin_client, users):
    token = page_csrf(admin_client, "/admin/users")
    admin_client.post(f"/admin/users/{users['admin'].id}/active", data={"active": "0", "csrf_token": token})
    session.expire_all()
    assert session.get(User, users["admin"].id).active


def test_error_pages_are_chinese(agent_client):
    response = agent_client.get("/tickets/999999")
    assert response.status_code == 404
    assert "页面不存在" in response.get_data(as_text=True)


def test_logout_ends_the_session(agent_client):
    token = page_csrf(agent_client, "/account/password")
    response = agent_client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert agent_client.get("/").status_code == 302


def test_the_favicon_is_ours_and_public(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response.headers["Location"].endswith("/static/favicon.svg")
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml" and b"<svg" in icon.data
    assert 'rel="icon"' in client.get("/login").get_data(as_text=True)
