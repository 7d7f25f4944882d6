"""Benchmark of the supervisor dashboard: the "now" panel and a one-month report, run by hand.

    python bench/dashboard.py --db sqlite   --tickets 200000
    python bench/dashboard.py --db postgres --tickets 1000000      # starts a throw-away PostgreSQL

Builds a fresh, migrated database (SQLite under bench/out/, or a PostgreSQL cluster started with
tests/servers.py's PostgresServer) and fills it with a realistic history that ends at NOW: tickets
received over --months months, mostly on working days, assigned, some waiting on the enterprise
(paused, resumed or closed while waiting), resolved or rejected, a few reopened with a second clock, a
few merged; each ticket with the events the SLA engine writes (created, assigned, status, sla_paused,
sla_resumed, sla_restarted) plus mail and reply noise, its clock columns as the engine leaves them, and
deadlines from the real working-day calendar (holidays and make-up days of 2025-2026).

Then it prints the time of `now_panel(NOW)` and of `period_report(last full month)` (best and median of
--runs, after one warm-up), and of the whole dashboard page (GET /dashboard/?period=last_month).
Aims: "now" under 200 ms and the month report under 1 s on PostgreSQL at 1,000,000 tickets.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
# bench/ holds queue.py, which would shadow the standard library's queue (psycopg imports it)
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from helpdesk.sla.seed import official_calendar  # noqa: E402
from tests.conftest import login  # noqa: E402

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=SH)  # a Friday afternoon
TYPES = (("change", 0.35), ("unbind", 0.2), ("cancel", 0.1), ("recovery", 0.15), ("inquiry", 0.2))
TYPE_ZH = {"change": "变更", "unbind": "解绑", "cancel": "注销", "recovery": "找回账号", "inquiry": "咨询"}
N_AGENTS = 15
PASSWORD = "bench-password-1"
CHUNK = 20_000

TICKET_COLUMNS = (
    "id",
    "type",
    "status",
    "subject",
    "requester_email",
    "requester_name",
    "assignee_id",
    "merged_into_id",
    "received_at",
    "created_at",
    "updated_at",
    "resolved_at",
    "sla_policy",
    "sla_clock_no",
    "sla_started_at",
    "due_at",
    "sla_budget_minutes",
    "warn_at",
    "sla_paused_at",
    "sla_resumed_at",
    "sla_remaining_minutes",
    "sla_paused_minutes",
    "sla_provisional",
    "sla_calendar_version",
    "sla_explanation",
    "breached_at",
    "fields",
    "ocr_pending",
    "search_text",
    "version",
)
EVENT_COLUMNS = ("id", "ticket_id", "kind", "field", "old_value", "new_value", "detail", "actor_id", "at")


# ----------------------------------------------------------------------------------------- history


class Simulator:
    """One ticket's life as the desk would live it, written the way the SLA engine writes it."""

    def __init__(self, seed: int, agents: list[int], supervisor: int, months: int) -> None:
        self.rng = random.Random(seed)
        self.cal = official_calendar(2024, 2026)
        self.version = self.cal.version
        self.agents = agents
        self.supervisor = supervisor
        self.first = NOW - timedelta(days=30.44 * months)
        self.span = (NOW - self.first).total_seconds()
        self.event_id = 0
        self.types = [t for t, _ in TYPES]
        self.weights = [w for _, w in TYPES]

    def _received(self) -> datetime:
        rng = self.rng
        while True:
            moment = self.first + timedelta(seconds=rng.random() * self.span)
            local = moment.astimezone(SH)
            if self.cal.is_working_day(local.date()) and 8 <= local.hour < 18:
                return local
            if rng.random() < 0.15:  # mail also arrives at night and on days off, less often
                return local

    def ticket(self, tid: int) -> tuple[tuple, list[tuple]]:
        rng, cal = self.rng, self.cal
        events: list[tuple] = []

        def ev(kind, at, *, field=None, old=None, new=None, detail=None, actor=None):
            self.event_id += 1
            events.append(
                (
                    self.event_id,
                    tid,
                    kind,
                    field,
                    None if old is None else str(old),
                    None if new is None else str(new),
                    None if detail is None else json.dumps(detail),
                    actor,
                    at.astimezone(UTC),
                )
            )

        ttype = rng.choices(self.types, self.weights)[0]
        received = self._received()
        due = cal.due_by_working_days(received, 2).due_at
        t = {
            "id": tid,
            "type": ttype,
            "status": "new",
            "assignee_id": None,
            "merged_into_id": None,
            "received_at": received,
            "resolved_at": None,
            "sla_clock_no": 1,
            "sla_started_at": received,
            "due_at": due,
            "sla_budget_minutes": cal.business_minutes_between(received, due),
            "warn_at": cal.business_point(received, due, 0.75),
            "sla_paused_at": None,
            "sla_resumed_at": None,
            "sla_remaining_minutes": None,
            "sla_paused_minutes": 0,
            "breached_at": None,
        }
        ev("mail_in", received)
        ev("created", received, new=ttype, detail={"due_at": due.astimezone(UTC).isoformat()})
        self._live(t, ev, received, due)
        if t["status"] in ("new", "open") and t["due_at"] is not None and t["due_at"] <= NOW:
            t["breached_at"] = t["due_at"]
        return self._row(t), events

    def _live(self, t, ev, received, due) -> None:  # noqa: C901 - one ticket's whole life, in order
        rng, cal = self.rng, self.cal
        if rng.random() < 0.02:  # a duplicate, merged within the hour
            at = received + timedelta(minutes=rng.randint(5, 60))
            if at <= NOW:
                ev("status", at, field="status", old="new", new="merged", actor=self.supervisor)
                t.update(status="merged", resolved_at=at, merged_into_id=max(1, t["id"] - 1))
            return
        assigned = cal.add_business_minutes(received, int(rng.expovariate(1 / 90)) + 1)
        if assigned > NOW:
            return
        agent = rng.choice(self.agents)
        t["assignee_id"] = agent
        ev("assigned", assigned, field="assignee", new=agent, actor=self.supervisor)
        ev("status", assigned, field="status", old="new", new="open", actor=agent)
        t["status"] = "open"
        cursor, start, clock_no, paused_total, remaining = assigned, received, 1, 0, 0
        while True:
            work = min(9600, int(math.exp(rng.gauss(math.log(240), 0.9))))
            if rng.random() < 0.15:  # material missing: ask the enterprise and wait
                pause_at = cal.add_business_minutes(cursor, max(1, work // 3))
                if pause_at > NOW:
                    return
                remaining = max(0, cal.business_minutes_between(pause_at, due))
                ev("reply", pause_at, actor=agent, detail={"request_material": True})
                ev("status", pause_at, field="status", old="open", new="waiting", actor=agent)
                ev("sla_paused", pause_at, actor=agent, detail={"remaining_minutes": remaining})
                t.update(
                    status="waiting",
                    sla_paused_at=pause_at,
                    sla_remaining_minutes=remaining,
                    due_at=None,
                    warn_at=None,
                )
                if rng.random() < 0.12:  # no answer: closed while waiting after five working days
                    close_at = cal.add_business_minutes(pause_at, 5 * 480)
                    if close_at > NOW:
                        return
                    status = "rejected" if rng.random() < 0.5 else "resolved"
                    ev("status", close_at, field="status", old="waiting", new=status, actor=agent)
                    t.update(status=status, resolved_at=close_at, sla_paused_at=None)
                    return
                resume_at = cal.add_business_minutes(pause_at, int(rng.uniform(0.2, 6) * 480))
                if resume_at > NOW:
                    return
                paused = max(0, cal.business_minutes_between(pause_at, resume_at))
                paused_total += paused
                due = cal.add_business_minutes(resume_at, remaining)
                ev("mail_in", resume_at)
                ev(
                    "status",
                    resume_at,
                    field="status",
                    old="waiting",
                    new="open",
                    detail={"reason": "企业回复"},
                )
                ev(
                    "sla_resumed",
                    resume_at,
                    detail={"paused_minutes": paused, "due_at": due.astimezone(UTC).isoformat()},
                )
                t.update(
                    status="open",
                    sla_paused_at=None,
                    sla_resumed_at=resume_at,
                    sla_paused_minutes=paused_total,
                    due_at=due,
                    warn_at=cal.add_business_minutes(resume_at, max(0, remaining // 4)),
                )
                cursor, work = resume_at, work - work // 3
            stop_at = cal.add_business_minutes(cursor, max(1, work))
            if stop_at > NOW:
                return
            status = "rejected" if rng.random() < 0.1 else "resolved"
            ev("reply", stop_at, actor=agent)
            ev("status", stop_at, field="status", old="open", new=status, actor=agent)
            t.update(status=status, resolved_at=stop_at)
            if clock_no > 1 or rng.random() >= 0.05:
                return
            reopen_at = stop_at + timedelta(days=rng.uniform(0.5, 10))
            if reopen_at > NOW:
                return
            clock_no, start, paused_total = 2, reopen_at, 0
            due = cal.due_by_working_days(reopen_at, 2).due_at
            ev("mail_in", reopen_at)
            ev(
                "status",
                reopen_at,
                field="status",
                old=status,
                new="open",
                detail={"reason": "企业回复，工单重新打开"},
            )
            ev("sla_restarted", reopen_at, detail={"clock": 2, "due_at": due.astimezone(UTC).isoformat()})
            t.update(
                status="open",
                resolved_at=None,
                sla_clock_no=2,
                sla_started_at=start,
                due_at=due,
                sla_budget_minutes=cal.business_minutes_between(start, due),
                sla_resumed_at=None,
                sla_remaining_minutes=None,
                sla_paused_minutes=0,
                warn_at=cal.business_point(start, due, 0.75),
            )
            cursor = cal.add_business_minutes(reopen_at, 30)

    def _row(self, t: dict) -> tuple:
        tid, label = t["id"], TYPE_ZH[t["type"]]
        email = f"corp{tid % 7919}@example.cn"
        subject = f"关于{label}的申请（企业 {tid % 7919}）"
        values = {
            **t,
            "subject": subject,
            "requester_email": email,
            "requester_name": "",
            "created_at": t["received_at"],
            "updated_at": t["resolved_at"] or t["received_at"],
            "sla_policy": "working_days",
            "sla_provisional": False,
            "sla_calendar_version": self.version,
            "sla_explanation": "",
            "fields": "{}",
            "ocr_pending": False,
            "search_text": f"{subject} {email}".lower(),
            "version": 1,
        }
        return tuple(values[c] for c in TICKET_COLUMNS)


def history(n: int, sim: Simulator) -> Iterator[tuple[list[tuple], list[tuple]]]:
    for first in range(1, n + 1, CHUNK):
        tickets, events = [], []
        for tid in range(first, min(n, first + CHUNK - 1) + 1):
            row, evs = sim.ticket(tid)
            tickets.append(row)
            events.extend(evs)
        yield tickets, events


# ----------------------------------------------------------------------------------------- loading


def _sqlite_value(v):
    if isinstance(v, datetime):
        return v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's SQLite DATETIME format
    if isinstance(v, bool):
        return int(v)
    return v


def load_sqlite(path: Path, chunks) -> tuple[int, int]:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    nt = ne = 0
    tq = f"INSERT INTO tickets ({','.join(TICKET_COLUMNS)}) VALUES ({','.join('?' * len(TICKET_COLUMNS))})"
    eq = (
        f"INSERT INTO ticket_events ({','.join(EVENT_COLUMNS)}) VALUES ({','.join('?' * len(EVENT_COLUMNS))})"
    )
    for tickets, events in chunks:
        with conn:
            conn.executemany(tq, ([_sqlite_value(v) for v in r] for r in tickets))
            conn.executemany(eq, ([_sqlite_value(v) for v in r] for r in events))
        nt, ne = nt + len(tickets), ne + len(events)
        print(f"\r  loaded {nt:,} tickets, {ne:,} events", end="", flush=True)
    conn.execute("ANALYZE")
    conn.close()
    print()
    return nt, ne


def load_postgres(dsn: str, chunks) -> tuple[int, int]:
    import psycopg

    nt = ne = 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        for tickets, events in chunks:
            with conn.cursor() as cur:
                with cur.copy(f"COPY tickets ({','.join(TICKET_COLUMNS)}) FROM STDIN") as copy:
                    for r in tickets:
                        copy.write_row(r)
                with cur.copy(f"COPY ticket_events ({','.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
                    for r in events:
                        copy.write_row(r)
            nt, ne = nt + len(tickets), ne + len(events)
            print(f"\r  loaded {nt:,} tickets, {ne:,} events", end="", flush=True)
        print()
        conn.execute("SELECT setval('tickets_id_seq', (SELECT max(id) FROM tickets))")
        conn.execute("SELECT setval('ticket_events_id_seq', (SELECT max(id) FROM ticket_events))")
        conn.execute("VACUUM ANALYZE tickets")
        conn.execute("VACUUM ANALYZE ticket_events")
    return nt, ne


# ----------------------------------------------------------------------------------------- timing


def timed(fn, runs: int) -> tuple[float, float, float]:
    """(best wall ms, median wall ms, median CPU ms of this process) over `runs` calls after a warm-up."""
    fn()  # warm-up: calendar tables, statement caches
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return min(walls), statistics.median(walls), statistics.median(cpus)


def show(label: str, figures: tuple[float, float, float]) -> None:
    best, median, cpu = figures
    print(f"  {label:18s} best {best:8.1f} ms   median {median:8.1f} ms   (python cpu {cpu:7.1f} ms)")


def measure(url: str, runs: int) -> None:

    from helpdesk import create_app
    from helpdesk.dashboard import queries, views
    from helpdesk.db import session

    app = create_app(
        overrides={
            "HELPDESK_DATABASE_URL": url,
            "HELPDESK_INSTANCE_DIR": tempfile.mkdtemp(),
            "HELPDESK_SECRET_KEY": "bench",
            "HELPDESK_IMAP_HOST": "",
            "HELPDESK_SMTP_HOST": "",
        }
    )
    now = NOW.astimezone(UTC)
    month = queries.period_for("last_month", NOW.date())
    with app.app_context():
        panel = queries.now_panel(now)
        report = queries.period_report(month, now)
        print(
            f"  now: {panel.open_total:,} open, {panel.breached:,} breached, {panel.unassigned:,} unassigned,"
            f" ageing {panel.ageing}"
        )
        print(
            f"  {month.label}: received {report.received:,}, resolved {report.total.resolved:,},"
            f" compliance {report.total.compliance:.1%}, median {report.total.median_minutes / 60:.1f} h,"
            f" p90 {report.total.p90_minutes / 60:.1f} h, reopen {report.total.reopen_rate:.1%},"
            f" breaches {len(report.breaches):,}"
        )
        start = time.perf_counter()
        sum(range(10**6))
        reference = (time.perf_counter() - start) * 1000
        print(
            f"  machine: load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs;"
            f" sum(range(10**6)) takes {reference:.0f} ms (about 10 ms on an idle recent desktop)"
        )
        show("now panel", timed(lambda: queries.now_panel(now), runs))
        show("one-month report", timed(lambda: queries.period_report(month, now), runs))
        session.remove()
    views._now = lambda: now
    client = app.test_client()
    login(client, "bench_super", PASSWORD)  # the real login form, CSRF included
    resp = client.get("/dashboard/?period=last_month")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:2000]
    show(
        f"whole page, {len(resp.data) // 1024} KB",
        timed(lambda: client.get("/dashboard/?period=last_month"), runs),
    )


def setup_schema(url: str) -> tuple[list[int], int]:
    from helpdesk import bootstrap, db
    from helpdesk.auth import services as auth_services
    from helpdesk.auth.models import Role

    db.configure(url)
    bootstrap.init_database()
    with_session = db.session
    agents = [
        auth_services.create_user(f"bench_agent{i}", PASSWORD, Role.AGENT, display_name=f"客服{i:02d}").id
        for i in range(1, N_AGENTS + 1)
    ]
    supervisor = auth_services.create_user("bench_super", PASSWORD, Role.SUPERVISOR, display_name="主管").id
    with_session.remove()
    db.engine().dispose()
    return agents, supervisor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--tickets", type=int, default=None, help="default 200,000 (SQLite) / 1,000,000 (PostgreSQL)"
    )
    parser.add_argument("--months", type=int, default=22)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--url", help="only time an existing, already built database at this SQLAlchemy URL")
    parser.add_argument("--reuse", action="store_true", help="time the database built by an earlier run")
    parser.add_argument(
        "--pg-dir", help="where the PostgreSQL cluster lives (default /dev/shm/helpdesk-bench-pg-N)"
    )
    args = parser.parse_args()
    n = args.tickets or (200_000 if args.db == "sqlite" else 1_000_000)

    if args.url:
        measure(args.url, args.runs)
        return
    server = None
    if args.db == "sqlite":
        out = ROOT / "bench" / "out"
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"dashboard-{n}.sqlite3"
        url = f"sqlite:///{path}"
        built = args.reuse and path.exists()
        if not built:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        from tests.servers import PostgresServer, _pg_bindir

        bindir = _pg_bindir()
        if bindir is None:
            sys.exit("PostgreSQL binaries not found")
        root = Path(args.pg_dir or f"/dev/shm/helpdesk-bench-pg-{n}")
        server = PostgresServer(bindir, root)
        built = args.reuse and (server.datadir / "PG_VERSION").exists()
        if not built:
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir(parents=True)
            root.chmod(0o755)  # the postgres user must traverse it
            server.init()
            with open(server.datadir / "postgresql.conf", "a") as conf:  # a modest production-like setup
                conf.write(
                    "\nshared_buffers = 1GB\nwork_mem = 32MB\nmaintenance_work_mem = 512MB\n"
                    "max_wal_size = 8GB\neffective_cache_size = 8GB\nrandom_page_cost = 1.1\n"
                )
        server.start()
        if not built:
            server.create_database("bench_dashboard")
        url = server.url("bench_dashboard")
    try:
        if not built:
            print(
                f"{args.db}: {n:,} tickets over {args.months} months up to {NOW:%Y-%m-%d %H:%M} (Asia/Shanghai)"
            )
            agents, supervisor = setup_schema(url)
            sim = Simulator(args.seed, agents, supervisor, args.months)
            start = time.perf_counter()
            if args.db == "sqlite":
                nt, ne = load_sqlite(path, history(n, sim))
            else:
                nt, ne = load_postgres(server.dsn("bench_dashboard"), history(n, sim))
            print(f"  built {nt:,} tickets and {ne:,} events in {time.perf_counter() - start:.0f} s")
        else:
            print(f"{args.db}: the {n:,}-ticket database of an earlier run")
        measure(url, args.runs)
    finally:
        if server is not None:
            server.stop()  # the cluster's files stay for --reuse


if __name__ == "__main__":
    main()
