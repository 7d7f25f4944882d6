"""One pass over the IMAP folder: store every new message, make its ticket, then mark it on the server.

Guarantees (each proven in tests/intake/test_poll.py and test_overlap.py):
- one poller per mailbox: it holds the job lock `poll:<mailbox>` (helpdesk.core.leases), which a
  killed poller loses at once on PostgreSQL and within the lease TTL on SQLite;
- a message is stored (raw bytes, keys) and committed before it is parsed;
- each stored message is claimed before it is ingested, so the retry job or another worker running
  beside the poll never makes a second ticket from it;
- it is marked on the server only after its ticket is committed; if marking fails or the process dies
  in between, the next pass marks it without making a second ticket;
- the same message seen again (second poll, new UID, new UIDVALIDITY) finds its stored row by key;
- a dropped connection loses nothing: the next pass resumes after the last stored UID.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import select

from helpdesk.core import leases
from helpdesk.db import session, utcnow
from helpdesk.mail import imap
from helpdesk.mail.imap import FetchedMessage, ImapSettings, ImapSource
from helpdesk.mail.models import InboundMail, Mailbox
from helpdesk.tickets import inbound as inbound_mail
from helpdesk.tickets import intake

log = logging.getLogger(__name__)


@dataclass
class PollReport:
    mailbox: str
    fetched: int = 0
    stored: int = 0
    duplicates: int = 0
    created: int = 0
    threaded: int = 0
    failed: int = 0
    elsewhere: int = 0  #: claimed by another path (retry job, another worker) while we ran
    marked: int = 0
    uidvalidity_changed: bool = False
    skipped: str = ""
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.skipped:
            return f"{self.mailbox}：跳过（{self.skipped}）"
        text = (
            f"{self.mailbox}：取回 {self.fetched} 封，新存 {self.stored} 封，重复 {self.duplicates} 封；"
            f"新建工单 {self.created} 张，归入已有工单 {self.threaded} 封，解析失败 {self.failed} 封；"
            f"服务器上已标记 {self.marked} 封"
        )
        if self.elsewhere:
            text += f"；另有 {self.elsewhere} 封正由其他进程处理"
        if self.uidvalidity_changed:
            text += "；UIDVALIDITY 已变化，已重新扫描"
        if self.errors:
            text += "；错误：" + "；".join(self.errors)
        return text


def _mailbox(settings: ImapSettings) -> Mailbox:
    row = session.scalar(select(Mailbox).where(Mailbox.name == settings.mailbox_name))
    if row is None:
        row = Mailbox(name=settings.mailbox_name, last_uid=0)
        session.add(row)
        session.commit()
    return row


#: told (messages handled so far, messages to handle in this pass) after every batch
Progress = Callable[[int, int], None]


def poll_once(
    settings: ImapSettings | None = None, *, use_lease: bool = True, progress: Progress | None = None
) -> PollReport:
    """Fetch, store, ingest and mark every new message of the folder; see the module docstring."""
    settings = settings or ImapSettings.from_settings(current_app.config["HELPDESK"])
    report = PollReport(settings.mailbox_name)
    if not settings.host:
        report.skipped = "未配置 HELPDESK_IMAP_HOST"
        return report
    with leases.held(f"poll:{settings.mailbox_name}") if use_lease else nullcontext(True) as lease:
        if lease is None:
            report.skipped = "另一个进程正在收取这个邮箱"
            return report
        _poll_held(settings, report, lease if isinstance(lease, leases.Lease) else None, progress)
    return report


def _poll_held(
    settings: ImapSettings, report: PollReport, lease: leases.Lease | None, progress: Progress | None
) -> None:
    mailbox = _mailbox(settings)
    try:
        with ImapSource(settings) as source:
            _poll(source, mailbox, report, lease, progress)
        mailbox.last_success_at = utcnow()
        mailbox.last_error = None
    except Exception as exc:  # a dropped connection or a server error: keep what is committed, retry later
        session.rollback()
        error = f"{type(exc).__name__}: {exc}"
        report.errors.append(error)
        mailbox = session.get(Mailbox, mailbox.id) or mailbox
        mailbox.last_error = error[:2000]
        if lease is not None:
            lease.error = error
        log.debug("poll of %s failed: %s", settings.mailbox_name, error)  # the worker logs outages once
    finally:
        mailbox.last_poll_at = utcnow()
        session.commit()


def _poll(
    source: ImapSource,
    mailbox: Mailbox,
    report: PollReport,
    lease: leases.Lease | None,
    progress: Progress | None,
) -> None:
    if mailbox.uidvalidity is not None and mailbox.uidvalidity != source.uidvalidity:
        # the server renumbered the folder: scan it all again; stored keys stop duplicates
        report.uidvalidity_changed = True
        mailbox.last_uid = 0
    mailbox.uidvalidity = source.uidvalidity
    mailbox.server_count = source.exists
    session.commit()
    _mark_pending(source, mailbox, report)
    uids = source.uids_after(mailbox.last_uid)
    batch: list[FetchedMessage] = []
    for fetched in source.fetch(uids):
        report.fetched += 1
        batch.append(fetched)
        if len(batch) == imap.FETCH_BATCH:
            _process_batch(source, mailbox, batch, report)
            batch = []
            if progress is not None:
                progress(report.fetched, len(uids))
            if lease is not None and lease.lost.is_set():
                raise RuntimeError("收取任务的租约已被其他进程接管（本进程停顿过久），本轮停止")
    if batch:
        _process_batch(source, mailbox, batch, report)
    if progress is not None and uids:
        progress(report.fetched, len(uids))
    # mail a killed poller or worker left stored (its claim has expired): no need to wait for the retry job
    _count(report, intake.ingest_pending(limit=200))
    _mark_pending(source, mailbox, report)


def _process_batch(
    source: ImapSource, mailbox: Mailbox, batch: list[FetchedMessage], report: PollReport
) -> None:
    """Store the batch (one query for its keys, one commit), claim and read it chunk by chunk (in the
    sandbox, a chunk ahead), ingest each chunk in one transaction (a savepoint per message) in UID
    order, then mark the batch on the server at once, after those commits."""
    stored = inbound_mail.store_many(
        [(fetched.raw, fetched.internal_date, fetched.uid) for fetched in batch],
        mailbox_id=mailbox.id,
        uidvalidity=source.uidvalidity,
    )
    mailbox.last_uid = max(mailbox.last_uid, *(f.uid for f in batch))
    todo = [inbound.id for inbound, created in stored if created or inbound.status != "ingested"]
    ids = [inbound.id for inbound, _ in stored]  # read before the commit expires the rows
    session.commit()
    report.stored += sum(1 for _, created in stored if created)
    report.duplicates += len(stored) - len(todo)
    # claimed a chunk at a time, so a retry job or a second worker can take the rest meanwhile
    results = intake.ingest_many(todo)
    report.elsewhere += len(todo) - len(results)
    _count(report, results)
    # one query for the batch's rows as committed (their raw bytes are in another table: not read)
    _mark(source, list(session.scalars(select(InboundMail).where(InboundMail.id.in_(ids)))), report)


def _count(report: PollReport, results: list[intake.IngestResult]) -> None:
    for result in results:
        if result.outcome == "created":
            report.created += 1
        elif result.outcome == "threaded":
            report.threaded += 1
        elif result.outcome == "failed":
            report.failed += 1
        elif result.outcome in ("elsewhere", "duplicate"):
            report.elsewhere += 1


def _mark_pending(source: ImapSource, mailbox: Mailbox, report: PollReport) -> None:
    """Mark messages whose tickets were committed but whose server flag was never set (crash, error)."""
    pending = list(
        session.scalars(
            select(InboundMail).where(
                InboundMail.mailbox_id == mailbox.id,
                InboundMail.uidvalidity == source.uidvalidity,
                InboundMail.flagged_on_server.is_(False),
                InboundMail.status == "ingested",
                InboundMail.uid.is_not(None),
            )
        )
    )
    _mark(source, pending, report)


def _mark(source: ImapSource, rows: list[InboundMail | None], report: PollReport) -> None:
    rows = [r for r in rows if r is not None and r.status == "ingested" and not r.flagged_on_server]
    if not rows:
        return
    source.mark_processed([int(r.uid) for r in rows if r.uid is not None])
    for row in rows:
        row.flagged_on_server = True
    session.commit()
    report.marked += len(rows)


def reconciliation(mailbox: Mailbox) -> dict[str, int]:
    """Messages on the server (at the last poll) vs ingested vs failed, for the admin page."""
    from sqlalchemy import func

    counts = dict(
        session.execute(
            select(InboundMail.status, func.count())
            .where(InboundMail.mailbox_id == mailbox.id)
            .group_by(InboundMail.status)
        ).all()
    )
    return {
        "server": mailbox.server_count,
        "ingested": counts.get("ingested", 0),
        "failed": counts.get("failed", 0),
        "waiting": counts.get("stored", 0),
    }
