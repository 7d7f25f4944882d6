"""Notifications, and the user's API token."""

from __future__ import annotations

from typing import Any

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from helpdesk.auth import services as auth_services
from helpdesk.db import session
from helpdesk.params import parse_id
from helpdesk.tickets import notify, queries, services
from helpdesk.tickets.models import Ticket
from helpdesk.tickets.views.common import bp, is_local_path

# ------------------------------------------------------------------------------------ notifications


@bp.get("/notifications")
def notifications() -> Any:
    rows = queries.notifications(current_user)
    tickets = (
        {
            t.id: t
            for t in session.scalars(
                select(Ticket).where(Ticket.id.in_({n.ticket_id for n in rows if n.ticket_id}))
            )
        }
        if rows
        else {}
    )
    return render_template(
        "tickets/notifications.html",
        rows=rows,
        tickets=tickets,
        unread=sum(1 for n in rows if n.read_at is None),
        kind_labels=notify.KIND_LABELS,
    )


@bp.get("/notifications/count")
def notification_count() -> Any:
    return jsonify(unread=queries.unread_count(current_user))


@bp.post("/notifications/read")
def notifications_read() -> Any:
    ids = [i for i in map(parse_id, request.form.getlist("ids")) if i is not None]
    count = services.mark_notifications_read(current_user, ids or None)
    target = request.form.get("next", "")
    if target.startswith("/tickets/") and is_local_path(target):
        return redirect(target)
    flash(f"已将 {count} 条通知标为已读。", "success")
    return redirect(url_for("tickets.notifications"))


# ------------------------------------------------------------------------------------ API token


@bp.route("/account/api-token", methods=["GET", "POST"])
def api_token() -> Any:
    token = None
    if request.method == "POST":  # CSRF-checked by the app-wide CSRFProtect
        token = auth_services.issue_api_token(current_user)
    return render_template("tickets/api_token.html", token=token, has_token=bool(current_user.api_token_hash))
