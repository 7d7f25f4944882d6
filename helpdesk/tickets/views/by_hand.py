"""Open a ticket for a phone call or a visit (tickets/by_hand.py does the work)."""

from __future__ import annotations

import uuid
from typing import Any

from flask import flash, redirect, render_template, url_for
from flask_login import current_user

from helpdesk.auth.models import Role
from helpdesk.db import Refused
from helpdesk.tickets import by_hand, forms
from helpdesk.tickets.views.common import bp, flash_form_errors
from helpdesk.web import requires


@bp.route("/tickets/new", methods=["GET", "POST"])
@requires(Role.AGENT)
def new_ticket() -> Any:
    form = forms.ByHandForm()
    if not form.is_submitted():
        form.client_key.data = uuid.uuid4().hex
        return render_template("tickets/new.html", form=form)
    if not form.validate():
        flash_form_errors(form)
        return render_template("tickets/new.html", form=form), 400
    request = by_hand.ByHand(
        channel=form.channel.data or "",
        type=form.type.data or "",
        enterprise=form.enterprise.data or "",
        contact=form.contact.data or "",
        note=form.note.data or "",
        email=form.email.data or "",
        acknowledge=bool(form.acknowledge.data),
        client_key=(form.client_key.data or "")[:40],
    )
    try:
        ticket = by_hand.open_ticket(request, by=current_user)
    except Refused as exc:
        flash(str(exc), "error")
        return render_template("tickets/new.html", form=form), 400
    flash(f"已登记 {ticket.number}，计时从现在开始。", "success")
    return redirect(url_for("tickets.detail", ticket_id=ticket.id))
