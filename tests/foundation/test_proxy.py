"""Behind nginx: with HELPDESK_TRUSTED_PROXIES=1 the client's address comes from X-Forwarded-For, so
the login throttle counts clients, not the proxy; without it the header is ignored (it can be forged)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from helpdesk.auth.models import LoginAttempt
from helpdesk.db import session
from tests.conftest import csrf_token_from


def _failed_login(client, forwarded_for: str) -> None:
    page = client.get("/login", headers={"X-Forwarded-For": forwarded_for}).get_data(as_text=True)
    client.post(
        "/login",
        data={"username": "agent1", "password": "wrong", "csrf_token": csrf_token_from(page)},
        headers={"X-Forwarded-For": forwarded_for},
    )


@pytest.mark.parametrize("app_overrides", [{"HELPDESK_TRUSTED_PROXIES": "1"}])
def test_behind_one_proxy_the_client_address_is_recorded(app, users, client):
    _failed_login(client, "203.0.113.7")
    assert session.scalars(select(LoginAttempt.address)).all() == ["203.0.113.7"]


def test_without_a_trusted_proxy_the_header_is_ignored(app, users, client):
    _failed_login(client, "203.0.113.7")
    assert session.scalars(select(LoginAttempt.address)).all() == ["127.0.0.1"]
