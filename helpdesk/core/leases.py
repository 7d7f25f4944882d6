"""Job locks: one holder per job name at a time, across processes and machines, freed when it dies.

PostgreSQL: a session-level advisory lock on a connection of the holder's own. The server frees it
the moment that connection dies (SIGKILL, a lost machine), so nothing waits for a timeout.
SQLite (one machine): a lease row with a short time-to-live that a heartbeat thread renews while the
work goes on; a killed process stops renewing and its lease expires within the TTL.

Both keep the JobLease row up to date (holder, last run, last error) for the admin pages.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, text, update
from sqlalchemy.exc import IntegrityError

from helpdesk import db
from helpdesk.core.models import JobLease
from helpdesk.db import utcnow

PROCESS = f"{socket.gethostname()}:{os.getpid()}"
#: how long a dead holder can keep a job on SQLite; `HELPDESK_LEASE_SECONDS` sets it per app
DEFAULT_TTL = timedelta(seconds=60)


@dataclass
class Lease:
    name: str
    holder: str
    #: set when the heartbeat found the lease taken over (the holder stalled past its TTL): stop soon
    lost: threading.Event = field(default_factory=threading.Event)
    #: what the run went wrong with, recorded on release (an exception escaping the block also is)
    error: str | None = None


def ttl_from_settings() -> timedelta:
    """The lease TTL of the current app (the tests make it short), or the default outside an app."""
    from flask import current_app, has_app_context

    if has_app_context():
        return timedelta(seconds=int(current_app.config["HELPDESK"]["HELPDESK_LEASE_SECONDS"]))
    return DEFAULT_TTL


@contextmanager
def held(name: str, ttl: timedelta | None = None) -> Iterator[Lease | None]:
    """Hold the job `name` for the block; yields None (and runs nothing) when someone else holds it."""
    ttl = ttl or ttl_from_settings()
    lease = Lease(name, f"{PROCESS}:{uuid.uuid4().hex[:8]}")
    if db.engine().dialect.name == "postgresql":
        with _advisory(lease) as got:
            yield lease if got else None
        return
    if not _take_row(lease, ttl):
        yield None
        return
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(lease, ttl, stop), name=f"lease:{name}", daemon=True)
    beat.start()
    try:
        yield lease
    except BaseException as exc:
        lease.error = lease.error or f"{type(exc).__name__}: {exc}"
        raise
    finally:
        stop.set()
        beat.join()
        _release_row(lease)


def _advisory_key(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


@contextmanager
def _advisory(lease: Lease) -> Iterator[bool]:
    conn = db.engine().connect().execution_options(isolation_level="AUTOCOMMIT")
    key = _advisory_key(lease.name)
    try:
        if not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
            yield False
            return
        try:
            _note(conn, lease, expires_at=None)
            yield True
        except BaseException as exc:
            lease.error = lease.error or f"{type(exc).__name__}: {exc}"
            raise
        finally:
            _note(conn, lease, expires_at=utcnow(), finished=True)
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
    finally:
        conn.close()


def _note(conn: Connection, lease: Lease, *, expires_at: datetime | None, finished: bool = False) -> None:
    """Keep the JobLease row current on PostgreSQL (informational there: the advisory lock decides)."""
    now = utcnow()
    values: dict[str, object] = {"holder": lease.holder, "expires_at": expires_at or now}
    if finished:
        values |= {"last_run_at": now, "last_error": (lease.error or None) and lease.error[:2000]}
    if conn.execute(update(JobLease).where(JobLease.name == lease.name).values(**values)).rowcount:
        return
    with suppress(IntegrityError):  # inserted by another holder in between; the row is only a note
        conn.execute(JobLease.__table__.insert().values(name=lease.name, **values))


def _take_row(lease: Lease, ttl: timedelta) -> bool:
    # the caller's session: on SQLite a second connection of this thread would wait for its own lock
    s = db.session
    now = utcnow()
    won = s.execute(
        update(JobLease)
        .where(JobLease.name == lease.name, JobLease.expires_at < now)
        .values(holder=lease.holder, expires_at=now + ttl)
        .execution_options(synchronize_session=False)
    ).rowcount
    if won == 1:
        s.commit()
        return True
    s.rollback()
    s.add(JobLease(name=lease.name, holder=lease.holder, expires_at=now + ttl))
    try:
        s.commit()
    except IntegrityError:  # the row exists and someone else holds it
        s.rollback()
        return False
    return True


def _heartbeat(lease: Lease, ttl: timedelta, stop: threading.Event) -> None:
    # its own connection (another thread): it waits while the holder's transaction has the lock
    while not stop.wait(ttl.total_seconds() / 3):
        try:
            with db.session_factory() as s:
                renewed = s.execute(
                    update(JobLease)
                    .where(JobLease.name == lease.name, JobLease.holder == lease.holder)
                    .values(expires_at=utcnow() + ttl)
                    .execution_options(synchronize_session=False)
                ).rowcount
                s.commit()
        except Exception:  # a busy database: try again on the next beat, the TTL allows two misses
            continue
        if not renewed:
            lease.lost.set()
            return


def _release_row(lease: Lease) -> None:
    s = db.session
    s.rollback()  # whatever the block left unfinished is not ours to commit
    now = utcnow()
    s.execute(
        update(JobLease)
        .where(JobLease.name == lease.name, JobLease.holder == lease.holder)
        .values(expires_at=now, last_run_at=now, last_error=lease.error and lease.error[:2000])
        .execution_options(synchronize_session=False)
    )
    s.commit()


__all__ = ["DEFAULT_TTL", "Lease", "held", "ttl_from_settings"]
