"""The ticket page: the letter pane beside its fields, checks and records; conversation, timeline and the
rest in tabs; presence."""

from __future__ import annotations

from typing import Any

from flask import current_app, render_template, request, url_for
from flask_login import current_user
from jinja2 import TemplateNotFound
from sqlalchemy import select

from helpdesk.auth.models import Role, User
from helpdesk.db import session, utcnow
from helpdesk.letters import Field
from helpdesk.letters.current import current_letter
from helpdesk.mail.html import MAIL_DOC_HEAD
from helpdesk.params import parse_id, parse_int
from helpdesk.tickets import forms, macros, previews, queries, services
from helpdesk.tickets.models import (
    OPEN_STATUSES,
    STATUS_LABELS,
    TYPE_LABELS,
    MessageKind,
    Ticket,
    TicketEvent,
)
from helpdesk.tickets.timeline import describe_event
from helpdesk.tickets.views.attachments import INLINE_TYPES, TYPE_NAMES, download_name
from helpdesk.tickets.views.common import (
    SLA_LABELS,
    bp,
    enterprise_names,
    local_tz,
    page_clock,
    ticket_or_404,
)
from helpdesk.vocabulary import FIELD_LABELS

EVIDENCE_SOURCES = {"body": "邮件正文", "subject": "邮件主题", "filename": "附件文件名"}

FINDING_LABELS = {"pass": "通过", "fail": "不通过", "unknown": "待核实"}

#: characters of a message's text shown on the ticket page; the whole text is one link away
BODY_PREVIEW_CHARS = 200_000


def mail_document(html: str) -> str:
    """A whole document for a sandboxed iframe's srcdoc (the attribute is escaped by Jinja).

    `html` is a stored body, sanitised once at ingest (mail.html.sanitize_html; migration
    c4e1a7d29b53 re-cleaned older rows): nothing is sanitised per page view, a 2 MB body costs only its
    escaping. The iframe's sandbox (no allow-scripts) and the page's CSP still stand behind it.
    """
    return MAIL_DOC_HEAD + html + "</body></html>"


# ------------------------------------------------------------------------------------ ticket page


def _field_rows(ticket: Ticket) -> list[dict[str, Any]]:
    letter = current_letter(ticket)
    extracted: dict[str, list[Field]] = {}
    for f in letter.read.fields if letter.read else ():
        extracted.setdefault(f.name, []).append(f)
    current = letter.values
    names = list(forms.FIELDS_BY_TYPE.get(ticket.type, ()))
    names += [n for n in FIELD_LABELS if n not in names and (n in current or n in extracted)]
    rows = []
    for name in names:
        found = extracted.get(name, [])
        value = current.get(name)
        rows.append(
            {
                "name": name,
                "label": FIELD_LABELS.get(name, name),
                "value": value,
                "text": forms.format_field(value),
                "evidence": [_evidence(f) for f in found],
                "edited": letter.is_corrected(name),
                "kind": "list" if name in forms.LIST_FIELDS else name,
            }
        )
    return rows


def _evidence(f: Field) -> dict[str, Any]:
    source = f.evidence.source
    if source.startswith("attachment:"):
        where = "附件 " + source.split(":", 1)[1]
    else:
        where = EVIDENCE_SOURCES.get(source, source)
    if f.evidence.page:
        where += f" 第 {f.evidence.page} 页"
    return {
        "where": where,
        "source": source,  #: which document of the letter pane it points at (for the highlight)
        "page": f.evidence.page,
        "text": f.evidence.text or "",
        "confidence": round(100 * float(f.confidence or 0)),
        "repaired": f.repaired,
        "original": f.original,
        "value": forms.format_field(f.value),
    }


def _attachment_rows(ticket: Ticket) -> tuple[list[dict[str, Any]], dict[int | None, list[dict[str, Any]]]]:
    rows = []
    by_message: dict[int | None, list[dict[str, Any]]] = {}
    for n, att in enumerate(ticket.attachments, start=1):
        row = {
            "att": att,
            "n": n,
            "type_name": TYPE_NAMES.get(att.content_type, att.content_type),
            "inline": att.content_type in INLINE_TYPES and not att.problem,
            "is_image": att.content_type.startswith("image/"),
            "download_name": download_name(ticket, att, n),
        }
        rows.append(row)
        by_message.setdefault(att.message_id, []).append(row)
    return rows, by_message


def _sla(ticket: Ticket, ck: queries.Clock) -> dict[str, Any]:
    state = ck.state(ticket)
    return {"state": state, "label": SLA_LABELS[state], "left": ck.minutes_left(ticket)}


@bp.get("/tickets/<int:ticket_id>")
def detail(ticket_id: int) -> Any:
    ticket = ticket_or_404(ticket_id)
    ck = page_clock()
    services.heartbeat(ticket.id, current_user, ck.now)
    events = list(ticket.events)
    user_ids: set[int | None] = {ticket.assignee_id}
    user_ids |= {e.actor_id for e in events}
    user_ids |= {parse_id(v) for e in events if e.kind == "assigned" for v in (e.old_value, e.new_value)}
    user_ids |= {m.author_id for m in ticket.messages}
    supervisor = current_user.has_role(Role.SUPERVISOR)
    assignable = queries.active_users() if supervisor else []
    users = queries.users_by_id(user_ids)
    users.update({u.id: u for u in assignable})
    has_panel = _has_records_panel()
    # the enterprise's name: for the {company} placeholder when the letter had none, and for the link
    # shown when the records panel (which shows the enterprise itself) is not there
    enterprise_name = None
    if ticket.enterprise_id and (not has_panel or not (ticket.fields or {}).get("company_name")):
        enterprise_name = enterprise_names({ticket.enterprise_id}).get(ticket.enterprise_id)
    values = macros.placeholder_values(ticket, tz=local_tz(), enterprise_name=enterprise_name)
    macro_rows = [{"m": m, "body": macros.render(m.body, values)} for m in queries.macros()]
    attachments, by_message = _attachment_rows(ticket)
    read = current_letter(ticket).read
    return render_template(
        "tickets/detail.html",
        ticket=ticket,
        ck=ck,
        sla=_sla(ticket, ck),
        users=users,
        events=events,
        describe=describe_event,
        attachments=attachments,
        attachments_by_message=by_message,
        mail_document=mail_document,
        preview_chars=BODY_PREVIEW_CHARS,
        fields=_field_rows(ticket),
        documents=previews.letter_documents(ticket),
        findings=list(read.findings) if read else [],
        sources=list(read.sources) if read else [],
        type_reasons=list(read.type_reasons) if read else [],
        finding_labels=FINDING_LABELS,
        macros=macro_rows,
        placeholder_values=values,
        duplicates=queries.likely_duplicates(ticket),
        merged_from=queries.merged_from(events),
        merged_into=session.get(Ticket, ticket.merged_into_id) if ticket.merged_into_id else None,
        viewers=queries.viewers(ticket.id, ck.now, exclude=current_user.id),
        supervisor=supervisor,
        assignable=assignable,
        types=TYPE_LABELS,
        seal_choices=forms.SEAL_CHOICES,
        enterprise_name=enterprise_name,
        enterprise_url=_enterprise_url(ticket),
        has_records_panel=has_panel,
        kinds=MessageKind,
        open_statuses=OPEN_STATUSES,
        manual_statuses=[(s, STATUS_LABELS[s]) for s in forms.MANUAL_STATUSES if s != ticket.status],
    )


def _has_records_panel() -> bool:
    try:
        current_app.jinja_env.get_template("records/_ticket_panel.html")
    except TemplateNotFound:
        return False
    return True


def _enterprise_url(ticket: Ticket) -> str | None:
    if ticket.enterprise_id is None or "records.enterprise" not in current_app.view_functions:
        return None
    return url_for("records.enterprise", enterprise_id=ticket.enterprise_id)


@bp.get("/tickets/<int:ticket_id>/presence")
def presence(ticket_id: int) -> Any:
    """Heartbeat + the "who else is here / changed since you opened it" fragment (polled by app.js)."""
    ticket = ticket_or_404(ticket_id)
    now = utcnow()
    services.heartbeat(ticket.id, current_user, now)
    seen = parse_int(request.args.get("v"))
    changed_by = None
    if seen is not None and ticket.version != seen:
        last = session.scalar(
            select(TicketEvent)
            .where(TicketEvent.ticket_id == ticket.id)
            .order_by(TicketEvent.id.desc())
            .limit(1)
        )
        if last is not None and last.actor_id:
            actor = session.get(User, last.actor_id)
            changed_by = actor.name if actor else None
    return render_template(
        "tickets/_presence.html",
        ticket=ticket,
        viewers=queries.viewers(ticket.id, now, exclude=current_user.id),
        stale=seen is not None and ticket.version != seen,
        changed_by=changed_by,
    )
