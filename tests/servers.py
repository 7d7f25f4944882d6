"""Real servers on loopback for the test suite (DESIGN.md section 9).

This module is a pytest plugin.  Use it from ``tests/conftest.py`` with either::

    pytest_plugins = ["tests.servers"]

or::

    from tests.servers import *  # noqa: F403  (``__all__`` lists every fixture and helper)

Session-scoped servers (started lazily, on first use, once per session):

* ``postgres_server`` -> :class:`PostgresServer`
* ``dovecot_server``  -> :class:`DovecotServer`
* ``smtp_server``     -> :class:`SmtpServer`
* ``browser``         -> ``playwright.sync_api.Browser`` (Debian's /usr/bin/chromium)

Function-scoped, cheap per-test views:

* ``postgres_url`` -> SQLAlchemy URL (str) of a fresh database, dropped after the test
* ``imap``         -> the ``DovecotServer``, running and with an empty mailbox
* ``smtp``         -> the ``SmtpServer``, running and with no recorded messages
* ``page``         -> a Playwright ``Page`` in a new zh-CN 1366x768 context
* ``loopback_only`` -> :class:`LoopbackGuard`; refuses non-loopback connections for the test

Every server listens on 127.0.0.1 only, on a free port, with all its files in one temporary
directory.  When a binary is missing or a server does not start, :func:`require` skips the
test locally and fails it when ``CI=true``.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import email
import email.policy
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

__all__ = [
    "CHROMIUM_ARGS",
    "CHROMIUM_PATH",
    "DovecotServer",
    "ImapMessage",
    "LoopbackGuard",
    "NonLoopbackConnection",
    "PostgresServer",
    "RecordedMessage",
    "ServerStartError",
    "SmtpServer",
    "browser",
    "dovecot_server",
    "free_port",
    "imap",
    "in_ci",
    "loopback_only",
    "page",
    "postgres_server",
    "postgres_url",
    "require",
    "smtp",
    "smtp_server",
]

HOST = "127.0.0.1"
CHROMIUM_PATH = os.environ.get("HELPDESK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
    "--disable-sync",
]
START_TIMEOUT = float(os.environ.get("HELPDESK_SERVER_START_TIMEOUT", "60"))


# --------------------------------------------------------------------------- helpers


class ServerStartError(RuntimeError):
    """A server binary exists but the server did not come up (message includes the log tail)."""


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def require(name: str, reason: str) -> NoReturn:
    """Give up on a test that needs ``name``: a failure under CI=true, a skip otherwise."""
    message = f"{name}: {reason}"
    if in_ci():
        pytest.fail(f"[CI] {message}", pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def _is_root() -> bool:
    return os.geteuid() == 0


def _port_open(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def _check_bindable(host: str, port: int) -> None:
    """OSError (EADDRINUSE) now if host:port cannot be listened on (SO_REUSEADDR, as servers do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))


def _wait_port_closed(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _port_open(port, 0.2):
        time.sleep(0.05)


_cleanups: list[Callable[[], None]] = []
_cleanup_lock = threading.Lock()
_session_root: Path | None = None


def _register_cleanup(fn: Callable[[], None]) -> None:
    with _cleanup_lock:
        _cleanups.append(fn)


def _run_cleanups() -> None:
    with _cleanup_lock:
        fns = list(reversed(_cleanups))
        _cleanups.clear()
    for fn in fns:
        with contextlib.suppress(Exception):
            fn()


atexit.register(_run_cleanups)


def _tmp_base() -> str | None:
    """Where the servers keep their files: $HELPDESK_SERVER_TMP, else /dev/shm when it is a
    roomy tmpfs (CREATE DATABASE is ~10x faster there than on disk), else the default tmp."""
    override = os.environ.get("HELPDESK_SERVER_TMP")
    if override:
        return override
    try:
        st = os.statvfs("/dev/shm")
        if st.f_bavail * st.f_frsize >= 1 << 30 and os.access("/dev/shm", os.W_OK):
            return "/dev/shm"
    except OSError:
        pass
    return None


def _root_dir() -> Path:
    """One temporary directory per process for every server's files; removed at exit."""
    global _session_root
    if _session_root is None:
        root = Path(tempfile.mkdtemp(prefix="helpdesk-servers-", dir=_tmp_base()))
        root.chmod(0o755)  # the postgres / dovecot users must traverse it
        _session_root = root
        if os.environ.get("HELPDESK_KEEP_SERVER_DIRS") != "1":
            # First registered, so it runs last: after every server has been stopped.
            with _cleanup_lock:
                _cleanups.insert(0, lambda: shutil.rmtree(root, ignore_errors=True))
    return _session_root


def _spawn(
    argv: list[str],
    log: Path,
    *,
    user: str | None = None,
    death_signal: str = "TERM",
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen:
    """Start a server process whose stdout/stderr go to ``log``.

    Through util-linux ``setpriv`` (when present) the process gets a parent-death signal, so a
    server never outlives a pytest that was killed, and drops to ``user`` when we are root.
    """
    prefix: list[str] = []
    setpriv = shutil.which("setpriv")
    if setpriv:
        prefix = [setpriv, f"--pdeathsig={death_signal}"]
        if user and _is_root():
            prefix += [f"--reuid={user}", f"--regid={user}", "--clear-groups"]
        prefix.append("--")
    kwargs: dict[str, Any] = {}
    if user and _is_root() and not setpriv:
        kwargs.update(user=user, group=pwd.getpwnam(user).pw_gid, extra_groups=[])
    with open(log, "ab") as out:
        return subprocess.Popen(
            prefix + argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,  # a Ctrl-C in the terminal reaches pytest, not the servers
            **kwargs,
        )


def _stop_process(proc: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def _start_server(
    name: str,
    server: Any,
    prepare: Callable[[], None],
    start: Callable[[], None],
    reconfigure: Callable[[], None] = lambda: None,
) -> None:
    """prepare() then start(); if the free port was taken meanwhile, retry on another port.
    On failure: require() - a skip locally, a failure with the log tail under CI."""
    error = ""
    try:
        prepare()
        for _attempt in range(3):
            try:
                start()
                return
            except (ServerStartError, OSError) as exc:
                server.stop()
                error = str(exc)
                if "in use" not in error.lower():
                    break
                server.port = free_port()
                reconfigure()
    except (ServerStartError, OSError, subprocess.SubprocessError) as exc:
        server.stop()
        error = str(exc)
    require(name, f"server did not start: {error}")


def _slug(text: str, limit: int) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:limit]


# --------------------------------------------------------------------------- PostgreSQL


def _pg_bindir() -> Path | None:
    override = os.environ.get("HELPDESK_PG_BINDIR")
    if override:
        ok = (Path(override) / "postgres").is_file() and (Path(override) / "initdb").is_file()
        return Path(override) if ok else None
    candidates: list[Path] = []
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates += versions
    on_path = shutil.which("postgres")
    if on_path:
        candidates.append(Path(on_path).parent)
    for c in candidates:
        if (c / "postgres").is_file() and (c / "initdb").is_file():
            return c
    return None


class PostgresServer:
    """A throw-away PostgreSQL cluster on 127.0.0.1 (trust auth, superuser ``postgres``).

    Attributes: ``host``, ``port``, ``user``, ``dir``, ``datadir``, ``socket_dir``, ``log_path``.
    """

    user = "postgres"

    def __init__(self, bindir: Path, root: Path) -> None:
        self.bindir = bindir
        self.host = HOST
        self.port = free_port()
        self.dir = root / "postgres"
        self.datadir = self.dir / "data"
        self.socket_dir = self.dir / "sock"
        self.log_path = self.dir / "postgres.log"
        self._proc: subprocess.Popen | None = None
        self._os_user = "postgres" if _is_root() else None

    # -- URLs
    def url(self, dbname: str = "postgres") -> str:
        """SQLAlchemy URL, e.g. postgresql+psycopg://postgres@127.0.0.1:PORT/dbname."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{dbname}"

    def dsn(self, dbname: str = "postgres") -> str:
        """libpq URL for psycopg.connect(): postgresql://postgres@127.0.0.1:PORT/dbname."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres", **kwargs: Any):
        import psycopg

        kwargs.setdefault("connect_timeout", 5)
        return psycopg.connect(self.dsn(dbname), **kwargs)

    # -- lifecycle
    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(HOME=str(self.dir), LANG="C.UTF-8", LC_ALL="C.UTF-8", TZ="UTC")
        return env

    def init(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        self.log_path.touch()
        if self._os_user:
            pw = pwd.getpwnam(self._os_user)
            for p in (self.dir, self.socket_dir, self.log_path):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        argv = [
            str(self.bindir / "initdb"),
            "-D",
            str(self.datadir),
            "-U",
            self.user,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
            "--no-instructions",
        ]
        log = self.dir / "initdb.log"
        proc = _spawn(argv, log, user=self._os_user, env=self._env(), cwd=self.dir)
        if proc.wait(120) != 0:
            raise ServerStartError(f"initdb exited with {proc.returncode}:\n{_tail(log)}")

    def start(self) -> None:
        if self.running:
            return
        argv = [
            str(self.bindir / "postgres"),
            "-D",
            str(self.datadir),
            "-p",
            str(self.port),
            "-c",
            f"listen_addresses={self.host}",
            "-c",
            f"unix_socket_directories={self.socket_dir}",
            "-c",
            "fsync=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "max_connections=200",
            "-c",
            "TimeZone=UTC",
            "-c",
            "logging_collector=off",
            "-c",
            "log_min_messages=warning",
        ]
        # SIGINT = "fast" shutdown: clients are disconnected, no waiting.
        self._proc = _spawn(
            argv, self.log_path, user=self._os_user, death_signal="INT", env=self._env(), cwd=self.dir
        )
        deadline = time.monotonic() + START_TIMEOUT
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ServerStartError(
                    f"postgres exited with {self._proc.returncode}:\n{_tail(self.log_path)}"
                )
            try:
                with self.connect(connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
                last = exc
                time.sleep(0.05)
        self.stop()
        raise ServerStartError(f"postgres not ready after {START_TIMEOUT}s ({last}):\n{_tail(self.log_path)}")

    def stop(self) -> None:
        _stop_process(self._proc, signal.SIGINT)
        self._proc = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines)

    # -- databases
    def create_database(self, name: str, template: str = "template0") -> str:
        """CREATE DATABASE name TEMPLATE template (UTF8); returns its SQLAlchemy URL.

        ``template`` may be a database migrated once per session: cloning it is much cheaper
        than migrating every test's database (it must have no open connections).
        """
        from psycopg import sql

        with self.connect(autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {} ENCODING 'UTF8' STRATEGY FILE_COPY").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Terminate the database's connections, then DROP DATABASE IF EXISTS."""
        from psycopg import sql

        with self.connect(autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def __repr__(self) -> str:
        return f"<PostgresServer {self.host}:{self.port} dir={self.dir}>"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = _pg_bindir()
    if bindir is None:
        require("postgres", "PostgreSQL server binaries not found (apt-get install postgresql)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        require("postgres", "python package psycopg is not installed")
    if _is_root():
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            require("postgres", "running as root but there is no 'postgres' OS user to run the server")
    server = PostgresServer(bindir, _root_dir())
    _register_cleanup(server.stop)
    _start_server("postgres", server, server.init, server.start)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty database for this test; dropped afterwards."""
    name = f"t_{_slug(request.node.name, 40)}_{uuid.uuid4().hex[:8]}"
    if not postgres_server.running:
        postgres_server.start()
    url = postgres_server.create_database(name)
    try:
        yield url
    finally:
        postgres_server.drop_database(name)


# --------------------------------------------------------------------------- Dovecot


@dataclasses.dataclass
class ImapMessage:
    uid: int
    flags: tuple[bytes, ...]
    internaldate: Any  # datetime, as imapclient returns it
    raw: bytes

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)


_APPENDUID = re.compile(rb"APPENDUID\s+(\d+)\s+(\d+)", re.IGNORECASE)


class DovecotServer:
    """A Dovecot 2.3 IMAP server on 127.0.0.1 (plain IMAP, no TLS), one user, Maildir storage.

    Attributes: ``host``, ``port``, ``user``, ``password``, ``dir``, ``config_path``,
    ``log_path``, ``maildir``.  Hierarchy separator is "/" (Maildir, LAYOUT=fs).
    """

    user = "helpdesk"
    password = "helpdesk-imap-secret"

    def __init__(self, root: Path) -> None:
        self.host = HOST
        self.port = free_port()
        self.dir = root / "dovecot"
        self.config_path = self.dir / "dovecot.conf"
        self.log_path = self.dir / "dovecot.log"
        self.stdout_path = self.dir / "dovecot.stdout"
        self.mail_root = self.dir / "mail"
        self.maildir = self.mail_root / self.user / "Maildir"
        self._proc: subprocess.Popen | None = None
        self._lock = threading.RLock()

    # -- configuration
    def write_config(self) -> None:
        d = self.dir
        for sub in ("run", "state"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        self.mail_root.mkdir(parents=True, exist_ok=True)
        self.log_path.touch()
        (d / "passwd").write_text(f"{self.user}:{{PLAIN}}{self.password}::::::\n")
        if _is_root():
            mail_user, mail_group = "nobody", "nogroup"
            if not _group_exists(mail_group):
                mail_group = "nobody"
            users = (
                "default_login_user = dovenull\n"
                "default_internal_user = dovecot\n"
                f"mail_uid = {mail_user}\n"
                f"mail_gid = {mail_group}\n"
            )
            pw = pwd.getpwnam(mail_user)
            os.chown(self.mail_root, pw.pw_uid, pw.pw_gid)
            chroot = ""
        else:  # rootless: every process runs as the current user, no chroots
            me = pwd.getpwuid(os.geteuid()).pw_name
            users = f"default_login_user = {me}\ndefault_internal_user = {me}\n"
            chroot = "  chroot =\n"
        home = f"{self.mail_root}/%u"
        self.config_path.write_text(
            f"""# generated by tests/servers.py
base_dir = {d}/run
state_dir = {d}/state
instance_name = helpdesk-test-{self.port}
protocols = imap
listen = {self.host}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
log_path = {self.log_path}
{users}
mail_location = maildir:~/Maildir:LAYOUT=fs:INBOX=~/Maildir/INBOX
mailbox_idle_check_interval = 1 secs
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
userdb {{
  driver = static
  args = home={home}
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
  }}
  mailbox Trash {{
    special_use = \\Trash
  }}
  mailbox Drafts {{
    special_use = \\Drafts
  }}
  mailbox Junk {{
    special_use = \\Junk
  }}
}}
protocol imap {{
  mail_max_userip_connections = 500
}}
service imap-login {{
{chroot}  inet_listener imap {{
    address = {self.host}
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
{chroot}}}
"""
        )

    # -- lifecycle
    def start(self) -> None:
        """Start (or restart after stop()) the server on the same port; waits for the greeting."""
        with self._lock:
            if self.running:
                return
            with contextlib.suppress(FileNotFoundError):
                (self.dir / "run" / "master.pid").unlink()
            self._proc = _spawn(
                ["dovecot", "-F", "-c", str(self.config_path)],
                self.stdout_path,
                cwd=self.dir,
            )
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    code = self._proc.returncode
                    self._proc = None
                    raise ServerStartError(f"dovecot exited with {code}:\n{self.log_tail()}")
                if self._greeting_ok():
                    return
                time.sleep(0.05)
            self.stop()
            raise ServerStartError(f"dovecot not ready after {START_TIMEOUT}s:\n{self.log_tail()}")

    def _greeting_ok(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as s:
                return s.recv(256).startswith(b"* OK")
        except OSError:
            return False

    def stop(self, crash: bool = False) -> None:
        """Stop the server (connections drop, port refuses) - simulates an outage.

        A clean stop takes about a second; ``crash=True`` SIGKILLs every dovecot process at once.
        """
        with self._lock:
            if self._proc is not None:
                if crash:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(self._proc.pid, signal.SIGKILL)
                _stop_process(self._proc, signal.SIGTERM)
                self._proc = None
                _wait_port_closed(self.port)

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        return f"{_tail(self.stdout_path, 10)}\n--- {self.log_path.name}\n{_tail(self.log_path, lines)}"

    def doveadm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["doveadm", "-c", str(self.config_path), *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=30,
        )

    # -- IMAP helpers
    def client(self, login: bool = True, timeout: float = 10):
        """A connected (and by default logged-in) imapclient.IMAPClient; use as context manager."""
        from imapclient import IMAPClient

        c = IMAPClient(self.host, self.port, ssl=False, timeout=timeout)
        if login:
            c.login(self.user, self.password)
        return c

    def append(
        self,
        raw: bytes | str,
        folder: str = "INBOX",
        flags: tuple | list = (),
        msg_time: Any = None,
    ) -> int | None:
        """APPEND a message (folder created if missing); returns its UID (UIDPLUS APPENDUID)."""
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        with self.client() as c:
            if folder.upper() != "INBOX" and not c.folder_exists(folder):
                c.create_folder(folder)
            resp = c.append(folder, raw, flags=tuple(flags), msg_time=msg_time)
        m = _APPENDUID.search(resp if isinstance(resp, bytes) else str(resp).encode())
        return int(m.group(2)) if m else None

    def folders(self) -> list[str]:
        with self.client() as c:
            return sorted(name for _flags, _delim, name in c.list_folders())

    def message_count(self, folder: str = "INBOX") -> int:
        """Number of messages in ``folder`` (0 when the folder does not exist)."""
        with self.client() as c:
            if not c.folder_exists(folder):
                return 0
            return int(c.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"])

    def messages(self, folder: str = "INBOX") -> list[ImapMessage]:
        """All messages of ``folder`` in UID order (read-only; \\Seen is not set)."""
        with self.client() as c:
            if not c.folder_exists(folder):
                return []
            c.select_folder(folder, readonly=True)
            uids = c.search("ALL")
            if not uids:
                return []
            data = c.fetch(uids, [b"FLAGS", b"INTERNALDATE", b"BODY.PEEK[]"])
            return [
                ImapMessage(uid, tuple(d[b"FLAGS"]), d[b"INTERNALDATE"], d[b"BODY[]"])
                for uid, d in sorted(data.items())
            ]

    def reset(self) -> None:
        """Empty the mailbox: disconnect the user's sessions, then delete every folder and message.

        INBOX comes back empty with UIDs starting at 1 and a new, larger UIDVALIDITY.
        """
        with self._lock:
            if not self.running:
                self.start()
            self._kick()
            if self.maildir.exists():
                for entry in self.maildir.iterdir():
                    if entry.name.startswith("dovecot-uidvalidity"):
                        continue  # keeps UIDVALIDITY increasing across resets
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry)
                    else:
                        entry.unlink()

    def _kick(self) -> None:
        self.doveadm("kick", self.user, check=False)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            who = self.doveadm("who", "-1", self.user, check=False)
            if self.user not in who.stdout:
                return
            time.sleep(0.05)

    def __repr__(self) -> str:
        return f"<DovecotServer {self.host}:{self.port} user={self.user}>"


def _group_exists(name: str) -> bool:
    import grp

    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[DovecotServer]:
    for binary, pkg in (("dovecot", "dovecot-imapd"), ("doveadm", "dovecot-core")):
        if shutil.which(binary) is None:
            require("dovecot", f"{binary} not found on PATH (apt-get install {pkg})")
    try:
        import imapclient  # noqa: F401
    except ImportError:
        require("dovecot", "python package imapclient is not installed")
    if _is_root():
        for user in ("dovenull", "dovecot", "nobody"):
            try:
                pwd.getpwnam(user)
            except KeyError:
                require("dovecot", f"OS user {user!r} is missing (it comes with dovecot-core)")
    server = DovecotServer(_root_dir())
    _register_cleanup(server.stop)
    _start_server("dovecot", server, server.write_config, server.start, reconfigure=server.write_config)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def imap(dovecot_server: DovecotServer) -> DovecotServer:
    """The Dovecot server, running, with an empty mailbox."""
    dovecot_server.reset()
    return dovecot_server


# --------------------------------------------------------------------------- SMTP


@dataclasses.dataclass
class RecordedMessage:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes  # the raw DATA as received
    smtp_utf8: bool = False
    mail_options: list[str] = dataclasses.field(default_factory=list)
    login: str | None = None  # AUTH user name, when the client authenticated

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")


class _RecordingHandler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, smtp_server, session, envelope):  # noqa: N802 - aiosmtpd API
        reject = self.server.reject_reply
        if reject:
            return reject
        login = session.auth_data.login if getattr(session, "auth_data", None) else None
        if isinstance(login, bytes):
            login = login.decode("utf-8", "replace")
        raw = envelope.original_content
        if raw is None:
            raw = envelope.content if isinstance(envelope.content, bytes) else envelope.content.encode()
        self.server._record(
            RecordedMessage(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                data=bytes(raw),
                smtp_utf8=bool(envelope.smtp_utf8),
                mail_options=list(envelope.mail_options),
                login=login,
            )
        )
        return "250 2.0.0 OK recorded"


def _accept_any_login(server, session, envelope, mechanism, auth_data):
    from aiosmtpd.smtp import AuthResult

    return AuthResult(success=True, auth_data=auth_data)


class SmtpServer:
    """aiosmtpd on 127.0.0.1 recording every message; AUTH PLAIN/LOGIN accepted without TLS.

    Attributes: ``host``, ``port``, ``messages`` (list of :class:`RecordedMessage`),
    ``reject_reply`` (set e.g. "451 4.3.0 try later" to refuse DATA without recording).
    """

    def __init__(self) -> None:
        self.host = HOST
        self.port = free_port()
        self.messages: list[RecordedMessage] = []
        self.reject_reply: str | None = None
        self._cond = threading.Condition()
        self._controller = None
        self._started_once = False

    def _record(self, msg: RecordedMessage) -> None:
        with self._cond:
            self.messages.append(msg)
            self._cond.notify_all()

    def start(self) -> None:
        """Start (or restart after stop()) on the same port."""
        if self._controller is not None:
            return
        from aiosmtpd.controller import Controller

        controller = Controller(
            _RecordingHandler(self),
            hostname=self.host,
            port=self.port,
            ready_timeout=10,
            server_hostname="smtp.helpdesk.test",
            enable_SMTPUTF8=True,
            data_size_limit=64 * 1024 * 1024,
            auth_required=False,
            auth_require_tls=False,
            authenticator=_accept_any_login,
        )
        # After stop() the port may need a moment to be free again; the first start fails fast.
        deadline = time.monotonic() + (10 if self._started_once else 0)
        while True:
            try:
                _check_bindable(self.host, self.port)  # aiosmtpd would wait ready_timeout instead
                controller.start()
                break
            except Exception as exc:  # port still in TIME_WAIT/closing after stop()
                with contextlib.suppress(Exception):
                    controller.stop(no_assert=True)
                if time.monotonic() > deadline:
                    raise ServerStartError(
                        f"aiosmtpd did not start on {self.host}:{self.port}: {exc}"
                    ) from exc
                time.sleep(0.1)
        self._controller = controller
        self._started_once = True

    def stop(self) -> None:
        """Stop listening (clients get connection refused) - simulates an outage."""
        if self._controller is not None:
            controller, self._controller = self._controller, None
            controller.stop()

    @property
    def running(self) -> bool:
        return self._controller is not None

    def clear(self) -> None:
        with self._cond:
            self.messages.clear()
        self.reject_reply = None

    def wait_for(self, n: int = 1, timeout: float = 10.0) -> list[RecordedMessage]:
        """Wait until at least ``n`` messages were recorded; returns them (AssertionError on timeout)."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.messages) >= n, timeout):
                raise AssertionError(
                    f"SMTP server recorded {len(self.messages)} message(s) within {timeout}s, expected {n}"
                )
            return list(self.messages)

    def __repr__(self) -> str:
        return f"<SmtpServer {self.host}:{self.port} messages={len(self.messages)}>"


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    try:
        import aiosmtpd  # noqa: F401
    except ImportError:
        require("smtp", "python package aiosmtpd is not installed")
    server = SmtpServer()
    _register_cleanup(server.stop)
    _start_server("smtp", server, lambda: None, server.start)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp(smtp_server: SmtpServer) -> SmtpServer:
    """The SMTP server, running, with no recorded messages."""
    smtp_server.start()
    smtp_server.clear()
    return smtp_server


# --------------------------------------------------------------------------- Chromium


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium through pip's Playwright (never a downloaded browser), headless."""
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    if not (os.path.isfile(CHROMIUM_PATH) and os.access(CHROMIUM_PATH, os.X_OK)):
        require("chromium", f"{CHROMIUM_PATH} not found (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require("chromium", "python package playwright is not installed")
    pw = sync_playwright().start()
    try:
        instance = pw.chromium.launch(executable_path=CHROMIUM_PATH, headless=True, args=CHROMIUM_ARGS)
    except Exception as exc:
        with contextlib.suppress(Exception):
            pw.stop()
        require("chromium", f"Playwright could not launch {CHROMIUM_PATH}: {exc}")
    _register_cleanup(pw.stop)
    try:
        yield instance
    finally:
        with contextlib.suppress(Exception):
            instance.close()
        with contextlib.suppress(Exception):
            pw.stop()


@pytest.fixture
def page(browser):
    """A page in a fresh browser context: viewport 1366x768, locale zh-CN, Asia/Shanghai."""
    context = browser.new_context(
        viewport={"width": 1366, "height": 768}, locale="zh-CN", timezone_id="Asia/Shanghai"
    )
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


# --------------------------------------------------------------------------- loopback guard

_LOOPBACK_NAMES = {"127.0.0.1", "::1", "localhost", "::ffff:127.0.0.1", "ip6-localhost"}


class NonLoopbackConnection(ConnectionRefusedError):
    """Raised by the loopback_only guard for any destination other than loopback."""


class LoopbackGuard:
    """State of the ``loopback_only`` fixture: ``blocked`` lists refused destinations."""

    def __init__(self) -> None:
        self.blocked: list[Any] = []

    def check(self, address: Any) -> None:
        if isinstance(address, (str, bytes)):  # AF_UNIX path
            return
        host = address[0] if isinstance(address, tuple) and address else address
        if isinstance(host, bytes):
            host = host.decode("ascii", "replace")
        if host is None or str(host).lower() in _LOOPBACK_NAMES:
            return
        self.blocked.append(address)
        raise NonLoopbackConnection(f"loopback_only: connection to {address!r} refused in tests")


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> LoopbackGuard:
    """Refuse, for this test, any Python socket connection not to 127.0.0.1/::1/localhost/unix."""
    guard = LoopbackGuard()
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_create_connection = socket.create_connection
    real_getaddrinfo = socket.getaddrinfo

    def connect(self, address):
        if self.family != socket.AF_UNIX:
            guard.check(address)
        return real_connect(self, address)

    def connect_ex(self, address):
        if self.family != socket.AF_UNIX:
            guard.check(address)
        return real_connect_ex(self, address)

    def create_connection(address, *args, **kwargs):
        guard.check(address)
        return real_create_connection(address, *args, **kwargs)

    def getaddrinfo(host, *args, **kwargs):
        # Name lookups would reach a DNS server; only loopback names and IP literals resolve.
        if host is not None:
            name = host.decode() if isinstance(host, bytes) else str(host)
            if name.lower() not in _LOOPBACK_NAMES and not _is_ip_literal(name):
                guard.check((name, 0))
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return guard


def _is_ip_literal(name: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


# Processes a test started (and their children) carry HELPDESK_TEST_MARK=<mark> in their environment:
# found by it, whatever they are called, so a test can prove none outlived it.
def marked_processes(mark: str) -> list[int]:
    """Live (not zombie) processes whose environment carries `mark`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if f"HELPDESK_TEST_MARK={mark}".encode() not in (entry / "environ").read_bytes():
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            found.append(int(entry.name))
    return found


def wait_for_no_processes(mark: str, timeout: float = 15) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := marked_processes(mark)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left
