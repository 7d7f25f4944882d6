"""Outages of what the worker depends on (IMAP, SMTP, the database): retried with backoff, logged
once when one starts (WARNING) and once when it ends (INFO), never once per attempt.

The worker keeps one `Outage` per dependency in memory (so a database outage is tracked too) and
writes the ones it can to a `settings` row `outage:<name>`, which /readyz, `helpdesk check` and the
admins' banner read (the web processes are other processes).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from helpdesk.db import utcnow

log = logging.getLogger("helpdesk.outages")

#: what each dependency is called on the banner
LABELS = {"imap": "收信服务器（IMAP）", "smtp": "发信服务器（SMTP）", "database": "数据库"}
KEY_PREFIX = "outage:"
FIRST_DELAY = timedelta(seconds=5)
MAX_DELAY = timedelta(minutes=5)


@dataclass
class Outage:
    """One dependency's state in this process: since when it fails, and when to try it again."""

    name: str
    since: datetime | None = None
    failures: int = 0
    next_attempt_at: datetime | None = None
    error: str = ""

    def due(self, now: datetime) -> bool:
        """May the job try the dependency now? False while backing off during an outage."""
        return self.next_attempt_at is None or now >= self.next_attempt_at

    def failed(self, error: str, now: datetime | None = None) -> bool:
        """Record a failed attempt; returns True when this attempt starts an outage (logged once)."""
        now = now or utcnow()
        started = self.since is None
        self.failures += 1
        self.error = error
        delay = min(FIRST_DELAY * 2 ** min(self.failures - 1, 10), MAX_DELAY)  # 2**10 * 5 s > MAX_DELAY
        self.next_attempt_at = now + delay
        if started:
            self.since = now
            log.warning(
                "outage started: %s unavailable: %s",
                self.name,
                error,
                extra={"dependency": self.name, "event": "outage_start"},
            )
        return started

    def recovered(self, now: datetime | None = None) -> bool:
        """Record a working attempt; returns True when it ends an outage (logged once)."""
        if self.since is None:
            return False
        now = now or utcnow()
        seconds = (now - self.since).total_seconds()
        log.info(
            "outage ended: %s available again after %.0f s and %d failed attempts",
            self.name,
            seconds,
            self.failures,
            extra={"dependency": self.name, "event": "outage_end", "duration_s": round(seconds, 1)},
        )
        self.since, self.failures, self.next_attempt_at, self.error = None, 0, None, ""
        return True


class Outages:
    """The worker's outages, by dependency name (thread-safe: jobs run in a thread pool)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_name: dict[str, Outage] = {}

    def __getitem__(self, name: str) -> Outage:
        with self._lock:
            return self._by_name.setdefault(name, Outage(name))

    def active(self) -> list[Outage]:
        with self._lock:
            return [o for o in self._by_name.values() if o.since is not None]


def store(outage: Outage) -> None:
    """Write (or clear) the outage's row for the other processes; best effort, never raises."""
    from helpdesk.core.models import Setting
    from helpdesk.db import session, unit_of_work

    try:
        with unit_of_work():
            row = session.get(Setting, KEY_PREFIX + outage.name)
            if outage.since is None:
                if row is not None:
                    session.delete(row)
                return
            value: dict[str, Any] = {"since": outage.since.isoformat(), "failures": outage.failures}
            if row is None:
                session.add(Setting(key=KEY_PREFIX + outage.name, value=value))
            else:
                row.value = value
    except Exception:  # the database itself may be the outage: the in-memory state still holds
        log.debug("could not store the %s outage", outage.name, exc_info=True)


def clear_stored() -> None:
    """Forget the outages a previous worker recorded (it may have been killed during one)."""
    for name in LABELS:
        store(Outage(name))


def stored(now: datetime) -> dict[str, datetime]:
    """Outages the worker has recorded: dependency name -> since when."""
    from sqlalchemy import select

    from helpdesk.core.models import Setting
    from helpdesk.db import session

    found = {}
    for name in LABELS:
        value = session.scalar(select(Setting.value).where(Setting.key == KEY_PREFIX + name))
        if isinstance(value, dict) and value.get("since"):
            try:
                found[name] = datetime.fromisoformat(str(value["since"]))
            except ValueError:
                continue
    return found


def banner(now: datetime, tz: tzinfo) -> str | None:
    """The admins' banner: which dependency is down and since when, or None."""
    from helpdesk.db import session

    try:
        found = stored(now)
    except Exception:
        session.rollback()
        return None
    if not found:
        return None
    parts = [
        f"{LABELS[name]}自 {since.astimezone(tz):%m-%d %H:%M} 起无法连接" for name, since in found.items()
    ]
    return "；".join(parts) + "；后台任务正在自动重试，恢复后无需重启。"
