"""Stored mail -> parsed mail -> letter -> ticket, exactly once per stored mail.

Order (zammad's pipeline, typed): the raw bytes were stored first (InboundMail, keyed by content:
helpdesk.mail.identity). Every path that turns a stored mail into a ticket (the poll, the retry job,
reprocess-mail, import-eml, another worker) first *claims* the row with a compare-and-set and then
settles it in the same transaction that makes the ticket, fenced by its claim token: a path that lost
the claim (or whose claim expired and was taken over) rolls back, so there is one ticket or thread
message, and at most one acknowledgement, per stored mail, whatever overlaps.

Parsing and letter reading run in sandbox processes with a deadline and a memory cap
(helpdesk.core.sandbox): a mail that overruns is read again without its attachments' content, then
from its headers alone; in every case it becomes a ticket with the original .eml attached.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import func, or_, select

from helpdesk.db import session, utcnow
from helpdesk.letters import Letter, current
from helpdesk.letters.sniff import sniff
from helpdesk.mail import addresses, filters, identity, store
from helpdesk.mail.models import InboundMail, InboundMailRaw, OutboundMail
from helpdesk.mail.parsed import MailAttachment, ParsedMail
from helpdesk.records import lookup
from helpdesk.sla import clock
from helpdesk.tickets import lifecycle, services
from helpdesk.tickets.inbound import ClaimLost, claim, claim_ttl, settle, store_raw
from helpdesk.tickets.models import Attachment, Message, MessageKind, Ticket, TicketStatus
from helpdesk.tickets.reading import (
    MAX_ATTACHMENTS,
    Prepared,
    intake_sandbox,
    max_attachment_bytes,
    prepare_all,
    read_all,
)

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


#: a mail whose ingest was started this many times without finishing (each start killed the process)
#: goes straight to the fallback ticket: one poisonous mail must not stop the ones behind it
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class IngestResult:
    inbound_id: int
    ticket_id: int | None
    outcome: str  #: created / threaded / duplicate / elsewhere / failed / removed (retention emptied it)
    detail: str = ""


class Batch:
    """What the mails of one chunk would each ask the database, asked once for the whole chunk.

    Filled with one query per question before the chunk is ingested, and kept up to date as each
    mail's savepoint is released (`done`), so a mail sees its neighbours earlier in the chunk exactly
    as it would have seen them committed.
    """

    def __init__(self, rows: Sequence[InboundMail], readings: Sequence[Prepared], now: datetime) -> None:
        mails = [prepared.mail for prepared in readings]
        message_ids = sorted({m.message_id[:500] for m in mails})
        self.used_message_ids: set[str] = set(
            session.scalars(select(Message.message_id).where(Message.message_id.in_(message_ids)))
            if message_ids
            else ()
        )
        inbound_ids = sorted({r.message_id for r in rows if r.message_id})
        self.by_message_id: dict[str, list[tuple[int, int | None]]] = {}
        if inbound_ids:
            for row in session.execute(
                select(InboundMail.message_id, InboundMail.id, InboundMail.ticket_id)
                .where(InboundMail.message_id.in_(inbound_ids))
                .order_by(InboundMail.id)
            ):
                self.by_message_id.setdefault(row.message_id, []).append((row.id, row.ticket_id))
        senders = sorted({a for a in (_requester(m.sender).address for m in mails) if a is not None})
        self.acks: dict[str, int] = dict.fromkeys(senders, 0)
        if senders:
            self.acks.update(
                session.execute(
                    select(OutboundMail.to_addr, func.count())
                    .where(
                        OutboundMail.to_addr.in_(senders),
                        OutboundMail.kind == "ack",
                        OutboundMail.created_at >= now - timedelta(days=1),
                    )
                    .group_by(OutboundMail.to_addr)
                ).all()
            )
        #: lookup.candidates by its arguments: the records do not change during a chunk, and the one
        #: thing a chunk changes (a sender's linked tickets) drops that sender's entries (`done`)
        self.enterprises: dict[lookup.Evidence, list[Any]] = {}
        try:
            with session.begin_nested():
                self.enterprises = lookup.candidates_many(
                    _evidence(prepared.letter, prepared.mail.sender) for prepared in readings
                )
        except Exception:  # each mail then asks on its own, inside its savepoint (its failure is its own)
            log.exception("batched enterprise lookup failed")
        self.tickets: dict[int, int] = {}  #: inbound id -> ticket id, for mails settled in this chunk
        self._staged: tuple[str | None, str | None, str | None] = (None, None, None)

    def stage(
        self, *, message_id: str | None = None, ack: str | None = None, linked: str | None = None
    ) -> None:
        """Remember what the mail in progress wrote; it counts only once its savepoint is released."""
        old = self._staged
        self._staged = (message_id or old[0], ack or old[1], linked or old[2])

    def earlier_with_message_id(self, inbound: InboundMail) -> tuple[int, int | None] | None:
        """The first stored mail before this one with the same Message-ID: (its id, its ticket id)."""
        for inbound_id, ticket_id in self.by_message_id.get(inbound.message_id or "", ()):
            if inbound_id < inbound.id:
                return inbound_id, self.tickets.get(inbound_id, ticket_id)
        return None

    def done(self, inbound_id: int, result: IngestResult | None) -> None:
        """A mail's savepoint was released (result) or rolled back (None): what it wrote counts, or not."""
        message_id, ack, linked = self._staged
        self._staged = (None, None, None)
        if result is None:
            return
        if result.ticket_id is not None:
            self.tickets[inbound_id] = result.ticket_id
        if message_id:
            self.used_message_ids.add(message_id)
        if ack:
            self.acks[ack] = self.acks.get(ack, 0) + 1
        if linked is not None:
            self.enterprises = {k: v for k, v in self.enterprises.items() if k[-1] != linked}


@functools.lru_cache(maxsize=4096)
def _requester(sender: str) -> addresses.Checked:
    """addresses.single_mailbox, remembered: the chunk and the mail both ask, and senders repeat."""
    return addresses.single_mailbox(sender)


def _settings() -> Any:
    return current_app.config["HELPDESK"]


def _our_addresses() -> set[str]:
    return {
        str(_settings()["HELPDESK_SMTP_FROM"]).lower(),
        str(_settings()["HELPDESK_IMAP_USER"]).lower(),
    } - {""}


# ---- ingest -------------------------------------------------------------------------------------


class GaveUp(RuntimeError):
    """The mail was started too often without finishing: it goes straight to its fallback ticket."""


def ingest(
    inbound: InboundMail, *, prepared: Prepared | BaseException | None = None, token: str | None = None
) -> IngestResult:
    """Turn one stored message into a new ticket or a message on an existing one. Commits.

    Without `token` it claims the mail first. `prepared` is the result of `prepare_all()` for it
    (computed for a whole batch), or the exception it ended with; None reads it now.
    """
    inbound_id = inbound.id
    if token is None:
        token, won = claim([inbound_id])
        if not won:
            return _not_ours(inbound_id)
    inbound = session.get(InboundMail, inbound_id) or inbound
    if prepared is None and inbound.attempts <= MAX_ATTEMPTS and inbound.raw_removed_at is None:
        raw = inbound.raw
        session.commit()  # hold no transaction (on SQLite: no write lock) while the sandbox reads
        prepared = prepare_all([raw])[0]
    return ingest_chunk([(inbound, prepared)], token)[0]


def ingest_chunk(
    items: Sequence[tuple[InboundMail, Prepared | BaseException | None]], token: str
) -> list[IngestResult]:
    """Ingest claimed, read mails in one transaction, each inside its own savepoint. Commits once.

    A mail that fails rolls back to its savepoint alone and becomes its fallback inquiry ticket; the
    others are ingested normally. A mail whose claim was lost (`settle` fenced it out) is undone
    alone too. Should the commit itself fail, the mails are ingested again one transaction each.
    """
    if not items:
        return []
    readings = [prepared for _, prepared in items if isinstance(prepared, Prepared)]
    try:
        # the fast path: no savepoint per mail (two statements each), as long as nothing goes wrong
        batch = Batch([row for row, _ in items], readings, utcnow())
        results = [_ingest_one(row, prepared, token, batch, isolated=False) for row, prepared in items]
    except _Isolate:
        # a mail failed half-way, or lost its claim: undo the chunk and ingest it again with a
        # savepoint per mail, so that only that mail falls back (or is left to the path that holds it)
        session.rollback()
        batch = Batch([row for row, _ in items], readings, utcnow())
        results = [_ingest_one(row, prepared, token, batch) for row, prepared in items]
    try:
        session.commit()
        return results
    except Exception as exc:
        session.rollback()
        if len(items) > 1:
            log.exception("commit of %d ingested mails failed; ingesting them one by one", len(items))
            return [result for item in items for result in ingest_chunk([item], token)]
        log.exception("commit of inbound mail %s failed", items[0][0].id)
        row = session.get(InboundMail, items[0][0].id)
        result = _fallback(row, exc, token)
        session.commit()
        return [result]


class _Isolate(Exception):
    """On the fast path (no savepoints): a mail failed after it wrote something, or lost its claim."""


def _ingest_one(
    row: InboundMail,
    prepared: Prepared | BaseException | None,
    token: str,
    batch: Batch,
    *,
    isolated: bool = True,
) -> IngestResult:
    """One mail of a chunk. `isolated`: inside a savepoint of its own; otherwise (the fast path) any
    failure after the first write raises _Isolate, and the caller undoes the chunk and comes back
    isolated. A failure known before any write (the reading failed, too many attempts) needs no
    savepoint around the mail: it goes straight to its fallback."""
    inbound_id = row.id
    if row.raw_removed_at is not None:  # retention emptied it: there is nothing left to read
        from helpdesk.tickets.retention import removed_raw_text

        reason = removed_raw_text(row)
        try:  # settled as ignored, so that it is not retried or counted as failed for ever
            with session.begin_nested():
                settle(inbound_id, token, status="ignored", error=reason)
        except ClaimLost:
            return _not_ours(inbound_id)
        result = IngestResult(inbound_id, row.ticket_id, "removed", reason)
        batch.done(inbound_id, result)
        return result
    try:
        if row.attempts > MAX_ATTEMPTS:
            raise GaveUp(f"已尝试处理 {row.attempts - 1} 次都未完成（处理进程中途退出）")
        if prepared is None:
            raise RuntimeError("邮件未经读取")  # a caller's bug: still a ticket, never a lost mail
        if isinstance(prepared, BaseException):
            raise prepared
        if not isolated:
            try:
                result = _ingest_parsed(row, prepared, token, batch)
            except Exception as exc:
                raise _Isolate(inbound_id) from exc
        else:
            with session.begin_nested():
                result = _ingest_parsed(row, prepared, token, batch)
    except _Isolate:
        raise
    except ClaimLost:
        batch.done(inbound_id, None)
        return _not_ours(inbound_id)
    except Exception as exc:
        batch.done(inbound_id, None)
        if not isinstance(exc, GaveUp):
            log.exception("ingest of inbound mail %s failed", inbound_id)
        result = _fallback(session.get(InboundMail, inbound_id), exc, token)
    batch.done(inbound_id, result)
    return result


def _not_ours(inbound_id: int) -> IngestResult:
    """Someone else ingested or is ingesting this mail."""
    row = session.get(InboundMail, inbound_id)
    if row is not None:
        session.refresh(row)
    if row is not None and row.status == "ingested":
        return IngestResult(inbound_id, row.ticket_id, "duplicate")
    return IngestResult(inbound_id, None, "elsewhere", "另一个进程正在处理这封邮件")


def _ingest_parsed(inbound: InboundMail, prepared: Prepared, token: str, batch: Batch) -> IngestResult:
    mail, letter = prepared.mail, prepared.letter
    inbound_id = inbound.id  # settle() expires the row: reading its id afterwards would reload it
    now = utcnow()
    auto_reasons = filters.is_auto_generated(mail, our_addresses=_our_addresses())
    ticket, named = _find_thread(mail)
    if mail.is_bounce:
        original = filters.bounce_original_message_id(mail)
        bounced = _ticket_for_our_message(original) if original else None
        if bounced is not None:
            ticket, named = bounced, None
    if ticket is not None:
        message = _add_inbound_message(ticket, mail, inbound, prepared.letter_json(), batch)
        # the follow-up's own reading joins the ticket's letter; what an agent set stays
        ticket.fields = current.refreshed_fields(ticket)
        ticket.ocr_pending = ticket.ocr_pending or letter.ocr_pending
        _store_attachments(ticket, message, mail.attachments, inbound)
        lifecycle.record(ticket, "mail_in", detail={"message_id": mail.message_id, "bounce": mail.is_bounce})
        _note_problems(ticket, inbound, prepared, batch)
        if not mail.is_bounce and not auto_reasons:
            _wake(ticket, inbound.internal_date, now)
        ticket.search_text = services.search_text_for(ticket)
        settle(inbound.id, token, status="ingested", ticket_id=ticket.id, processed_at=now, error=None)
        return IngestResult(inbound_id, ticket.id, "threaded")

    ticket = Ticket(
        type=letter.type,
        status=TicketStatus.NEW.value,
        subject=mail.subject or "（无主题）",
        requester_email=mail.sender,
        requester_name=mail.sender_name[:200],
        received_at=inbound.internal_date,
        fields=current.field_values(letter),
        ocr_pending=letter.ocr_pending,
        related_ticket_id=named.id if named is not None else None,
        messages=[],  # a new ticket has none yet: reading them later (search_text_for) needs no query
        events=[],
    )
    session.add(ticket)
    session.flush()
    clock.start(ticket, inbound.internal_date)
    message = _add_inbound_message(ticket, mail, inbound, prepared.letter_json(), batch, flush=False)
    # its words come from the subject, the sender and the letter alone (not the notes, attachments or
    # enterprise added below): set now, the clock's due and these go out in one UPDATE of the ticket
    ticket.search_text = services.search_text_for(ticket)
    session.flush()
    _store_attachments(ticket, message, mail.attachments, inbound)
    lifecycle.record(
        ticket,
        "created",
        new=ticket.type,
        at=now,
        detail={"type_reasons": list(letter.type_reasons), "due_at": ticket.due_at.isoformat()},
    )
    if named is not None:
        _note_stranger(ticket, named, mail.sender, inbound)
    _note_problems(ticket, inbound, prepared, batch)
    link_enterprise(ticket, letter, mail.sender, batch)
    ticket.search_text = services.search_text_for(ticket)
    requester = _requester(mail.sender)
    if auto_reasons:
        lifecycle.record(ticket, "auto_reply_suppressed", at=now, detail={"reasons": auto_reasons})
    elif requester.address is None:
        # not exactly one valid mailbox (a crafted From could fan the reply out to others)
        reason = f"发件人地址无效：{requester.problem}"
        lifecycle.record(ticket, "auto_reply_suppressed", at=now, detail={"reasons": [reason]})
    elif batch.acks.get(requester.address, 0) >= AUTO_REPLIES_PER_SENDER_PER_DAY:
        lifecycle.record(ticket, "auto_reply_suppressed", at=now, detail={"reasons": ["rate limit"]})
    else:
        _acknowledge(ticket, requester.address)
        batch.stage(ack=requester.address)
    settle(inbound.id, token, status="ingested", ticket_id=ticket.id, processed_at=now, error=None)
    return IngestResult(inbound_id, ticket.id, "created")


def _system_note(ticket: Ticket, inbound: InboundMail, text: str) -> Message:
    note = Message(
        ticket=ticket,
        kind=MessageKind.NOTE.value,
        sender="系统",
        body_text=text,
        inbound_mail_id=inbound.id,
        created_at=inbound.internal_date,
    )
    session.add(note)
    session.flush()
    return note


def _note_problems(ticket: Ticket, inbound: InboundMail, prepared: Prepared, batch: Batch) -> None:
    """Say on the ticket what could not be read, and when the mail's Message-ID was not its own."""
    if prepared.unread:
        note = _system_note(
            ticket,
            inbound,
            "这封邮件的附件内容未能在时限内读出（" + prepared.unread + "），说明函字段只取自邮件正文。"
            "附件和原始邮件（original.eml）都已保存，请打开查看。",
        )
        if not any(a.filename == "original.eml" for a in prepared.mail.attachments):
            _attach_original(ticket, note, inbound)
        lifecycle.record(ticket, "attachment_problem", detail={"problem": prepared.unread})
    if inbound.message_id:
        earlier = batch.earlier_with_message_id(inbound)
        if earlier is not None:
            earlier_ticket = earlier[1]
            where = f"（工单 ZXZJ#{earlier_ticket}）" if earlier_ticket else ""
            _system_note(
                ticket,
                inbound,
                f"这封邮件的 Message-ID <{inbound.message_id}> 与之前收到的另一封内容不同的邮件{where}相同，"
                "已作为一封新邮件处理。",
            )
            lifecycle.record(
                ticket,
                "message_id_reused",
                detail={"message_id": inbound.message_id, "ticket": earlier_ticket},
            )


def _note_stranger(ticket: Ticket, named: Ticket, sender: str, inbound: InboundMail) -> None:
    """A reply by headers from someone who does not belong to the ticket it names: linked, not joined."""
    lifecycle.record(ticket, "related", field="related_ticket", new=named.id, detail={"sender": sender})
    lifecycle.record(named, "related", field="related_ticket", new=ticket.id, detail={"sender": sender})
    _system_note(
        ticket,
        inbound,
        f"这封邮件回复的是工单 ZXZJ#{named.id}，但发件人 {sender or '（无）'} 不是该工单的企业联系人，"
        "为免他人写入别的企业的工单，已单独建立本工单并与之关联。",
    )


def _find_thread(mail: ParsedMail) -> tuple[Ticket | None, Ticket | None]:
    """(the ticket this mail joins, the ticket it names but may not join).

    Headers (In-Reply-To/References naming our messages) and a subject tag both only let a mail
    into a ticket when its sender is the requester or belongs to the ticket's enterprise; a
    stranger's mail naming a ticket becomes a new ticket linked to it instead.
    """
    ids = filters.thread_ids(mail)
    found: Ticket | None = None
    if ids:
        ticket_id = session.scalar(select(Message.ticket_id).where(Message.message_id.in_(ids)).limit(1))
        if ticket_id is None:
            ticket_id = session.scalar(
                select(OutboundMail.ticket_id).where(OutboundMail.message_id.in_(ids)).limit(1)
            )
        if ticket_id is not None:
            found = _follow_merges(session.get(Ticket, ticket_id))
            if found is not None and _sender_belongs(found, mail.sender):
                return found, None
    number = filters.subject_tag(mail.subject)
    if number is not None:
        tagged = _follow_merges(session.get(Ticket, number))
        if tagged is not None and _sender_belongs(tagged, mail.sender):
            return tagged, None
        # a tag alone in a stranger's mail is only text (it may be a guess); headers are a real reference
    return None, found


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
        lifecycle.change_status(
            ticket,
            TicketStatus.OPEN,
            by=None,
            at=max(received, clock.paused_since(ticket) or received),
            reason="企业回复",
        )
    elif ticket.status in (TicketStatus.RESOLVED.value, TicketStatus.REJECTED.value):
        lifecycle.change_status(
            ticket, TicketStatus.OPEN, by=None, at=received, reason="企业回复，工单重新打开"
        )


def _add_inbound_message(
    ticket: Ticket,
    mail: ParsedMail,
    inbound: InboundMail,
    letter: dict[str, Any],
    batch: Batch,
    *,
    flush: bool = True,
) -> Message:
    # a Message-ID already on a message (a resent mail, a reused ID) is kept only in the raw mail
    message_id = mail.message_id[:500] if mail.message_id[:500] not in batch.used_message_ids else None
    batch.stage(message_id=message_id)
    message = Message(
        ticket=ticket,
        kind=MessageKind.INBOUND.value,
        message_id=message_id,
        in_reply_to=mail.in_reply_to,
        sender=mail.sender,
        recipients=", ".join(mail.to + mail.cc)[:2000],
        subject=mail.subject,
        body_text=mail.text,
        body_html=mail.html,
        inbound_mail_id=inbound.id,
        created_at=inbound.internal_date,
        letter=letter,  #: this mail's own reading (letters.current merges a ticket's readings)
    )
    if mail.defects:  # first, so that a long body's preview still shows them
        message.body_text = "【解析提示】" + "；".join(mail.defects) + "\n\n" + mail.text
    session.add(message)
    if flush:
        session.flush()
    return message


def _store_attachments(
    ticket: Ticket, message: Message, attachments: tuple[MailAttachment, ...], inbound: InboundMail
) -> None:
    directory = Path(_settings().attachments_dir)
    if len(attachments) > MAX_ATTACHMENTS:
        note = _system_note(
            ticket,
            inbound,
            f"这封邮件带有 {len(attachments)} 个附件，超过每封 {MAX_ATTACHMENTS} 个的上限：只单独保存了前 "
            f"{MAX_ATTACHMENTS} 个，其余都在原始邮件 original.eml 中。",
        )
        if not any(a.filename == "original.eml" for a in attachments[:MAX_ATTACHMENTS]):
            _attach_original(ticket, note, inbound)
        lifecycle.record(
            ticket, "attachment_problem", detail={"problem": f"附件过多（{len(attachments)} 个）"}
        )
        attachments = attachments[:MAX_ATTACHMENTS]
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
            lifecycle.record(
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


def _evidence(letter: Letter, sender: str) -> lookup.Evidence:
    """What a letter and its sender say about the enterprise, as `lookup.candidates` takes it."""
    return (
        tuple(str(v) for v in letter.values("uscc")),
        tuple(str(v) for v in letter.values("org_code")),
        tuple(str(v) for v in (letter.values("account_names") or [])),
        tuple(str(v) for v in letter.values("company_name")),
        sender,
    )


def link_enterprise(ticket: Ticket, letter: Letter, sender: str, batch: Batch | None = None) -> None:
    evidence = _evidence(letter, sender)
    found = batch.enterprises.get(evidence) if batch is not None else None
    if found is None:
        usccs, org_codes, accounts, names, _ = evidence
        found = lookup.candidates(
            usccs=usccs, org_codes=org_codes, accounts=accounts, names=names, sender=sender
        )
        if batch is not None:
            batch.enterprises[evidence] = found
    if len(found) == 1:
        ticket.enterprise_id = found[0].id
        lifecycle.record(
            ticket, "enterprise_linked", field="enterprise", new=found[0].id, detail={"auto": True}
        )
        if batch is not None:
            batch.stage(linked=sender)
    elif found:
        lifecycle.record(ticket, "enterprise_candidates", detail={"ids": [e.id for e in found][:10]})


def _acknowledge(ticket: Ticket, address: str) -> None:
    due = ticket.due_at.astimezone(_settings().timezone) if ticket.due_at else None
    due_text = f"{due:%Y年%m月%d日 %H:%M}" if due else "2 个工作日内"
    body = (
        f"您好：\n\n我们已收到您的邮件“{ticket.subject}”，工单号 {ticket.number}（类型：{ticket.type_label}）。\n"
        f"按照承诺，工作人员将在 2 个工作日内处理，预计最迟于 {due_text} 前答复。\n\n"
        "如需补充材料，请直接回复本邮件，并保留标题中的工单号，以便自动归入同一工单。\n"
        "咨询电话：010-67800213、010-67801941（变更说明处理）；400 886 3200（技术咨询）。\n\n"
        "本邮件为系统自动回复。\n外贸发展专项资金（中小）网络管理应用项目组"
    )
    lifecycle.queue_reply(ticket, body, by=None, kind="ack", to=address, subject=f"已收到：{ticket.subject}")


def _attach_original(ticket: Ticket, message: Message, inbound: InboundMail) -> None:
    digest, name = store.save(Path(_settings().attachments_dir), inbound.raw)
    session.add(
        Attachment(
            ticket=ticket,
            message_id=message.id,
            sha256=digest,
            stored_name=name,
            original_name="original.eml",
            content_type="message/rfc822",
            size=len(inbound.raw),
        )
    )


_HEADER_BLOCK_LIMIT = 256 * 1024


def _headers_only(raw: bytes) -> tuple[str, str]:
    """(sender, subject) from the header block alone, for a mail the full parse could not handle."""
    import email.header
    import email.parser
    import email.policy
    from email.utils import parseaddr

    head, _ = identity.split_head(raw[:_HEADER_BLOCK_LIMIT])
    try:
        msg = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(head + b"\n\n")
        subject = str(email.header.make_header(email.header.decode_header(str(msg.get("Subject", "")))))
        sender = parseaddr(str(msg.get("From") or msg.get("Reply-To") or msg.get("Sender") or ""))[1]
    except Exception:  # headers too broken even for this: the .eml on the ticket says the rest
        return "", ""
    clean = " ".join(subject.split())
    return (sender.lower() if "@" in sender else ""), clean


def _fallback(inbound: InboundMail | None, exc: BaseException, token: str) -> IngestResult:
    """The pipeline failed: keep the raw mail as an inquiry ticket with the .eml attached and the reason.

    In the caller's transaction, inside a savepoint of its own (the caller commits)."""
    if inbound is None:
        return IngestResult(0, None, "failed", repr(exc))
    inbound_id = inbound.id
    reason = f"{type(exc).__name__}: {exc}"[:1500]
    try:
        with session.begin_nested():
            result = _fallback_ticket(inbound, reason)
            settle(
                inbound_id,
                token,
                status="ingested",
                ticket_id=result.ticket_id,
                processed_at=utcnow(),
                error=reason,
            )
        return result
    except ClaimLost:
        return _not_ours(inbound_id)
    except Exception as second:
        log.exception("fallback ticket for inbound mail %s failed", inbound_id)
        try:
            with session.begin_nested():
                settle(inbound_id, token, status="failed", error=f"{reason}; fallback: {second!r}"[:2000])
        except ClaimLost:
            pass
        return IngestResult(inbound_id, None, "failed", reason)


def _fallback_ticket(inbound: InboundMail, reason: str) -> IngestResult:
    """The inquiry ticket of a mail the pipeline could not handle, from its headers and raw bytes."""
    sender, subject = _headers_only(inbound.raw)
    ticket = Ticket(
        type="inquiry",
        status=TicketStatus.NEW.value,
        subject=subject or "（无法解析的邮件）",
        requester_email=sender,
        received_at=inbound.internal_date,
        fields={},
        messages=[],
        events=[],
    )
    session.add(ticket)
    session.flush()
    clock.start(ticket, inbound.internal_date)
    note = _system_note(
        ticket,
        inbound,
        f"这封邮件无法自动解析，原始邮件已作为附件 original.eml 保存。\n原因：{reason}",
    )
    _attach_original(ticket, note, inbound)
    lifecycle.record(ticket, "created", new="inquiry", detail={"fallback": True, "error": reason})
    ticket.search_text = services.search_text_for(ticket)
    return IngestResult(inbound.id, ticket.id, "failed", reason)


#: the retry path claims and reads this many stored mails at a time (the sandbox reads them in parallel)
PENDING_CHUNK = 8


def ingest_pending(
    limit: int = 500,
    *,
    deadline: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[IngestResult]:
    """Ingest stored mail that has no ticket yet (new, or failed earlier), oldest first.

    Safe beside the poll and other workers: each chunk is claimed first, and a mail another path
    holds is left to it.
    """
    stale = utcnow() - claim_ttl()
    ids = session.scalars(
        select(InboundMail.id)
        .where(
            InboundMail.status.in_(("stored", "failed")),
            or_(InboundMail.claimed_at.is_(None), InboundMail.claimed_at < stale),
        )
        .order_by(InboundMail.id)
        .limit(limit)
    ).all()
    session.commit()
    return ingest_many(ids, deadline=deadline, progress=progress)


def _chunks(candidates: Sequence[int]) -> list[Sequence[int]]:
    """The candidates in chunks of PENDING_CHUNK, the first ones smaller (2, 4, ...): the workers start
    sooner and the first tickets are committed after two mails, not a whole chunk."""
    chunks, start, size = [], 0, min(2, PENDING_CHUNK)
    while start < len(candidates):
        chunks.append(candidates[start : start + size])
        start, size = start + size, min(size * 2, PENDING_CHUNK)
    return chunks


def ingest_many(
    candidates: Sequence[int],
    *,
    deadline: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[IngestResult]:
    """Claim and ingest the stored mails chunk by chunk, reading the next chunk in the sandbox while
    this one is written to the database, so that the workers and the database both stay busy.

    Each chunk is claimed just before it is read: another path (the retry job, a second worker) can
    still take the chunks after it. A claimed chunk is always ingested, even past the deadline.
    """
    box = intake_sandbox()
    budget = float(_settings()["HELPDESK_PARSE_SECONDS"])
    limit = max_attachment_bytes()
    chunks = _chunks(candidates)
    results: list[IngestResult] = []
    done = 0
    with ThreadPoolExecutor(1, thread_name_prefix="read-ahead") as reader:
        ahead: tuple[int, str, list[InboundMail], Future[list[Any]]] | None = None
        for chunk in [*chunks, None]:
            claimed = None
            if chunk is not None and not (deadline is not None and time.monotonic() > deadline):
                token, won = claim(chunk)
                rows = [row for row in (session.get(InboundMail, i) for i in won) if row is not None]
                readable = _raws([row.id for row in rows if row.attempts <= MAX_ATTEMPTS])
                session.commit()  # hold no transaction (on SQLite: no write lock) while the sandbox reads
                claimed = (len(chunk), token, rows, reader.submit(read_all, box, readable, budget, limit))
            if ahead is not None:
                size, token, rows, reading = ahead
                ready = iter(reading.result())
                items = [(row, next(ready) if row.attempts <= MAX_ATTEMPTS else None) for row in rows]
                results.extend(ingest_chunk(items, token))
                done += size
                if progress is not None:
                    progress(done, len(candidates))
            ahead = claimed
    return results


def _raws(inbound_ids: Sequence[int]) -> list[bytes]:
    """The raw bytes of these stored mails in this order, in one query (not one per `InboundMail.raw`)."""
    if not inbound_ids:
        return []
    query = select(InboundMailRaw.inbound_mail_id, InboundMailRaw.raw).where(
        InboundMailRaw.inbound_mail_id.in_(list(inbound_ids))
    )
    found: dict[int, bytes] = dict(session.execute(query).tuples().all())
    return [found.get(i, b"") for i in inbound_ids]


def import_eml(raw: bytes, *, received_at: datetime | None = None) -> IngestResult:
    """Feed a saved .eml through the same pipeline (source 'eml'). Commits."""
    inbound, created = store_raw(raw, internal_date=received_at or utcnow(), source="eml")
    if not created and inbound.status == "ingested":
        return IngestResult(inbound.id, inbound.ticket_id, "duplicate")
    return ingest(inbound)
