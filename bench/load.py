"""The desk under load: 50 agents on gunicorn for 2 minutes, PostgreSQL and SQLite (run by hand).

    pip install -e '.[bench]'                        # Locust
    python3 bench/load.py                            # 200,000 tickets; PostgreSQL (4 workers), then SQLite (1)
    python3 bench/load.py --tickets 20000 --seconds 30 --db pg

The database is filled as bench/queue_page.py fills it (200,000 tickets, ~4 % of them open, 20,000
enterprises), plus one login per simulated agent. gunicorn serves `wsgi:app` on 127.0.0.1; Locust
(headless, FastHttpUser, bench/load_agents.py) runs in a second process on the same machine and
drives the mixed agent workload: queue 4, ticket page 4, search 2, note 1, reply 1, next ticket 1.
Aims (issue 16): 0 errors, p95 under 100 ms, at least 300 requests a second on PostgreSQL with 4
workers. The same run on SQLite with one gunicorn process is printed for comparison, with the ratio.
The client shares the machine's cores with the server, as a load test on one machine does: its CPU
time is printed so the reader can see what the server had left.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import queue_page  # noqa: E402  (its populate(): the same data as the queue benchmark)
from sqlalchemy import insert, text  # noqa: E402
from werkzeug.security import generate_password_hash  # noqa: E402

from helpdesk import bootstrap, create_app, db  # noqa: E402
from helpdesk.auth.models import Role, User  # noqa: E402
from tests.servers import free_port  # noqa: E402


def prepare(url: str, tickets: int, agents: int, workdir: Path) -> dict[str, str]:
    """Fill the database; returns the environment the web processes and Locust run with."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update({
        "HELPDESK_DATABASE_URL": url, "HELPDESK_INSTANCE_DIR": str(workdir / "instance"),
        "HELPDESK_SECRET_KEY": "bench-" + "x" * 32, "HELPDESK_IMAP_HOST": "", "HELPDESK_SMTP_HOST": "",
        "HELPDESK_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT),
    })  # fmt: skip
    app = create_app(overrides={k: v for k, v in env.items() if k.startswith("HELPDESK_")})
    with app.app_context():
        bootstrap.init_database()
        samples = queue_page.populate(tickets)
        password_hash = generate_password_hash(queue_page.PASSWORD)
        names = [f"load{i}" for i in range(agents)]
        db.session.execute(insert(User.__table__), [
            {"username": n, "display_name": f"坐席{i}", "role": Role.AGENT.value, "email": f"{n}@x.test",
             "password_hash": password_hash, "active": True}
            for i, n in enumerate(names)
        ])  # fmt: skip
        db.session.commit()
        with db.engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE" if url.startswith("postgresql") else "ANALYZE"))
        db.session.remove()
        db.engine().dispose()
    sample_file = workdir / "samples.json"
    sample_file.write_text(
        json.dumps({
            "password": queue_page.PASSWORD, "agents": names, "open_ids": samples["open_ids"],
            "words": samples["names"] + samples["accounts"] + samples["codes"],
        }, ensure_ascii=False),
        encoding="utf-8",
    )  # fmt: skip
    env["LOAD_SAMPLES"] = str(sample_file)
    return env


def wait_until_up(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("gunicorn did not answer /healthz in time")


def drive(env: dict[str, str], workers: int, agents: int, seconds: int, workdir: Path) -> dict[str, Any]:
    port = free_port()
    with contextlib.ExitStack() as files:
        web_log = files.enter_context(open(workdir / "gunicorn.log", "wb"))
        client_log = files.enter_context(open(workdir / "locust.log", "wb"))
        return _drive(env, workers, agents, seconds, workdir, port, web_log, client_log)


def _drive(
    env: dict[str, str],
    workers: int,
    agents: int,
    seconds: int,
    workdir: Path,
    port: int,
    web_log: Any,
    client_log: Any,
) -> dict[str, Any]:
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}", "--timeout", "60",
         "wsgi:app"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=web_log,
    )  # fmt: skip
    try:
        wait_until_up(port, web)
        prefix = workdir / "locust"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "load_agents.py"), "--headless",
             "-u", str(agents), "-r", str(max(1, agents // 5)), "-t", f"{seconds}s",
             "--host", f"http://127.0.0.1:{port}", "--csv", str(prefix), "--only-summary",
             "--loglevel", "WARNING", "--stop-timeout", "5"],
            cwd=ROOT, env=env, stdout=client_log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        wall = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        rows = _csv_rows(Path(f"{prefix}_stats.csv"))
        failures = _csv_rows(Path(f"{prefix}_failures.csv"))
    finally:
        web.terminate()
        web.wait(30)
    client_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"rows": rows, "failures": failures, "client_cpu": client_cpu, "wall": wall}


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def show(label: str, result: dict[str, Any]) -> dict[str, float]:
    print(f"{label}  (Locust's CPU {result['client_cpu']:.0f} s of {result['wall']:.0f} s wall)")
    print(f"  {'request':<14}{'count':>8}{'errors':>8}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    total: dict[str, float] = {}
    for row in result["rows"]:
        name = row["Name"]
        line = (
            f"  {name:<14}{int(row['Request Count']):>8}{int(row['Failure Count']):>8}"
            f"{float(row['Requests/s']):>9.1f}{float(row['50%']):>9.0f}{float(row['95%']):>9.0f}{float(row['99%']):>9.0f}"
        )
        print(line)
        if name == "Aggregated":
            total = {
                "rps": float(row["Requests/s"]), "p50": float(row["50%"]), "p95": float(row["95%"]),
                "p99": float(row["99%"]), "errors": int(row["Failure Count"]),
            }  # fmt: skip
    for failure in result["failures"][:5]:
        print(f"  error: {failure['Name']}: {failure['Error']} ×{failure['Occurrences']}")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=200_000)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers on PostgreSQL")
    parser.add_argument("--db", choices=("pg", "sqlite", "both"), default="both")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-load-"))
    totals: dict[str, dict[str, float]] = {}
    print(f"{args.tickets} tickets, {args.agents} agents, {args.seconds} s; files in {workdir}", flush=True)
    if args.db in ("pg", "both"):
        from tests.servers import PostgresServer, _pg_bindir, _root_dir, _run_cleanups

        bindir = _pg_bindir()
        if bindir is None:
            raise SystemExit("PostgreSQL: no server binaries found")
        server = PostgresServer(bindir, _root_dir())
        try:
            server.init()
            server.start()
            server.create_database("bench")
            (workdir / "pg").mkdir()
            env = prepare(server.url("bench"), args.tickets, args.agents, workdir / "pg")
            result = drive(env, args.workers, args.agents, args.seconds, workdir / "pg")
            totals["pg"] = show(f"PostgreSQL, gunicorn {args.workers} workers", result)
        finally:
            server.stop()
            _run_cleanups()
    if args.db in ("sqlite", "both"):
        (workdir / "sqlite").mkdir()
        env = prepare(
            f"sqlite:///{workdir / 'sqlite' / 'bench.sqlite3'}", args.tickets, args.agents, workdir / "sqlite"
        )
        result = drive(env, 1, args.agents, args.seconds, workdir / "sqlite")
        totals["sqlite"] = show("SQLite, gunicorn 1 worker", result)
    for kind, t in totals.items():
        ok = t["errors"] == 0 and t["p95"] < 100 and (kind != "pg" or t["rps"] >= 300)
        verdict = "(aim met)" if ok else "(aim missed)"
        print(f"{kind}: {t['rps']:.0f} req/s, p95 {t['p95']:.0f} ms, {t['errors']:.0f} errors  {verdict}")
    if len(totals) == 2:
        pg, lite = totals["pg"], totals["sqlite"]
        rps, p95 = pg["rps"] / max(lite["rps"], 0.1), pg["p95"] / max(lite["p95"], 0.1)
        print(f"ratio PostgreSQL/SQLite: req/s {rps:.2f}, p95 {p95:.2f}")


if __name__ == "__main__":
    main()
