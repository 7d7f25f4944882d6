"""Database engine, session and declarative base shared by every module.

One engine per process; `session` is a scoped session that the Flask app removes after each
request and each job. Services commit through `unit_of_work()` (views and commands never commit
or roll back); `Refused` and `Conflict` are the errors a service raises for the user to read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event, select
from sqlalchemy.orm import DeclarativeBase, scoped_session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (no tz support) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


session_factory = sessionmaker(expire_on_commit=False)
session = scoped_session(session_factory)
_engine: Engine | None = None


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


#: False inside `reads()`: SQLite transactions then begin DEFERRED (a WAL snapshot, no write lock)
_begin_immediate: ContextVar[bool] = ContextVar("helpdesk_begin_immediate", default=True)


def _sqlite_begin(conn: Any) -> None:
    immediate = _begin_immediate.get()
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
    conn.info["deferred"] = not immediate


#: seconds a PostgreSQL connect may take before it fails (libpq connect_timeout)
CONNECT_TIMEOUT = 5
#: seconds a request waits for a free connection of the pool before it fails
POOL_TIMEOUT = 10


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN and breaks SELECT-then-UPDATE guards;
        # take the write lock at BEGIN so concurrent claims serialise instead of failing late.
        # Only `reads()` (GET pages, health checks) begins DEFERRED: WAL readers then never wait.
        event.listen(engine, "connect", lambda conn, _rec: setattr(conn, "isolation_level", None))
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # bounded waits, so no request hangs while PostgreSQL is down or restarting: a connect gives up
    # after CONNECT_TIMEOUT seconds, a request waiting for a free pooled connection after POOL_TIMEOUT;
    # pre-ping replaces the pool's connections that a restart cut, on their next checkout
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        pool_timeout=POOL_TIMEOUT,
        connect_args={"connect_timeout": CONNECT_TIMEOUT},
    )


def configure(url: str) -> Engine:
    """Bind the session to a new engine for `url` (one per process; tests call it per app)."""
    global _engine
    session.remove()
    if _engine is not None:
        _engine.dispose()
    _engine = make_engine(url)
    session_factory.configure(bind=_engine)
    return _engine


def engine() -> Engine:
    if _engine is None:
        raise RuntimeError("database not configured: call helpdesk.db.configure() or create_app()")
    return _engine


class Refused(ValueError):
    """An action refused with a Chinese message for the user; nothing was saved (tickets: TicketError)."""


class Conflict(Refused):
    """Someone saved the row (a versioned row: a ticket) after this page was loaded."""

    def __init__(self) -> None:
        super().__init__("这张工单在您打开之后已被他人修改。请重新加载页面，核对最新内容后再操作。")


@contextmanager
def reads() -> Iterator[None]:
    """Within this block, SQLite transactions begin DEFERRED: reads take a WAL snapshot and never wait
    for (nor block) a writer. Used for GET requests and health checks; the worker never uses it.

    A `unit_of_work()` inside still writes under BEGIN IMMEDIATE (it ends the read-only snapshot
    first), so every SELECT-then-UPDATE guard keeps its write lock. PostgreSQL is not affected.
    """
    token = _begin_immediate.set(False)
    try:
        yield
    finally:
        _begin_immediate.reset(token)


def end_reads() -> None:
    """At the end of a `reads()` request: close its DEFERRED SQLite snapshot if it wrote nothing."""
    _end_read_snapshot(session())


def _end_read_snapshot(s: Any) -> None:
    """Inside `reads()`: close a DEFERRED transaction that wrote nothing, so the unit of work begins
    IMMEDIATE (a deferred SQLite transaction that later writes can fail with SQLITE_BUSY_SNAPSHOT)."""
    if not s.in_transaction() or s.new or s.dirty or s.deleted:
        return
    conn = s.connection()
    if conn.dialect.name == "sqlite" and conn.info.get("deferred"):
        s.commit()  # nothing was written: this only releases the snapshot; loaded objects stay


@contextmanager
def unit_of_work() -> Iterator[Any]:
    """Yield the session; commit on success, roll back and re-raise on error.

    The one way a service commits. A stale version (another user saved the row first: SQLAlchemy's
    StaleDataError at flush or commit) becomes `Conflict`, so callers never see the ORM's error.
    On SQLite the unit always runs under BEGIN IMMEDIATE, also inside `reads()`.
    """
    s = session()
    token = None
    if not _begin_immediate.get():
        _end_read_snapshot(s)
        token = _begin_immediate.set(True)
    try:
        yield s
        s.commit()
    except StaleDataError:
        s.rollback()
        raise Conflict() from None
    except BaseException:
        s.rollback()
        raise
    finally:
        if token is not None:
            _begin_immediate.reset(token)


M = TypeVar("M", bound=Base)


def lock_row(model: type[M], ident: int) -> M:
    """Re-read one row under a row lock, replacing what the session held (SELECT ... FOR UPDATE on
    PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers). For use inside a unit of work."""
    return session.execute(
        select(model)
        .where(model.id == ident)  # type: ignore[attr-defined]
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()
