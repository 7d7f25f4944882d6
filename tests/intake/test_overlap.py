"""Exactly once across processes: the poll beside reprocess-mail, two workers, pollers SIGKILLed mid-batch.

Real processes (the `helpdesk` command), a real Dovecot, a real SMTP server, both databases. Every
mail has its own sender, since a sender gets at most three acknowledgements a day.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from docx import Document
from sqlalchemy import func, select

from helpdesk import db
from helpdesk.db import session
from helpdesk.mail.models import InboundMail, OutboundMail
from helpdesk.tickets.models import Ticket
from tests.intake.conftest import make_mail
from tests.servers import marked_processes, wait_for_no_processes

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
COUNT = 150


def letter_docx(i: int) -> bytes:
    doc = Document()
    doc.add_paragraph("解绑说明")
    doc.add_paragraph("外贸发展专项资金（中小）网络管理应用项目组：")
    doc.add_paragraph(
        f"我司测试{i}号贸易有限公司在商务部业务系统统一平台存在2个账号（corp{i}_a、corp{i}_b），"
        f"现申请将专项资金申报与账号corp{i}_b解绑。"
    )
    doc.add_paragraph("特此说明！")
    doc.add_paragraph("2026年11月20日")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def letter_mails(count: int = COUNT, start: int = 0) -> list[bytes]:
    return [
        make_mail(
            subject=f"解绑说明（第 {i} 号）",
            body="您好，附件是我司的解绑说明，请处理。",
            sender=f"staff{i}@corp{i}.example.cn",
            attachments=[("解绑说明.docx", DOCX, letter_docx(i))],
        )
        for i in range(start, start + count)
    ]


def cli_env(app, imap, smtp=None, **extra: object) -> dict[str, str]:
    settings = app.config["HELPDESK"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(
        {
            "HELPDESK_DATABASE_URL": settings.database_url,
            "HELPDESK_INSTANCE_DIR": str(settings.instance_dir),
            "HELPDESK_SECRET_KEY": str(settings["HELPDESK_SECRET_KEY"]),
            "HELPDESK_IMAP_HOST": imap.host,
            "HELPDESK_IMAP_PORT": str(imap.port),
            "HELPDESK_IMAP_USER": imap.user,
            "HELPDESK_IMAP_PASSWORD": imap.password,
            "HELPDESK_IMAP_SSL": "none",
            "HELPDESK_SMTP_HOST": smtp.host if smtp else "",
            "HELPDESK_SMTP_PORT": str(smtp.port) if smtp else "25",
            "HELPDESK_SMTP_SSL": "none",
            "HELPDESK_LEASE_SECONDS": "3",
            # every process of one test carries this mark, so the orphan check finds exactly them
            "HELPDESK_TEST_MARK": uuid.uuid4().hex,
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        }
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


def helpdesk(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", "from helpdesk.cli import main; main()", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def run(*args: str, env: dict[str, str], timeout: float = 300) -> str:
    proc = helpdesk(*args, env=env)
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out
    return out


def count(model, *where) -> int:
    """A snapshot count that neither waits for nor blocks the CLI's writes (a DEFERRED SQLite read:
    under the default BEGIN IMMEDIATE it would queue behind the poller's batches and see them late)."""
    session.rollback()
    try:
        with db.reads():
            return session.scalar(select(func.count()).select_from(model).where(*where)) or 0
    finally:
        session.rollback()


def assert_exactly_once(env: dict[str, str], total: int = COUNT) -> None:
    assert count(InboundMail) == total
    assert count(Ticket) == total
    assert count(InboundMail, InboundMail.status == "ingested") == total
    tickets = session.scalars(select(InboundMail.ticket_id)).all()
    session.rollback()
    assert len(set(tickets)) == total and None not in tickets  # one ticket per mail, none shared
    assert count(Ticket, Ticket.type == "unbind") == total  # no mail fell back to an inquiry
    assert count(OutboundMail, OutboundMail.kind == "ack") == total
    status = run("mail-status", env=env)
    assert f"已入库 {total}；失败 0；待处理 0" in status, status


@pytest.mark.dovecot
def test_poll_and_reprocess_at_once_make_each_ticket_once(app, imap):
    env = cli_env(app, imap)
    per_round = 2 * COUNT  # enough that the poll is still at work while reprocess-mail starts up
    total, rounds = 0, []
    # SQLite's lock is not handed over fairly: now and then a retry waits out a whole poll. Until the
    # two paths have really overlapped (up to three rounds of fresh mail), every round must still
    # make each ticket exactly once.
    while len(rounds) < 3 and not (rounds and min(rounds[-1]) > 0):
        for raw in letter_mails(per_round, start=total):
            imap.append(raw)
        total += per_round
        poller = helpdesk("poll-mail", "--once", env=env)
        beside: list[str] = []
        while poller.poll() is None:  # the stored-mail retry, started again and again while the poll runs
            beside.append(run("reprocess-mail", env=env))
        out, _ = poller.communicate()
        assert poller.returncode == 0, out
        beside.append(run("reprocess-mail", env=env))
        by_retry = sum(text.count(": created ->") for text in beside)
        by_poll = int(out.split("新建工单 ")[1].split(" ")[0])
        assert by_poll + by_retry == per_round, (by_poll, by_retry, out)
        rounds.append((by_poll, by_retry))
    assert min(rounds[-1]) > 0, rounds  # the two paths really overlapped
    run("poll-mail", "--once", env=env)  # flags what the retry ingested
    assert_exactly_once(env, total)
    assert imap.message_count() == total


@pytest.mark.dovecot
@pytest.mark.smtp
def test_two_worker_processes_make_each_ticket_and_acknowledgement_once(app, imap, smtp):
    for raw in letter_mails():
        imap.append(raw)
    env = cli_env(app, imap, smtp, HELPDESK_IMAP_POLL_SECONDS=1, HELPDESK_INGEST_RETRY_SECONDS=1)
    workers = [helpdesk("worker", env=env) for _ in range(2)]
    try:
        smtp.wait_for(COUNT, timeout=240)
        deadline = time.monotonic() + 120
        while count(OutboundMail, OutboundMail.sent_at.is_(None)) and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(3)  # room for a duplicate to show up, if there were one
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        outputs = [w.communicate(timeout=60)[0] for w in workers]
    assert all(w.returncode is not None for w in workers), outputs
    assert_exactly_once(env)
    recipients = [m.message["To"] for m in smtp.messages]
    assert len(recipients) == COUNT and len(set(recipients)) == COUNT  # each enterprise told once
    assert wait_for_no_processes(env["HELPDESK_TEST_MARK"]) == []


@pytest.mark.dovecot
def test_poller_sigkilled_mid_batch_three_times_loses_and_doubles_nothing(app, imap, db_kind):
    # twice the mail of the other tests: on a quiet machine a poller gets far before each kill
    total = 2 * COUNT
    for raw in letter_mails(total):
        imap.append(raw)
    env = cli_env(app, imap)
    mark = env["HELPDESK_TEST_MARK"]
    restarts = []
    for _kill in range(3):
        before = count(Ticket)
        started = time.monotonic()
        while True:  # the next poll must get going within the lease TTL of the killed one (3 s here)
            poller = helpdesk("poll-mail", "--once", env=env)
            while poller.poll() is None and count(Ticket) < before + 3:
                time.sleep(0.05)
            if poller.poll() is None:
                break  # working, mid-batch
            out = poller.stdout.read() if poller.stdout else ""
            # it may only stop early because of the lock, or because all that is left is still
            # claimed by the killed poller (its claims expire after the lease TTL too)
            assert "另一个进程正在收取" in out or "取回 0 封" in out, out
            assert time.monotonic() - started < 30, "the killed poller's lock or claims were never freed"
        restarts.append(time.monotonic() - started)
        children = [pid for pid in marked_processes(mark) if pid != poller.pid]
        assert children, "the poller reads mail in sandbox processes"
        poller.send_signal(signal.SIGKILL)  # only the poller: its helpers must go by themselves
        poller.wait(10)
        assert wait_for_no_processes(mark) == [], "orphaned helper processes outlived the poller"
    assert max(restarts) < 3 + 10  # TTL + starting a process and reading a chunk, on a busy machine
    assert count(Ticket) < total  # the kills really interrupted the work
    time.sleep(3.5)  # the claims of the last killed poller expire (HELPDESK_LEASE_SECONDS)
    out = run("poll-mail", "--once", env=env)  # also takes over what the killed pollers left stored
    assert "跳过" not in out, out
    assert_exactly_once(env, total)
    assert wait_for_no_processes(mark) == []
