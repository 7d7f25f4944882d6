"""Liveness and readiness: what /healthz, /readyz and `helpdesk check` report.

Readiness is: the database answers, its schema is at the code's Alembic head, the mailbox was polled
successfully within HELPDESK_READY_POLL_MINUTES (when a mailbox is configured), the oldest unsent mail
is younger than HELPDESK_READY_OUTBOX_MINUTES, the official calendar covers the next 30 days, and the
worker reports no outage. Details name ages and revisions only: no host, user or error text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import func, select, text

from helpdesk.db import engine, session

CALENDAR_AHEAD = timedelta(days=30)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return all(c.ok for c in self.checks)

    def as_json(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in self.checks},
        }


@dataclass(frozen=True)
class Figures:
    tickets_by_status: dict[str, int]
    sla_warned: int
    sla_breached: int
    outbox_depth: int
    outbox_oldest_age: float | None  #: seconds, None when the outbox is empty


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    from helpdesk import migrate

    return migrate.head_revision()


def figures(now: datetime) -> Figures:
    """The database gauges (for /metrics and the outbox check)."""
    from helpdesk.mail.models import OutboundMail
    from helpdesk.sla.models import SlaClock
    from helpdesk.tickets.models import Ticket

    by_status = dict(session.execute(select(Ticket.status, func.count()).group_by(Ticket.status)).all())
    running = SlaClock.stopped_at.is_(None)
    warned = session.scalar(
        select(func.count()).where(running, SlaClock.warned_at.is_not(None), SlaClock.breached_at.is_(None))
    )
    breached = session.scalar(select(func.count()).where(running, SlaClock.breached_at.is_not(None)))
    unsent = (OutboundMail.sent_at.is_(None), OutboundMail.failed.is_(False))
    depth, oldest = session.execute(
        select(func.count(), func.min(OutboundMail.created_at)).where(*unsent)
    ).one()
    if isinstance(oldest, str):  # SQLite's MIN() over the column hands back the stored text
        oldest = datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        from datetime import UTC

        oldest = oldest.replace(tzinfo=UTC)
    age = (now - oldest).total_seconds() if oldest is not None else None
    return Figures(
        {str(k): int(v) for k, v in by_status.items()}, int(warned or 0), int(breached or 0), int(depth), age
    )


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} 分钟"


def readiness(settings: Any, now: datetime) -> Report:
    """Every check; the database ones are skipped (and fail) when the database does not answer."""
    report = Report()
    try:
        with engine().connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        report.checks.append(Check("database", False, f"数据库无法连接（{type(exc).__name__}）"))
        for name in ("migrations", "mailbox", "outbox", "calendar", "worker"):
            report.checks.append(Check(name, False, "数据库无法连接，未检查"))
        return report
    report.checks.append(Check("database", True, "数据库可连接"))
    for check in (_migrations, _mailbox, _outbox, _calendar, _worker):
        try:
            report.checks.append(check(settings, now))
        except Exception as exc:  # a broken schema must read as "not ready", not as a 500
            session.rollback()
            report.checks.append(
                Check(check.__name__.lstrip("_"), False, f"检查出错（{type(exc).__name__}）")
            )
    return report


def current_revision() -> str | None:
    # read the table directly: Alembic's MigrationContext logs two INFO lines per call
    versions = list(session.scalars(text("SELECT version_num FROM alembic_version")))
    return versions[0] if len(versions) == 1 else None


def _migrations(_settings: Any, _now: datetime) -> Check:
    current, head = current_revision(), head_revision()
    if current == head:
        return Check("migrations", True, f"数据库结构为最新版本 {head}")
    return Check(
        "migrations", False, f"数据库结构版本 {current or '空'}，代码需要 {head}：请运行 helpdesk init-db"
    )


def _mailbox(settings: Any, now: datetime) -> Check:
    from helpdesk.mail.imap import ImapSettings
    from helpdesk.mail.models import Mailbox

    imap = ImapSettings.from_settings(settings)
    if not imap.host:
        return Check("mailbox", True, "未配置收信邮箱，不检查")
    limit = timedelta(minutes=int(settings["HELPDESK_READY_POLL_MINUTES"]))
    last = session.scalar(select(Mailbox.last_success_at).where(Mailbox.name == imap.mailbox_name))
    if last is None:
        return Check("mailbox", False, "邮箱尚未成功收取过")
    age = (now - last).total_seconds()
    if age > limit.total_seconds():
        return Check(
            "mailbox", False, f"邮箱已 {_minutes(age)} 未成功收取（上限 {_minutes(limit.total_seconds())}）"
        )
    return Check("mailbox", True, f"邮箱 {_minutes(age)} 前成功收取")


def _outbox(settings: Any, now: datetime) -> Check:
    limit = timedelta(minutes=int(settings["HELPDESK_READY_OUTBOX_MINUTES"])).total_seconds()
    figs = figures(now)
    if figs.outbox_oldest_age is None:
        return Check("outbox", True, "发件箱为空")
    if figs.outbox_oldest_age > limit:
        return Check(
            "outbox",
            False,
            f"发件箱有 {figs.outbox_depth} 封未发出，最早一封已等待 {_minutes(figs.outbox_oldest_age)}"
            f"（上限 {_minutes(limit)}）",
        )
    return Check(
        "outbox",
        True,
        f"发件箱有 {figs.outbox_depth} 封待发，最早一封等待 {_minutes(figs.outbox_oldest_age)}",
    )


def years_needed(today: date) -> list[int]:
    return sorted({today.year, (today + CALENDAR_AHEAD).year})


def _calendar(settings: Any, now: datetime) -> Check:
    from helpdesk.sla.models import CalendarYear

    today = now.astimezone(settings.timezone).date()
    needed = years_needed(today)
    known = set(
        session.scalars(
            select(CalendarYear.year).where(CalendarYear.year.in_(needed), CalendarYear.status == "official")
        )
    )
    missing = [y for y in needed if y not in known]
    if missing:
        return Check(
            "calendar", False, f"{'、'.join(map(str, missing))} 年放假安排尚未录入（需覆盖未来 30 天）"
        )
    return Check("calendar", True, "放假安排覆盖未来 30 天")


def _worker(_settings: Any, now: datetime) -> Check:
    from helpdesk.core import outages

    found = outages.stored(now)
    if found:
        names = "、".join(outages.LABELS[name] for name in found)
        return Check("worker", False, f"后台任务报告无法连接：{names}")
    return Check("worker", True, "后台任务未报告故障")


def liveness() -> dict[str, Any]:
    return {"status": "ok"}
