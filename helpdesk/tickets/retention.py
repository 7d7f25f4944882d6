"""Personal-data retention: remove the personal material of tickets closed longer than the policy.

HELPDESK_RETENTION_DAYS (0 = off) says how long a closed ticket keeps its raw mails
(inbound_mail_raws.raw), attachment files and their stored bytes (business-licence scans among them)
and its mail bodies. What stays: the ticket, its timeline (ticket_events), the records' audit trail
and the extracted fields, so what was decided and changed can still be shown. Every removal is
written as a RetentionRemoval row (kind, how many, how many bytes, when) that the ticket page
lists, and as a timeline event.

Safe in two workers at once: the job holds the "retention" job lock, each ticket is one unit of
work under a row lock that re-checks the ticket is still closed and old enough, and every item is
cleared with a compare-and-set on its removal mark (`... WHERE removed_at IS NULL`), so a second
run finds nothing left and records nothing. Files on disk are content-addressed and may be shared
by several tickets: a file is deleted only after the commit, and only when no attachment that
still keeps its bytes names it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import exists, func, or_, select, update

from helpdesk.core import leases
from helpdesk.db import lock_row, session, unit_of_work, utcnow
from helpdesk.letters import current
from helpdesk.mail.models import InboundMail, InboundMailRaw
from helpdesk.tickets import lifecycle
from helpdesk.tickets.models import (
    CLOSED_STATUSES,
    Attachment,
    Message,
    MessageKind,
    RetentionRemoval,
    Ticket,
)

log = logging.getLogger(__name__)

#: the kinds of material, in the order the ticket page lists them, with their Chinese labels
KIND_LABELS = {
    "raw_mail": "原始邮件",
    "attachment": "附件",
    "licence_scan": "营业执照扫描件",
    "mail_body": "邮件正文",
}

#: what a cleared mail body says instead (the ticket page shows bodies as they are stored)
REMOVED_BODY = "【此邮件正文已按个人信息保留期限删除（{date}）。】"
REMOVED_ATTACHMENT = (
    "此附件已按个人信息保留期限于 {date} 删除，无法再下载或预览。处理记录与提取的字段仍保留在工单中。"
)
REMOVED_RAW = "原始邮件已按个人信息保留期限于 {date} 删除，无法重新读取"

#: message kinds whose bodies are mail (notes are the agents' own work and stay)
MAIL_KINDS = (MessageKind.INBOUND.value, MessageKind.OUTBOUND.value)
BATCH = 50


@dataclass
class TicketRemoval:
    """What one ticket loses (or would lose): items and bytes per kind."""

    ticket_id: int
    items: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    bytes: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, kind: str, size: int) -> None:
        self.items[kind] += 1
        self.bytes[kind] += size

    @property
    def empty(self) -> bool:
        return not any(self.items.values())


@dataclass
class Report:
    days: int
    cutoff: datetime | None
    dry_run: bool
    tickets: list[TicketRemoval] = field(default_factory=list)
    files_deleted: int = 0

    def totals(self) -> dict[str, tuple[int, int]]:
        out: dict[str, tuple[int, int]] = {}
        for kind in KIND_LABELS:
            items = sum(t.items.get(kind, 0) for t in self.tickets)
            size = sum(t.bytes.get(kind, 0) for t in self.tickets)
            if items:
                out[kind] = (items, size)
        return out

    def lines(self) -> list[str]:
        if not self.days:
            return ["个人信息保留期限未设置（HELPDESK_RETENTION_DAYS），不删除任何内容。"]
        verb = "将删除" if self.dry_run else "已删除"
        head = f"保留期限 {self.days} 天：关闭于 {self.cutoff:%Y-%m-%d %H:%M} UTC 之前的工单。"  # type: ignore[union-attr]
        if not self.tickets:
            return [head, f"没有{'需要' if self.dry_run else '可'}删除的内容。"]
        out = [head, f"{verb} {len(self.tickets)} 张工单的个人信息："]
        for kind, (items, size) in self.totals().items():
            out.append(f"  {KIND_LABELS[kind]}：{items} 项，{_human(size)}")
        if not self.dry_run:
            out.append(f"  磁盘上删除的文件：{self.files_deleted} 个")
        else:
            out.append("（演练模式：未删除任何内容）")
        return out


def _human(size: int) -> str:
    if size >= 1 << 20:
        return f"{size / (1 << 20):.1f} MB"
    if size >= 1 << 10:
        return f"{size / (1 << 10):.1f} KB"
    return f"{size} 字节"


def cutoff_for(days: int, now: datetime) -> datetime:
    return now - timedelta(days=days)


# ---- what is due --------------------------------------------------------------------------------


def _keeps_bytes() -> Any:
    return (Attachment.removed_at.is_(None)) & ((Attachment.stored_name != "") | Attachment.data.is_not(None))


def due_ticket_ids(cutoff: datetime, *, after: int = 0, limit: int = BATCH) -> list[int]:
    """Closed tickets (closed before `cutoff`) that still hold some personal material, by id."""
    has_attachment = exists().where(Attachment.ticket_id == Ticket.id, _keeps_bytes())
    has_raw = exists().where(
        InboundMail.ticket_id == Ticket.id,
        InboundMail.raw_removed_at.is_(None),
        func.length(InboundMail.raw) > 0,
    )
    has_body = exists().where(
        Message.ticket_id == Ticket.id, Message.kind.in_(MAIL_KINDS), Message.body_removed_at.is_(None)
    )
    return list(
        session.scalars(
            select(Ticket.id)
            .where(
                Ticket.status.in_(CLOSED_STATUSES),
                Ticket.resolved_at.is_not(None),
                Ticket.resolved_at < cutoff,
                Ticket.id > after,
                or_(has_attachment, has_raw, has_body),
            )
            .order_by(Ticket.id)
            .limit(limit)
        ).all()
    )


def _licence_names(messages: Iterable[Message]) -> set[str]:
    """File names the letter reader took for the business licence (its sources with role licence)."""
    return {
        s.filename
        for letter in current.stored_readings(messages)
        for s in letter.sources
        if s.role == "licence"
    }


def _attachment_kind(att: Attachment, licences: set[str]) -> str:
    if att.content_type == "message/rfc822" or att.original_name == "original.eml":
        return "raw_mail"
    return "licence_scan" if att.original_name in licences else "attachment"


def _inbound_rows(ticket_id: int) -> list[InboundMail]:
    via_messages = select(Message.inbound_mail_id).where(
        Message.ticket_id == ticket_id, Message.inbound_mail_id.is_not(None)
    )
    return list(
        session.scalars(
            select(InboundMail).where(
                or_(InboundMail.ticket_id == ticket_id, InboundMail.id.in_(via_messages)),
                InboundMail.raw_removed_at.is_(None),
            )
        ).all()
    )


def plan(ticket: Ticket) -> TicketRemoval:
    """What removing this ticket's material would take away (reads only)."""
    removal = TicketRemoval(ticket.id)
    messages = list(session.scalars(select(Message).where(Message.ticket_id == ticket.id)).all())
    licences = _licence_names(messages)
    for att in session.scalars(select(Attachment).where(Attachment.ticket_id == ticket.id, _keeps_bytes())):
        removal.add(_attachment_kind(att, licences), att.size or len(att.data or b""))
    for row in _inbound_rows(ticket.id):
        if row.raw:
            removal.add("raw_mail", len(row.raw))
    for m in messages:
        if m.kind in MAIL_KINDS and m.body_removed_at is None:
            removal.add("mail_body", len((m.body_text or "").encode()) + len((m.body_html or "").encode()))
    return removal


# ---- removing -----------------------------------------------------------------------------------


def remove_ticket(
    ticket_id: int, *, cutoff: datetime, days: int, now: datetime
) -> tuple[TicketRemoval, set[str]]:
    """Remove one ticket's personal material in one unit of work. Commits.

    Returns what was removed (empty when another worker was first, or the ticket was reopened) and
    the stored file names that no longer have a keeper in this ticket, to check and delete after
    the commit.
    """
    removal = TicketRemoval(ticket_id)
    names: set[str] = set()
    stamp = f"{now:%Y-%m-%d}"
    with unit_of_work():
        ticket = lock_row(Ticket, ticket_id)
        if ticket.status not in CLOSED_STATUSES or ticket.resolved_at is None or ticket.resolved_at >= cutoff:
            return removal, names  # reopened (or closed again recently) since it was picked
        messages = list(session.scalars(select(Message).where(Message.ticket_id == ticket.id)).all())
        licences = _licence_names(messages)
        for att in session.scalars(
            select(Attachment).where(Attachment.ticket_id == ticket.id, _keeps_bytes())
        ).all():
            won = session.execute(
                update(Attachment)
                .where(Attachment.id == att.id, Attachment.removed_at.is_(None))
                .values(removed_at=now, data=None)
                .execution_options(synchronize_session=False)
            ).rowcount
            if won:
                removal.add(_attachment_kind(att, licences), att.size or len(att.data or b""))
                if att.stored_name:
                    names.add(att.stored_name)
        for row in _inbound_rows(ticket.id):
            size = len(row.raw or b"")
            won = session.execute(
                update(InboundMail)
                .where(InboundMail.id == row.id, InboundMail.raw_removed_at.is_(None))
                .values(raw_removed_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount
            if won:  # the bytes live in their own row (InboundMailRaw)
                session.execute(
                    update(InboundMailRaw)
                    .where(InboundMailRaw.inbound_mail_id == row.id)
                    .values(raw=b"")
                    .execution_options(synchronize_session=False)
                )
            if won and size:
                removal.add("raw_mail", size)
        for m in messages:
            if m.kind not in MAIL_KINDS or m.body_removed_at is not None:
                continue
            size = len((m.body_text or "").encode()) + len((m.body_html or "").encode())
            won = session.execute(
                update(Message)
                .where(Message.id == m.id, Message.body_removed_at.is_(None))
                .values(body_text=REMOVED_BODY.format(date=stamp), body_html="", body_removed_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount
            if won:
                removal.add("mail_body", size)
        if removal.empty:
            return removal, names
        for kind in KIND_LABELS:
            if removal.items.get(kind):
                session.add(
                    RetentionRemoval(
                        ticket_id=ticket.id,
                        kind=kind,
                        items=removal.items[kind],
                        bytes=removal.bytes[kind],
                        policy_days=days,
                        removed_at=now,
                    )
                )
        lifecycle.record(
            ticket,
            "retention_removed",
            at=now,
            detail={
                "days": days,
                "items": dict(removal.items),
                "bytes": dict(removal.bytes),
            },
        )
    session.expire_all()
    return removal, names


def delete_unkept_files(directory: Path, names: Iterable[str]) -> int:
    """Delete stored files that no attachment keeping its bytes names any more (after the commit)."""
    deleted = 0
    for name in sorted(set(names)):
        kept = session.scalar(
            select(func.count()).select_from(Attachment).where(Attachment.stored_name == name, _keeps_bytes())
        )
        session.rollback()  # a read only: hold no transaction (on SQLite: no lock) while unlinking
        if kept:
            continue
        path = (directory / name).resolve()
        if directory.resolve() not in path.parents:
            continue  # never outside the attachments folder, whatever a row says
        try:
            path.unlink()
            deleted += 1
        except FileNotFoundError:
            pass  # another worker was first
    return deleted


def run(
    days: int,
    attachments_dir: Path,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Remove (or, dry, only count) the material of tickets closed more than `days` days ago."""
    now = now or utcnow()
    if days <= 0:
        return Report(days=0, cutoff=None, dry_run=dry_run)
    cutoff = cutoff_for(days, now)
    report = Report(days=days, cutoff=cutoff, dry_run=dry_run)
    total = _count_due(cutoff) if progress is not None else 0
    after = processed = 0
    while True:
        ids = due_ticket_ids(cutoff, after=after)
        session.rollback()
        if not ids:
            break
        for ticket_id in ids:
            if dry_run:
                ticket = session.get(Ticket, ticket_id)
                removal = plan(ticket) if ticket is not None else TicketRemoval(ticket_id)
                session.rollback()
            else:
                removal, names = remove_ticket(ticket_id, cutoff=cutoff, days=days, now=now)
                report.files_deleted += delete_unkept_files(attachments_dir, names)
            if not removal.empty:
                report.tickets.append(removal)
            processed += 1
            if progress is not None:
                progress(processed, max(total, processed))
        after = ids[-1]
    return report


def _count_due(cutoff: datetime) -> int:
    count = 0
    after = 0
    while ids := due_ticket_ids(cutoff, after=after, limit=1000):
        count += len(ids)
        after = ids[-1]
    session.rollback()
    return count


def scheduled_run(days: int, attachments_dir: Path) -> Report | None:
    """The job: one pass under the "retention" job lock (None when another worker holds it)."""
    if days <= 0:
        return None
    with leases.held("retention") as lease:
        if lease is None:
            return None
        report = run(days, attachments_dir)
        if report.tickets:
            log.info("; ".join(report.lines()))
        return report


def removed_attachment_text(att: Attachment) -> str:
    return REMOVED_ATTACHMENT.format(date=f"{att.removed_at:%Y-%m-%d}" if att.removed_at else "")


def removed_raw_text(row: InboundMail) -> str:
    return REMOVED_RAW.format(date=f"{row.raw_removed_at:%Y-%m-%d}" if row.raw_removed_at else "")
