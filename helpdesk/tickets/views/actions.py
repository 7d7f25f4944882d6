"""What an agent does on the ticket page: reply, note, status, assign, fields, type, reject, merge.

Each calls one service; a stale `version` renders the conflict page (409) with a reload link and the
text the agent typed; nothing is saved.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import current_app, flash, render_template, request
from flask_login import current_user

from helpdesk.auth.models import User
from helpdesk.db import session
from helpdesk.letters.current import current_letter
from helpdesk.params import parse_id
from helpdesk.tickets import drafts, forms, queries, reply_files, services
from helpdesk.tickets.models import TYPE_LABELS, Ticket, TicketStatus
from helpdesk.tickets.views.common import back_to_ticket, bp, flash_form_errors, ticket_or_404
from helpdesk.vocabulary import FIELD_LABELS


def _conflict(ticket: Ticket, typed: str = "") -> Any:
    # the service rolled back its unit of work: read the ticket as the other agent saved it
    fresh = session.get(Ticket, ticket.id)
    if fresh is not None:
        session.refresh(fresh)
    return render_template(
        "tickets/conflict.html",
        ticket=fresh or ticket,
        typed=typed,
        message=str(services.Conflict()),
    ), 409


def _run(ticket: Ticket, action: Any, *, typed: str = "", success: str = "", anchor: str = "") -> Any:
    """Call one service; map Conflict to the conflict page and TicketError to a flash."""
    try:
        action()
    except services.Conflict:
        return _conflict(ticket, typed)
    except services.TicketError as exc:
        flash(str(exc), "error")
        return back_to_ticket(ticket, anchor)
    if success:
        flash(success, "success")
    return back_to_ticket(ticket, anchor)


# ------------------------------------------------------------------------------------ actions


@bp.post("/tickets/<int:ticket_id>/reply")
def reply(ticket_id: int) -> Any:
    ticket = ticket_or_404(ticket_id)
    form = forms.ReplyForm()
    if not form.validate_on_submit():
        flash_form_errors(form)
        return back_to_ticket(ticket, "reply")
    request_material = "request_material" in request.form
    close = "resolve" in request.form
    body = form.body.data or ""
    try:
        attachments = _reply_attachments()
    except reply_files.ReplyFileError as exc:
        drafts.save(
            ticket.id, current_user, body
        )  # the text comes back in the box; only the files are asked again
        flash(f"{exc}回复未发送，已写的内容保存在草稿中。", "error")
        return back_to_ticket(ticket, "reply")
    success = (
        "已发送补充材料通知，工单转为“待企业补充”，SLA 计时暂停。"
        if request_material
        else "已发送回复并办结工单。"
        if close
        else "回复已放入发件箱。"
    )
    if attachments:
        success += f"（附件 {len(attachments)} 个：{'、'.join(a['name'] for a in attachments)}）"
    return _run(
        ticket,
        lambda: services.reply(
            ticket,
            body,
            by=current_user,
            request_material=request_material,
            close_as=TicketStatus.RESOLVED if close else None,
            expected_version=form.expected_version(),
            attachments=attachments,
        ),
        typed=body,
        success=success,
    )


def _reply_attachments() -> list[dict[str, Any]]:
    """The uploaded files and the chosen blank letters, checked against the limits and stored."""
    settings = current_app.config["HELPDESK"]
    uploads = [
        reply_files.ReplyFile(reply_files.safe_filename(f.filename or ""), f.read())
        for f in request.files.getlist("files")
        if f and f.filename  # a file input left empty still sends one nameless part
    ]
    files = reply_files.template_files(request.form.getlist("template")) + uploads
    reply_files.check(
        files,
        max_files=int(settings["HELPDESK_REPLY_MAX_FILES"]),
        max_bytes=int(settings["HELPDESK_REPLY_MAX_MB"]) * 1024 * 1024,
    )
    return reply_files.store_files(files, Path(settings.attachments_dir)) if files else []


@bp.post("/tickets/<int:ticket_id>/note")
def note(ticket_id: int) -> Any:
    ticket = ticket_or_404(ticket_id)
    form = forms.NoteForm()
    if not form.validate_on_submit():
        flash_form_errors(form)
        return back_to_ticket(ticket, "note")
    # notes only add to the conversation and never overwrite anything: no version check
    return _run(
        ticket,
        lambda: services.add_note(ticket, form.body.data or "", by=current_user),
        typed=form.body.data or "",
        success="已添加内部备注。",
    )


@bp.post("/tickets/<int:ticket_id>/status")
def set_status(ticket_id: int) -> Any:
    ticket = ticket_or_404(ticket_id)
    form = forms.StatusForm()
    if not form.validate_on_submit():
        flash_form_errors(form)
        return back_to_ticket(ticket)
    status = TicketStatus(form.status.data)
    return _run(
        ticket,
        lambda: services.set_status(
            ticket,
            status,
            by=current_user,
            reason=form.reason.data or "",
            expected_version=form.expected_version(),
        ),
        success=f"状态已改为“{status.label}”。",
    )


@bp.post("/tickets/<int:ticket_id>/assign")
def assign(ticket_id: int) -> Any:
    ticket = ticket_or_404(ticket_id)
    form = forms.AssignForm()
    if not form.validate_on_submit():
        flash_form_errors(form)
        return back_to_ticket(ticket)
    raw = form.assignee.data or "none"
    user_id = parse_id(raw)
    assignee = None if raw == "none" or user_id is None else session.get(User, user_id)
    if raw != "none" and assignee is None:
        flash("找不到这个处理人。", "error")
        return back_to_ticket(ticket)
    return _run(
        ticket,
        lambda: services.assign(ticket, assignee, by=current_user, expected_version=form.expected_version()),
        success=f"处理人已改为 {assignee.name if assignee else '（未分配）'}。",
    )


@bp.post("/tickets/<int:ticket_id>/fields")
def update_fields(ticket_id: int) -> Any:
    ticket = ticket_or_404(ticket_id)
    form = forms.VersionedForm()
    if not form.validate_on_submit():
        flash_form_errors(form)
        return back_to_ticket(ticket, "fields")
    changes = {}
    for name in FIELD_LABELS:
        key = f"field_{name}"
        if key in request.form or (name == "has_licence" and "field_has_licence_present" in request.form):
            changes[name] = forms.parse_field(name, request.form.get(key, ""))
    known = current_letter(ticket).values
    # an empty input for a field that was never filled is not a change
    changes = {k: v for k, v in changes.items() if k in known or v not in ("", [], None, False, "unknown")}
    typed = "\n".join(f"{FIELD_LABELS[k]}：{forms.format_field(v)}" for k, v in changes.items())
    result: dict[str, int] = {}

    def save() -> None:
        result["n"] = services.update_fields(
            ticket, changes, by=current_user, expected_version=form.expected_version()
        )

    response = _run(ticket, save, typed=typed, anchor="fields")
    if "n" in result:
        flash(
            f"已保存 {result['n']} 处字段修改。" if result["n"] else "字段没有变化。",
            "success" if result["n"] else "info",
        )
    return response


@bp.post("/tickets/<int:ticket_id>/type")
def change_type(ticket_id: int) -> Any:
    ticket = ticket_or_404(ticket_id)
    form = forms.TypeForm()
    if not form.validate_on_submit():
        flash_form_errors(form)
        return back_to_ticket(ticket)
    new_type = form.type.data or ""
    return _run(
        ticket,
        lambda: services.change_type(
            ticket, new_type, by=current_user, expected_version=form.expected_version()
        ),
        success=f"类型已改为“{TYPE_LABELS.get(new_type, new_type)}”，截止时间已按新类型重新计算。",
    )


@bp.post("/tickets/<int:ticket_id>/reject")
def reject(ticket_id: int) -> Any:
    ticket = ticket_or_404(ticket_id)
    form = forms.RejectForm()
    if not form.validate_on_submit():
        flash_form_errors(form)
        return back_to_ticket(ticket)
    reason = form.reason.data or ""
    return _run(
        ticket,
        lambda: services.reject(ticket, reason, by=current_user, expected_version=form.expected_version()),
        typed=reason,
        success="已驳回，驳回原因已放入发件箱。",
    )


@bp.post("/tickets/<int:ticket_id>/merge")
def merge(ticket_id: int) -> Any:
    ticket = ticket_or_404(ticket_id)
    form = forms.MergeForm()
    if not form.validate_on_submit():
        flash_form_errors(form)
        return back_to_ticket(ticket)
    target = queries.ticket_by_number(form.target.data or "")
    if target is None:
        flash(f"找不到工单 {form.target.data}。", "error")
        return back_to_ticket(ticket)
    response = _run(
        ticket,
        lambda: services.merge(ticket, target, by=current_user, expected_version=form.expected_version()),
        success=f"已把 {ticket.number} 合并到 {target.number}。",
    )
    if ticket.status == TicketStatus.MERGED.value and not isinstance(response, tuple):
        return back_to_ticket(target)
    return response
