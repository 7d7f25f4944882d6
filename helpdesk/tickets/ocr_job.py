"""The OCR job: re-read letters that wait for OCR, off the request path, in the OCR sandbox."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from helpdesk.db import session
from helpdesk.letters import Letter, current
from helpdesk.mail.models import InboundMail
from helpdesk.sla import clock
from helpdesk.tickets import lifecycle, services
from helpdesk.tickets.intake import link_enterprise
from helpdesk.tickets.models import Message, MessageKind, Ticket
from helpdesk.tickets.reading import max_attachment_bytes, ocr_sandbox, ocr_threads, read_with_ocr


def _waiting_for_ocr(ticket: Ticket) -> list[Message]:
    """The ticket's inbound messages whose reading still waits for OCR, oldest first.

    A reading stored before readings lived on messages (or without the flag) falls back to the first
    inbound message: the ticket says OCR is pending, so that is the mail to read again.
    """
    inbound = [
        m for m in ticket.messages if m.inbound_mail_id is not None and m.kind == MessageKind.INBOUND.value
    ]
    waiting = [m for m in inbound if current.waits_for_ocr(m)]
    return waiting or inbound[:1]


@dataclass(frozen=True)
class _Job:
    ticket_id: int
    message_id: int
    more_waiting: bool  #: another inbound message of the ticket waits for OCR too
    raw: bytes


def _claim(limit: int) -> list[_Job]:
    """The next tickets waiting for OCR, as jobs; tickets with nothing left to read are cleared
    here (committed), so they do not come back."""
    jobs: list[_Job] = []
    for ticket in session.scalars(
        select(Ticket).where(Ticket.ocr_pending.is_(True)).order_by(Ticket.id).limit(limit)
    ).all():
        waiting = _waiting_for_ocr(ticket)
        first = session.get(InboundMail, waiting[0].inbound_mail_id) if waiting else None
        if first is None:
            ticket.ocr_pending = False
            session.commit()
            continue
        if first.raw_removed_at is not None:  # retention emptied the mail: there is nothing to read
            ticket.ocr_pending = False
            lifecycle.record(ticket, "ocr_failed", detail={"error": "原始邮件已按个人信息保留期限删除"})
            session.commit()
            continue
        jobs.append(_Job(ticket.id, waiting[0].id, len(waiting) > 1, first.raw))
    session.commit()  # no transaction stays open while the engines work
    return jobs


def run_ocr_pending(limit: int = 5, budget_s: float = 60.0) -> int:
    """Re-read letters that need OCR (off the request path) and update that message's reading. Commits per ticket.

    One message per ticket and pass (the oldest whose reading waits for OCR); the ticket stays pending
    while another of its messages waits. Up to ``limit`` letters are read at once, spread over the
    OCR sandbox's workers (one warm engine each, cores / workers threads each: two workers read two
    scans at once on two cores). Each reading runs in a sandbox process: a scan that keeps the
    engine busy past the budget (and a grace for the engine to load) is given up with a note, so it
    cannot hold the OCR job.
    """
    jobs = _claim(limit)
    if not jobs:
        return 0
    box = ocr_sandbox()
    threads = ocr_threads(box.size)  # the sandbox's own size, whatever the setting says now
    calls = [(job.raw, max_attachment_bytes(), budget_s, threads) for job in jobs]
    letters = box.run(read_with_ocr, calls, budget_s + 60)
    done = 0
    for job, letter in zip(jobs, letters, strict=True):
        done += _store(job, letter)
    return done


def _store(job: _Job, letter: Letter | BaseException) -> int:
    """Put one reading on its message and ticket, in a transaction of its own; 1 when stored."""
    ticket = session.get(Ticket, job.ticket_id)
    message = session.get(Message, job.message_id)
    if ticket is None or not ticket.ocr_pending or message is None or message.ticket_id != ticket.id:
        session.rollback()
        return 0
    ticket.ocr_pending = job.more_waiting
    if isinstance(letter, BaseException):
        lifecycle.record(ticket, "ocr_failed", detail={"error": f"{type(letter).__name__}: {letter}"[:500]})
        session.commit()
        return 0
    message.letter = letter.to_dict()
    ticket.fields = current.refreshed_fields(ticket)
    if ticket.type == "inquiry" and letter.type != "inquiry":
        lifecycle.record(ticket, "type", field="type", old=ticket.type, new=letter.type, detail={"ocr": True})
        ticket.type = letter.type
        clock.recompute(ticket)
    if ticket.enterprise_id is None:
        link_enterprise(ticket, letter, ticket.requester_email)
    ticket.search_text = services.search_text_for(ticket)
    lifecycle.record(ticket, "ocr_done", detail={"seconds": letter.timings.get("total")})
    session.commit()
    return 1
