"""The OCR job: re-read letters that wait for OCR, off the request path, in the OCR sandbox."""

from __future__ import annotations

from sqlalchemy import select

from helpdesk.db import session
from helpdesk.letters import current
from helpdesk.mail.models import InboundMail
from helpdesk.sla import clock
from helpdesk.tickets import lifecycle, services
from helpdesk.tickets.intake import link_enterprise
from helpdesk.tickets.models import Message, MessageKind, Ticket
from helpdesk.tickets.reading import max_attachment_bytes, ocr_sandbox, read_with_ocr


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


def run_ocr_pending(limit: int = 5, budget_s: float = 60.0) -> int:
    """Re-read letters that need OCR (off the request path) and update that message's reading. Commits per ticket.

    One message per ticket and pass (the oldest whose reading waits for OCR); the ticket stays pending
    while another of its messages waits. The reading runs in a sandbox process: a scan that keeps
    the engine busy past the budget (and a grace for the engine to load) is given up with a note, so
    it cannot hold the OCR job.
    """
    done = 0
    for ticket in session.scalars(
        select(Ticket).where(Ticket.ocr_pending.is_(True)).order_by(Ticket.id).limit(limit)
    ).all():
        waiting = _waiting_for_ocr(ticket)
        first = session.get(InboundMail, waiting[0].inbound_mail_id) if waiting else None
        if first is None:
            ticket.ocr_pending = False
            session.commit()
            continue
        message_id, raw = waiting[0].id, first.raw
        session.commit()  # no transaction stays open while the engine works
        [letter] = ocr_sandbox().run(read_with_ocr, [(raw, max_attachment_bytes(), budget_s)], budget_s + 60)
        ticket = session.get(Ticket, ticket.id)
        message = session.get(Message, message_id)
        if ticket is None or not ticket.ocr_pending or message is None or message.ticket_id != ticket.id:
            session.rollback()
            continue
        ticket.ocr_pending = len(waiting) > 1
        if isinstance(letter, BaseException):
            lifecycle.record(
                ticket, "ocr_failed", detail={"error": f"{type(letter).__name__}: {letter}"[:500]}
            )
            session.commit()
            continue
        message.letter = letter.to_dict()
        ticket.fields = current.refreshed_fields(ticket)
        if ticket.type == "inquiry" and letter.type != "inquiry":
            lifecycle.record(
                ticket, "type", field="type", old=ticket.type, new=letter.type, detail={"ocr": True}
            )
            ticket.type = letter.type
            clock.recompute(ticket)
        if ticket.enterprise_id is None:
            link_enterprise(ticket, letter, ticket.requester_email)
        ticket.search_text = services.search_text_for(ticket)
        lifecycle.record(ticket, "ocr_done", detail={"seconds": letter.timings.get("total")})
        session.commit()
        done += 1
    return done
