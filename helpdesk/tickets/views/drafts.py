"""The reply box's server side: drafts saved as the agent types, and what the box shows.

The box is a partial (tickets/_reply_box.html) that takes its data from `reply_box()`, a template
global, so the ticket page's view does not need to know about drafts, personal canned replies or
the letter templates; the presence fragment uses `replying_now()` for "某某 正在回复".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app, jsonify, request
from flask_login import current_user

from helpdesk.db import utcnow
from helpdesk.tickets import drafts, macros, queries, reply_files
from helpdesk.tickets.models import Ticket
from helpdesk.tickets.views.common import bp, ticket_or_404


@bp.post("/tickets/<int:ticket_id>/draft")
def save_draft(ticket_id: int) -> Any:
    """Keep what the agent has typed (JSON {"body"} or a form field; CSRF token in X-CSRFToken)."""
    ticket = ticket_or_404(ticket_id)
    data = request.get_json(silent=True) if request.is_json else None
    values = data if isinstance(data, dict) else request.form
    body = str(values.get("body", ""))
    if len(body) > drafts.MAX_DRAFT_CHARS:
        return jsonify(saved=False, error=f"草稿超过 {drafts.MAX_DRAFT_CHARS} 字，未保存。"), 413
    try:
        row = drafts.save(ticket.id, current_user, body, since=_instant(values.get("since")))
    except drafts.AlreadySent:
        return jsonify(saved=False, error="这段文字所在的回复已经发出，草稿不再保存。请重新加载页面。"), 409
    return jsonify(saved=True, empty=row is None, at=row.updated_at.isoformat() if row else None)


def _instant(raw: Any) -> datetime | None:
    """An aware ISO 8601 time sent back by the page (when it was opened); anything else: None."""
    try:
        value = datetime.fromisoformat(str(raw))
    except (TypeError, ValueError):
        return None
    return value if value.tzinfo is not None else None


def _reply_box(ticket: Ticket, values: dict[str, str] | None = None) -> dict[str, Any]:
    values = values or macros.placeholder_values(ticket, tz=current_app.config["HELPDESK"].timezone)
    rows = [
        {"m": m, "body": macros.render(m.body, values), "personal": m.owner_id is not None}
        for m in queries.macros(current_user)
    ]
    draft = drafts.draft_for(ticket.id, current_user.id)
    settings = current_app.config["HELPDESK"]
    return {
        "shared": [r for r in rows if not r["personal"]],
        "personal": [r for r in rows if r["personal"]],
        "draft": draft,
        "templates": reply_files.TEMPLATE_FILES,
        "max_files": int(settings["HELPDESK_REPLY_MAX_FILES"]),
        "max_mb": int(settings["HELPDESK_REPLY_MAX_MB"]),
        "opened_at": utcnow().isoformat(),  # sent back with each draft save (drafts.save's `since`)
    }


def _replying_now(ticket_id: int) -> list[str]:
    return drafts.replying(ticket_id, exclude=current_user.id if current_user.is_authenticated else None)


@bp.app_context_processor
def _reply_box_globals() -> dict[str, Any]:
    return {"reply_box": _reply_box, "replying_now": _replying_now}
