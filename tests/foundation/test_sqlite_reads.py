"""SQLite: pages read without the write lock (DEFERRED inside `db.reads()`, which every GET request
uses), units of work still write under BEGIN IMMEDIATE, and the presence heartbeat writes at most
every 30 seconds."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from helpdesk import db
from helpdesk.core.models import Setting
from helpdesk.db import session, unit_of_work, utcnow
from helpdesk.tickets import services
from tests.tickets.factories import make_ticket


class Writer(threading.Thread):
    """Holds SQLite's write lock (an open BEGIN IMMEDIATE that has written) until released."""

    def __init__(self, app) -> None:
        super().__init__(daemon=True)
        self.app = app
        self.holding = threading.Event()
        self.release = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with self.app.app_context():
                with unit_of_work():
                    session.add(Setting(key="ops:long-write", value={"n": 1}))
                    session.flush()
                    self.holding.set()
                    self.release.wait(60)
                db.session.remove()
        except BaseException as exc:
            self.error = exc
            self.holding.set()


@pytest.mark.sqlite_only
def test_pages_read_while_a_writer_holds_the_lock(app, agent_client, users, calendar_ahead):
    ticket = make_ticket(subject="变更说明（读写并发）")
    services.heartbeat(ticket.id, users["agent"])  # a fresh heartbeat: the page view need not write
    db.session.remove()
    writer = Writer(app)
    writer.start()
    assert writer.holding.wait(30) and writer.error is None, writer.error
    try:
        # before: each GET began IMMEDIATE and waited out busy_timeout (10 s), then failed
        queue = agent_client.get("/?view=all")  # agents land on 我的待办; this ticket is nobody's
        page = agent_client.get(f"/tickets/{ticket.id}")
        ready = agent_client.get("/readyz")
    finally:
        writer.release.set()
        writer.join(30)
    assert writer.error is None, writer.error
    assert queue.status_code == 200 and ticket.number in queue.get_data(as_text=True)
    assert page.status_code == 200 and "读写并发" in page.get_data(as_text=True)
    assert ready.status_code == 200
    assert session.get(Setting, "ops:long-write") is not None  # the writer committed after the reads


@pytest.mark.sqlite_only
def test_a_unit_of_work_inside_reads_still_begins_immediate(app):
    with db.reads():
        session.scalar(select(Setting.key).limit(1))
        assert session.connection().info["deferred"] is True  # the read: a snapshot
        with unit_of_work():
            session.add(Setting(key="ops:inside-reads", value=1))
            session.flush()
            assert session.connection().info["deferred"] is False  # the write: BEGIN IMMEDIATE
        db.end_reads()
    assert session.connection().info["deferred"] is False  # outside reads(): IMMEDIATE as before
    session.rollback()


def test_presence_heartbeat_writes_at_most_every_30_seconds(app, users):
    ticket = make_ticket()
    agent = users["agent"]
    key = f"viewing:{ticket.id}:{agent.id}"
    start = utcnow()
    services.heartbeat(ticket.id, agent, start)
    stamp = session.scalar(select(Setting.updated_at).where(Setting.key == key))
    services.heartbeat(ticket.id, agent, start + timedelta(seconds=10))  # fresh: no write
    assert session.scalar(select(Setting.updated_at).where(Setting.key == key)) == stamp
    services.heartbeat(ticket.id, agent, start + timedelta(seconds=31))  # stale: written again
    later = session.scalar(select(Setting.updated_at).where(Setting.key == key))
    assert later > stamp
