"""Smoke tests: each real server fixture of tests/servers.py really works."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import imaplib
import shutil
import smtplib
import socket
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest

# Registers the fixtures when tests/conftest.py has not already imported them (importing the
# module here first would stop pytest from rewriting its asserts and warn about it).
if "tests.servers" not in sys.modules:
    pytest_plugins = ["tests.servers"]

ROOT = Path(__file__).resolve().parent.parent
SUBJECT = "关于统一社会信用代码的变更说明"


def _mail(subject: str, body: str, msgid: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "企业 <qiye@example.test>"
    msg["To"] = "support@helpdesk.test"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{msgid}@example.test>"
    msg.set_content(body)
    return msg.as_bytes()


# --------------------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
def test_postgres_round_trip(postgres_server, postgres_url):
    import psycopg

    assert postgres_url.startswith(f"postgresql+psycopg://postgres@127.0.0.1:{postgres_server.port}/t_")
    dbname = postgres_url.rsplit("/", 1)[1]
    with psycopg.connect(postgres_server.dsn(dbname)) as conn:
        conn.execute("CREATE TABLE letters (id serial PRIMARY KEY, kind text NOT NULL, uscc char(18))")
        conn.execute(
            "INSERT INTO letters (kind, uscc) VALUES (%s, %s)",
            ("变更说明", "91350100M000100Y43"),
        )
        conn.commit()
        row = conn.execute("SELECT id, kind, uscc FROM letters").fetchone()
        assert row == (1, "变更说明", "91350100M000100Y43")
        assert conn.execute("SHOW server_encoding").fetchone() == ("UTF8",)
        assert conn.execute("SELECT inet_server_addr()::text").fetchone()[0].startswith("127.0.0.1")


@pytest.mark.postgres
def test_postgres_database_is_fresh_and_dropped(postgres_server, postgres_url):
    dbname = postgres_url.rsplit("/", 1)[1]
    with postgres_server.connect(dbname) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
        assert tables == (0,)
    # create/drop work even with an idle connection left open (as an app's pool would)
    postgres_server.create_database("smoke_extra")
    leaked = postgres_server.connect("smoke_extra")
    try:
        postgres_server.drop_database("smoke_extra")
    finally:
        leaked.close()
    with postgres_server.connect() as conn:
        left = conn.execute("SELECT count(*) FROM pg_database WHERE datname = 'smoke_extra'").fetchone()
        assert left == (0,)


# --------------------------------------------------------------------------- Dovecot


@pytest.mark.dovecot
def test_dovecot_append_and_fetch(imap):
    when = dt.datetime(2024, 3, 1, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    uids = [
        imap.append(_mail(f"{SUBJECT} {i}", f"正文 {i}", f"m{i}"), msg_time=when + dt.timedelta(minutes=i))
        for i in range(3)
    ]
    assert uids == [1, 2, 3]
    assert imap.message_count("INBOX") == 3
    with imap.client() as c:
        caps = c.capabilities()
        for cap in (b"MOVE", b"IDLE", b"UIDPLUS"):
            assert cap in caps
        info = c.select_folder("INBOX")
        assert info[b"UIDVALIDITY"] > 0
        data = c.fetch(uids, ["INTERNALDATE", "FLAGS", "BODY.PEEK[]", "ENVELOPE"])
        assert sorted(data) == uids
        for i, uid in enumerate(uids):
            internal = data[uid][b"INTERNALDATE"]
            aware = internal if internal.tzinfo else internal.astimezone()
            assert aware == when + dt.timedelta(minutes=i)
            parsed = email.message_from_bytes(data[uid][b"BODY[]"], policy=email.policy.default)
            assert parsed["Subject"] == f"{SUBJECT} {i}"
        # MOVE to a Chinese-named folder (modified UTF-7 on the wire)
        c.create_folder("已处理/2024")
        c.move([uids[0]], "已处理/2024")
    assert imap.message_count("INBOX") == 2
    assert imap.message_count("已处理/2024") == 1
    assert imap.message_count("does-not-exist") == 0
    [moved] = imap.messages("已处理/2024")
    assert moved.message["Subject"] == f"{SUBJECT} 0"
    assert "已处理/2024" in imap.folders()


@pytest.mark.dovecot
def test_dovecot_reset_gives_empty_mailbox(imap):
    imap.append(b"Subject: a\r\n\r\na\r\n", folder="Archive", flags=[b"\\Seen"])
    imap.append(b"Subject: b\r\n\r\nb\r\n")
    with imap.client() as c:
        before = c.select_folder("INBOX")[b"UIDVALIDITY"]
    stale = imap.client()  # a session left open, as a leaked app connection would be
    imap.reset()
    with pytest.raises(Exception):  # noqa: B017 - kicked: any IMAP/socket error
        stale.noop()
    assert imap.folders() == ["INBOX"]
    assert imap.message_count() == 0
    assert imap.append(b"Subject: c\r\n\r\nc\r\n") == 1
    with imap.client() as c:
        assert c.select_folder("INBOX")[b"UIDVALIDITY"] > before


@pytest.mark.dovecot
def test_dovecot_stop_and_start(imap):
    imap.append(b"Subject: survives restart\r\n\r\nx\r\n")
    imap.stop()
    assert not imap.running
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((imap.host, imap.port), timeout=2).close()
    imap.start()
    assert imap.running
    with imap.client() as c:
        assert c.select_folder("INBOX")[b"EXISTS"] == 1
        # a crash (SIGKILL) drops the session and loses nothing that was stored
        imap.stop(crash=True)
        with pytest.raises((OSError, imaplib.IMAP4.abort, imaplib.IMAP4.error)):
            c.noop()
    imap.start()
    assert imap.message_count() == 1


# --------------------------------------------------------------------------- SMTP


@pytest.mark.smtp
def test_smtp_records_chinese_subject(smtp):
    msg = EmailMessage()
    msg["From"] = "support@helpdesk.test"
    msg["To"] = "qiye@example.test"
    msg["Subject"] = SUBJECT
    msg.set_content("您的变更申请已受理。")
    with smtplib.SMTP(smtp.host, smtp.port, timeout=10) as client:
        client.login("support", "any-password")
        client.send_message(msg)
    # raw UTF-8 headers with SMTPUTF8
    raw = f"From: a@b.test\r\nTo: c@d.test\r\nSubject: {SUBJECT}\r\n\r\n正文\r\n".encode()
    with smtplib.SMTP(smtp.host, smtp.port, timeout=10) as client:
        client.sendmail("a@b.test", ["c@d.test"], raw, mail_options=["SMTPUTF8"])
    first, second = smtp.wait_for(2, timeout=5)
    assert first.mail_from == "support@helpdesk.test"
    assert first.rcpt_tos == ["qiye@example.test"]
    assert first.login == "support"
    assert first.subject == SUBJECT
    assert first.message.get_content().strip() == "您的变更申请已受理。"
    assert second.smtp_utf8
    assert SUBJECT.encode() in second.data
    assert second.subject == SUBJECT


@pytest.mark.smtp
def test_smtp_outage_and_recovery(smtp):
    assert smtp.messages == []
    smtp.stop()
    with pytest.raises(ConnectionRefusedError):
        smtplib.SMTP(smtp.host, smtp.port, timeout=5)
    smtp.start()
    with smtplib.SMTP(smtp.host, smtp.port, timeout=10) as client:
        client.sendmail("a@b.test", ["c@d.test"], b"Subject: back\r\n\r\nok\r\n")
    assert [m.subject for m in smtp.wait_for(1)] == ["back"]
    smtp.reject_reply = "451 4.3.0 try again later"
    with smtplib.SMTP(smtp.host, smtp.port, timeout=10) as client, pytest.raises(smtplib.SMTPDataError):
        client.sendmail("a@b.test", ["c@d.test"], b"Subject: refused\r\n\r\nno\r\n")
    assert len(smtp.messages) == 1


# --------------------------------------------------------------------------- Chromium


@pytest.mark.browser
def test_browser_renders_chinese(page):
    html = "<!doctype html><meta charset=utf-8><title>工单队列</title><h1>变更说明 · 解绑说明 · 注销说明</h1>"
    page.goto("data:text/html;charset=utf-8," + html)
    assert page.title() == "工单队列"
    assert page.inner_text("h1") == "变更说明 · 解绑说明 · 注销说明"
    assert page.evaluate("navigator.language") == "zh-CN"
    assert page.viewport_size == {"width": 1366, "height": 768}
    out = ROOT / "artifacts" / "screenshots" / "smoke.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out))
    assert out.stat().st_size > 1000


@pytest.mark.browser
def test_cjk_font_installed():
    from tests.servers import require

    if shutil.which("fc-match") is None:
        require("fonts", "fc-match not found (apt-get install fontconfig fonts-noto-cjk)")
    out = subprocess.run(
        ["fc-match", "-f", "%{family}", "sans-serif:lang=zh-cn"], capture_output=True, text=True
    )
    assert "CJK" in out.stdout or "Noto" in out.stdout, out.stdout


# --------------------------------------------------------------------------- loopback guard


def test_loopback_only_refuses_other_addresses(loopback_only, smtp):
    with smtplib.SMTP(smtp.host, smtp.port, timeout=5) as client:  # loopback is allowed
        client.noop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("192.0.2.1", 25), timeout=1)
    with pytest.raises(ConnectionRefusedError), socket.socket() as s:
        s.connect(("10.0.0.1", 80))
    with pytest.raises(ConnectionRefusedError):
        socket.getaddrinfo("example.com", 443)
    assert len(loopback_only.blocked) == 3
