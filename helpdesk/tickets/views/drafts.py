"""The reply box's server side: drafts saved as the agent types, and what the box shows.

The box is a partial (tickets/_reply_box.html) that takes its data from `reply_box()`, a template
global, so the ticket page's view does not need to know about drafts, personal canned replies or
the letter templates; the presence fragment uses `replying_now()` for "某某 正在回复".
"""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, request
from flask_login import current_user

from helpdesk.tickets import drafts, macros, queries, reply_files
from helpdesk.tickets.models import Ticket
from helpdesk.tickets.views.common import bp, ticket_or_404


@bp.post("/tickets/<int:ticket_id>/draft")
def save_draft(ticket_id: int) -> Any:
    """Keep what the agent has typed (JSON {"body"} or a form field; CSRF token in X-CSRFToken)."""
    ticket = ticket_or_404(ticket_id)
    data = request.get_json(silent=True) if request.is_json else None
    body = str((data or {}).get("body", "")) if data is not None else request.form.get("body", "")
    if len(body) > drafts.MAX_DRAFT_CHARS:
        return jsonify(saved=False, error=f"草稿超过 {drafts.MAX_DRAFT_CHARS} 字，未保存。"), 413
    row = drafts.save(ticket.id, current_user, body)
    return jsonify(saved=True, empty=row is None, at=row.updated_at.isoformat() if row else None)


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
    }


def _replying_now(ticket_id: int) -> list[str]:
    return drafts.replying(ticket_id, exclude=current_user.id if current_user.is_authenticated else None)


@bp.app_context_processor
def _reply_box_globals() -> dict[str, Any]:
    return {"reply_box": _reply_box, "replying_now": _replying_now}
