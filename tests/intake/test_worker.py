"""The worker's scheduler: jobs in-process, and IMAP IDLE bringing the poll forward within seconds."""

from __future__ import annotations

import threading
import time

import pytest

from helpdesk import scheduler
from tests.intake.conftest import make_mail


@pytest.mark.sqlite_only
def test_idle_watcher_wakes_the_poll_when_mail_arrives(imap, imap_settings, db_kind):
    woken = threading.Event()
    watcher = scheduler.IdleWatcher(imap_settings, woken.set, timeout=30)
    watcher.start()
    try:
        time.sleep(1.0)  # let it enter IDLE
        imap.append(make_mail(subject="IDLE 测试"))
        assert woken.wait(10), "new mail did not wake the poller within 10 s"
    finally:
        watcher.stop()


@pytest.mark.sqlite_only
def test_scheduler_runs_the_jobs_and_makes_tickets(app, imap, imap_settings, smtp, monkeypatch):
    from sqlalchemy import func, select

    from helpdesk.db import session
    from helpdesk.tickets.models import Ticket

    values = app.config["HELPDESK"].values
    values.update(
        {
            "HELPDESK_IMAP_HOST": imap.host,
            "HELPDESK_IMAP_PORT": imap.port,
            "HELPDESK_IMAP_USER": imap.user,
            "HELPDESK_IMAP_PASSWORD": imap.password,
            "HELPDESK_IMAP_SSL": "none",
            "HELPDESK_SMTP_HOST": smtp.host,
            "HELPDESK_SMTP_PORT": smtp.port,
            "HELPDESK_SMTP_SSL": "none",
        }
    )
    imap.append(make_mail(subject="后台任务收信"))
    jobs = scheduler.build(app, blocking=False)
    jobs.start()
    try:
        received = smtp.wait_for(1, timeout=30)  # the acknowledgement went out through the outbox job
    finally:
        jobs.shutdown(wait=True)
    assert "后台任务收信" in received[0].message["Subject"]
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Ticket)) == 1
