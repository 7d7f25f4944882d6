"""Server-side time of the queue and the ticket page with 200,000 tickets (run by hand, prints figures).

    python3 bench/queue_page.py                  # SQLite, 200,000 tickets, 200 requests per scenario
    python3 bench/queue_page.py --pg             # also PostgreSQL (a throw-away cluster from tests/servers.py)
    python3 bench/queue_page.py --tickets 20000 --requests 50

Each scenario is timed in-process around the WSGI call (Flask test client, logged in as an agent):
that is the server's time, without network or browser. Both wall-clock and CPU time are printed: on a
busy machine (other processes on few cores) wall-clock time includes waiting for a core, CPU time does
not; PostgreSQL's own work runs in its server process and shows in wall-clock time only. Aims (issue 7): p95 < 50 ms for the queue and
the ticket page; (issue 15) p95 < 50 ms for a search of three or more characters (trigram index), < 200 ms
for one or two characters (the pieces table and the records). Each line also prints its median as a
ratio of the default view's median, measured in the same run.

The data imitates a desk after a few years: ~96 % of the tickets closed, a few thousand open, new,
waiting or breached; every ticket has a letter (JSON, ~1 KB), a search text, one inbound mail and
three timeline events, and is linked to one of 20,000 enterprises (each with a platform account) in the
records; the search indexes (helpdesk/tickets/search.py: the trigram index and the short words' pieces)
are built after the insert with their backfills, as the migrations do.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, text  # noqa: E402
from werkzeug.security import generate_password_hash  # noqa: E402

from helpdesk import bootstrap, create_app, db  # noqa: E402
from helpdesk.auth.models import Role, User  # noqa: E402
from helpdesk.records.models import Enterprise, PlatformAccount  # noqa: E402
from helpdesk.tickets import search  # noqa: E402
from helpdesk.tickets.models import Message, Ticket, TicketEvent  # noqa: E402

PASSWORD = "bench-password-42"
TYPES = (
    "change",
    "change",
    "change",
    "unbind",
    "unbind",
    "cancel",
    "recovery",
    "recovery",
    "inquiry",
    "inquiry",
)
CITIES = ("北京", "上海", "广州", "深圳", "杭州", "宁波", "苏州", "厦门", "青岛", "天津", "成都", "武汉")
TRADES = ("科技", "贸易", "进出口", "电子", "机械", "纺织", "化工", "食品", "医疗器械", "家居")
SUFFIX = ("有限公司", "股份有限公司", "实业有限公司")
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = (
    "芳",
    "伟",
    "敏",
    "静",
    "磊",
    "洋",
    "艳",
    "勇",
    "军",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀英",
    "建华",
    "志强",
)


def company(rng: random.Random) -> str:
    return f"{rng.choice(CITIES)}{rng.choice('华海信达恒瑞诚泰远兴')}{rng.choice('通盛源丰宇锦航和')}{rng.choice(TRADES)}{rng.choice(SUFFIX)}"


def uscc(rng: random.Random) -> str:
    return (
        "9"
        + "1"
        + "".join(rng.choice("0123456789") for _ in range(6))
        + "".join(rng.choice(USCC_CHARS) for _ in range(10))
    )


def letter_json(name: str, code: str, account: str, kind: str) -> dict[str, Any]:
    def field(fname: str, value: Any, conf: float) -> dict[str, Any]:
        return {
            "name": fname,
            "value": value,
            "confidence": conf,
            "repaired": False,
            "original": None,
            "evidence": {
                "source": "attachment:变更说明.docx",
                "text": str(value),
                "page": 1,
                "start": 10,
                "end": 30,
            },
        }

    return {
        "type": kind,
        "type_reasons": ["附件标题为“变更说明”"],
        "fields": [field("company_name", name, 0.92), field("account_names", [account], 0.88),
                   field("reason", "统一社会信用代码填写错误", 0.9), field("uscc", code, 0.95)],
        "findings": [
            {"code": "uscc_checksum", "status": "pass", "message": f"统一社会信用代码 {code} 校验通过", "field": "uscc"},
            {"code": "required_attachments", "status": "fail", "message": "缺少营业执照加盖公章扫描件", "field": None},
        ],
        "sources": [{"filename": "变更说明.docx", "kind": "docx", "role": "letter", "chars": 420, "pages": 1,
                     "ocr": False, "seconds": 0.01, "problem": None}],
        "timings": {"total": 0.02},
        "ocr_pending": False,
    }  # fmt: skip


def populate(n: int, seed: int = 7) -> dict[str, Any]:
    """Insert users and `n` tickets with one message and three events each; returns sample keys."""
    rng = random.Random(seed)
    s = db.session
    agents = []
    password_hash = generate_password_hash(PASSWORD)  # once: hashing is slow on purpose
    for i in range(12):
        user = User(
            username=f"agent{i}",
            display_name=f"客服{i}",
            role=Role.AGENT.value,
            email=f"a{i}@x.test",
            password_hash=password_hash,
        )
        s.add(user)
        agents.append(user)
    s.add(
        User(username="super", display_name="主管", role=Role.SUPERVISOR.value, password_hash=password_hash)
    )
    s.commit()
    agent_ids = [a.id for a in agents]
    now = datetime.now(UTC)
    start = now - timedelta(days=730)
    companies = [(company(rng), uscc(rng), f"zxkt_{k:05d}{rng.randrange(10):d}") for k in range(20000)]
    ents, accounts, seen = [], [], set()
    for k, (name, code, account) in enumerate(companies):
        if code in seen:  # the USCC is unique in the records
            continue
        seen.add(code)
        ents.append({"id": k + 1, "name": name, "name_key": name, "uscc": code, "org_code": code[8:17]})
        accounts.append({"enterprise_id": k + 1, "account_name": account, "app_bound": True})
    s.execute(insert(Enterprise.__table__), ents)
    s.execute(insert(PlatformAccount.__table__), accounts)
    s.commit()
    samples: dict[str, list[str]] = {"names": [], "codes": [], "accounts": [], "short": [], "open_ids": []}
    batch: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    t0 = time.perf_counter()

    def flush() -> None:
        if batch:
            # Core executemany (the ORM bulk path would emit one INSERT per row here)
            s.execute(insert(Ticket.__table__), batch)
            s.execute(insert(Message.__table__), messages)
            s.execute(insert(TicketEvent.__table__), events)
            s.commit()
            batch.clear()
            messages.clear()
            events.clear()

    for i in range(n):
        ticket_id = i + 1
        company_no = rng.randrange(len(companies))
        name, code, account = companies[company_no]
        contact = rng.choice(SURNAMES) + rng.choice(GIVEN)
        kind = rng.choice(TYPES)
        # the newest ~4 % are the live desk: open, new, waiting; the rest is history
        recent = i >= n * 0.96
        received = (
            (now - timedelta(minutes=rng.randrange(0, 60 * 24 * 6)))
            if recent
            else (start + timedelta(seconds=rng.randrange(0, 86400 * 720)))
        )
        status = (
            rng.choice(("new", "new", "open", "open", "open", "waiting"))
            if recent
            else rng.choice(("resolved",) * 8 + ("rejected", "merged"))
        )
        due = received + timedelta(days=rng.choice((2, 3, 4)), hours=rng.randrange(0, 8))
        paused = status == "waiting"
        subject = (
            f"{name}{ {'change': '变更说明', 'unbind': '解绑说明', 'cancel': '注销说明'}.get(kind, '咨询') }"
        )
        sender = f"contact{rng.randrange(10**5)}@corp{rng.randrange(500)}.cn"
        letter = letter_json(name, code, account, kind)
        batch.append({
            "id": ticket_id, "type": kind, "status": status, "subject": subject, "requester_email": sender,
            "requester_name": contact, "enterprise_id": company_no + 1 if code in seen else None, "assignee_id": rng.choice(agent_ids) if status != "new" else None,
            "received_at": received, "created_at": received, "updated_at": received,
            "resolved_at": due - timedelta(days=1) if status in ("resolved", "rejected", "merged") else None,
            "sla_policy": "working_days", "sla_clock_no": 1, "sla_started_at": received,
            "due_at": None if paused else due, "warn_at": None if paused else due - timedelta(hours=4),
            "sla_budget_minutes": 960, "sla_paused_at": received + timedelta(hours=3) if paused else None,
            "sla_remaining_minutes": rng.randrange(60, 900) if paused else None, "sla_paused_minutes": 0,
            "sla_provisional": False, "sla_calendar_version": "bench",
            "sla_explanation": "收到后不计当日；第 2 个工作日 17:00 截止", "letter": letter,
            "fields": {"company_name": name, "account_names": [account], "uscc": [code]},
            "ocr_pending": False, "search_text": f"{subject} {sender} {contact} {name} {code} {account}".lower(),
            "version": 1,
        })  # fmt: skip
        messages.append({
            "ticket_id": ticket_id, "kind": "inbound", "message_id": f"m{ticket_id}@corp.cn", "sender": sender,
            "recipients": "zxzj@ec.com.cn", "subject": subject,
            "body_text": f"您好：\n附件是我公司{name}的{subject}，请审核。\n联系人 {contact} 138****0000", "body_html": "",
            "created_at": received,
        })  # fmt: skip
        for k, kind_ in enumerate(("created", "enterprise_candidates", "status")):
            events.append({
                "ticket_id": ticket_id, "kind": kind_, "field": "status" if kind_ == "status" else None,
                "old_value": "new" if kind_ == "status" else None, "new_value": status if kind_ == "status" else kind,
                "detail": None, "actor_id": None, "at": received + timedelta(minutes=k),
            })  # fmt: skip
        if recent and len(samples["open_ids"]) < 5000:
            samples["open_ids"].append(str(ticket_id))
        if rng.random() < 0.001:
            samples["names"].append(name[2:6])
            samples["codes"].append(code.lower())
            samples["accounts"].append(account)
            samples["short"] += [contact[:2], name[2:4], contact[0]]
        if len(batch) >= 2000:
            flush()
    flush()
    print(f"  inserted {n} tickets in {time.perf_counter() - t0:.1f} s", flush=True)
    t0 = time.perf_counter()
    with db.engine().begin() as conn:
        indexed = search.backfill(conn)
    print(f"  search index built for {indexed} tickets in {time.perf_counter() - t0:.1f} s", flush=True)
    t0 = time.perf_counter()
    with db.engine().begin() as conn:
        indexed = search.backfill_grams(conn)
    print(f"  short words' index built for {indexed} tickets in {time.perf_counter() - t0:.1f} s", flush=True)
    return samples


def timed(client: Any, paths: list[str], warmup: int = 10) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU milliseconds of each request (CPU: this thread's, i.e. the server's own work)."""
    for path in paths[:warmup]:
        assert client.get(path).status_code == 200, path
    wall, cpu = [], []
    for path in paths:
        t0, c0 = time.perf_counter(), time.thread_time()
        response = client.get(path)
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.thread_time() - c0) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return wall, cpu


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(round(0.95 * len(ordered))) - 1)]


def report(label: str, times: tuple[list[float], list[float]], aim: float, baseline: float) -> str:
    wall, cpu = times
    verdict = "ok" if _p95(wall) < aim else "OVER"
    return (
        f"  {label:<38} wall median {statistics.median(wall):6.1f} p95 {_p95(wall):6.1f} ms"
        f" | cpu median {statistics.median(cpu):6.1f} p95 {_p95(cpu):6.1f} ms"
        f" | x{statistics.median(wall) / baseline:4.1f} of the default view  (aim p95 < {aim:.0f} ms: {verdict})"
    )


def run(url: str, n: int, requests: int, workdir: Path) -> None:
    app = create_app(overrides={
        "HELPDESK_DATABASE_URL": url, "HELPDESK_INSTANCE_DIR": str(workdir / "instance"),
        "HELPDESK_SECRET_KEY": "bench-" + "x" * 32, "HELPDESK_IMAP_HOST": "", "HELPDESK_SMTP_HOST": "",
    })  # fmt: skip
    with app.app_context():
        bootstrap.init_database()
        samples = populate(n)
        # statistics and (PostgreSQL) the visibility map, as autovacuum would have them on a live desk
        with db.engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE" if url.startswith("postgresql") else "ANALYZE"))
        total = db.session.scalar(text("SELECT count(*) FROM tickets"))
        db.session.remove()
    rng = random.Random(11)
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    import re

    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    response = client.post("/login", data={"username": "agent3", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    first = client.get("/?view=all").get_data(as_text=True)
    cursor = re.search(r'href="/\?([^"]*after=[^"]+)" rel="next"', first)
    after = cursor.group(1).replace("&amp;", "&") if cursor else ""
    filtered = ["/?type=change&status=new,open", "/?view=unassigned&type=unbind", "/?view=mine",
                "/?sla=breached", "/?view=waiting", "/?status=resolved&received_from=2025-06-01&received_to=2025-06-30",
                "/?type=cancel&sla=stopped"]  # fmt: skip
    words = samples["names"] + samples["codes"] + samples["accounts"]
    common = ["请审核", "有限公司", "变更说明"]  # in most tickets: filtered row by row in the ordered scan
    scenarios = [
        ("queue, default view (agent: 我的待办)", ["/"] * requests, 50),
        ("queue, all tickets", ["/?view=all"] * requests, 50),
        ("queue, next page (cursor)", [f"/?{after}"] * requests, 50),
        ("queue, filtered views (7 kinds)", [rng.choice(filtered) for _ in range(requests)], 50),
        ("search, 3+ chars (name/code/account)", [f"/?q={rng.choice(words)}" for _ in range(requests)], 50),
        ("search, 3+ chars, common words", [f"/?q={rng.choice(common)}" for _ in range(requests)], 50),
        ("search, 1-2 chars (names)", [f"/?q={rng.choice(samples['short'])}" for _ in range(requests)], 200),
        (
            "enterprise filter (part of a name)",
            [f"/?enterprise={rng.choice(samples['names'])}" for _ in range(requests)],
            50,
        ),
        (
            "ticket page (random open ticket)",
            [f"/tickets/{rng.choice(samples['open_ids'])}" for _ in range(requests)],
            50,
        ),
    ]
    print(f"  {total} tickets in the database; {requests} requests per scenario", flush=True)
    baseline = 0.0
    for label, paths, aim in scenarios:
        times = timed(client, paths)
        baseline = baseline or statistics.median(times[0])
        print(report(label, times, aim, baseline), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--pg", action="store_true", help="also run on a throw-away PostgreSQL cluster")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-queue-"))
    if not args.no_sqlite:
        print(f"SQLite ({workdir / 'bench.sqlite3'})", flush=True)
        run(f"sqlite:///{workdir / 'bench.sqlite3'}", args.tickets, args.requests, workdir / "sqlite")
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
            run(server.url("bench"), args.tickets, args.requests, workdir / "pg")
        finally:
            db.session.remove()
            if db._engine is not None:
                db._engine.dispose()
            server.stop()
            _run_cleanups()


if __name__ == "__main__":
    main()
