"""SLA jobs with 100,000 open tickets: one scheduler step when nothing is due, and the recompute of every
deadline after a calendar edit (run by hand, prints figures).

    python3 bench/sla_jobs.py                 # SQLite, 100,000 open tickets
    python3 bench/sla_jobs.py --pg            # also PostgreSQL (a throw-away cluster from tests/servers.py)
    python3 bench/sla_jobs.py --tickets 20000 --breached 0

The open tickets were received from Tue 2026-03-10 09:00 to Wed 03-11 08:00 (Beijing), so at "now", Wed
03-11 08:30, no warning and no deadline is due: their deadlines are Thu 03-12 or Fri 03-13 17:00. A few
(`--breached`, default 1,000) are older, open and already breached: they sit in the due range and the step
must skip them. Aims (issue 5): a step < 100 ms (by the partial indexes of sla_clocks), the
recompute of all deadlines after a calendar edit < 5 s (issue 18). Measured in the same run: the step
with ix_sla_clocks_stopped_at as it was before migration f2a9c4e6b8d1 (every clock) and after (stopped
clocks only); as the baselines of the recompute, one bare UPDATE of the same rows (the floor of any
method) and the previous method (every clock computed in Python; on PostgreSQL written through
unnest(arrays)) on the same edit. The edit makes Thu 03-12 a day off, which moves
every one of the 100,000 deadlines (the worst case: every row is rewritten). --profile adds a cProfile
of that edit. Times are wall clock with the process's CPU beside them: on a shared machine the wall
figure includes waiting for a core.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import statistics
import sys
import tempfile
import time
import timeit
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
# the script's own folder leaves sys.path: bench/queue.py (now queue_page.py) would shadow the standard library's queue (psycopg)
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))

from sqlalchemy import func, insert, select, text  # noqa: E402

from helpdesk import bootstrap, create_app, db  # noqa: E402
from helpdesk.sla import clock, recompute, service  # noqa: E402
from helpdesk.sla.models import SlaClock  # noqa: E402
from helpdesk.tickets import notices  # noqa: E402
from helpdesk.tickets.models import Ticket  # noqa: E402

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 11, 8, 30, tzinfo=SH)
TYPES = ("change", "change", "change", "unbind", "unbind", "cancel", "recovery", "inquiry")


def populate(n: int, breached: int, seed: int = 5) -> None:
    """n open tickets with running clocks (as clock.start computes them) and `breached` overdue ones."""
    rng = random.Random(seed)
    policies = clock.all_policies()
    counters = {t: clock.counter_for(policies.get(t) or clock.default_policy(t)) for t in set(TYPES)}
    first = datetime(2026, 3, 10, 9, 0, tzinfo=SH).timestamp()
    span = datetime(2026, 3, 11, 8, 0, tzinfo=SH).timestamp() - first
    tickets, clocks = [], []
    for i in range(n + breached):
        kind = rng.choice(TYPES)
        if i < breached:  # received the week before, still open, breached and warned
            received = datetime.fromtimestamp(
                datetime(2026, 3, 2, 9, tzinfo=SH).timestamp() + rng.random() * 3e5, UTC
            )
        else:
            received = datetime.fromtimestamp(first + rng.random() * span, UTC)
        counter = counters[kind]
        fresh = counter.fresh(received)
        status = "waiting" if rng.random() < 0.1 and i >= breached else rng.choice(("new", "open"))
        ticket = {
            "id": i + 1,
            "type": kind,
            "status": status,
            "subject": f"工单 {i}",
            "requester_email": f"u{i}@example.com",
            "received_at": received,
            "created_at": received,
            "updated_at": received,
            "sla_clock_no": 1,
            "due_at": fresh.due_at,
            "warn_at": fresh.warn_at,
            "fields": {},
            "letter": None,
        }
        row = {
            "ticket_id": i + 1,
            "clock_no": 1,
            "ticket_type": kind,
            "policy": counter.policy.mode,
            "started_at": received,
            "due_at": fresh.due_at,
            "warn_at": fresh.warn_at,
            "budget_minutes": fresh.budget_minutes,
            "paused_at": None,
            "remaining_minutes": None,
            "paused_minutes": 0,
            "provisional": fresh.provisional,
            "calendar_version": counter.cal.version,
            "explanation": counter.explanation(fresh),
            "warned_at": None,
            "breached_at": None,
            "paused_after_due": False,
            "type_changed": False,
        }
        if status == "waiting":  # paused two business hours after receipt (due_at stays on the clock)
            paused = counter.cal.add_business_minutes(received, 120).astimezone(UTC)
            ticket.update(due_at=None, warn_at=None)
            row.update(
                paused_at=paused,
                warn_at=None,
                remaining_minutes=fresh.budget_minutes - 120,
                explanation=clock._paused_text(paused, fresh.budget_minutes - 120),
            )
        if i < breached:
            row.update(warned_at=fresh.warn_at, breached_at=fresh.due_at)
        tickets.append(ticket)
        clocks.append(row)
    with db.unit_of_work() as s:
        for chunk in range(0, len(tickets), 10_000):
            s.execute(insert(Ticket), tickets[chunk : chunk + 10_000])
            s.execute(insert(SlaClock), clocks[chunk : chunk + 10_000])
        if s.bind.dialect.name == "postgresql":  # ids were given: move the sequence past them
            s.execute(text("SELECT setval('tickets_id_seq', (SELECT max(id) FROM tickets))"))


class Clock:
    """Wall and CPU seconds of a block (the CPU figure shows the cost on a busy machine)."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu

    def __str__(self) -> str:
        return f"{self.wall:.2f} s (CPU {self.cpu:.2f} s)"


def timed(fn, runs: int) -> tuple[float, float]:
    """(median, max) milliseconds of `runs` calls."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times)


def plans(url: str) -> list[str]:
    """The query plans of the two step queries (the breach one and the warning one)."""
    now = NOW.astimezone(UTC)
    out = []
    for column, flag in (("due_at", "breached_at"), ("warn_at", "warned_at")):
        sql = (
            f"SELECT id FROM sla_clocks WHERE stopped_at IS NULL AND paused_at IS NULL AND {flag} IS NULL "
            f"AND {column} <= :now ORDER BY {column} LIMIT 1"
        )
        params = {"now": now.replace(tzinfo=None) if url.startswith("sqlite") else now}
        if url.startswith("sqlite"):
            rows = db.session.execute(text("EXPLAIN QUERY PLAN " + sql), params).all()
            out.append(f"{column}: " + " / ".join(r[-1] for r in rows))
        else:
            rows = db.session.execute(text("EXPLAIN " + sql), params).all()
            out.append(
                f"{column}: " + " / ".join(r[0].strip() for r in rows if "Index" in r[0] or "Scan" in r[0])
            )
    db.session.rollback()
    return out


def bare_rewrite(url: str) -> int:
    """The floor of any recompute that moves every deadline: one UPDATE that shifts every open clock's
    due_at by a minute and one for the tickets' copies (the same rows and indexes), rolled back."""
    shift = "datetime(due_at, '+1 minute')" if url.startswith("sqlite") else "due_at + interval '1 minute'"
    rows = db.session.execute(
        text(f"UPDATE sla_clocks SET due_at = {shift} WHERE stopped_at IS NULL")
    ).rowcount
    db.session.execute(text(f"UPDATE tickets SET due_at = {shift} WHERE due_at IS NOT NULL"))
    db.session.rollback()
    return rows


@contextmanager
def previous_method() -> Iterator[None]:
    """The recompute as it was before issue 18's set-based work: every clock computed in Python (no SQL
    path), and on PostgreSQL the figures sent as arrays (UPDATE ... FROM unnest, 20,000 clocks a statement)."""
    plan, write = recompute._plan_fresh_in_sql, clock._write_postgresql
    recompute._plan_fresh_in_sql = lambda *args: recompute._BySql()
    clock._write_postgresql = unnest_write
    try:
        yield
    finally:
        recompute._plan_fresh_in_sql, clock._write_postgresql = plan, write


def unnest_write(connection, rewrites: list[clock.Rewrite]) -> tuple[int, int]:
    """The PostgreSQL write of the previous method (as it was in clock.py): arrays, unnest, CTEs."""
    arrays = ", ".join(f"%({name})s::{kind}[]" for name, kind in clock._PG_COLUMNS)
    names = ", ".join(name for name, _kind in clock._PG_COLUMNS)
    sets = ", ".join(f"{name} = s.{name}" for name in clock._REWRITTEN)
    sql = (
        f"WITH s AS (SELECT * FROM unnest({arrays}) AS s({names})), "
        f"written AS (UPDATE sla_clocks AS c SET {sets} FROM s "
        "WHERE c.id = s.id AND c.stopped_at IS NULL AND c.explanation IS NOT DISTINCT FROM s.read_explanation "
        "RETURNING s.ticket_id, s.clock_no, s.due_at, s.warn_at, s.moved, s.running), "
        "copies AS (UPDATE tickets AS t SET due_at = w.due_at, warn_at = w.warn_at FROM written AS w "
        "WHERE w.running AND t.id = w.ticket_id AND t.sla_clock_no = w.clock_no) "
        "SELECT count(*), count(*) FILTER (WHERE moved) FROM written"
    )
    moved = rewritten = 0
    for first in range(0, len(rewrites), 20_000):
        chunk = rewrites[first : first + 20_000]
        params = {
            name: list(v)
            for (name, _kind), v in zip(clock._PG_COLUMNS, zip(*chunk, strict=True), strict=True)
        }
        count, count_moved = connection.exec_driver_sql(sql, params).one()
        rewritten += count
        moved += count_moved
    return moved, rewritten


def run(url: str, n: int, breached: int, runs: int, workdir: Path, profile: bool = False) -> None:
    app = create_app(
        overrides={
            "HELPDESK_DATABASE_URL": url,
            "HELPDESK_INSTANCE_DIR": str(workdir),
            "HELPDESK_SECRET_KEY": "bench",
            "HELPDESK_IMAP_HOST": "",
            "HELPDESK_SMTP_HOST": "",
        }
    )
    with app.app_context():
        bootstrap.init_database()
        start = time.perf_counter()
        populate(n, breached)
        print(
            f"  {n:,} open tickets + {breached:,} open and breached: inserted in {time.perf_counter() - start:.1f} s"
        )
        if url.startswith("postgresql"):
            db.session.execute(text("ANALYZE"))
            db.session.commit()
        open_count = db.session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.status.in_(("new", "open", "waiting")))
        )

        def step() -> None:
            assert notices.tick("zxzj@ec.com.cn", SH, now=NOW) == (0, 0)
            db.session.remove()

        step()  # warm: connection, calendar
        for label, index_where in (("old full index", None), ("partial index", "stopped_at IS NOT NULL")):
            # before / after in one run: ix_sla_clocks_stopped_at as it was (every clock), then as
            # migration f2a9c4e6b8d1 makes it (stopped clocks only)
            db.session.execute(text("DROP INDEX ix_sla_clocks_stopped_at"))
            where = f" WHERE {index_where}" if index_where else ""
            db.session.execute(
                text(f"CREATE INDEX ix_sla_clocks_stopped_at ON sla_clocks (stopped_at){where}")
            )
            db.session.commit()
            step()
            median, worst = timed(step, runs)
            print(
                f"  scheduler step, nothing due ({open_count:,} open), {label}: median {median:.1f} ms, "
                f"max {worst:.1f} ms over {runs} runs (aim < 100 ms)"
            )
            for line in plans(url):
                print(f"    plan {line}")

        with Clock() as c:
            floor = bare_rewrite(url)
        print(
            f"  baseline: one bare UPDATE of every open clock's due_at and its ticket's copy ({floor:,} rows), "
            f"rolled back: {c}"
        )
        baseline = c.wall

        with Clock() as c:
            report = service.recompute_open_tickets_report()
        print(
            f"  recompute_open_tickets(), nothing changed: {c}; {report.checked:,} checked, {report.changed:,} rewritten"
        )
        db.session.remove()
        with Clock() as c:
            result = service.set_day(date(2026, 3, 12), "off", name="台风停工", by=None)
        print(
            f"  calendar edit moving every deadline (Thu 03-12 off), with its recompute: {c}; "
            f"{result.checked:,} checked, {result.changed:,} rewritten, {result.moved:,} moved (aim < 5 s); "
            f"{c.wall / baseline:.1f}x the bare UPDATE"
        )
        edit = c.wall
        db.session.remove()
        with Clock() as c:
            result = service.set_day(date(2026, 3, 12), "default", by=None)
        print(
            f"  the same edit undone: {c}; {result.moved:,} moved back; {c.wall / baseline:.1f}x the bare UPDATE"
        )
        db.session.remove()
        undo = c.wall
        with previous_method():
            with Clock() as c:
                result = service.set_day(date(2026, 3, 12), "off", name="台风停工", by=None)
            print(
                f"  previous method (every clock computed in Python; PostgreSQL: UPDATE ... FROM unnest(arrays)), "
                f"the same edit: {c}; {result.moved:,} moved; the set-based recompute took "
                f"{edit / c.wall:.2f}x its time"
            )
            db.session.remove()
            with Clock() as c:
                result = service.set_day(date(2026, 3, 12), "default", by=None)
            print(
                f"  previous method, the same edit undone: {c}; {result.moved:,} moved back; the set-based "
                f"recompute took {undo / c.wall:.2f}x its time"
            )
            db.session.remove()
        if profile:
            profiler = cProfile.Profile()
            with Clock() as c:
                profiler.runcall(service.set_day, date(2026, 3, 12), "off", name="台风停工", by=None)
            print(f"  profile of the edit (Thu 03-12 off) under cProfile: {c}")
            pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(12)
            db.session.remove()
            service.set_day(date(2026, 3, 12), "default", by=None)
            db.session.remove()
        with Clock() as c:
            moved = service.recompute_open_tickets()
        print(f"  recompute_open_tickets() right after: {c}; {moved} moved")
        db.session.remove()
        with Clock() as c:
            result = service.set_day(date(2026, 3, 20), "off", by=None)
        print(
            f"  calendar edit after every deadline (Fri 03-20 off): {c}; {result.checked:,} checked, {result.moved} moved"
        )
        db.session.remove()
        with Clock() as c:
            notice = service.parse_notice(
                2027, ["2027-01-01=元旦", "2027-02-05:2027-02-11=春节"], ["2027-02-14"]
            )
            result = service.import_year(notice, source="https://www.gov.cn/2027", by=None)
        print(
            f"  import-year 2027 (no open clock reaches 2027): {c}; {result.checked:,} checked, {result.moved} moved"
        )
        db.session.remove()
        with Clock() as c:
            result = service.update_policy(
                "change",
                mode="working_days",
                days=2,
                business_start="09:00",
                business_end="17:30",
                warn_percent=75,
                by=None,
            )
        print(
            f"  policy change (change: close at 17:30): {c}; {result.checked:,} checked, {result.moved:,} moved"
        )
        db.session.remove()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--breached", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--pg", action="store_true", help="also run on a throw-away PostgreSQL cluster")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of the calendar edit")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-sla-jobs-"))
    loop = min(timeit.repeat("sum(range(1000))", number=1000, repeat=5))
    print(
        f"python {sys.version.split()[0]}, now = {NOW:%Y-%m-%d %H:%M} Beijing; "
        f"machine: sum(range(1000)) takes {loop * 1000:.1f} us (about 8 us on a 2023 laptop)"
    )
    if not args.no_sqlite:
        print(f"SQLite ({workdir / 'bench.sqlite3'})", flush=True)
        run(
            f"sqlite:///{workdir / 'bench.sqlite3'}",
            args.tickets,
            args.breached,
            args.runs,
            workdir / "sqlite",
            args.profile,
        )
    if args.pg:
        from tests.servers import PostgresServer, _pg_bindir, _root_dir, _run_cleanups

        bindir = _pg_bindir()
        if bindir is None:
            print("PostgreSQL: no server binaries found; skipped")
            return
        server = PostgresServer(bindir, _root_dir())
        try:
            server.init()
            server.start()
            server.create_database("bench")
            print(f"PostgreSQL ({bindir})", flush=True)
            run(server.url("bench"), args.tickets, args.breached, args.runs, workdir / "pg", args.profile)
        finally:
            db.session.remove()
            if db._engine is not None:
                db._engine.dispose()
            server.stop()
            _run_cleanups()


if __name__ == "__main__":
    main()
