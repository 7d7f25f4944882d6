"""Outbound mail through a real SMTP server: delayed by an outage, never lost, never sent twice."""

from __future__ import annotations

import threading
from datetime import timedelta

from flask import Flask
from sqlalchemy import func, select

from helpdesk import db
from helpdesk.db import session, utcnow
from helpdesk.mail import outbox
from helpdesk.mail.models import OutboundMail
from helpdesk.tickets import intake
from tests.intake.conftest import make_mail


def queue_three() -> None:
    for i in range(3):
        intake.import_eml(make_mail(subject=f"来信 {i}", sender=f"s{i}@corp.cn"))


def test_acknowledgements_reach_the_smtp_server_with_threading_headers(app, smtp, smtp_settings):
    queue_three()
    assert outbox.send_pending(smtp_settings) == 3
    messages = smtp.wait_for(3)
    subjects = sorted(m.message["Subject"] for m in messages)
    assert subjects[0] == "[ZXZJ#1] 已收到：来信 0"
    first = next(m.message for m in messages if "[ZXZJ#1]" in m.message["Subject"])
    assert first["In-Reply-To"] and first["Auto-Submitted"] == "auto-replied"
    assert "2 个工作日" in first.get_content()
    assert (
        session.scalar(select(func.count()).select_from(OutboundMail).where(OutboundMail.sent_at.is_(None)))
        == 0
    )


def test_smtp_down_mail_waits_and_is_delivered_once_when_it_returns(app, smtp, smtp_settings):
    queue_three()
    smtp.stop()
    try:
        assert outbox.send_pending(smtp_settings) == 0
        rows = session.scalars(select(OutboundMail)).all()
        assert all(r.sent_at is None and not r.failed for r in rows)
        assert sum(r.attempts for r in rows) == 1  # the first failure stops the round
        assert [bool(r.last_error) for r in rows].count(True) == 1
    finally:
        smtp.start()
    later = utcnow() + timedelta(hours=2)
    while outbox.send_next(smtp_settings, now=later):
        pass
    assert len(smtp.wait_for(3)) == 3
    assert outbox.send_pending(smtp_settings) == 0
    assert len(smtp.messages) == 3


def test_temporary_rejection_is_retried(app, smtp, smtp_settings):
    queue_three()
    smtp.reject_reply = "451 4.3.0 try again later"
    outbox.send_pending(smtp_settings)
    assert smtp.messages == []
    smtp.reject_reply = None
    while outbox.send_next(smtp_settings, now=utcnow() + timedelta(hours=2)):
        pass
    assert len(smtp.wait_for(3)) == 3


def test_two_senders_at_once_send_each_mail_once(app: Flask, smtp, smtp_settings):
    for i in range(12):
        intake.import_eml(make_mail(subject=f"并发 {i}", sender=f"p{i}@corp.cn"))
    db.session.remove()

    def worker() -> None:
        with app.app_context():
            outbox.send_pending(smtp_settings)
            db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    smtp.wait_for(12)
    ids = [m.message["Message-ID"] for m in smtp.messages]
    assert len(ids) == 12 and len(set(ids)) == 12


def test_failed_mail_can_be_retried_by_an_admin(app, smtp, smtp_settings):
    queue_three()
    row = session.scalars(select(OutboundMail)).first()
    row.failed, row.attempts = True, 3
    session.commit()
    outbox.send_pending(smtp_settings)
    assert len(smtp.wait_for(2)) == 2
    outbox.retry(row.id)
    outbox.send_pending(smtp_settings)
    assert len(smtp.wait_for(3)) == 3


def test_admin_sees_failed_mail_and_retries_it(app, admin_client):
    from tests.conftest import page_csrf

    queue_three()
    row = session.scalars(select(OutboundMail)).first()
    row.failed, row.last_error = True, "收件人被拒绝：bad@corp.cn"
    session.commit()
    page = admin_client.get("/admin/mail").get_data(as_text=True)
    assert "发送失败 1 封" in page and "收件人被拒绝" in page and "等待发送 2 封" in page
    token = page_csrf(admin_client, "/admin/mail")
    assert (
        admin_client.post(f"/admin/mail/outbox/{row.id}/retry", data={"csrf_token": token}).status_code == 302
    )
    session.expire_all()
    assert not session.get(OutboundMail, row.id).failed


def test_agent_cannot_see_mail_health(app, agent_client):
    assert agent_client.get("/admin/mail").status_code == 403
