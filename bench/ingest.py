"""Ingest benchmark (run by hand): 1,000 letter mails through Dovecot into tickets.

    python3 bench/ingest.py [--count 1000] [--db sqlite|postgres|both]

Starts a private Dovecot (and PostgreSQL for --db postgres) on loopback with tests/servers.py,
appends realistic letter mails (Chinese subjects in UTF-8 and GBK, a .docx letter and a ~80 KB
scan each), then in the same process:
  baseline: imapclient batched fetch + stdlib email parsing + opening each .docx with python-docx;
  ours:     one poll_once(): fetch, store raw, parse, read the letter (no OCR), make the ticket and
            acknowledgement, commit, flag on the server, per message.
The baseline runs just before and just after ours (the mails stay, flagged), and ours is compared
with their mean: the machine is shared, its load drifts. Prints messages per second, the ratio
ours / baseline, time per phase, and the CPU of every side (the committing thread, the read-ahead
thread, the sandbox workers, the PostgreSQL server processes) against the baseline's;
--profile adds cProfile's top functions of the committing process.
"""

from __future__ import annotations

import argparse
import cProfile
import email
import email.policy
import io
import os
import pstats
import random
import resource
import sys
import time
from collections import defaultdict
from contextlib import contextmanager
from email.header import Header
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from docx import Document  # noqa: E402
from imapclient import IMAPClient  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from tests import servers  # noqa: E402

COMPANIES = [
    "上海浦江进出口贸易有限公司",
    "宁波海曙喆达外贸有限公司",
    "深圳市鹏城镕信电子商务有限公司",
    "青岛崂山海洋食品进出口有限公司",
]


def letter_docx(rng: random.Random, company: str) -> bytes:
    doc = Document()
    doc.add_paragraph("变更说明").runs[0].bold = True
    doc.add_paragraph("外贸发展专项资金（中小）网络管理应用项目组：")
    doc.add_paragraph(
        f"{company}在商务部业务系统统一平台账号corp{rng.randint(1, 999)}_user，由于注册时信息填写错误原因，"
        "现申请更改统一社会信用代码，确认变更后对企业之前申报项目无影响。"
    )
    doc.add_paragraph("特此说明！")
    doc.add_paragraph(company)
    doc.add_paragraph("2026年11月20日")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def scan_jpeg(rng: random.Random) -> bytes:
    """A ~80 KB JPEG like a scanned stamped page: text-like strokes, light noise, a red seal."""
    image = Image.new("RGB", (1100, 1550), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for row in range(15):
        y = 150 + row * 60
        x = 120
        while x < 980:
            w = rng.randint(8, 26)
            draw.rectangle((x, y, x + w, y + 22), fill=(30, 30, 30))
            x += w + rng.randint(4, 12)
    draw.ellipse((700, 1250, 920, 1470), outline=(220, 30, 30), width=10)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=25)
    return out.getvalue()


def make_mails(count: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    scans = [scan_jpeg(rng) for _ in range(8)]
    mails = []
    for i in range(count):
        company = rng.choice(COMPANIES)
        msg = EmailMessage()
        msg["From"] = f"user{i}@corp{i % 50}.cn"
        msg["To"] = "zxzj@ec.com.cn"
        subject = f"变更说明-{company}-{i}"
        msg["Subject"] = Header(subject, "gbk").encode() if i % 2 else subject
        msg["Message-ID"] = make_msgid(domain=f"corp{i % 50}.cn")
        msg.set_content(
            f"您好，附件是{company}的变更说明和营业执照扫描件。", charset="gb18030" if i % 2 else "utf-8"
        )
        msg.add_attachment(
            letter_docx(rng, company),
            maintype="application",
            subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
            filename="变更说明.docx",
        )
        msg.add_attachment(scans[i % len(scans)], maintype="image", subtype="jpeg", filename="营业执照.jpg")
        mails.append(msg.as_bytes())
    return mails


BASELINE_CPU = [0.0]


def baseline(host: str, port: int, user: str, password: str) -> tuple[int, float]:
    start, cpu = time.perf_counter(), time.process_time()
    client = IMAPClient(host, port=port, ssl=False)
    client.login(user, password)
    client.select_folder("INBOX", readonly=True)
    uids = client.search(["ALL"])
    n = 0
    for i in range(0, len(uids), 50):
        data = client.fetch(uids[i : i + 50], ["BODY.PEEK[]", "INTERNALDATE", "FLAGS"])
        for item in data.values():
            msg = email.message_from_bytes(item[b"BODY[]"], policy=email.policy.default)
            msg.get("Subject")
            for part in msg.iter_attachments():
                if part.get_filename("").endswith(".docx"):
                    Document(io.BytesIO(part.get_content()))
            n += 1
    client.logout()
    BASELINE_CPU[0] = time.process_time() - cpu
    return n, time.perf_counter() - start


phases: dict[str, float] = defaultdict(float)
phases_cpu: dict[str, float] = defaultdict(float)  #: the same, CPU time of the main thread
PROFILE = False


@contextmanager
def timed(name: str):
    t, cpu = time.perf_counter(), time.thread_time()
    try:
        yield
    finally:
        phases[name] += time.perf_counter() - t
        phases_cpu[name] += time.thread_time() - cpu


def _timed_function(module: object, name: str, phase: str) -> None:
    real = getattr(module, name)

    def wrapper(*args, **kwargs):
        with timed(phase):
            return real(*args, **kwargs)

    setattr(module, name, wrapper)


def instrument() -> None:
    """Time each phase the committing process spends: the IMAP fetch, storing the raw mail, claims,
    the chunk transactions (ticket, ack, savepoints, one commit), the server flags, and the wait for
    the read-ahead. Parse and letter reading run in the sandbox workers, overlapped with the database
    work; their CPU time is counted by the sandbox itself (printed as "workers")."""
    from helpdesk.mail import imap
    from helpdesk.tickets import inbound, intake, poll

    real_fetch = imap.ImapSource.fetch

    def fetch(self, uids, batch=imap.FETCH_BATCH):
        it = real_fetch(self, uids, batch)
        while True:
            with timed("fetch"):
                item = next(it, None)
            if item is None:
                return
            yield item

    imap.ImapSource.fetch = fetch
    _timed_function(inbound, "store_many", "store")
    _timed_function(intake, "claim", "claim")
    _timed_function(intake, "ingest_chunk", "tickets")
    _timed_function(intake, "ingest_many", "intake")
    _timed_function(poll, "_mark", "flag")


def _tree_cpu(root_pid: int | None) -> float:
    """CPU seconds of a server process and its children (live ones, and the reaped ones in its
    cutime): the database's side of the work."""
    if root_pid is None:
        return 0.0
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        own = int(fields[11]) + int(fields[12])
        times[pid] = (own + (int(fields[13]) + int(fields[14]) if pid == root_pid else 0)) / tick
    total, todo = 0.0, [root_pid]
    while todo:
        pid = todo.pop()
        total += times.get(pid, 0.0)
        todo.extend(child for child, parent in parents.items() if parent == pid)
    return total


def _process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def ours(
    url: str, dovecot: servers.DovecotServer, instance: Path, server_pid: int | None = None
) -> tuple[int, float]:
    from helpdesk import bootstrap, create_app, db
    from helpdesk.mail.imap import ImapSettings
    from helpdesk.tickets import poll

    app = create_app(overrides={"HELPDESK_DATABASE_URL": url, "HELPDESK_INSTANCE_DIR": str(instance)})
    with app.app_context():
        bootstrap.init_database()
        phases.clear()
        phases_cpu.clear()
        settings = ImapSettings(
            host=dovecot.host,
            port=dovecot.port,
            user=dovecot.user,
            password=dovecot.password,
            security="none",
        )
        from helpdesk.tickets.reading import intake_sandbox

        box = intake_sandbox()
        box.run(
            len, [(b"warm",)] * box.size, 30
        )  # start the workers outside the timing, as a worker has them
        box.tasks_done, box.cpu_seconds = 0, 0.0
        profile = cProfile.Profile(time.thread_time) if PROFILE else None  # CPU: the machine is shared
        statements: dict[str, int] = defaultdict(int)
        if PROFILE:
            from sqlalchemy import event

            started: list[float] = []
            seconds: dict[str, float] = defaultdict(float)

            @event.listens_for(db.engine(), "before_cursor_execute")
            def count(_conn, _cursor, statement, *_args):
                words = statement.split()
                verb = words[0].upper() if words else "?"
                into = words.index("FROM") + 1 if verb == "SELECT" and "FROM" in words else 1
                table = next((w for w in words[into : into + 5] if w.islower() and w.isidentifier()), "")
                statements[f"{verb} {table}"] += 1
                started[:] = [time.perf_counter(), f"{verb} {table}"]

            @event.listens_for(db.engine(), "after_cursor_execute")
            def took(*_args):
                seconds[started[1]] += time.perf_counter() - started[0]

        start, process, main, server = (
            time.perf_counter(),
            _process_cpu(),
            time.thread_time(),
            _tree_cpu(server_pid),
        )
        if profile is not None:
            profile.enable()
        report = poll.poll_once(settings, use_lease=False)
        elapsed = time.perf_counter() - start
        phases["process"] = _process_cpu() - process
        phases["main"] = time.thread_time() - main
        phases["server"] = _tree_cpu(server_pid) - server
        if profile is not None:
            profile.disable()
            pstats.Stats(profile).sort_stats("tottime").print_stats(25)
            pstats.Stats(profile).sort_stats("cumulative").print_stats("helpdesk", 40)
            print("SQL statements per mail:")
            for name, n in sorted(statements.items(), key=lambda kv: -seconds[kv[0]])[:25]:
                made = max(1, report.created)
                print(f"    {n / made:6.2f}  {seconds[name] / made * 1000:6.2f} ms/msg  {name}")
        phases["workers"] = box.cpu_seconds
        assert not report.errors, report.errors
        db.session.remove()
        db.engine().dispose()
    return report.created, elapsed


def print_phases(made: int, our_s: float) -> None:
    rows = [
        ("fetch", "IMAP fetch (imapclient)"),
        ("store", "raw mail stored and committed"),
        ("claim", "claims (compare-and-set, one per chunk)"),
        ("tickets", "chunk transactions: tickets, acks, savepoints, commit"),
        ("wait", "waiting for the read-ahead"),
        ("flag", "server flags after the commit"),
    ]
    for table in (phases, phases_cpu):
        table["wait"] = table["intake"] - table["claim"] - table["tickets"]
    rest = our_s - sum(phases[name] for name, _ in rows)
    print("    phase      wall      per msg    main-thread CPU per msg")
    for name, what in rows:
        seconds, cpu = phases[name], phases_cpu[name]
        print(
            f"    {name:<8} {seconds:6.2f} s  {seconds / made * 1000:6.1f} ms  {cpu / made * 1000:6.1f} ms  {what}"
        )
    print(f"    {'rest':<8} {rest:6.2f} s  {rest / made * 1000:6.1f} ms            everything else")
    workers, main, process, server = (phases[k] for k in ("workers", "main", "process", "server"))
    print(
        f"    {'workers':<8} {workers:6.2f} s  {workers / made * 1000:6.1f} ms/msg  "
        "CPU in the sandbox workers (parse + letter), beside the above"
    )
    print(
        f"    {'threads':<8} {process - main:6.2f} s  {(process - main) / made * 1000:6.1f} ms/msg  "
        "CPU of the other threads of this process (the read-ahead: sending, receiving the readings)"
    )
    if server:
        print(
            f"    {'server':<8} {server:6.2f} s  {server / made * 1000:6.1f} ms/msg  "
            "CPU of the PostgreSQL server processes"
        )
    total = process + workers + server
    print(
        f"    CPU per msg: main thread {main / made * 1000:.1f} ms, all of ours {total / made * 1000:.1f} ms "
        f"(the baseline: {BASELINE_CPU[0] / made * 1000:.1f} ms in one process)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--profile", action="store_true", help="cProfile the committing process")
    args = parser.parse_args()
    global PROFILE
    PROFILE = args.profile
    mails = make_mails(args.count)
    print(f"{len(mails)} mails, average {sum(map(len, mails)) / len(mails) / 1024:.0f} KB")
    instrument()
    root = servers._root_dir()  # traversable by the dovecot and postgres users
    dovecot = servers.DovecotServer(root / "dovecot")
    dovecot.write_config()
    dovecot.start()
    pg = None
    try:
        kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
        for kind in kinds:
            dovecot.reset()
            with dovecot.client() as c:
                for raw in mails:
                    c.append("INBOX", raw)
            n, before_s = baseline(dovecot.host, dovecot.port, dovecot.user, dovecot.password)
            before_cpu = BASELINE_CPU[0]
            if kind == "sqlite":
                url = f"sqlite:///{root / 'bench.sqlite3'}"
            else:
                bindir = servers._pg_bindir()
                pg = pg or servers.PostgresServer(bindir, root / "pg")
                if not pg.running:
                    pg.init()
                    pg.start()
                url = pg.create_database(f"bench_{int(time.time())}")
            server_pid = pg._proc.pid if kind == "postgres" and pg is not None and pg._proc else None
            made, our_s = ours(url, dovecot, root / f"instance-{kind}", server_pid)
            # the baseline again after ours (the mails are only flagged): the machine's load drifts,
            # so ours is compared with the mean of a baseline run just before and one just after
            n_after, after_s = baseline(dovecot.host, dovecot.port, dovecot.user, dovecot.password)
            assert n_after == n, (n, n_after)
            BASELINE_CPU[0] = (before_cpu + BASELINE_CPU[0]) / 2
            base_s = (before_s + after_s) / 2
            base_rate, our_rate = n / base_s, made / our_s
            print(
                f"\n[{kind}] baseline (imapclient + email + python-docx): {n} msgs in {base_s:.1f} s = {base_rate:.1f} msg/s"
                f" (mean of {before_s:.1f} s before and {after_s:.1f} s after ours)"
            )
            print(
                f"[{kind}] ours (store + parse + letter + ticket + ack + commit + flag): {made} tickets in {our_s:.1f} s"
                f" = {our_rate:.1f} msg/s; ratio {our_rate / base_rate:.2f}"
            )
            print(f"    baseline CPU {BASELINE_CPU[0] / n * 1000:6.1f} ms/msg (one process)")
            print_phases(made, our_s)
    finally:
        dovecot.stop()
        if pg is not None:
            pg.stop()


if __name__ == "__main__":
    main()
