"""Stored mail -> parsed mail -> letter -> ticket, in one transaction per message.

Order (zammad's pipeline, typed): the raw bytes were stored first (InboundMail); here we parse, read
the letter, thread or create the ticket, store attachments, queue the acknowledgement and mark the
InboundMail ingested, all in one commit. A failure rolls everything back, records the error on the
InboundMail, and still makes an `inquiry` ticket holding the raw .eml: no mail is ever dropped.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from helpdesk.db import session, utcnow
from helpdesk.letters import Letter
from helpdesk.letters import read as read_letter
from helpdesk.letters.sniff import sniff
from helpdesk.mail import filters, store
from helpdesk.mail.models import InboundMail, OutboundMail
from helpdesk.mail.parse import parse_mail
from helpdesk.mail.parsed import MailAttachment, ParsedMail
from helpdesk.records import lookup
from helpdesk.sla import clock
from helpdesk.tickets import services
from helpdesk.tickets.models import Attachment, Message, MessageKind, Ticket, TicketStatus

log = logging.getLogger(__name__)

#: at most this many automatic acknowledgements per sender per day (two robots cannot loop)
AUTO_REPLIES_PER_SENDER_PER_DAY = 3
#: the type we record for an attachment comes from its bytes (letters.sniff), never from the sender
SNIFFED_MIME = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "doc": "application/msword",
    "xls": "application/vnd.ms-excel",
    "ole": "application/x-ole-storage",
    "ofd": "application/ofd",
    "pdf": "application/pdf",
    "zip": "application/zip",
    "rar": "application/vnd.rar",
    "7z": "application/x-7z-compressed",
    "jpg": "image/jpeg",
    "png": "image/png",
    "tif": "image/tiff",
    "bmp": "image/bmp",
    "gif": "image/gif",
    "webp": "image/webp",
    "rtf": "application/rtf",
    "html": "text/html",
    "text": "text/plain",
    "exe": "application/x-msdownload",
}
#: attachments up to this size also live in the database row (so a lost disk keeps small letters)
INLINE_ATTACHMENT_BYTES = 0


@dataclass(frozen=True)
class IngestResult:
    inbound_id: int
    ticket_id: int | None
    outcome: str  #: created / threaded / duplicate / failed / ignored
    detail: str = ""


def _settings() -> Any:
    return current_app.config["HELPDESK"]


def _our_addresses() -> set[str]:
    return {
        str(_settings()["HELPDESK_SMTP_FROM"]).lower(),
        str(_settings()["HELPDESK_IMAP_USER"]).lower(),
    } - {""}


def store_raw(
    raw: bytes,
    *,
    internal_date: datetime,
    mailbox_id: int | None = None,
    uidvalidity: int | None = None,
    uid: int | None = None,
    source: str = "imap",
    commit: bool = True,
) -> tuple[InboundMail, bool]:
    """Keep the raw message before anything else; returns (row, created). Commits unless commit=False
    (the poller stores a whole batch, then commits once, before any of it is parsed).

    The key is the Message-ID (or a hash of the bytes when there is none): fetching the same mail
    twice, from another UID or after a UIDVALIDITY change, finds the existing row instead.
    """
    key = message_key(raw)
    existing = session.scalar(select(InboundMail).where(InboundMail.message_key == key))
    if existing is not None:
        if uid is not None and existing.uid != uid and mailbox_id is not None:
            # same message seen under a new UID (moved, re-uploaded, new UIDVALIDITY): remember the newest
            existing.mailbox_id, existing.uidvalidity, existing.uid = mailbox_id, uidvalidity, uid
            existing.flagged_on_server = False
            if commit:
                session.commit()
        return existing, False
    row = InboundMail(
        mailbox_id=mailbox_id,
        uidvalidity=uidvalidity,
        uid=uid,
        message_key=key,
        raw_sha256=_sha256(raw),
        raw=raw,
        internal_date=internal_date,
        source=source,
    )
    try:
        # a savepoint, so that losing the race below undoes only this row, not the batch around it
        with session.begin_nested():
            session.add(row)
        if commit:
            session.commit()
    except IntegrityError:  # a concurrent worker stored it first (unique message_key)
        if commit:
            session.rollback()
        existing = session.scalar(select(InboundMail).where(InboundMail.message_key == key))
        if existing is None:
            raise
        return existing, False
    return row, True


def _sha256(raw: bytes) -> str:
    import hashlib

    return hashlib.sha256(raw).hexdigest()


def message_key(raw: bytes) -> str:
    """Message-ID without <> (lower-cased) read cheaply from the header block, else sha256 of the bytes."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    import re

    match = re.search(rb"(?im)^message-id:[ \t]*(?:\r?\n[ \t]+)?<?([^\s<>]+@[^\s<>]+)>?", head)
    if match:
        return match.group(1).decode("ascii", "replace").lower()[:490]
    return "sha256:" + _sha256(raw)


def prepare(raw: bytes, max_attachment_bytes: int) -> tuple[ParsedMail, Letter]:
    """The pure, CPU-bound part of intake (parse + read the letter without OCR); runs in worker processes."""
    mail = parse_mail(raw, max_attachment_bytes=max_attachment_bytes)
    return mail, read_letter(mail, ocr=False)


def max_attachment_bytes() -> int:
    return int(_settings()["HELPDESK_MAX_ATTACHMENT_MB"]) << 20


def ingest(
    inbound: InboundMail, *, prepared: tuple[ParsedMail, Letter] | BaseException | None = None
) -> IngestResult:
    """Turn one stored message into a new ticket or a message on an existing one. Commits.

    `prepared` is the result of `prepare()` computed elsewhere (a worker process), or the exception it raised.
    """
    if inbound.status == "ingested" and inbound.ticket_id is not None:
        return IngestResult(inbound.id, inbound.ticket_id, "duplicate")
    inbound_id = inbound.id
    try:
        if isinstance(prepared, BaseException):
            raise prepared
        mail, letter = prepared or prepare(inbound.raw, max_attachment_bytes())
        result = _ingest_parsed(inbound, mail, letter)
        session.commit()
        return result
    except Exception as exc:
        session.rollback()
        log.exception("ingest of inbound mail %s failed", inbound_id)
        return _fallback_ticket(session.get(InboundMail, inbound_id), exc)


def _ingest_parsed(inbound: InboundMail, mail: ParsedMail, letter: Letter) -> IngestResult:
    now = utcnow()
    auto_reasons = filters.is_auto_generated(mail, our_addresses=_our_addresses())
    ticket = _find_thread(mail)
    if mail.is_bounce:
        original = filters.bounce_original_message_id(mail)
        bounced = _ticket_for_our_message(original) if original else None
        if bounced is not None:
            ticket = bounced
    if ticket is not None:
        message = _add_inbound_message(ticket, mail, inbound)
        _store_attachments(ticket, message, mail.attachments)
        services._record(ticket, "mail_in", detail={"message_id": mail.message_id, "bounce": mail.is_bounce})
        if not mail.is_bounce and not auto_reasons:
            _wake(ticket, inbound.internal_date, now)
        inbound.status, inbound.ticket_id, inbound.processed_at = "ingested", ticket.id, now
        ticket.search_text = services.search_text_for(ticket)
        return IngestResult(inbound.id, ticket.id, "threaded")

    ticket = Ticket(
        type=letter.type,
        status=TicketStatus.NEW.value,
        subject=(mail.subject or "（无主题）")[:500],
        requester_email=mail.sender,
        requester_name=mail.sender_name[:200],
        received_at=inbound.internal_date,
        letter=letter.to_dict(),
        fields=_initial_fields(letter),
        ocr_pending=letter.ocr_pending,
    )
    session.add(ticket)
    session.flush()
    clock.start(ticket, inbound.internal_date)
    message = _add_inbound_message(ticket, mail, inbound)
    _store_attachments(ticket, message, mail.attachments)
    services._record(
        ticket,
        "created",
        new=ticket.type,
        at=now,
        detail={"type_reasons": list(letter.type_reasons), "due_at": ticket.due_at.isoformat()},
    )
    _link_enterprise(ticket, letter, mail.sender)
    ticket.search_text = services.search_text_for(ticket)
    if auto_reasons:
        services._record(ticket, "auto_reply_suppressed", at=now, detail={"reasons": auto_reasons})
    elif _auto_replies_today(mail.sender, now) >= AUTO_REPLIES_PER_SENDER_PER_DAY:
        services._record(ticket, "auto_reply_suppressed", at=now, detail={"reasons": ["rate limit"]})
    else:
        _acknowledge(ticket, mail)
    inbound.status, inbound.ticket_id, inbound.processed_at, inbound.error = "ingested", ticket.id, now, None
    return IngestResult(inbound.id, ticket.id, "created")


def _initial_fields(letter: Letter) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for field in letter.fields:
        if field.name in fields:
            continue
        if field.name in ("uscc", "org_code"):
            fields[field.name] = letter.values(field.name)
        else:
            fields[field.name] = field.value
    return fields


def _find_thread(mail: ParsedMail) -> Ticket | None:
    ids = filters.thread_ids(mail)
    if ids:
        ticket_id = session.scalar(select(Message.ticket_id).where(Message.message_id.in_(ids)).limit(1))
        if ticket_id is None:
            ticket_id = session.scalar(
                select(OutboundMail.ticket_id).where(OutboundMail.message_id.in_(ids)).limit(1)
            )
        if ticket_id is not None:
            return _follow_merges(session.get(Ticket, ticket_id))
    number = filters.subject_tag(mail.subject)
    if number is None:
        return None
    ticket = session.get(Ticket, number)
    if ticket is None or not _sender_belongs(ticket, mail.sender):
        return None  # a tag in a stranger's mail must not let them write into someone else's ticket
    return _follow_merges(ticket)


def _sender_belongs(ticket: Ticket, sender: str) -> bool:
    if not sender:
        return False
    if sender == (ticket.requester_email or "").lower():
        return True
    if ticket.enterprise_id is not None:
        return any(e.id == ticket.enterprise_id for e in lookup.by_sender(sender))
    return False


def _follow_merges(ticket: Ticket | None) -> Ticket | None:
    seen = 0
    while ticket is not None and ticket.merged_into_id is not None and seen < 10:
        ticket = session.get(Ticket, ticket.merged_into_id)
        seen += 1
    return ticket


def _ticket_for_our_message(message_id: str) -> Ticket | None:
    ticket_id = session.scalar(select(OutboundMail.ticket_id).where(OutboundMail.message_id == message_id))
    return session.get(Ticket, ticket_id) if ticket_id else None


def _wake(ticket: Ticket, received: datetime, now: datetime) -> None:
    """An enterprise's reply: resume a waiting ticket's clock, reopen a closed one with a new clock."""
    if ticket.status == TicketStatus.WAITING.value:
        services._set_status(
            ticket,
            TicketStatus.OPEN,
            by=None,
            at=max(received, ticket.sla_paused_at or received),
            reason="企业回复",
        )
    elif ticket.status in (TicketStatus.RESOLVED.value, TicketStatus.REJECTED.value):
        services._set_status(ticket, TicketStatus.OPEN, by=None, at=received, reason="企业回复，工单重新打开")


def _add_inbound_message(ticket: Ticket, mail: ParsedMail, inbound: InboundMail) -> Message:
    exists = session.scalar(select(Message).where(Message.message_id == mail.message_id))
    message = Message(
        ticket=ticket,
        kind=MessageKind.INBOUND.value,
        message_id=None if exists is not None else mail.message_id[:500],
        in_reply_to=mail.in_reply_to,
        sender=mail.sender,
        recipients=", ".join(mail.to + mail.cc)[:2000],
        subject=mail.subject[:500],
        body_text=mail.text,
        body_html=mail.html,
        inbound_mail_id=inbound.id,
        created_at=inbound.internal_date,
    )
    if mail.defects:
        message.body_text = mail.text + "\n\n【解析提示】" + "；".join(mail.defects)
    session.add(message)
    session.flush()
    return message


def _store_attachments(ticket: Ticket, message: Message, attachments: tuple[MailAttachment, ...]) -> None:
    directory = Path(_settings().attachments_dir)
    for att in attachments:
        if att.problem:
            session.add(
                Attachment(
                    ticket=ticket,
                    message_id=message.id,
                    sha256="",
                    stored_name="",
                    original_name=att.filename[:500],
                    content_type=att.content_type,
                    size=att.declared_size or 0,
                    problem=_problem_text(att),
                )
            )
            services._record(
                ticket, "attachment_problem", detail={"name": att.filename, "problem": att.problem}
            )
            continue
        digest, name = store.save(directory, att.data)
        session.add(
            Attachment(
                ticket=ticket,
                message_id=message.id,
                sha256=digest,
                stored_name=name,
                original_name=att.filename[:500],
                content_type=SNIFFED_MIME.get(sniff(att.data), "application/octet-stream"),
                size=att.size,
                data=att.data if att.size <= INLINE_ATTACHMENT_BYTES else None,
            )
        )


def _problem_text(att: MailAttachment) -> str:
    if att.problem == "oversize":
        size = (att.declared_size or 0) / 1024 / 1024
        return f"附件过大（约 {size:.1f} MB），超过系统上限，未保存。请联系企业改用压缩或分批发送。"
    return f"附件无法保存：{att.problem}"


def _link_enterprise(ticket: Ticket, letter: Letter, sender: str) -> None:
    found = lookup.candidates(
        usccs=[str(v) for v in letter.values("uscc")],
        org_codes=[str(v) for v in letter.values("org_code")],
        accounts=[str(v) for v in (letter.values("account_names") or [])],
        names=[str(v) for v in letter.values("company_name")],
        sender=sender,
    )
    if len(found) == 1:
        ticket.enterprise_id = found[0].id
        services._record(
            ticket, "enterprise_linked", field="enterprise", new=found[0].id, detail={"auto": True}
        )
    elif found:
        services._record(ticket, "enterprise_candidates", detail={"ids": [e.id for e in found][:10]})


def _auto_replies_today(sender: str, now: datetime) -> int:
    since = now - timedelta(days=1)
    return (
        session.scalar(
            select(func.count())
            .select_from(OutboundMail)
            .where(
                OutboundMail.to_addr == sender, OutboundMail.kind == "ack", OutboundMail.created_at >= since
            )
        )
        or 0
    )


def _acknowledge(ticket: Ticket, mail: ParsedMail) -> None:
    if not mail.sender:
        return
    due = ticket.due_at.astimezone(_settings().timezone) if ticket.due_at else None
    due_text = f"{due:%Y年%m月%d日 %H:%M}" if due else "2 个工作日内"
    body = (
        f"您好：\n\n我们已收到您的邮件“{ticket.subject}”，工单号 {ticket.number}（类型：{ticket.type_label}）。\n"
        f"按照承诺，工作人员将在 2 个工作日内处理，预计最迟于 {due_text} 前答复。\n\n"
        "如需补充材料，请直接回复本邮件，并保留标题中的工单号，以便自动归入同一工单。\n"
        "咨询电话：010-67800213、010-67801941（变更说明处理）；400 886 3200（技术咨询）。\n\n"
        "本邮件为系统自动回复。\n外贸发展专项资金（中小）网络管理应用项目组"
    )
    services._reply(ticket, body, by=None, kind="ack", subject=f"已收到：{ticket.subject}")


def _fallback_ticket(inbound: InboundMail | None, exc: Exception) -> IngestResult:
    """The pipeline failed: keep the raw mail as an inquiry ticket with the .eml attached and the reason."""
    if inbound is None:
        return IngestResult(0, None, "failed", repr(exc))
    inbound_id = inbound.id
    reason = f"{type(exc).__name__}: {exc}"[:1500]
    try:
        now = utcnow()
        ticket = Ticket(
            type="inquiry",
            status=TicketStatus.NEW.value,
            subject="（无法解析的邮件）",
            received_at=inbound.internal_date,
            letter=None,
            fields={},
        )
        session.add(ticket)
        session.flush()
        clock.start(ticket, inbound.internal_date)
        digest, name = store.save(Path(_settings().attachments_dir), inbound.raw)
        note = Message(
            ticket=ticket,
            kind=MessageKind.NOTE.value,
            sender="系统",
            body_text=f"这封邮件无法自动解析，原始邮件已作为附件 original.eml 保存。\n原因：{reason}",
            inbound_mail_id=inbound.id,
            created_at=inbound.internal_date,
        )
        session.add(note)
        session.flush()
        session.add(
            Attachment(
                ticket=ticket,
                message_id=note.id,
                sha256=digest,
                stored_name=name,
                original_name="original.eml",
                content_type="message/rfc822",
                size=len(inbound.raw),
            )
        )
        services._record(ticket, "created", new="inquiry", detail={"fallback": True, "error": reason})
        inbound.status, inbound.ticket_id, inbound.processed_at, inbound.error = (
            "ingested",
            ticket.id,
            now,
            reason,
        )
        inbound.attempts += 1
        session.commit()
        return IngestResult(inbound_id, ticket.id, "failed", reason)
    except Exception as second:
        session.rollback()
        log.exception("fallback ticket for inbound mail %s failed", inbound_id)
        row = session.get(InboundMail, inbound_id)
        if row is not None:
            row.status, row.error = "failed", f"{reason}; fallback: {second!r}"[:2000]
            row.attempts += 1
            session.commit()
        return IngestResult(inbound_id, None, "failed", reason)


def ingest_pending(limit: int = 500, *, deadline: float | None = None) -> list[IngestResult]:
    """Ingest stored mail that has no ticket yet (new, or failed earlier), oldest first."""
    ids = session.scalars(
        select(InboundMail.id)
        .where(InboundMail.status.in_(("stored", "failed")))
        .order_by(InboundMail.id)
        .limit(limit)
    ).all()
    results = []
    for inbound_id in ids:
        if deadline is not None and time.monotonic() > deadline:
            break
        inbound = session.get(InboundMail, inbound_id)
        if inbound is not None:
            results.append(ingest(inbound))
    return results


def import_eml(raw: bytes, *, received_at: datetime | None = None) -> IngestResult:
    """Feed a saved .eml through the same pipeline (source 'eml'). Commits."""
    inbound, created = store_raw(raw, internal_date=received_at or utcnow(), source="eml")
    if not created and inbound.status == "ingested":
        return IngestResult(inbound.id, inbound.ticket_id, "duplicate")
    return ingest(inbound)


def run_ocr_pending(limit: int = 5, budget_s: float = 60.0) -> int:
    """Re-read letters that need OCR (off the request path) and fill their fields. Commits per ticket."""
    done = 0
    for ticket in session.scalars(
        select(Ticket).where(Ticket.ocr_pending.is_(True)).order_by(Ticket.id).limit(limit)
    ):
        first = session.scalar(
            select(InboundMail)
            .join(Message, Message.inbound_mail_id == InboundMail.id)
            .where(Message.ticket_id == ticket.id)
            .order_by(Message.id)
            .limit(1)
        )
        if first is None:
            ticket.ocr_pending = False
            session.commit()
            continue
        mail = parse_mail(first.raw)
        letter = read_letter(mail, ocr=True, ocr_budget_s=budget_s)
        ticket.letter = letter.to_dict()
        merged = _initial_fields(letter)
        merged.update({k: v for k, v in (ticket.fields or {}).items() if v not in (None, "", [])})
        ticket.fields = merged
        ticket.ocr_pending = False
        if ticket.type == "inquiry" and letter.type != "inquiry":
            services._record(
                ticket, "type", field="type", old=ticket.type, new=letter.type, detail={"ocr": True}
            )
            ticket.type = letter.type
            clock.recompute(ticket)
        if ticket.enterprise_id is None:
            _link_enterprise(ticket, letter, ticket.requester_email)
        ticket.search_text = services.search_text_for(ticket)
        services._record(ticket, "ocr_done", detail={"seconds": letter.timings.get("total")})
        session.commit()
        done += 1
    return done
