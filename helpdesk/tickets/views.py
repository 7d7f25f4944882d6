"""Agent workspace: the queue and the ticket page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template
from sqlalchemy import select

from helpdesk.db import session
from helpdesk.tickets.models import Ticket

bp = Blueprint("tickets", __name__)


@bp.get("/")
def queue() -> Any:
    tickets = session.scalars(select(Ticket).order_by(Ticket.due_at.is_(None), Ticket.due_at, Ticket.id).limit(50)).all()
    return render_template("tickets/queue.html", tickets=tickets)


@bp.get("/tickets/<int:ticket_id>")
def detail(ticket_id: int) -> Any:
    ticket = session.get(Ticket, ticket_id) or abort(404)
    return render_template("tickets/detail.html", ticket=ticket)
