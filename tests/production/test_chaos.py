"""The chaos run of issue #16: 1,000 letters through two workers and two web processes while things break.

Real PostgreSQL, Dovecot and SMTP server (aiosmtpd); two `helpdesk worker` and two gunicorn processes.
While the mails are appended, a seeded random schedule SIGKILLs and restarts workers, drops every
IMAP connection (Dovecot stopped, sometimes SIGKILLed, and started again) and stops the SMTP server
for a while. Part of the mails carry an INTERNALDATE in the past, so SLA warnings and breaches fire
during the run. At the end every mail is one ticket with one acknowledgement delivered, every warning
and breach went out once (timeline event, in-app notice, mail), the outbox is empty, no process of
the run is left, and `helpdesk mail-status` says all ingested.

"One mail delivered" is counted by Message-ID: a worker SIGKILLed after the SMTP server accepted a mail
and before the outbox committed it as sent hands the same mail (same Message-ID) over again once its
claim expires. That window cannot be closed with SMTP; the summary counts such copies, and the test
allows at most one per kill.

The seed comes from CHAOS_SEED (else it is made up); it is printed in the run's summary,
at the end of the pytest output, so a failing run can be replayed.
"""

from __future__ import annotations

import collections
import contextlib
import io
import json
import os
import random
import re
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from docx import Document
from sqlalchemy import func, select

from helpdesk import create_app
from helpdesk.auth.models import Role
from helpdesk.db import session, utcnow
from helpdesk.mail.models import InboundMail, OutboundMail
from helpdesk.sla import clock
from helpdesk.sla import edits as sla_edits
from helpdesk.tickets.models import Notification, Ticket, TicketEvent
from tests.conftest import PASSWORD, make_user
from tests.intake.conftest import make_mail
from tests.production.conftest import (
    SUMMARIES,
    WebClient,
    WebProcess,
    helpdesk_command,
    marked_processes,
    process_env,
    run_helpdesk,
    spawn,
    start_gunicorn,
    tail,
    wait_for_no_processes,
)

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
TOTAL = int(os.environ.get("CHAOS_MAILS", "1000"))
BUDGET_SECONDS = 600
SUPERVISOR_EMAIL = "super1@helpdesk.test"

pytestmark = [pytest.mark.postgres, pytest.mark.dovecot, pytest.mark.smtp]


# ------------------------------------------------------------------------------------------ the mail


def _docx(paragraphs: list[str]) -> bytes:
    doc = Document()
    for text in paragraphs:
        doc.add_paragraph(text)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def letter_mail(i: int) -> bytes:
    """Letter i: an unbinding or cancelling letter as .docx, or a change letter in the mail body."""
    sender = f"staff{i}@chaos{i}.example.cn"
    company = f"混沌测试{i}号贸易有限公司"
    if i % 3 == 0:
        text = [
            "解绑说明",
            "外贸发展专项资金（中小）网络管理应用项目组：",
            f"我司{company}在商务部业务系统统一平台存在2个账号（chaos{i}_a、chaos{i}_b），"
            f"现申请将专项资金申报与账号chaos{i}_b解绑。",
            "特此说明！",
            "2026年11月20日",
        ]
        return make_mail(
            subject=f"解绑说明（{i}）",
            body="您好，附件是我司的解绑说明，请处理。",
            sender=sender,
            attachments=[("解绑说明.docx", DOCX, _docx(text))],
        )
    if i % 3 == 1:
        text = [
            "注销说明",
            "外贸发展专项资金（中小）网络管理应用项目组：",
            f"我司{company}因业务调整，申请注销外贸发展专项资金（中小）网络管理应用账号chaos{i}_a。",
            "特此说明！",
            "2026年11月20日",
        ]
        return make_mail(
            subject=f"注销说明（{i}）",
            body="您好，附件是我司的注销说明。",
            sender=sender,
            attachments=[("注销说明.docx", DOCX, _docx(text))],
        )
    body = (
        "变更说明\n外贸发展专项资金（中小）网络管理应用项目组：\n"
        f"我司{company}的统一社会信用代码由91110000MA00CH{i:04d}变更为91110000MA00CN{i:04d}，"
        "现申请变更应用中的企业信息。\n特此说明！\n2026年11月20日\n"
    )
    return make_mail(subject=f"变更说明（{i}）", body=body, sender=sender)


def hold_to_business_hours() -> None:
    """Every type on "2 days of business hours" (a supervisor's setting, through its service).

    Under the default "close of business on the 2nd working day" the warning (75 %) and the deadline
    fall on the same afternoon, so a ticket that is warned but not yet breached exists only while the
    run itself is inside that afternoon. In business hours both points move with business time
    alone: a start can be found at any hour of any day that is warned now and due hours later.
    """
    for ticket_type in sla_edits.TICKET_TYPES:
        sla_edits.update_policy(
            ticket_type,
            mode="business_hours",
            days=2,
            business_start="09:00",
            business_end="17:00",
            warn_percent=75,
            by=None,
        )


def warning_start(now: datetime) -> datetime:
    """A receipt time whose clock is 15 minutes past its warning and more than an hour from its deadline.

    The latest start (10-minute steps back from now) whose warning lies 15 minutes in the past: its
    deadline is then the policy's last quarter (4 business hours) after that, well after the run.
    """
    starts = {}
    for ticket_type in sla_edits.TICKET_TYPES:
        counter = clock.counter_for(clock.policy_for(ticket_type))
        start = now.replace(second=0, microsecond=0)
        while counter.fresh(start).warn_at > now - timedelta(minutes=15):
            start -= timedelta(minutes=10)
        fresh = counter.fresh(start)
        assert fresh.due_at > now + timedelta(hours=1), (ticket_type, fresh)
        starts[ticket_type] = start
    assert len(set(starts.values())) == 1, starts  # one policy for all: the letters' types do not matter
    return starts["unbind"]


# ------------------------------------------------------------------------------------------ the run


@dataclass
class Chaos:
    """What the run did, for the summary."""

    seed: int
    kills: int = 0
    imap_drops: int = 0
    smtp_outages: int = 0
    smtp_down_seconds: float = 0.0
    append_retries: int = 0
    http: collections.Counter[str] = field(default_factory=collections.Counter)
    http_failures: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    #: (monotonic time, "kill" / "smtp stop") of each breakage that can cut a mail's hand-over short
    cuts: list[tuple[float, str]] = field(default_factory=list)

    def note(self, started: float, text: str) -> None:
        self.events.append(f"{time.monotonic() - started:6.1f}s {text}")


class Workers:
    """Two `helpdesk worker` slots: a slot's process can be SIGKILLed and started again."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.slots: list[subprocess.Popen[bytes] | None] = [None, None]
        self.all: list[subprocess.Popen[bytes]] = []
        self.lock = threading.Lock()

    def start(self, slot: int) -> None:
        with self.lock:
            log = self.logs / f"worker{slot}-{len(self.all)}.log"
            proc = spawn(helpdesk_command("worker"), self.env, log)
            self.slots[slot] = proc
            self.all.append(proc)

    def kill(self, slot: int) -> None:
        with self.lock:
            proc, self.slots[slot] = self.slots[slot], None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)  # the worker only: its sandbox helpers must go by themselves
            proc.wait(10)

    def stop_all(self) -> list[int | None]:
        for proc in self.slots:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = []
        for proc in self.slots:
            if proc is None:
                continue
            try:
                codes.append(proc.wait(120))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(None)
        return codes


def cause_of(recorded_at: float | None, cuts: list[tuple[float, str]]) -> str:
    """The first breakage within 5 s after the server recorded the mail, with its delay."""
    if recorded_at is not None:
        for at, what in cuts:
            if 0 <= at - recorded_at <= 5:
                return f"{what} {at - recorded_at:+.2f} s"
    return "no kill or SMTP stop within 5 s"


JOB_END = re.compile(r'msg="job ([a-z-]+) finished in ([0-9.]+) s"')


def job_seconds(logs: Path) -> dict[str, tuple[int, float, float]]:
    """(runs, total seconds, longest) per job, from the job-end lines of every worker's log."""
    found: dict[str, list[float]] = collections.defaultdict(list)
    for log in logs.glob("worker*.log"):
        for match in JOB_END.finditer(log.read_text(errors="replace")):
            found[match.group(1)].append(float(match.group(2)))
    return {job: (len(s), sum(s), max(s)) for job, s in sorted(found.items())}


def count(model: Any, *where: Any) -> int:
    session.rollback()
    try:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0
    finally:
        session.rollback()


def test_chaos_run_loses_and_doubles_nothing(
    pg_database: str, dovecot_server: Any, smtp_server: Any, tmp_path: Path
) -> None:
    seed = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(1, 10**9))
    rng = random.Random(seed)
    chaos = Chaos(seed)
    imap, smtp = dovecot_server, smtp_server
    imap.reset()
    smtp.start()
    smtp.clear()
    # when the server recorded each mail, to tell what cut a mail's hand-over short (restored at the end)
    received: list[tuple[float, str]] = []
    record = smtp._record

    def record_with_time(msg: Any) -> None:
        received.append((time.monotonic(), str(msg.message["Message-ID"])))
        record(msg)

    smtp._record = record_with_time

    instance = tmp_path / "instance"
    secret = "chaos-" + uuid.uuid4().hex
    env = process_env(
        pg_database,
        instance,
        secret,
        HELPDESK_IMAP_HOST=imap.host,
        HELPDESK_IMAP_PORT=imap.port,
        HELPDESK_IMAP_USER=imap.user,
        HELPDESK_IMAP_PASSWORD=imap.password,
        HELPDESK_IMAP_SSL="none",
        HELPDESK_IMAP_POLL_SECONDS=2,
        HELPDESK_INGEST_RETRY_SECONDS=5,
        HELPDESK_SMTP_HOST=smtp.host,
        HELPDESK_SMTP_PORT=smtp.port,
        HELPDESK_SMTP_SSL="none",
        HELPDESK_LEASE_SECONDS=5,
    )
    mark = env["HELPDESK_TEST_MARK"]
    app = create_app(
        overrides={k: v for k, v in env.items() if k.startswith("HELPDESK_") and k != "HELPDESK_TEST_MARK"}
    )
    with app.app_context():
        make_user("agent1", Role.AGENT, display_name="王客服")
        make_user("super1", Role.SUPERVISOR, display_name="李主管")  # SLA notices of unassigned tickets
        hold_to_business_hours()
        now = utcnow()
        warn_at_start = warning_start(now)
    kinds = ["breach"] * (TOTAL // 8) + ["warning"] * (TOTAL // 8)
    kinds += ["fresh"] * (TOTAL - len(kinds))
    rng.shuffle(kinds)
    expected = {f"staff{i}@chaos{i}.example.cn": kind for i, kind in enumerate(kinds)}
    internal_dates = {
        "breach": now - timedelta(days=30),
        "warning": warn_at_start,
        "fresh": None,
    }
    mails = [letter_mail(i) for i in range(TOTAL)]

    logs = tmp_path / "logs"
    logs.mkdir()
    workers = Workers(env, logs)
    webs: list[WebProcess] = []
    started = time.monotonic()
    imap_lock = threading.Lock()  # appends and IMAP drops take turns: an APPEND cut off could land twice
    appended = 0
    append_error: list[BaseException] = []

    def append_all() -> None:
        nonlocal appended
        pace = random.Random(seed + 1)  # its own generator: the schedule's draws stay the seed's
        i = 0
        try:
            while i < TOTAL:
                with imap_lock:
                    try:
                        with imap.client() as c:
                            for _ in range(pace.randint(5, 40)):
                                if i >= TOTAL:
                                    break
                                c.append("INBOX", mails[i], msg_time=internal_dates[kinds[i]])
                                i += 1
                                appended = i
                    except Exception:  # noqa: BLE001 - the server went away between our turns; again
                        chaos.append_retries += 1
                        time.sleep(0.5)
                time.sleep(pace.uniform(0.0, 1.0))
        except BaseException as exc:  # pragma: no cover - reported by the main thread
            append_error.append(exc)

    stop_probes = threading.Event()

    def probe_web() -> None:
        clients = []
        for web in webs:
            client = WebClient(web.url, timeout=30)
            client.login("agent1", PASSWORD)
            clients.append(client)
        n = 0
        while not stop_probes.wait(2):
            web, client = webs[n % 2], clients[n % 2]
            n += 1
            ready = client.get("/readyz")
            chaos.http[f"readyz {ready.status}"] += 1
            try:
                checks = json.loads(ready.body)["checks"]
            except (ValueError, KeyError):
                chaos.http_failures.append(f"{web.url}/readyz {ready.status}: {ready.body[:200]}")
            else:
                if ready.status not in (200, 503) or not checks["database"]["ok"]:
                    chaos.http_failures.append(f"{web.url}/readyz {ready.status}: {ready.body[:200]}")
                for name, check in checks.items():
                    if not check["ok"]:
                        chaos.http[f"readyz not ok: {name}"] += 1
            queue = client.get("/")
            chaos.http[f"queue {queue.status}"] += 1
            if queue.status != 200 or "工单" not in queue.body or "/login" in queue.url:
                chaos.http_failures.append(f"{web.url}/ {queue.status}: {queue.body[:200]}")

    smtp_timers: list[threading.Timer] = []  # each brings the SMTP server back after its outage

    def schedule() -> None:
        """Random breakage until the mail is in and at least 6 kills, 2 IMAP drops, 1 SMTP outage happened."""
        while True:
            done = appended >= TOTAL
            if done and chaos.kills >= 6 and chaos.imap_drops >= 2 and chaos.smtp_outages >= 1:
                return
            if time.monotonic() - started > BUDGET_SECONDS / 2:
                return
            time.sleep(rng.uniform(2, 8))
            what = rng.choices(["kill", "imap", "smtp"], weights=[6, 2, 1.5])[0]
            if what == "kill":
                slot = rng.randrange(2)
                workers.kill(slot)
                chaos.cuts.append((time.monotonic(), f"SIGKILL worker {slot}"))
                chaos.kills += 1
                chaos.note(started, f"SIGKILL worker {slot}")
                time.sleep(rng.uniform(0.2, 4))
                workers.start(slot)
            elif what == "imap":
                crash = rng.random() < 0.5
                with imap_lock:
                    imap.stop(crash=crash)
                    chaos.imap_drops += 1
                    chaos.note(started, f"Dovecot {'SIGKILLed' if crash else 'stopped'}")
                    time.sleep(rng.uniform(0.5, 3))
                    imap.start()
            elif smtp.running:
                down = rng.uniform(5, 20)
                smtp.stop()
                chaos.cuts.append((time.monotonic(), "SMTP stop"))
                chaos.smtp_outages += 1
                chaos.smtp_down_seconds += down
                chaos.note(started, f"SMTP stopped for {down:.0f}s")
                timer = threading.Timer(down, smtp.start)
                smtp_timers.append(timer)
                timer.start()

    summary: list[str] = []
    SUMMARIES.append((f"chaos run (seed {seed})", summary))
    appender = threading.Thread(target=append_all, name="chaos-append", daemon=True)
    prober = threading.Thread(target=probe_web, name="chaos-probe", daemon=True)
    try:
        webs.extend(start_gunicorn(env, logs / f"web{n}.log") for n in range(2))
        workers.start(0)
        workers.start(1)
        appender.start()
        prober.start()
        schedule()
        appender.join(BUDGET_SECONDS)
        assert not append_error, append_error
        assert appended == TOTAL
        for timer in smtp_timers:
            timer.join()
        for slot in range(2):  # the last kill's slot may be restarting: both run to the end
            if workers.slots[slot] is None or workers.slots[slot].poll() is not None:
                workers.start(slot)
        chaos.note(started, "chaos over, all mail appended")

        want_warn = sum(k == "warning" for k in kinds)
        want_breach = sum(k == "breach" for k in kinds)
        want_mail = TOTAL + want_warn + want_breach
        with app.app_context():
            deadline = started + BUDGET_SECONDS
            while time.monotonic() < deadline:
                settled = (
                    count(Ticket) >= TOTAL
                    and count(OutboundMail, OutboundMail.sent_at.is_(None)) == 0
                    and count(TicketEvent, TicketEvent.kind == "sla_warning") >= want_warn
                    and count(TicketEvent, TicketEvent.kind == "sla_breach") >= want_breach
                    and len(smtp.messages) >= want_mail
                )
                if settled:
                    break
                time.sleep(1)
            time.sleep(5)  # room for a late duplicate to show up, if there were one
            settled_after = time.monotonic() - started
            stop_probes.set()
            prober.join(30)
            codes = workers.stop_all()
            for web in webs:
                web.stop()

            # ---- what happened
            tickets = count(Ticket)
            acks_queued = count(OutboundMail, OutboundMail.kind == "ack")
            unsent = count(OutboundMail, OutboundMail.sent_at.is_(None))
            failed_rows = count(OutboundMail, OutboundMail.failed.is_(True))
            events = collections.Counter(
                (ticket_id, kind)
                for ticket_id, kind in session.execute(
                    select(TicketEvent.ticket_id, TicketEvent.kind).where(
                        TicketEvent.kind.in_(("sla_warning", "sla_breach"))
                    )
                )
            )
            notices = collections.Counter(
                (ticket_id, kind)
                for ticket_id, kind in session.execute(
                    select(Notification.ticket_id, Notification.kind).where(
                        Notification.kind.in_(("sla_warning", "sla_breach"))
                    )
                )
            )
            requester = dict(session.execute(select(Ticket.id, Ticket.requester_email)).tuples().all())
            numbers = {f"ZXZJ#{ticket_id}": email for ticket_id, email in requester.items()}
            ingested = count(InboundMail, InboundMail.status == "ingested")
            mail_tickets = session.scalars(select(InboundMail.ticket_id)).all()
            session.rollback()
            status = run_helpdesk("mail-status", env=env)

        # what the server took, by (recipient, Message-ID): a second copy under the same id is the same
        # mail handed over again, a second mail would have an id of its own
        copies = collections.Counter(
            (addr, str(m.message["Message-ID"])) for m in smtp.messages for addr in m.rcpt_tos
        )
        resent = {key: n - 1 for key, n in copies.items() if n > 1}
        first_copy = {}
        for at, message_id in received:
            first_copy.setdefault(message_id, at)
        causes = [cause_of(first_copy.get(message_id), chaos.cuts) for _addr, message_id in resent]
        delivered = collections.Counter(addr for addr, _id in copies)  # distinct mails per recipient
        sla_mail: collections.Counter[tuple[str, str]] = collections.Counter()
        seen: set[str] = set()
        for m in smtp.messages:
            message_id = str(m.message["Message-ID"])
            if SUPERVISOR_EMAIL in m.rcpt_tos and message_id not in seen:
                seen.add(message_id)
                subject = m.subject.removeprefix("[SLA] ")
                number = subject.split("（", 1)[0]
                sla_mail[(number, "sla_breach" if "已超过" in subject else "sla_warning")] += 1
        ack_copies = collections.Counter(delivered[sender] for sender in expected)
        left = wait_for_no_processes(mark)
        job_time = job_seconds(logs)
        duration = time.monotonic() - started
        summary += [
            f"seed {seed} (replay: CHAOS_SEED={seed}); {TOTAL} mails; "
            f"duration {duration:.0f} s (settled at {settled_after:.0f} s of a {BUDGET_SECONDS} s budget)",
            f"chaos: {chaos.kills} worker SIGKILLs, {chaos.imap_drops} IMAP drops, {chaos.smtp_outages} SMTP "
            f"outages ({chaos.smtp_down_seconds:.0f} s down), {chaos.append_retries} APPEND retries, "
            f"{len(workers.all)} worker processes started in all",
            f"tickets {tickets}, ingested {ingested}, acks queued {acks_queued}, unsent {unsent}, "
            f"failed {failed_rows}; SMTP received {len(copies)} distinct mails (want {want_mail}) in "
            f"{len(smtp.messages)} deliveries: {sum(resent.values())} handed over again under the same "
            f"Message-ID, each after: {causes or '-'}",
            f"acknowledgements per sender: {dict(sorted(ack_copies.items()))} (want {{1: {TOTAL}}})",
            f"SLA warnings: events {sum(v for (_, k), v in events.items() if k == 'sla_warning')}, "
            f"mails {sum(v for (_, k), v in sla_mail.items() if k == 'sla_warning')} (want {want_warn}); "
            f"breaches: events {sum(v for (_, k), v in events.items() if k == 'sla_breach')}, "
            f"mails {sum(v for (_, k), v in sla_mail.items() if k == 'sla_breach')} (want {want_breach})",
            f"web probes: {dict(sorted(chaos.http.items()))}; failures {len(chaos.http_failures)}",
            "job steps of all workers (runs, total s, longest s): "
            + ", ".join(
                f"{job} {n} / {total:.0f} / {longest:.1f}" for job, (n, total, longest) in job_time.items()
            ),
            f"workers' exit codes at the end (SIGTERM): {codes}; processes left: {left}",
            f"mail-status: {status.strip()}",
            "timeline: " + "; ".join(chaos.events),
        ]
    finally:
        smtp.__dict__.pop("_record", None)  # the server's own method again
        stop_probes.set()
        for timer in smtp_timers:
            timer.cancel()
            timer.join()
        if not smtp.running:
            smtp.start()
        if not imap.running:
            imap.start()
        for proc in workers.all:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        for web in webs:
            web.stop()
        for pid in marked_processes(mark):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    logs_hint = "\n".join(f"--- {p.name}\n{tail(p, 15)}" for p in sorted(logs.iterdir()))
    # ---- every mail one ticket, acknowledged once
    assert tickets == TOTAL and ingested == TOTAL, (summary, logs_hint)
    assert len(set(mail_tickets)) == TOTAL and None not in mail_tickets
    assert acks_queued == TOTAL
    # exactly one acknowledgement (one Message-ID) per enterprise. The same mail handed over twice is the
    # window SMTP leaves open (no two-phase commit): the server recorded it, and the worker was killed
    # before its commit, or the server was stopped before its 250 reached the worker. The copy carries
    # the same Message-ID, so mail clients show it once; each follows one such cut.
    assert ack_copies == {1: TOTAL}, [(s, delivered[s]) for s in expected if delivered[s] != 1][:20]
    assert sum(resent.values()) <= len(chaos.cuts), resent
    assert set(requester.values()) == set(expected)
    # ---- every SLA notice once, and for exactly the backdated tickets
    assert all(n == 1 for n in events.values()), [k for k, n in events.items() if n != 1]
    assert all(n == 1 for n in notices.values()), [k for k, n in notices.items() if n != 1]
    assert all(n == 1 for n in sla_mail.values()), [k for k, n in sla_mail.items() if n != 1]
    for kind, event in (("warning", "sla_warning"), ("breach", "sla_breach")):
        want = {s for s, k in expected.items() if k == kind}
        assert {requester[t] for (t, k) in events if k == event} == want, kind
        assert {requester[t] for (t, k) in notices if k == event} == want, kind
        assert {numbers[n] for (n, k) in sla_mail if k == event} == want, kind
    assert delivered[SUPERVISOR_EMAIL] == want_warn + want_breach
    assert len(copies) == want_mail
    # ---- nothing left behind
    assert unsent == 0 and failed_rows == 0
    assert f"已入库 {TOTAL}；失败 0；待处理 0" in status, status
    assert f"服务器 {TOTAL} 封" in status, status
    assert left == [], left
    assert all(code == 0 for code in codes), (codes, logs_hint)
    # ---- the web processes answered throughout
    assert not chaos.http_failures, chaos.http_failures[:5]
    assert chaos.http["queue 200"] > 0 and (chaos.http["readyz 200"] + chaos.http["readyz 503"]) > 0
    assert chaos.kills >= 6 and chaos.imap_drops >= 2 and chaos.smtp_outages >= 1
