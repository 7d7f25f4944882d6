"""The table of background jobs, run by `helpdesk worker` (or in-process by `helpdesk demo`).

Every job is safe to run in two workers at once: polling takes a database lease per mailbox,
outbound mail and SLA notices are claimed row by row with compare-and-set.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from helpdesk import db

log = logging.getLogger(__name__)


def in_app(app: Flask, fn: Callable[[], Any], name: str) -> Callable[[], None]:
    def run() -> None:
        with app.app_context():
            try:
                fn()
            except Exception:  # a job must never kill the scheduler; the next run retries
                log.exception("job %s failed", name)
                db.session.rollback()
            finally:
                db.session.remove()

    return run


def poll_mail() -> None:
    from helpdesk.tickets import poll

    report = poll.poll_once()
    if report.fetched or report.errors:
        log.info(report.summary())


def send_mail() -> None:
    from flask import current_app

    from helpdesk.mail import outbox

    outbox.send_pending(outbox.SmtpSettings.from_settings(current_app.config["HELPDESK"]))


def sla_tick() -> None:
    from flask import current_app

    from helpdesk.sla import jobs

    settings = current_app.config["HELPDESK"]
    jobs.tick(str(settings["HELPDESK_SMTP_FROM"]), settings.timezone)


def ocr_pending() -> None:
    from helpdesk.core import leases
    from helpdesk.tickets import intake

    if not leases.acquire("ocr", timedelta(minutes=15)):
        return
    try:
        intake.run_ocr_pending()
    finally:
        leases.release("ocr")


def retry_failed_ingest() -> None:
    from helpdesk.tickets import intake

    intake.ingest_pending(limit=50, deadline=time.monotonic() + 30)


def build(app: Flask, *, blocking: bool) -> BaseScheduler:
    settings = app.config["HELPDESK"]
    cls = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = cls(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300})
    jobs: list[tuple[str, Callable[[], None], int]] = [
        ("poll-mail", poll_mail, int(settings["HELPDESK_IMAP_POLL_SECONDS"])),
        ("send-mail", send_mail, 20),
        ("sla-tick", sla_tick, 60),
        ("ocr", ocr_pending, 30),
        ("retry-ingest", retry_failed_ingest, 600),
    ]
    for name, fn, seconds in jobs:
        scheduler.add_job(in_app(app, fn, name), "interval", seconds=seconds, id=name, next_run_time=_soon())
    return scheduler


def _soon() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC) + timedelta(seconds=2)
