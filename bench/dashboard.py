"""Benchmark of the supervisor dashboard, before and after the SLA clocks (issue 13), run by hand.

    python bench/dashboard.py --db sqlite   --tickets 200000
    python bench/dashboard.py --db postgres --tickets 1000000     # starts a throw-away PostgreSQL
    python bench/dashboard.py --url URL                           # only time a database already at head

"Before" is the commit before the SLA merge (--before, default 4f3d709): its tree is exported with
`git archive` under bench/out/, and its own bench/dashboard.py builds a fresh database at its head
(c3a1e7d20b11) with a realistic history ending at NOW (tickets over --months months on the real
2025-2026 calendar, waiting, resumed, closed while waiting, reopened, merged, with the events the
engine wrote) and times its dashboard, which replays the event log. "After" is this tree: the same
database is upgraded in place by the real migration (d5b2f8a41c07 backfills sla_clocks with the
frozen replay, then drops the old columns), and the same figures are timed on the stored clocks.
Both runs are in one invocation, on the same data, and the two sets of figures are printed together.

Aims (issue 13): on PostgreSQL at 1,000,000 tickets, the period report under 0.5 s and the now panel
under 100 ms.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
# bench/ holds queue_page.py and others; keep the script's folder off sys.path (psycopg imports queue)
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from tests.conftest import login  # noqa: E402

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=SH)  # the old bench's NOW: a Friday afternoon
PASSWORD = "bench-password-1"  # the old bench's supervisor bench_super
BEFORE = "4f3d709"  #: the first parent of the SLA merge (3ea1608): dashboard by event replay
FIGURE = re.compile(
    r"^\s+(now panel|one-month report|whole page, \d+ KB)\s+best\s+([\d.]+) ms\s+median\s+([\d.]+) ms"
)


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


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def measure(url: str, runs: int) -> dict[str, tuple[float, float, float]]:
    """Time the now panel, the last month's report and the whole page on this tree's code."""
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
    out: dict[str, tuple[float, float, float]] = {}
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
        print(f"  machine: load average {load()} on {os.cpu_count()} CPUs")
        out["now panel"] = timed(lambda: queries.now_panel(now), runs)
        show("now panel", out["now panel"])
        out["one-month report"] = timed(lambda: queries.period_report(month, now), runs)
        show("one-month report", out["one-month report"])
        session.remove()
    views._now = lambda: now
    client = app.test_client()
    login(client, "bench_super", PASSWORD)  # the real login form, CSRF included
    resp = client.get("/dashboard/?period=last_month")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:2000]
    out["whole page"] = timed(lambda: client.get("/dashboard/?period=last_month"), runs)
    show(f"whole page, {len(resp.data) // 1024} KB", out["whole page"])
    return out


def export_before(rev: str) -> Path:
    """The tree of `rev`, exported once under bench/out/ (a plain copy: no git worktree to clean up)."""
    sha = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", rev], check=True, capture_output=True, text=True
    ).stdout.strip()
    tree = ROOT / "bench" / "out" / f"before-{sha}"
    if not (tree / "bench" / "dashboard.py").exists():
        shutil.rmtree(tree, ignore_errors=True)
        tree.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", sha], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def run_before(tree: Path, argv: list[str]) -> dict[str, tuple[float, float]]:
    """Run the old tree's own bench (it builds the database); print its lines; return its (best, median)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    proc = subprocess.Popen(
        [sys.executable, str(tree / "bench" / "dashboard.py"), *argv],
        cwd=tree,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    figures: dict[str, tuple[float, float]] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        print(f"  before | {line.rstrip()}", flush=True)
        m = FIGURE.match(line)
        if m:
            figures[m.group(1).split(",")[0]] = (float(m.group(2)), float(m.group(3)))
    if proc.wait() != 0:
        sys.exit(f"the bench of the previous commit failed (exit {proc.returncode})")
    return figures


def upgrade(url: str) -> None:
    """Upgrade the old database to this tree's head (the real migration, backfill included), timed."""
    from helpdesk import bootstrap, db

    db.configure(url)
    start = time.perf_counter()
    before, after, _ = bootstrap.init_database()
    print(f"  upgrade {before} -> {after} (sla_clocks backfill): {time.perf_counter() - start:.0f} s")
    # fresh statistics, as the old bench took after loading (sla_clocks has none yet)
    with db.engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE" if conn.dialect.name == "postgresql" else "ANALYZE")
    db.session.remove()
    db.engine().dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--tickets", type=int, default=None, help="default 200,000 (SQLite) / 1,000,000 (PostgreSQL)"
    )
    parser.add_argument("--months", type=int, default=22)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--before", default=BEFORE, help="the commit to compare with (default %(default)s)")
    parser.add_argument("--url", help="only time an existing database at head at this SQLAlchemy URL")
    args = parser.parse_args()
    if args.url:
        measure(args.url, args.runs)
        return
    n = args.tickets or (200_000 if args.db == "sqlite" else 1_000_000)
    tree = export_before(args.before)
    argv = ["--db", args.db, "--tickets", str(n), "--months", str(args.months)]
    argv += ["--runs", str(args.runs), "--seed", str(args.seed)]
    server = None
    if args.db == "sqlite":
        url = f"sqlite:///{tree / 'bench' / 'out' / f'dashboard-{n}.sqlite3'}"  # where the old bench builds
    else:
        from tests.servers import PostgresServer, _pg_bindir

        bindir = _pg_bindir()
        if bindir is None:
            sys.exit("PostgreSQL binaries not found")
        root = Path(f"/dev/shm/helpdesk-bench-pg-{n}")
        argv += ["--pg-dir", str(root)]
        server = PostgresServer(bindir, root)  # started after the old bench stopped it
        url = server.url("bench_dashboard")

    print(f"before: {args.before} ({tree}), building the database with its own bench (load {load()})")
    before = run_before(tree, argv)
    print(f"after: this tree ({ROOT}), the same database upgraded")
    if server is not None:
        server.start()
    try:
        upgrade(url)
        after = measure(url, args.runs)
    finally:
        if server is not None:
            server.stop()  # the cluster's files stay in /dev/shm; delete them by hand
    print(f"\n{args.db}, {n:,} tickets, best / median ms of {args.runs} runs (load now {load()}):")
    print(f"  {'':18s} {'before':>19s} {'after':>19s}")
    for key in ("now panel", "one-month report", "whole page"):
        b, a = before.get(key, (float("nan"),) * 2), after[key]
        print(f"  {key:18s} {b[0]:9.1f} / {b[1]:7.1f} {a[0]:9.1f} / {a[1]:7.1f}")


if __name__ == "__main__":
    main()
