"""Database leases: one holder per job name at a time, across processes and machines."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError

from helpdesk.core.models import JobLease
from helpdesk.db import session, utcnow

HOLDER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def acquire(name: str, ttl: timedelta, *, holder: str = HOLDER, now: datetime | None = None) -> bool:
    """Take or renew the lease `name` for `ttl`; False when another holder has an unexpired lease. Commits."""
    now = now or utcnow()
    won = session.execute(
        update(JobLease)
        .where(JobLease.name == name, or_(JobLease.expires_at < now, JobLease.holder == holder))
        .values(holder=holder, expires_at=now + ttl)
        .execution_options(synchronize_session=False)
    ).rowcount
    if won == 1:
        session.commit()
        return True
    session.rollback()
    session.add(JobLease(name=name, holder=holder, expires_at=now + ttl))
    try:
        session.commit()
    except IntegrityError:  # the row exists and someone else holds it
        session.rollback()
        return False
    return True


def release(name: str, *, holder: str = HOLDER, error: str | None = None) -> None:
    """Give the lease back and note how the run went. Commits."""
    session.execute(
        update(JobLease)
        .where(JobLease.name == name, JobLease.holder == holder)
        .values(expires_at=utcnow(), last_run_at=utcnow(), last_error=error)
        .execution_options(synchronize_session=False)
    )
    session.commit()
