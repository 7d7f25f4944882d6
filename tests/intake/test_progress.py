"""Long mail commands show progress: a bar on a terminal, plain lines otherwise, nothing in JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

from tests.intake.conftest import make_mail
from tests.intake.test_overlap import cli_env, run


def run_on_terminal(*args: str, env: dict[str, str]) -> tuple[str, str]:
    """(stdout, what the terminal on stderr showed)."""
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from helpdesk.cli import main; main()", *args],
        env={**env, "COLUMNS": "100"},
        stdout=subprocess.PIPE,
        stderr=slave,
        text=True,
    )
    os.close(slave)
    shown: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the other end closed
                return
            if not chunk:
                return
            shown.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    out, _ = proc.communicate(timeout=300)
    reader.join(10)
    os.close(master)
    assert proc.returncode == 0, out
    return out, b"".join(shown).decode("utf-8", "replace")


@pytest.mark.sqlite_only
@pytest.mark.dovecot
def test_poll_shows_a_bar_on_a_terminal_and_lines_in_a_pipe(app, imap, db_kind):
    for i in range(60):
        imap.append(make_mail(subject=f"咨询 {i}", sender=f"p{i}@corp{i}.example.cn"))
    env = cli_env(app, imap)
    out, terminal = run_on_terminal("poll-mail", "--once", env=env)
    assert "收取邮件" in terminal and "60/60" in terminal and "#" in terminal  # the bar, drawn in place
    assert "新建工单 60 张" in out and "收取邮件" not in out  # the summary on stdout stays clean
    for i in range(60, 70):
        imap.append(make_mail(subject=f"咨询 {i}", sender=f"p{i}@corp{i}.example.cn"))
    piped = subprocess.run(
        [sys.executable, "-c", "from helpdesk.cli import main; main()", "poll-mail", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert piped.returncode == 0, piped.stderr
    assert piped.stderr.splitlines()[-1] == "收取邮件：10/10"  # plain lines, no bar in a log
    assert "#" not in piped.stderr and "\r" not in piped.stderr
    listed = json.loads(run("tickets", "list", "--format", "json", env=env))  # JSON stays pure
    assert len(listed) == 70
