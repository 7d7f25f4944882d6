"""/admin/mail shows the mail backlog, and its JSON endpoint counts it down as the mail is ingested."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from helpdesk.db import session
from helpdesk.tickets import inbound, intake
from helpdesk.tickets.models import Ticket
from tests.intake.conftest import make_mail


def test_backlog_counts_down_as_stored_mail_is_ingested(app, admin_client):
    for n in range(3):
        inbound.store_raw(make_mail(subject=f"咨询 {n}", body=f"第 {n} 封"), internal_date=datetime.now(UTC), source="eml")  # fmt: skip
    page = admin_client.get("/admin/mail").get_data(as_text=True)
    assert 'data-backlog="stored">3<' in page and "admin_mail.js" in page
    url = re.search(r'data-backlog-url="([^"]+)"', page).group(1)
    seen = [admin_client.get(url).get_json()]
    for _ in range(3):
        intake.ingest_pending(limit=1)
        seen.append(admin_client.get(url).get_json())
    assert [s["stored"] for s in seen] == [3, 2, 1, 0]
    assert all(s["failed"] == 0 and s["claimed"] == 0 for s in seen)
    assert session.query(Ticket).count() == 3

    ticket = session.query(Ticket).first()
    ticket.ocr_pending = True
    session.commit()
    assert admin_client.get(url).get_json()["ocr_pending"] == 1
    assert admin_client.get(url).headers["Content-Type"].startswith("application/json")


def test_backlog_needs_an_admin(app, agent_client, client):
    assert agent_client.get("/admin/mail/backlog").status_code == 403
    assert client.get("/admin/mail/backlog").status_code in (302, 401)
