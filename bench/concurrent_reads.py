"""Queue and ticket page under concurrent readers while a writer keeps taking SQLite's write lock
(run by hand, prints figures and the ratio after/before, both measured in this process).

    python3 bench/concurrent_reads.py                       # 8 readers, 5 s per mode, 300 tickets
    python3 bench/concurrent_reads.py --readers 16 --seconds 10

"before" is the old behaviour, rebuilt in-process: every transaction begins IMMEDIATE (db.reads() is
a no-op) and the ticket page writes its presence heartbeat on every view. "after" is the code as it
is: GET requests read DEFERRED (a WAL snapshot) and the heartbeat writes at most every 30 s.
Each reader alternates the queue and one of a few tickets it keeps open. The writer imitates the worker: a unit of work that holds the lock 50 ms, every 100 ms.
Threads on the Flask test client (the server's time, no network); the GIL is shared, so the figures
compare the two modes with each other, not with a real multi-process gunicorn.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpdesk import bootstrap, create_app, db  # noqa: E402
from helpdesk.auth import services as auth_services  # noqa: E402
from helpdesk.auth.models import Role  # noqa: E402
from helpdesk.core.models import Setting  # noqa: E402
from helpdesk.tickets import services  # noqa: E402
from tests.tickets.factories import make_ticket  # noqa: E402

PASSWORD = "bench-password-42"


def reader(
    client: Any, ticket_ids: list[int], stop: threading.Event, out: list[tuple[str, float, int]]
) -> None:
    mine = ticket_ids[:3]  # an agent keeps a few tickets open and goes back to them
    n = 0
    while not stop.is_set():
        path = "/" if n % 2 == 0 else f"/tickets/{mine[(n // 2) % len(mine)]}"
        started = time.perf_counter()
        status = client.get(path).status_code
        out.append(("queue" if path == "/" else "ticket", time.perf_counter() - started, status))
        n += 1


def writer(app, stop: threading.Event, hold: float, writes: list[int]) -> None:
    with app.app_context():
        while not stop.is_set():
            with db.unit_of_work():
                row = db.session.get(Setting, "bench:writer")
                if row is None:
                    db.session.add(Setting(key="bench:writer", value=0))
                else:
                    row.value = int(row.value or 0) + 1
                db.session.flush()
                time.sleep(hold)  # the lock is held: as an ingest's transaction would
            writes.append(1)
            db.session.remove()
            time.sleep(hold)


def run_mode(app, users: list[str], ticket_ids: list[int], seconds: float) -> dict[str, object]:
    stop = threading.Event()
    out: list[tuple[str, float, int]] = []
    writes: list[int] = []
    clients = []
    for user in users:  # logged in one by one before the run: only page views are measured
        client = app.test_client()
        assert client.post("/login", data={"username": user, "password": PASSWORD}).status_code == 302
        clients.append(client)
    threads = [threading.Thread(target=reader, args=(c, ticket_ids, stop, out)) for c in clients]
    threads.append(threading.Thread(target=writer, args=(app, stop, 0.05, writes)))
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(60)
    figures: dict[str, object] = {"writes": len(writes), "errors": sum(1 for _, _, s in out if s != 200)}
    for kind in ("queue", "ticket"):
        times = sorted(d for k, d, s in out if k == kind and s == 200)
        if not times:
            figures[kind] = None
            continue
        figures[kind] = {
            "n": len(times),
            "per_s": len(times) / seconds,
            "p50_ms": statistics.median(times) * 1000,
            "p95_ms": times[int(len(times) * 0.95) - 1] * 1000,
            "max_ms": times[-1] * 1000,
        }
    return figures


@contextlib.contextmanager
def old_behaviour():
    """Every transaction IMMEDIATE, a heartbeat write on every view: the code before this change."""
    reads, every = db.reads, services.PRESENCE_WRITE_EVERY
    db.reads = contextlib.nullcontext  # type: ignore[assignment]
    services.PRESENCE_WRITE_EVERY = timedelta(0)
    try:
        yield
    finally:
        db.reads, services.PRESENCE_WRITE_EVERY = reads, every


def show(name: str, figures: dict[str, object]) -> None:
    print(f"{name}: writer commits {figures['writes']}, failed reads {figures['errors']}")
    for kind in ("queue", "ticket"):
        f = figures[kind]
        if f is None:
            print(f"  {kind:<6} no successful request")
            continue
        print(
            f"  {kind:<6} {f['n']:>5} req  {f['per_s']:7.1f}/s  p50 {f['p50_ms']:7.1f} ms"
            f"  p95 {f['p95_ms']:7.1f} ms  max {f['max_ms']:7.1f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--readers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--tickets", type=int, default=300)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-reads-"))
    app = create_app(
        {"HELPDESK_DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}", "HELPDESK_INSTANCE_DIR": str(tmp)}
    )
    app.config.update(WTF_CSRF_ENABLED=False)
    with app.app_context():
        bootstrap.init_database()
        users = [f"reader{i}" for i in range(args.readers)]
        for name in users:
            auth_services.create_user(name, PASSWORD, Role.AGENT)
        ticket_ids = [make_ticket(subject=f"变更说明 {i}").id for i in range(args.tickets)]
        db.session.remove()
    print(f"SQLite, {args.tickets} tickets, {args.readers} reader threads, {args.seconds:.0f} s per mode")
    with old_behaviour():
        before = run_mode(app, users, ticket_ids, args.seconds)
    after = run_mode(app, users, ticket_ids, args.seconds)
    show("before (IMMEDIATE reads, heartbeat on every view)", before)
    show("after  (DEFERRED reads, heartbeat every 30 s)", after)
    for kind in ("queue", "ticket"):
        b, a = before[kind], after[kind]
        if b and a:
            print(
                f"ratio after/before {kind:<6}: throughput x{a['per_s'] / b['per_s']:.2f},"
                f" p95 x{a['p95_ms'] / b['p95_ms']:.2f}"
            )


if __name__ == "__main__":
    main()
