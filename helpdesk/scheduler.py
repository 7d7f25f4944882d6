"""The table of background jobs, run by `helpdesk worker` (or in-process by `helpdesk demo`).

Every job is safe to run in two workers at once: polling, the SLA tick and OCR hold a job lock
(helpdesk.core.leases: an advisory lock on PostgreSQL, a heartbeat lease on SQLite), stored mail is
claimed row by row before it is ingested, outbound mail and SLA notices are claimed with
compare-and-set. A worker that dies frees all of it within the lease TTL (at once on PostgreSQL).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from helpdesk import db
from helpdesk.mail.imap import ImapSettings, ImapSource

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

    from helpdesk.tickets import notices

    settings = current_app.config["HELPDESK"]
    notices.scheduled_tick(str(settings["HELPDESK_SMTP_FROM"]), settings.timezone)


def sla_calendar() -> None:
    from flask import current_app

    from helpdesk.tickets import notices

    settings = current_app.config["HELPDESK"]
    notices.check_calendar_coverage(str(settings["HELPDESK_SMTP_FROM"]), settings.timezone)


def ocr_pending() -> None:
    from helpdesk.core import leases
    from helpdesk.tickets import ocr_job

    with leases.held("ocr") as lease:
        if lease is not None:
            ocr_job.run_ocr_pending()


def retry_failed_ingest() -> None:
    from helpdesk.tickets import intake

    intake.ingest_pending(limit=50, deadline=time.monotonic() + 30)


def retention() -> None:
    from flask import current_app

    from helpdesk.tickets import retention as retention_module

    settings = current_app.config["HELPDESK"]
    retention_module.scheduled_run(int(settings["HELPDESK_RETENTION_DAYS"] or 0), settings.attachments_dir)


class IdleWatcher(threading.Thread):
    """Holds an IMAP IDLE connection and wakes the poll job within seconds of new mail.

    Polling on the interval stays the safety net: IDLE only brings the next poll forward.
    """

    def __init__(self, settings: ImapSettings, wake: Callable[[], None], *, timeout: float = 25 * 60) -> None:
        super().__init__(name="imap-idle", daemon=True)
        self.settings, self.wake, self.timeout = settings, wake, timeout
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                with ImapSource(self.settings) as source:
                    while not self.stopping.is_set():
                        if source.idle_wait(min(self.timeout, 60)):
                            self.wake()
            except Exception as exc:  # server gone or IDLE unsupported: the interval poll still runs
                log.info("IMAP IDLE unavailable (%s); retrying in 60 s", exc)
                self.stopping.wait(60)

    def stop(self) -> None:
        self.stopping.set()


def build(app: Flask, *, blocking: bool) -> BaseScheduler:
    settings = app.config["HELPDESK"]
    cls = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = cls(
        timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300}
    )
    jobs: list[tuple[str, Callable[[], None], int]] = [
        ("poll-mail", poll_mail, int(settings["HELPDESK_IMAP_POLL_SECONDS"])),
        ("send-mail", send_mail, 10),
        ("sla-tick", sla_tick, 60),
        ("sla-calendar", sla_calendar, 86400),
        ("ocr", ocr_pending, 30),
        ("retry-ingest", retry_failed_ingest, int(settings["HELPDESK_INGEST_RETRY_SECONDS"])),
        ("retention", retention, 3600),  # a no-op while HELPDESK_RETENTION_DAYS is off
    ]
    for name, fn, seconds in jobs:
        scheduler.add_job(in_app(app, fn, name), "interval", seconds=seconds, id=name, next_run_time=_soon())
    imap_settings = ImapSettings.from_settings(settings)
    if imap_settings.host:
        watcher = IdleWatcher(
            imap_settings, lambda: scheduler.modify_job("poll-mail", next_run_time=_soon(0))
        )
        scheduler.add_listener(lambda _event: watcher.stop(), EVENT_SCHEDULER_SHUTDOWN)
        watcher.start()
    return scheduler


def _soon(seconds: float = 2) -> Any:
    return datetime.now(UTC) + timedelta(seconds=seconds)
