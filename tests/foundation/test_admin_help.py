"""An admin helps a stuck user: a temporary password (shown once, sessions ended) or lifting the
lockout the login page tells users to ask the admin about; both audited, both admin-only."""

from __future__ import annotations

import re

from sqlalchemy import select

from helpdesk.auth.models import LoginAttempt
from helpdesk.db import session
from helpdesk.records.models import AuditEntry
from tests.conftest import PASSWORD, login, page_csrf


def _lock_out(client, username: str) -> None:
    for _ in range(5):
        login(client, username, "wrong-password")


def test_admin_resets_a_password_the_old_one_and_its_sessions_end(app, users, admin_client):
    agent_browser = app.test_client()
    assert login(agent_browser, "agent1").status_code == 302
    token = page_csrf(admin_client, "/admin/users")
    page = admin_client.post(f"/admin/users/{users['agent'].id}/password/reset", data={"csrf_token": token})
    html = page.get_data(as_text=True)
    password = re.search(r'data-testid="temporary-password">([^<]+)<', html)[1]
    assert len(password) == 12
    assert agent_browser.get("/").status_code == 302  # the agent's session ended
    assert login(app.test_client(), "agent1", PASSWORD).status_code != 302  # the old password is gone
    assert login(app.test_client(), "agent1", password).status_code == 302
    (entry,) = session.scalars(select(AuditEntry).where(AuditEntry.action == "password_reset")).all()
    assert entry.actor_id == users["admin"].id and entry.entity_id == str(users["agent"].id)
    assert password not in str(entry.detail)


def test_admin_unlocks_a_locked_user(app, users, admin_client):
    victim = app.test_client()
    _lock_out(victim, "agent1")
    page = admin_client.get("/admin/users").get_data(as_text=True)
    assert 'data-locked="agent1"' in page
    response = login(victim, "agent1")
    assert response.status_code != 302  # locked: the right password is refused too
    token = page_csrf(admin_client, "/admin/users")
    admin_client.post(f"/admin/users/{users['agent'].id}/unlock", data={"csrf_token": token})
    assert session.scalars(select(LoginAttempt).where(LoginAttempt.username == "agent1")).all() == []
    assert login(app.test_client(), "agent1").status_code == 302
    (entry,) = session.scalars(select(AuditEntry).where(AuditEntry.action == "unlock")).all()
    assert entry.before == "5" and entry.actor_id == users["admin"].id


def test_only_admins_and_not_on_themselves(app, users, admin_client, supervisor_client):
    token = page_csrf(supervisor_client, "/")
    target = users["agent"].id
    assert (
        supervisor_client.post(
            f"/admin/users/{target}/password/reset", data={"csrf_token": token}
        ).status_code
        == 403
    )
    assert (
        supervisor_client.post(f"/admin/users/{target}/unlock", data={"csrf_token": token}).status_code == 403
    )
    token = page_csrf(admin_client, "/admin/users")
    me = users["admin"].id
    response = admin_client.post(
        f"/admin/users/{me}/password/reset", data={"csrf_token": token}, follow_redirects=True
    )
    assert "不能在这里重置自己的密码" in response.get_data(as_text=True)
    assert admin_client.post(f"/admin/users/{target}/unlock", data={}).status_code == 400  # CSRF
