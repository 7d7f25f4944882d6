"""PostgreSQL stopped and started again while agents work: a clear error page, no hang, recovery alone.

A PostgreSQL of its own (never the session's server, which other tests use), a gunicorn process on
it, three logged-in agents loading the queue and a ticket page in threads. While the database is
down every request gets the Chinese 503 page (none waits past the client's timeout); once it is
back, the same gunicorn process, untouched, serves every request again.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from helpdesk import bootstrap, create_app, db
from helpdesk.auth.models import Role
from helpdesk.tickets.models import Message, Ticket
from tests.conftest import PASSWORD, make_user
from tests.production.conftest import (
    WebClient,
    csrf_token,
    process_env,
    start_gunicorn,
    tail,
    wait_for_no_processes,
)
from tests.servers import PostgresServer, _pg_bindir, _tmp_base, require

pytestmark = pytest.mark.postgres

CLIENT_TIMEOUT = 30  # seconds: a request without an answer by then counts as hung
OUTAGE_SECONDS = 5


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL cluster for this test alone, so it can be stopped without harming other tests."""
    bindir = _pg_bindir()
    if bindir is None:
        require("postgres", "PostgreSQL server binaries not found (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="helpdesk-pg-restart-", dir=_tmp_base()))
    root.chmod(0o755)  # the postgres user must traverse it
    server = PostgresServer(bindir, root)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class Call:
    started: float
    ended: float
    path: str
    status: int  #: 0: no answer within the client's timeout (or the connection failed)
    body: str


def agent_loop(client: WebClient, paths: list[str], calls: list[Call], stop: threading.Event) -> None:
    n = 0
    while not stop.is_set():
        path = paths[n % len(paths)]
        n += 1
        started = time.monotonic()
        try:
            reply = client.get(path, timeout=CLIENT_TIMEOUT)
            status, body = reply.status, reply.body
        except (TimeoutError, OSError) as exc:  # a timeout is a hang; a reset is no page at all
            status, body = 0, f"{type(exc).__name__}: {exc}"
        calls.append(Call(started, time.monotonic(), path, status, body))
        time.sleep(0.1)


def test_requests_during_a_postgres_restart_get_a_clear_page_and_the_service_recovers(
    own_postgres: PostgresServer, tmp_path: Path
) -> None:
    name = "helpdesk_restart"
    url = own_postgres.create_database(name)
    env = process_env(url, tmp_path / "instance", "pg-restart-" + uuid.uuid4().hex)
    app = create_app(
        overrides={k: v for k, v in env.items() if k.startswith("HELPDESK_") and k != "HELPDESK_TEST_MARK"}
    )
    with app.app_context():
        bootstrap.init_database()
        make_user("agent1", Role.AGENT, display_name="王客服")
        ticket = Ticket(
            type="inquiry",
            status="open",
            subject="咨询：数据库重启时",
            requester_email="a@corp.cn",
            fields={},
        )
        db.session.add(ticket)
        db.session.commit()
        ticket_id, version = ticket.id, str(ticket.version)
    db.engine().dispose()  # this process holds no connection through the restart

    web = start_gunicorn(env, tmp_path / "web.log", threads=4)
    calls: list[Call] = []
    stop = threading.Event()
    threads = []
    try:
        for _ in range(3):
            client = WebClient(web.url, timeout=CLIENT_TIMEOUT)
            client.login("agent1", PASSWORD)
            threads.append(
                threading.Thread(
                    target=agent_loop, args=(client, ["/", f"/tickets/{ticket_id}"], calls, stop), daemon=True
                )
            )
        writer = WebClient(web.url, timeout=CLIENT_TIMEOUT)  # an agent who saves a note in the outage
        writer.login("agent1", PASSWORD)
        token = csrf_token(writer.get(f"/tickets/{ticket_id}").body)
        for t in threads:
            t.start()
        time.sleep(2)
        before_stop = time.monotonic()
        own_postgres.stop()  # SIGINT: a fast shutdown, every connection of the pool is cut
        stopped = time.monotonic()
        time.sleep(1)
        note_in_outage = writer.post(
            f"/tickets/{ticket_id}/note", {"csrf_token": token, "version": version, "body": "停机时写的备注"}
        )
        time.sleep(OUTAGE_SECONDS - 1)
        restarting = time.monotonic()
        own_postgres.start()  # the same port and data directory
        back = time.monotonic()
        time.sleep(4)
        note_after = writer.post(
            f"/tickets/{ticket_id}/note", {"csrf_token": token, "version": version, "body": "恢复后写的备注"}
        )
    finally:
        stop.set()
        for t in threads:
            t.join(CLIENT_TIMEOUT + 5)
        web_alive = web.proc.poll() is None
        web.stop()
    log = web.log.read_text(errors="replace")

    hung = [c for c in calls if c.status == 0]
    assert not hung, [(c.path, c.body) for c in hung]
    assert web_alive, tail(web.log)
    assert log.count("Booting worker") == 1, log  # the same gunicorn worker all along: no restart
    before = [c for c in calls if c.ended < before_stop]
    during = [c for c in calls if c.started >= stopped and c.ended <= restarting]
    after = [c for c in calls if c.started >= back]
    assert before and during and after, (len(before), len(during), len(after))
    assert {c.status for c in before} == {200}
    # in the outage: the database page, in Chinese, with 503 (a proxy or a monitor reads "try later")
    assert {c.status for c in during} == {503}, [
        (c.path, c.status, c.body[:300]) for c in during if c.status != 503
    ]
    for c in during:
        assert "数据库暂时无法连接" in c.body and "请稍后" in c.body, c.body[:500]
    # back: every request that started after PostgreSQL was up is served, by the same process
    assert {c.status for c in after} == {200}, [
        (c.path, c.status, c.body[:300]) for c in after if c.status != 200
    ]
    # a form sent in the outage: the same page, which leads back to the queue (a form is never resent
    # by itself), and nothing saved; sent again afterwards, it is saved once
    assert note_in_outage.status == 503 and "返回工单队列" in note_in_outage.body, note_in_outage.body[:500]
    assert note_after.status == 200 and "已添加内部备注" in note_after.body, note_after.body[:500]
    with app.app_context():
        bodies = db.session.scalars(select(Message.body_text).where(Message.ticket_id == ticket_id)).all()
        db.session.remove()
        db.engine().dispose()
    assert "停机时写的备注" not in bodies and bodies.count("恢复后写的备注") == 1, bodies
    assert wait_for_no_processes(env["HELPDESK_TEST_MARK"]) == []
