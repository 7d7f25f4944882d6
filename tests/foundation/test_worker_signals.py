"""`helpdesk worker` under SIGTERM (a real subprocess), and outages of IMAP and SMTP: retried with
backoff, logged once when they start and once when they end, shown on /readyz and to admins."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from helpdesk import db, scheduler
from helpdesk.core import outages
from helpdesk.db import session, unit_of_work, utcnow
from helpdesk.mail.models import OutboundMail
from helpdesk.tickets.models import Ticket
from tests.intake.conftest import make_mail
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


def worker_env(app, **extra: object) -> dict[str, str]:
    settings = app.config["HELPDESK"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(
        {
            "HELPDESK_DATABASE_URL": settings.database_url,
            "HELPDESK_INSTANCE_DIR": str(settings.instance_dir),
            "HELPDESK_SECRET_KEY": str(settings["HELPDESK_SECRET_KEY"]),
            "HELPDESK_SMTP_HOST": "",
            "HELPDESK_LEASE_SECONDS": "5",
            "PYTHONPATH": str(ROOT),
        }
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


def tickets() -> int:
    session.rollback()
    try:
        with db.reads():  # a DEFERRED snapshot: never waits behind (nor blocks) the worker's writes
            return session.scalar(select(func.count()).select_from(Ticket)) or 0
    finally:
        session.rollback()


@pytest.mark.dovecot
@pytest.mark.sqlite_only
def test_sigterm_mid_poll_finishes_the_step_and_exits_0(app, imap):
    total = 8
    for n in range(total):
        imap.append(make_mail(subject=f"咨询第 {n} 封", sender=f"q{n}@example.com"))
    env = worker_env(
        app,
        HELPDESK_IMAP_HOST=imap.host,
        HELPDESK_IMAP_PORT=imap.port,
        HELPDESK_IMAP_USER=imap.user,
        HELPDESK_IMAP_PASSWORD=imap.password,
        HELPDESK_IMAP_SSL="none",
    )
    worker = subprocess.Popen(
        [sys.executable, "-c", "from helpdesk.cli import main; main()", "worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180
        while tickets() == 0 and worker.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        made_before = tickets()
        assert worker.poll() is None, worker.communicate()[0]
        worker.send_signal(signal.SIGTERM)
        out, _ = worker.communicate(timeout=240)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, out
    assert "SIGTERM received" in out and "worker stopped" in out
    # the poll that was running when the signal came went on to its end: every mail is a ticket
    assert tickets() == total, (made_before, out)
    assert out.rindex("job poll-mail finished") < out.rindex("worker stopped")


def point_imap_at(app, host: str, port: int, user: str = "zxzj", password: str = "x") -> None:
    app.config["HELPDESK"].values.update(
        {
            "HELPDESK_IMAP_HOST": host,
            "HELPDESK_IMAP_PORT": port,
            "HELPDESK_IMAP_USER": user,
            "HELPDESK_IMAP_PASSWORD": password,
            "HELPDESK_IMAP_SSL": "none",
        }
    )


def outage_records(caplog, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "helpdesk.outages" and r.levelno == level]


@pytest.mark.dovecot
def test_imap_outage_is_logged_once_shown_and_recovered_without_restart(
    app, imap, admin_client, caplog, monkeypatch
):
    monkeypatch.setattr(scheduler, "OUTAGES", outages.Outages())
    caplog.set_level(logging.INFO)
    point_imap_at(app, "127.0.0.1", free_port(), imap.user)  # nothing listens there
    job = scheduler.in_app(app, scheduler.poll_mail, "poll-mail")
    imap_outage = scheduler.OUTAGES["imap"]
    for _attempt in range(4):
        imap_outage.next_attempt_at = None  # the backoff has passed
        job()
    assert imap_outage.failures == 4
    assert len(outage_records(caplog, logging.WARNING)) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and r.name != "helpdesk.outages"]
    # while backing off, the job does not even try
    waiting_until = imap_outage.next_attempt_at
    job()
    assert imap_outage.failures == 4 and imap_outage.next_attempt_at == waiting_until
    # the web processes see it: /readyz and the admins' banner
    ready = admin_client.get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["checks"]["worker"]["ok"] is False
    assert "收信服务器（IMAP）" in admin_client.get("/").get_data(as_text=True)

    imap.append(make_mail(subject="恢复后的第一封"))
    point_imap_at(app, imap.host, imap.port, imap.user, imap.password)  # the server is back
    imap_outage.next_attempt_at = None
    job()
    job()
    assert len(outage_records(caplog, logging.INFO)) == 1
    assert imap_outage.since is None
    assert tickets() == 1
    checks = admin_client.get("/readyz").get_json()["checks"]
    assert checks["worker"]["ok"] is True
    assert "收信服务器（IMAP）" not in admin_client.get("/").get_data(as_text=True)


@pytest.mark.smtp
@pytest.mark.sqlite_only
def test_smtp_outage_is_logged_once_and_mail_goes_out_after_it(app, smtp, caplog, monkeypatch):
    from helpdesk.mail import outbox

    monkeypatch.setattr(scheduler, "OUTAGES", outages.Outages())
    monkeypatch.setattr(outbox, "OBSERVERS", [])
    caplog.set_level(logging.INFO)
    with unit_of_work():
        session.add(
            OutboundMail(
                to_addr="a@example.com", subject="回复：咨询", body_text="您好", message_id="o1@ops.test"
            )
        )
    values = app.config["HELPDESK"].values
    values.update(
        {"HELPDESK_SMTP_HOST": "127.0.0.1", "HELPDESK_SMTP_PORT": free_port(), "HELPDESK_SMTP_SSL": "none"}
    )
    job = scheduler.in_app(app, scheduler.send_mail, "send-mail")
    smtp_outage = scheduler.OUTAGES["smtp"]
    for _attempt in range(3):
        smtp_outage.next_attempt_at = None
        with unit_of_work():  # the row's own backoff has passed too
            session.execute(OutboundMail.__table__.update().values(next_attempt_at=utcnow()))
        job()
    assert smtp_outage.failures == 3
    assert len(outage_records(caplog, logging.WARNING)) == 1
    values.update({"HELPDESK_SMTP_HOST": smtp.host, "HELPDESK_SMTP_PORT": smtp.port})
    smtp_outage.next_attempt_at = None
    with unit_of_work():
        session.execute(OutboundMail.__table__.update().values(next_attempt_at=utcnow()))
    job()
    assert len(smtp.wait_for(1, timeout=30)) == 1
    assert len(outage_records(caplog, logging.INFO)) == 1 and smtp_outage.since is None


@pytest.mark.sqlite_only
def test_database_outage_is_logged_once_and_jobs_recover(app, caplog, monkeypatch):
    from helpdesk import db

    monkeypatch.setattr(scheduler, "OUTAGES", outages.Outages())
    caplog.set_level(logging.INFO)
    url = app.config["HELPDESK"].database_url
    job = scheduler.in_app(app, scheduler.sla_tick, "sla-tick")
    database = scheduler.OUTAGES["database"]
    db.configure(f"postgresql+psycopg://helpdesk@127.0.0.1:{free_port()}/gone")  # nothing listens
    try:
        for _attempt in range(3):
            database.next_attempt_at = None
            job()
    finally:
        db.configure(url)  # the database is back
    assert database.failures == 3
    assert len(outage_records(caplog, logging.WARNING)) == 1
    database.next_attempt_at = None
    job()
    assert database.since is None
    assert len(outage_records(caplog, logging.INFO)) == 1
    ended = [r for r in caplog.records if getattr(r, "event", "") == "job_end"]
    assert [r.ok for r in ended] == [False, False, False, True]


def test_backoff_doubles_and_stays_capped_over_a_long_outage():
    from datetime import timedelta

    outage = outages.Outage("smtp")
    now = utcnow()
    delays = []
    for _ in range(500):  # a long outage: the delay must neither overflow nor grow past the cap
        outage.failed("down", now)
        delays.append(outage.next_attempt_at - now)
    assert delays[:3] == [timedelta(seconds=5), timedelta(seconds=10), timedelta(seconds=20)]
    assert max(delays) == outages.MAX_DELAY == delays[-1]
