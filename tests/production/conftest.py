"""Production-shaped runs: real `helpdesk worker` and gunicorn processes on PostgreSQL (issue #16, "Proof").

Helpers shared by the chaos run, the PostgreSQL restart and the two-web-process resolution:
the environment every process gets (one HELPDESK_TEST_MARK per test, so the orphan check finds exactly
its processes), starting them with their output in log files (a pipe nobody reads would fill up and
block a long-running worker), a small cookie-keeping HTTP client that logs in through the real form,
and a summary section that shows in `pytest -q` output (the CI log).
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.servers import free_port, marked_processes, wait_for_no_processes  # noqa: F401 (re-exported)

ROOT = Path(__file__).resolve().parents[2]

#: summary lines of the runs of this session, printed at the end by pytest_terminal_summary
SUMMARIES: list[tuple[str, list[str]]] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    # print() is captured under pytest -q; the terminal reporter writes to the real terminal (and CI log)
    for title, lines in SUMMARIES:
        terminalreporter.write_sep("=", title)
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture
def pg_database(postgres_server: Any, postgres_template: str) -> Iterator[str]:
    """A fresh database on the session's PostgreSQL, copied from the migrated template."""
    name = f"prod_{uuid.uuid4().hex[:12]}"
    url = postgres_server.create_database(name, template=postgres_template)
    try:
        yield url
    finally:
        from helpdesk import db

        db.session.remove()
        if db._engine is not None:
            db._engine.dispose()
        postgres_server.drop_database(name)


def process_env(database_url: str, instance_dir: Path, secret: str, **extra: object) -> dict[str, str]:
    """The environment of every helpdesk process of one test: no HELPDESK_* of the caller leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(
        {
            "HELPDESK_DATABASE_URL": database_url,
            "HELPDESK_INSTANCE_DIR": str(instance_dir),
            "HELPDESK_SECRET_KEY": secret,
            "HELPDESK_IMAP_HOST": "",
            "HELPDESK_SMTP_HOST": "",
            "HELPDESK_TEST_MARK": uuid.uuid4().hex,
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


def spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT
        )


def helpdesk_command(*args: str) -> list[str]:
    return [sys.executable, "-c", "from helpdesk.cli import main; main()", *args]


def run_helpdesk(*args: str, env: dict[str, str], timeout: float = 120) -> str:
    done = subprocess.run(
        helpdesk_command(*args), env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@dataclass
class WebProcess:
    """One gunicorn (master + one sync worker) serving wsgi:app on 127.0.0.1."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # gunicorn: graceful stop of master and workers
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def start_gunicorn(env: dict[str, str], log: Path, *, threads: int = 1, timeout: int = 60) -> WebProcess:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        "1",
        "--threads",
        str(threads),
        "--bind",
        f"127.0.0.1:{port}",
        "--timeout",
        str(timeout),
        "--graceful-timeout",
        "10",
        "wsgi:app",
    ]
    web = WebProcess(spawn(argv, env, log), port, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if web.proc.poll() is not None:
            raise AssertionError(f"gunicorn exited with {web.proc.returncode}:\n{tail(log)}")
        with contextlib.suppress(OSError), urllib.request.urlopen(web.url + "/healthz", timeout=2) as answer:
            if answer.status == 200:
                return web
        time.sleep(0.2)
    web.stop()
    raise AssertionError(f"gunicorn did not answer /healthz within 60 s:\n{tail(log)}")


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


@dataclass
class Reply:
    status: int
    body: str
    url: str


class WebClient:
    """A browser-like client: keeps cookies, logs in through the form with its CSRF token."""

    def __init__(self, base: str, timeout: float = 30) -> None:
        self.base, self.timeout = base, timeout
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def request(self, path: str, data: dict[str, str] | None = None, timeout: float | None = None) -> Reply:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(self.base + path, data=body, headers={"Accept": "text/html"})
        try:
            with self.opener.open(req, timeout=timeout or self.timeout) as response:
                return Reply(response.status, response.read().decode("utf-8", "replace"), response.url)
        except urllib.error.HTTPError as exc:
            return Reply(exc.code, exc.read().decode("utf-8", "replace"), exc.url or self.base + path)

    def get(self, path: str, timeout: float | None = None) -> Reply:
        return self.request(path, timeout=timeout)

    def post(self, path: str, data: dict[str, str], timeout: float | None = None) -> Reply:
        return self.request(path, data=data, timeout=timeout)

    def login(self, username: str, password: str) -> None:
        page = self.get("/login")
        reply = self.post(
            "/login", {"username": username, "password": password, "csrf_token": csrf_token(page.body)}
        )
        assert reply.status == 200 and "/login" not in reply.url, (reply.status, reply.url, reply.body[:500])


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    assert match, "page has no CSRF token"
    return match.group(1)
