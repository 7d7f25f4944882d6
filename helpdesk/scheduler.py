"""The table of background jobs, run by `helpdesk worker` (or in-process by `helpdesk demo`).

Every job is safe to run in two workers at once: polling, the SLA tick and OCR hold a job lock
(helpdesk.core.leases: an advisory lock on PostgreSQL, a heartbeat lease on SQLite), stored mail is
claimed row by row before it is ingested, outbound mail and SLA notices are claimed with
compare-and-set. A worker that dies frees all of it within the lease TTL (at once on PostgreSQL).

`run_worker` is `helpdesk worker`: SIGTERM (or Ctrl+C) lets the running job steps finish, then exits 0.
Every step logs one line at its end, with its duration (its start at DEBUG). An IMAP, SMTP or database outage is retried
with a growing backoff and logged once when it starts and once when it ends (helpdesk.core.outages).
"""

from __future__ import annotations

import logging
import signal
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
from sqlalchemy.exc import InterfaceError, OperationalError

from helpdesk import db
from helpdesk.core import metrics, outages
from helpdesk.mail.imap import ImapSettings, ImapSource

log = logging.getLogger(__name__)

#: this process's outages by dependency ("imap", "smtp", "database")
OUTAGES = outages.Outages()


def in_app(app: Flask, fn: Callable[[], Any], name: str) -> Callable[[], None]:
    def run() -> None:
        database = OUTAGES["database"]
        if not database.due(db.utcnow()):
            return  # backing off while the database is down: no step, no log line
        with app.app_context():
            started, ok = time.perf_counter(), False
            # the start at DEBUG, the end (with the duration) at INFO: one line per step by default
            log.debug("job %s started", name, extra={"job": name, "event": "job_start"})
            try:
                fn()
                ok = True
                if database.recovered():
                    outages.store(database)
            except (OperationalError, InterfaceError) as exc:  # the database is unreachable: one outage
                db.session.rollback()
                if database.failed(f"{type(exc.orig).__name__}: {exc.orig}"):
                    outages.store(database)  # best effort: it may well be down
            except Exception:  # a job must never kill the scheduler; the next run retries
                log.exception("job %s failed", name, extra={"job": name})
                db.session.rollback()
            finally:
                seconds = time.perf_counter() - started
                metrics.job_ran(name, ok, seconds)
                log.info(
                    "job %s finished in %.3f s",
                    name,
                    seconds,
                    extra={
                        "job": name,
                        "event": "job_end",
                        "ok": ok,
                        "duration_ms": round(seconds * 1000, 1),
                    },
                )
                db.session.remove()

    return run


def poll_mail() -> None:
    from helpdesk.tickets import poll

    imap = OUTAGES["imap"]
    if not imap.due(db.utcnow()):
        return
    report = poll.poll_once()
    metrics.MAIL_FETCHED.inc(report.fetched)
    metrics.MAIL_FAILED.inc(report.failed)
    if report.errors:
        metrics.POLL_ERRORS.inc()
        imap.failed(report.errors[-1])
        outages.store(imap)  # at every (backed-off) attempt: a store lost to a database hiccup is redone
    elif not report.skipped and imap.recovered():
        outages.store(imap)
    if report.fetched:
        log.info(report.summary())


def _smtp_outcome(outcome: Any) -> None:
    """Told every outbox attempt: the server answered (sent, or refused for good) or is unwell."""
    metrics.MAIL_SENT.labels(outcome.state).inc()
    smtp = OUTAGES["smtp"]
    if outcome.state == "retry" and not outcome.go_on:
        smtp.failed(str(outcome.error or ""))
    elif outcome.state in ("sent", "failed"):
        smtp.recovered()


def send_mail() -> None:
    from flask import current_app

    from helpdesk.mail import outbox

    smtp = OUTAGES["smtp"]
    if not smtp.due(db.utcnow()):
        return
    was_down = smtp.since is not None
    if _smtp_outcome not in outbox.OBSERVERS:
        outbox.OBSERVERS.append(_smtp_outcome)
    outbox.send_pending(outbox.SmtpSettings.from_settings(current_app.config["HELPDESK"]))
    if was_down or smtp.since is not None:
        outages.store(smtp)


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
        told = False
        while not self.stopping.is_set():
            try:
                with ImapSource(self.settings) as source:
                    told = False
                    while not self.stopping.is_set():
                        if source.idle_wait(min(self.timeout, 60)):
                            self.wake()
            except Exception as exc:  # server gone or IDLE unsupported: the interval poll still runs
                # once, not every minute: the poll job reports the outage itself
                log.log(
                    logging.DEBUG if told else logging.INFO,
                    "IMAP IDLE unavailable (%s); retrying in 60 s",
                    exc,
                )
                told = True
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


def run_worker(app: Flask) -> int:
    """`helpdesk worker`: run the jobs until SIGTERM or SIGINT, let the running steps finish, return 0."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        if not stop.is_set():
            log.info("%s received: finishing the running job steps", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    with app.app_context():
        outages.clear_stored()  # a killed worker's outage rows: this worker reports afresh
    scheduler = build(app, blocking=False)
    scheduler.start()
    log.info(
        "worker started",
        extra={"event": "worker_start", "jobs": ",".join(j.id for j in scheduler.get_jobs())},
    )
    try:
        while not stop.wait(1):
            pass
    finally:
        scheduler.shutdown(wait=True)  # waits for every running job to end its step
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("worker stopped", extra={"event": "worker_stop"})
    return 0
