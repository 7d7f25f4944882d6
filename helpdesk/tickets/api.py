"""JSON API for integrations: `Authorization: Bearer <token>` per user (no cookies, no CSRF).

    GET  /api/v1/me                      who the token belongs to
    GET  /api/v1/tickets                 the queue, same filters as the web queue; `after` pages on
    GET  /api/v1/tickets/<id>            one ticket: fields, letter evidence, findings, SLA, messages
    POST /api/v1/tickets/<id>/notes      {"body": "..."}                       -> 201
    POST /api/v1/tickets/<id>/status     {"status": "...", "version": 3}       -> 200 / 409

Documented with curl examples in docs/api.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, abort, current_app, g, jsonify, request, url_for

from helpdesk.auth import services as auth_services
from helpdesk.auth.models import User
from helpdesk.db import session
from helpdesk.letters.current import current_letter
from helpdesk.tickets import queries, services
from helpdesk.tickets.models import STATUS_LABELS, Ticket, TicketStatus

bp = Blueprint("api", __name__, url_prefix="/api/v1")
MAX_LIMIT = 100


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _error(status: int, error: str, message: str, **extra: Any) -> Any:
    response = jsonify(error=error, message=message, **extra)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="helpdesk"'
    return response


@bp.before_request
def _authenticate() -> Any:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    user = auth_services.user_for_token(token.strip()) if scheme.lower() == "bearer" else None
    if user is None:
        return _error(
            401, "unauthorized", "缺少或无效的 API 令牌：请在请求头中使用 Authorization: Bearer <令牌>。"
        )
    g.api_user = user
    return None


def _user() -> User:
    return g.api_user


def _clock() -> queries.Clock:
    return queries.new_clock(current_app.config["HELPDESK"].timezone)


def _sla(ticket: Ticket, ck: queries.Clock) -> dict[str, Any]:
    return {
        "state": ck.state(ticket),
        "business_minutes_left": ck.minutes_left(ticket),
        "paused": ck.state(ticket) == "paused",
        "due_at": _iso(ticket.due_at),
        "warn_at": _iso(ticket.warn_at),
        "breached_at": _iso(ticket.clock.breached_at if ticket.clock else None),
        "clock_no": ticket.sla_clock_no,
    }


def summary(ticket: Ticket, ck: queries.Clock, users: dict[int, User]) -> dict[str, Any]:
    """The list shape of a ticket."""
    assignee = users.get(ticket.assignee_id) if ticket.assignee_id else None
    return {
        "id": ticket.id,
        "number": ticket.number,
        "type": ticket.type,
        "type_label": ticket.type_label,
        "status": ticket.status,
        "status_label": ticket.status_label,
        "subject": ticket.subject,
        "requester_email": ticket.requester_email,
        "requester_name": ticket.requester_name,
        "enterprise_id": ticket.enterprise_id,
        "assignee": {"id": assignee.id, "name": assignee.name} if assignee else None,
        "received_at": _iso(ticket.received_at),
        "updated_at": _iso(ticket.updated_at),
        "version": ticket.version,
        "sla": _sla(ticket, ck),
        "url": url_for("tickets.detail", ticket_id=ticket.id, _external=True),
    }


def detail(ticket: Ticket, ck: queries.Clock) -> dict[str, Any]:
    """The full shape: summary plus fields, letter (with evidence), findings, messages, attachments."""
    users = queries.users_by_id({ticket.assignee_id} | {m.author_id for m in ticket.messages})
    read = current_letter(ticket).read
    shown = read.to_dict() if read is not None else {}
    out = summary(ticket, ck, users)
    out["sla"]["explanation"] = ticket.clock.explanation if ticket.clock else ""
    out.update(
        {
            "fields": ticket.fields or {},
            "letter": {key: shown[key] for key in ("type", "type_reasons", "fields", "sources")}
            if shown
            else None,
            "findings": shown.get("findings", []),
            "merged_into": ticket.merged_into_id,
            "messages": [
                {
                    "id": m.id,
                    "kind": m.kind,
                    "sender": m.sender,
                    "recipients": m.recipients,
                    "subject": m.subject,
                    "created_at": _iso(m.created_at),
                    "body_text": m.body_text,
                    "author": users[m.author_id].name if m.author_id in users else None,
                }
                for m in ticket.messages
            ],
            "attachments": [
                {
                    "id": a.id,
                    "name": a.original_name,
                    "content_type": a.content_type,
                    "size": a.size,
                    "problem": a.problem,
                }
                for a in ticket.attachments
            ],
        }
    )
    return out


def _ticket(ticket_id: int) -> Ticket:
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        abort(404)
    return ticket


def _payload() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if isinstance(data, dict):
        return data
    return request.form.to_dict()


@bp.get("/me")
def me() -> Any:
    user = _user()
    return jsonify(
        id=user.id,
        username=user.username,
        name=user.name,
        role=user.role,
        ticket_types=services.handled_types(user),
    )


@bp.get("/tickets")
def list_tickets() -> Any:
    query = queries.QueueQuery.from_args(request.args)
    limit = max(1, min(MAX_LIMIT, request.args.get("limit", default=queries.PAGE_SIZE, type=int) or 1))
    ck = _clock()
    page = queries.queue_page(query, _user(), ck, limit=limit)
    users = queries.users_by_id({t.assignee_id for t in page.tickets})
    return jsonify(
        tickets=[summary(t, ck, users) for t in page.tickets],
        next_cursor=page.next_cursor,
        problems=list(query.problems),
    )


@bp.get("/tickets/<int:ticket_id>")
def get_ticket(ticket_id: int) -> Any:
    return jsonify(detail(_ticket(ticket_id), _clock()))


@bp.post("/tickets/<int:ticket_id>/notes")
def add_note(ticket_id: int) -> Any:
    ticket = _ticket(ticket_id)
    body = str(_payload().get("body") or "")
    try:
        note = services.add_note(ticket, body, by=_user())
    except services.TicketError as exc:
        return _error(400, "invalid", str(exc))
    response = jsonify(id=note.id, kind=note.kind, body_text=note.body_text, created_at=_iso(note.created_at))
    response.status_code = 201
    return response


@bp.post("/tickets/<int:ticket_id>/status")
def set_status(ticket_id: int) -> Any:
    ticket = _ticket(ticket_id)
    data = _payload()
    raw = str(data.get("status") or "")
    if raw not in STATUS_LABELS or raw == TicketStatus.MERGED.value:
        allowed = ", ".join(s for s in STATUS_LABELS if s != "merged")
        return _error(400, "invalid", f"未知或不允许的状态“{raw}”；可用：{allowed}。")
    version = data.get("version")
    if version is not None and not str(version).isdigit():
        return _error(400, "invalid", "version 必须是整数。")
    try:
        services.set_status(
            ticket,
            TicketStatus(raw),
            by=_user(),
            reason=str(data.get("reason") or ""),
            expected_version=int(version) if version is not None else None,
        )
    except services.Conflict as exc:  # the service rolled back: report the version now saved
        fresh = session.get(Ticket, ticket_id)
        if fresh is not None:
            session.refresh(fresh)
        return _error(409, "conflict", str(exc), version=fresh.version if fresh else None)
    except services.TicketError as exc:
        return _error(400, "invalid", str(exc))
    return jsonify(detail(ticket, _clock()))
