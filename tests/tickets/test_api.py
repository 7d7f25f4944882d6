"""The JSON API: bearer tokens per user, list/get with fields, findings and SLA, notes, status."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from helpdesk.auth import services as auth_services
from helpdesk.db import session
from helpdesk.tickets.models import Message, Ticket
from tests.tickets.factories import make_ticket


@pytest.fixture
def token(users) -> str:
    return auth_services.issue_api_token(users["agent"])


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_requests_without_a_valid_token_are_refused(client, users, token):
    make_ticket()
    assert client.get("/api/v1/tickets").status_code == 401
    bad = client.get("/api/v1/tickets", headers=auth("hd_wrong"))
    assert bad.status_code == 401 and bad.get_json()["error"] == "unauthorized"
    assert bad.headers["WWW-Authenticate"].startswith("Bearer")
    users["agent"].active = False
    session.commit()
    assert client.get("/api/v1/tickets", headers=auth(token)).status_code == 401


def test_a_login_cookie_is_not_enough(agent_client):
    make_ticket()
    assert agent_client.get("/api/v1/tickets").status_code == 401


def test_list_with_filters_and_cursor(client, users, token):
    change = make_ticket(type="change")
    make_ticket(type="unbind")
    make_ticket(type="unbind")
    body = client.get("/api/v1/tickets?type=change", headers=auth(token)).get_json()
    assert [t["id"] for t in body["tickets"]] == [change.id]
    row = body["tickets"][0]
    assert row["number"] == f"ZXZJ#{change.id}" and row["sla"]["state"] == "ok"
    assert row["sla"]["business_minutes_left"] > 0 and row["sla"]["due_at"]
    first = client.get("/api/v1/tickets?limit=2", headers=auth(token)).get_json()
    assert len(first["tickets"]) == 2 and first["next_cursor"]
    rest = client.get(f"/api/v1/tickets?limit=2&after={first['next_cursor']}", headers=auth(token)).get_json()
    assert len(rest["tickets"]) == 1 and rest["next_cursor"] is None


def test_get_has_fields_evidence_findings_and_sla(client, users, token):
    ticket = make_ticket()
    body = client.get(f"/api/v1/tickets/{ticket.id}", headers=auth(token)).get_json()
    assert body["fields"]["company_name"] == "北京示例科技有限公司"
    field = body["letter"]["fields"][0]
    assert field["evidence"]["source"] == "body" and 0 < field["confidence"] <= 1
    assert {"code": "required_attachments", "status": "fail"}.items() <= body["findings"][1].items()
    assert body["sla"]["explanation"] and body["messages"][0]["kind"] == "inbound"
    assert client.get("/api/v1/tickets/99999", headers=auth(token)).status_code == 404


def test_add_note(client, users, token):
    ticket = make_ticket()
    response = client.post(
        f"/api/v1/tickets/{ticket.id}/notes", json={"body": "外部系统：已核对档案"}, headers=auth(token)
    )
    assert response.status_code == 201  # no CSRF token needed: the API is exempt
    note = session.get(Message, response.get_json()["id"])
    assert note.kind == "note" and note.author_id == users["agent"].id
    assert (
        client.post(f"/api/v1/tickets/{ticket.id}/notes", json={"body": " "}, headers=auth(token)).status_code
        == 400
    )


def test_change_status_with_optimistic_locking(client, users, token):
    ticket = make_ticket()
    version = ticket.version
    ok = client.post(
        f"/api/v1/tickets/{ticket.id}/status",
        json={"status": "waiting", "version": version},
        headers=auth(token),
    )
    assert ok.status_code == 200 and ok.get_json()["status"] == "waiting" and ok.get_json()["sla"]["paused"]
    stale = client.post(
        f"/api/v1/tickets/{ticket.id}/status",
        json={"status": "resolved", "version": version},
        headers=auth(token),
    )
    assert stale.status_code == 409 and stale.get_json()["error"] == "conflict"
    assert stale.get_json()["version"] > version
    session.expire_all()
    assert session.get(Ticket, ticket.id).status == "waiting"
    for bad in ({"status": "merged"}, {"status": "nope"}, {"status": "open", "version": "x"}):
        assert (
            client.post(f"/api/v1/tickets/{ticket.id}/status", json=bad, headers=auth(token)).status_code
            == 400
        )


def test_status_without_version_applies(client, users, token):
    ticket = make_ticket()
    response = client.post(
        f"/api/v1/tickets/{ticket.id}/status",
        json={"status": "resolved", "reason": "电话已答复"},
        headers=auth(token),
    )
    assert response.status_code == 200
    session.expire_all()
    assert session.scalar(select(Ticket.status).where(Ticket.id == ticket.id)) == "resolved"
