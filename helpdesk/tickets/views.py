"""Agent workspace: the queue, the ticket page and its actions, attachments, notifications, macros.

Views are thin: they parse the form, call one service (one commit) and redirect. A stale `version`
renders the conflict page (409) with a reload link and the text the agent typed; nothing is saved.
"""

from __future__ import annotations

import mimetypes
import re
from typing import Any
from urllib.parse import quote

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from jinja2 import TemplateNotFound
from sqlalchemy import select

from helpdesk.auth import services as auth_services
from helpdesk.auth.models import Role, User
from helpdesk.db import session, utcnow
from helpdesk.letters import Field
from helpdesk.letters.current import current_letter
from helpdesk.mail import store
from helpdesk.mail.html import MAIL_DOC_HEAD
from helpdesk.tickets import forms, macros, queries, services
from helpdesk.tickets.models import (
    OPEN_STATUSES,
    STATUS_LABELS,
    TYPE_LABELS,
    Attachment,
    Macro,
    Message,
    MessageKind,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from helpdesk.web import requires

bp = Blueprint("tickets", __name__)

#: content types shown inside the page; everything else is only downloadable
INLINE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "application/pdf"}
#: the attachment response may render, but nothing in it may run or reach out
INLINE_CSP = "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; object-src 'self'"
TYPE_NAMES = {
    "application/pdf": "PDF",
    "image/png": "PNG 图片",
    "image/jpeg": "JPEG 图片",
    "image/gif": "GIF 图片",
    "image/webp": "WebP 图片",
    "image/bmp": "BMP 图片",
    "image/tiff": "TIFF 图片",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word 文档（docx）",
    "application/msword": "Word 文档（doc）",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "Excel 表格（xlsx）",
    "application/vnd.ms-excel": "Excel 表格（xls）",
    "application/zip": "压缩包（zip）",
    "application/x-rar-compressed": "压缩包（rar）",
    "message/rfc822": "原始邮件（eml）",
    "text/plain": "文本",
}
EXTENSIONS = {
    "application/pdf": ".pdf",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/bmp": ".bmp",
    "image/tiff": ".tif",
    "message/rfc822": ".eml",
    "text/plain": ".txt",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/msword": ".doc",
    "application/zip": ".zip",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
}
EVIDENCE_SOURCES = {"body": "邮件正文", "subject": "邮件主题", "filename": "附件文件名"}
FINDING_LABELS = {"pass": "通过", "fail": "不通过", "unknown": "待核实"}
SLA_LABELS = {"ok": "正常", "warn": "即将超时", "breached": "已超时", "paused": "已暂停", "stopped": "已停止"}

#: characters of a message's text shown on the ticket page; the whole text is one link away
BODY_PREVIEW_CHARS = 200_000

# ------------------------------------------------------------------------------------ helpers


def _tz() -> Any:
    return current_app.config["HELPDESK"].timezone


def _clock() -> queries.Clock:
    return queries.new_clock(_tz())


def mail_document(html: str) -> str:
    """A whole document for a sandboxed iframe's srcdoc (the attribute is escaped by Jinja).

    `html` is a stored body, sanitised once at ingest (mail.html.sanitize_html; migration
    c4e1a7d29b53 re-cleaned older rows): nothing is sanitised per page view, a 2 MB body costs only its
    escaping. The iframe's sandbox (no allow-scripts) and the page's CSP still stand behind it.
    """
    return MAIL_DOC_HEAD + html + "</body></html>"


def _local_path(target: str) -> bool:
    """A path on this site (no scheme, no host, no "//" or backslash tricks): safe to redirect to."""
    return target.startswith("/") and not target.startswith(("//", "/\\")) and "\\" not in target


def _ticket(ticket_id: int) -> Ticket:
    return session.get(Ticket, ticket_id) or abort(404)


def _back(ticket: Ticket, anchor: str = "") -> Any:
    return redirect(url_for("tickets.detail", ticket_id=ticket.id) + (f"#{anchor}" if anchor else ""))


def _form_errors(form: Any) -> None:
    for errors in form.errors.values():
        for error in errors:
            flash(str(error), "error")


def _conflict(ticket: Ticket, typed: str = "") -> Any:
    session.rollback()
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
        session.rollback()
        flash(str(exc), "error")
        return _back(ticket, anchor)
    if success:
        flash(success, "success")
    return _back(ticket, anchor)


@bp.app_template_filter("minutes")
def fmt_minutes(minutes: int | None) -> str:
    """Business minutes as "11 小时 30 分"."""
    if minutes is None:
        return "—"
    hours, rest = divmod(abs(int(minutes)), 60)
    if hours and rest:
        return f"{hours} 小时 {rest} 分"
    return f"{hours} 小时" if hours else f"{rest} 分"


@bp.app_template_filter("time_left")
def fmt_time_left(minutes: int | None, state: str) -> str:
    """The queue's "time left" cell in business time."""
    if state == "stopped" or minutes is None:
        return "—"
    if state == "paused":
        return f"暂停（剩 {fmt_minutes(minutes)}）"
    if minutes < 0 or state == "breached":
        over = -minutes if minutes < 0 else 0
        return f"超时 {fmt_minutes(over)}" if over else "已超时"
    return f"剩 {fmt_minutes(minutes)}"


def _company(ticket: Ticket, enterprise_names: dict[int, str]) -> str:
    name = (ticket.fields or {}).get("company_name")
    if isinstance(name, list):
        name = name[0] if name else ""
    if name:
        return str(name)
    if ticket.enterprise_id and ticket.enterprise_id in enterprise_names:
        return enterprise_names[ticket.enterprise_id]
    return ticket.requester_name or ""


def _enterprise_names(ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    from helpdesk.records.models import Enterprise

    return dict(session.execute(select(Enterprise.id, Enterprise.name).where(Enterprise.id.in_(ids))).all())


# ------------------------------------------------------------------------------------ queue


@bp.get("/")
def queue() -> Any:
    query = queries.QueueQuery.from_args(request.args)
    for problem in query.problems:
        flash(problem, "warning")
    ck = _clock()
    page = queries.queue_page(query, current_user, ck)
    users = queries.users_by_id()
    names = _enterprise_names({t.enterprise_id for t in page.tickets if t.enterprise_id})
    rows = []
    for t in page.tickets:
        state = ck.state(t)
        rows.append(
            {
                "ticket": t,
                "state": state,
                "left": ck.minutes_left(t),
                "company": _company(t, names),
                "assignee": users[t.assignee_id].name if t.assignee_id in users else "",
            }
        )
    # totals count open tickets only (cheap from the index); a text search or id list also counts all
    numbers = queries.queue_counts(query, current_user, ck)
    bulk = None
    if current_user.has_role(Role.SUPERVISOR):
        bulk = forms.BulkForm()
        bulk.assignee.choices = [("none", "（取消分配）")] + [
            (str(u.id), u.name) for u in sorted(users.values(), key=lambda u: u.name) if u.active
        ]
    return render_template(
        "tickets/queue.html",
        query=query,
        rows=rows,
        next_cursor=page.next_cursor,
        total=numbers["total"],
        open_total=numbers["open"],
        cap=queries.COUNT_CAP,
        counts=numbers["views"],
        views=queries.VIEWS,
        sla_states=queries.SLA_STATES,
        due_filters=queries.DUE_FILTERS,
        statuses=STATUS_LABELS,
        types=TYPE_LABELS,
        users=sorted(users.values(), key=lambda u: u.name),
        saved=queries.saved_filters(current_user),
        save_form=forms.SavedFilterForm(query=query.query_string(after="")),
        bulk=bulk,
        unread=numbers["unread"],
        sla_labels=SLA_LABELS,
        detail_prefix=url_for("tickets.detail", ticket_id=0)[:-1],
    )


@bp.post("/tickets/bulk")
@requires(Role.SUPERVISOR)
def bulk() -> Any:
    form = forms.BulkForm()
    back = form.back.data if _local_path(form.back.data or "") else url_for("tickets.queue")
    form.assignee.choices = [("none", "")] + [(str(u.id), u.name) for u in queries.active_users()]
    if not form.validate_on_submit():
        _form_errors(form)
        return redirect(back)
    ids = [int(v) for v in request.form.getlist("ids") if v.isdigit()]
    try:
        if form.action.data == "assign":
            raw = form.assignee.data or "none"
            assignee = None if raw == "none" else session.get(User, int(raw)) if raw.isdigit() else None
            if raw != "none" and assignee is None:
                raise services.TicketError("找不到这个处理人。")
            changed = services.bulk_assign(ids, assignee, by=current_user)
            flash(f"已分配 {changed} 张工单。", "success")
        else:
            changed = services.bulk_set_status(ids, TicketStatus(form.status.data), by=current_user)
            flash(f"已修改 {changed} 张工单的状态。", "success")
    except services.Conflict:
        session.rollback()
        flash("所选工单中有的刚被他人修改，本次批量操作没有执行。请刷新列表后重试。", "error")
    except services.TicketError as exc:
        session.rollback()
        flash(str(exc), "error")
    return redirect(back)


@bp.post("/tickets/next")
def next_ticket() -> Any:
    ticket = services.next_ticket(by=current_user)
    if ticket is None:
        types = "、".join(TYPE_LABELS[t] for t in services.handled_types(current_user))
        flash(f"暂无可领取的工单（您负责的类型：{types}）。", "info")
        return redirect(url_for("tickets.queue"))
    flash(f"已为您分配 {ticket.number}。", "success")
    return _back(ticket)


@bp.post("/tickets/<int:ticket_id>/claim")
def claim(ticket_id: int) -> Any:
    ticket = _ticket(ticket_id)
    if ticket.assignee_id == current_user.id:
        return _back(ticket)
    if services.claim(ticket, by=current_user):
        flash(f"已领取 {ticket.number}。", "success")
    else:
        flash("这张工单刚被别人领取了。", "warning")
    return _back(ticket)


@bp.post("/filters")
def save_filter() -> Any:
    form = forms.SavedFilterForm()
    if not form.validate_on_submit():
        _form_errors(form)
        return redirect(url_for("tickets.queue"))
    try:
        row = services.save_filter(current_user, form.name.data or "", form.query.data or "")
    except services.TicketError as exc:
        flash(str(exc), "error")
        return redirect(url_for("tickets.queue"))
    flash(f"已保存筛选“{row.name}”。", "success")
    return redirect(url_for("tickets.queue") + ("?" + row.query if row.query else ""))


@bp.post("/filters/<int:filter_id>/delete")
def delete_filter(filter_id: int) -> Any:
    try:
        services.delete_filter(current_user, filter_id)
    except services.TicketError as exc:
        flash(str(exc), "error")
    else:
        flash("已删除筛选。", "success")
    return redirect(url_for("tickets.queue"))


# ------------------------------------------------------------------------------------ ticket page


def _field_rows(ticket: Ticket) -> list[dict[str, Any]]:
    letter = current_letter(ticket)
    extracted: dict[str, list[Field]] = {}
    for f in letter.read.fields if letter.read else ():
        extracted.setdefault(f.name, []).append(f)
    current = letter.values
    names = list(forms.FIELDS_BY_TYPE.get(ticket.type, ()))
    names += [n for n in forms.FIELD_LABELS if n not in names and (n in current or n in extracted)]
    rows = []
    for name in names:
        found = extracted.get(name, [])
        value = current.get(name)
        rows.append(
            {
                "name": name,
                "label": forms.FIELD_LABELS.get(name, name),
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
        "text": f.evidence.text or "",
        "confidence": round(100 * float(f.confidence or 0)),
        "repaired": f.repaired,
        "original": f.original,
        "value": forms.format_field(f.value),
    }


def _describe(event: TicketEvent, users: dict[int, User]) -> str:
    def who(value: str | None) -> str:
        if value and value.isdigit() and int(value) in users:
            return users[int(value)].name
        return value or "（未分配）"

    detail = event.detail or {}
    kind = event.kind
    if kind == "created":
        text = f"创建工单（类型：{TYPE_LABELS.get(event.new_value or '', event.new_value)}）"
        return text + ("，邮件无法解析，原始邮件已附上" if detail.get("fallback") else "")
    if kind == "status":
        text = (
            f"状态：{STATUS_LABELS.get(event.old_value or '', event.old_value)} → "
            f"{STATUS_LABELS.get(event.new_value or '', event.new_value)}"
        )
        return text + (f"（{detail['reason']}）" if detail.get("reason") else "")
    if kind == "assigned":
        how = (
            "领取"
            if detail.get("claimed")
            else "下一个"
            if detail.get("next")
            else "批量分配"
            if detail.get("bulk")
            else ""
        )
        return f"处理人：{who(event.old_value)} → {who(event.new_value)}" + (f"（{how}）" if how else "")
    if kind == "field":
        label = forms.FIELD_LABELS.get(event.field or "", event.field)
        return f"修改字段“{label}”：{event.old_value or '（空）'} → {event.new_value or '（空）'}"
    if kind == "type":
        return (
            f"类型：{TYPE_LABELS.get(event.old_value or '', event.old_value)} → "
            f"{TYPE_LABELS.get(event.new_value or '', event.new_value)}"
        )
    if kind == "reply":
        return "发送补充材料通知（等待企业补充）" if detail.get("request_material") else "发送回复邮件"
    simple = {
        "note": "添加内部备注",
        "mail_in": "收到邮件",
        "ocr_done": "文字识别完成",
        "auto_reply_suppressed": "未发送自动确认：" + "；".join(map(str, detail.get("reasons", []))),
        "related": f"关联工单 ZXZJ#{event.new_value}（发件人不属于被引用的工单）",
        "message_id_reused": f"Message-ID 与另一封邮件相同（{detail.get('message_id', '')}），已作为新邮件处理",
        "ocr_failed": f"文字识别未完成：{detail.get('error', '')}",
        "sla_paused": f"SLA 计时暂停（剩余 {fmt_minutes(detail.get('remaining_minutes'))}）",
        "sla_resumed": f"SLA 恢复计时（暂停 {fmt_minutes(detail.get('paused_minutes'))}）",
        "sla_restarted": f"重新开始计时（第 {detail.get('clock', '')} 轮）",
        "sla_warned": "SLA 预警",
        "sla_breached": "SLA 已超时",
        "merged": f"合并到 ZXZJ#{event.new_value}",
        "merged_from": f"ZXZJ#{event.new_value} 合并到本工单",
        "enterprise_linked": f"关联企业 #{event.new_value}",
        "enterprise_candidates": "找到多个可能的企业，待人工确认",
        "attachment_problem": (
            f"附件未保存：{detail.get('name', '')}"
            if detail.get("name")
            else f"附件内容未能读出：{detail.get('problem', '')}"
        ),
    }
    if kind in simple:
        return simple[kind]
    parts = [kind]
    if event.field:
        parts.append(f"{event.field}：{event.old_value or ''} → {event.new_value or ''}")
    return " ".join(parts)


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
    ticket = _ticket(ticket_id)
    ck = _clock()
    services.heartbeat(ticket.id, current_user, ck.now)
    events = list(ticket.events)
    user_ids: set[int | None] = {ticket.assignee_id}
    user_ids |= {e.actor_id for e in events}
    user_ids |= {
        int(v)
        for e in events
        if e.kind == "assigned"
        for v in (e.old_value, e.new_value)
        if v and v.isdigit()
    }
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
        enterprise_name = _enterprise_names({ticket.enterprise_id}).get(ticket.enterprise_id)
    values = macros.placeholder_values(ticket, tz=_tz(), enterprise_name=enterprise_name)
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
        describe=_describe,
        attachments=attachments,
        attachments_by_message=by_message,
        mail_document=mail_document,
        preview_chars=BODY_PREVIEW_CHARS,
        fields=_field_rows(ticket),
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
    ticket = _ticket(ticket_id)
    now = utcnow()
    services.heartbeat(ticket.id, current_user, now)
    seen = request.args.get("v", type=int)
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


@bp.post("/tickets/<int:ticket_id>/reply")
def reply(ticket_id: int) -> Any:
    ticket = _ticket(ticket_id)
    form = forms.ReplyForm()
    if not form.validate_on_submit():
        _form_errors(form)
        return _back(ticket, "reply")
    request_material = "request_material" in request.form
    close = "resolve" in request.form
    body = form.body.data or ""
    success = (
        "已发送补充材料通知，工单转为“待企业补充”，SLA 计时暂停。"
        if request_material
        else "已发送回复并办结工单。"
        if close
        else "回复已放入发件箱。"
    )
    return _run(
        ticket,
        lambda: services.reply(
            ticket,
            body,
            by=current_user,
            request_material=request_material,
            close_as=TicketStatus.RESOLVED if close else None,
            expected_version=form.expected_version(),
        ),
        typed=body,
        success=success,
    )


@bp.post("/tickets/<int:ticket_id>/note")
def note(ticket_id: int) -> Any:
    ticket = _ticket(ticket_id)
    form = forms.NoteForm()
    if not form.validate_on_submit():
        _form_errors(form)
        return _back(ticket, "note")
    # notes only add to the conversation and never overwrite anything: no version check
    return _run(
        ticket,
        lambda: services.add_note(ticket, form.body.data or "", by=current_user),
        typed=form.body.data or "",
        success="已添加内部备注。",
    )


@bp.post("/tickets/<int:ticket_id>/status")
def set_status(ticket_id: int) -> Any:
    ticket = _ticket(ticket_id)
    form = forms.StatusForm()
    if not form.validate_on_submit():
        _form_errors(form)
        return _back(ticket)
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
    ticket = _ticket(ticket_id)
    form = forms.AssignForm()
    if not form.validate_on_submit():
        _form_errors(form)
        return _back(ticket)
    raw = form.assignee.data or "none"
    assignee = None if raw == "none" else session.get(User, int(raw)) if raw.isdigit() else None
    if raw != "none" and assignee is None:
        flash("找不到这个处理人。", "error")
        return _back(ticket)
    return _run(
        ticket,
        lambda: services.assign(ticket, assignee, by=current_user, expected_version=form.expected_version()),
        success=f"处理人已改为 {assignee.name if assignee else '（未分配）'}。",
    )


@bp.post("/tickets/<int:ticket_id>/fields")
def update_fields(ticket_id: int) -> Any:
    ticket = _ticket(ticket_id)
    form = forms.VersionedForm()
    if not form.validate_on_submit():
        _form_errors(form)
        return _back(ticket, "fields")
    changes = {}
    for name in forms.FIELD_LABELS:
        key = f"field_{name}"
        if key in request.form or (name == "has_licence" and "field_has_licence_present" in request.form):
            changes[name] = forms.parse_field(name, request.form.get(key, ""))
    known = current_letter(ticket).values
    # an empty input for a field that was never filled is not a change
    changes = {k: v for k, v in changes.items() if k in known or v not in ("", [], None, False, "unknown")}
    typed = "\n".join(f"{forms.FIELD_LABELS[k]}：{forms.format_field(v)}" for k, v in changes.items())
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
    ticket = _ticket(ticket_id)
    form = forms.TypeForm()
    if not form.validate_on_submit():
        _form_errors(form)
        return _back(ticket)
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
    ticket = _ticket(ticket_id)
    form = forms.RejectForm()
    if not form.validate_on_submit():
        _form_errors(form)
        return _back(ticket)
    reason = form.reason.data or ""
    return _run(
        ticket,
        lambda: services.reject(ticket, reason, by=current_user, expected_version=form.expected_version()),
        typed=reason,
        success="已驳回，驳回原因已放入发件箱。",
    )


@bp.post("/tickets/<int:ticket_id>/merge")
def merge(ticket_id: int) -> Any:
    ticket = _ticket(ticket_id)
    form = forms.MergeForm()
    if not form.validate_on_submit():
        _form_errors(form)
        return _back(ticket)
    target = queries.ticket_by_number(form.target.data or "")
    if target is None:
        flash(f"找不到工单 {form.target.data}。", "error")
        return _back(ticket)
    response = _run(
        ticket,
        lambda: services.merge(ticket, target, by=current_user, expected_version=form.expected_version()),
        success=f"已把 {ticket.number} 合并到 {target.number}。",
    )
    if ticket.status == TicketStatus.MERGED.value and not isinstance(response, tuple):
        return _back(target)
    return response


# ------------------------------------------------------------------------------------ attachments


def download_name(ticket: Ticket, att: Attachment, n: int) -> str:
    """The name we give a download: "ZXZJ-12-附件3.pdf" (never the sender's file name)."""
    suffix = ""
    match = re.search(r"(\.[A-Za-z0-9]{1,5})$", att.original_name or "")
    if match:
        suffix = match.group(1).lower()
    guessed = EXTENSIONS.get(att.content_type) or mimetypes.guess_extension(att.content_type or "") or ""
    if guessed and suffix != guessed and not (suffix in (".jpeg", ".jpg") and guessed == ".jpg"):
        suffix = guessed if att.content_type in EXTENSIONS or not suffix else suffix
    return f"ZXZJ-{ticket.id}-附件{n}{suffix}"


def _content_disposition(kind: str, name: str) -> str:
    ascii_name = name.replace("附件", "attachment").encode("ascii", "replace").decode().replace("?", "_")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def _attachment(ticket_id: int, attachment_id: int) -> tuple[Ticket, Attachment, int, bytes]:
    ticket = _ticket(ticket_id)
    att = session.get(Attachment, attachment_id)
    if att is None or att.ticket_id != ticket.id or att.problem or not (att.stored_name or att.data):
        abort(404)
    n = next((i for i, a in enumerate(ticket.attachments, start=1) if a.id == att.id), 0)
    try:
        data = (
            att.data
            if att.data is not None
            else store.load(current_app.config["HELPDESK"].attachments_dir, att.stored_name)
        )
    except (OSError, ValueError):
        abort(404)
    return ticket, att, n, data


@bp.get("/tickets/<int:ticket_id>/attachments/<int:attachment_id>/inline")
def attachment_inline(ticket_id: int, attachment_id: int) -> Any:
    ticket, att, n, data = _attachment(ticket_id, attachment_id)
    if att.content_type not in INLINE_TYPES:
        abort(404)
    response = Response(data, mimetype=att.content_type)
    response.headers["Content-Disposition"] = _content_disposition("inline", download_name(ticket, att, n))
    response.headers["Content-Security-Policy"] = INLINE_CSP
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@bp.get("/tickets/<int:ticket_id>/attachments/<int:attachment_id>/download")
def attachment_download(ticket_id: int, attachment_id: int) -> Any:
    ticket, att, n, data = _attachment(ticket_id, attachment_id)
    response = Response(data, mimetype=att.content_type or "application/octet-stream")
    response.headers["Content-Disposition"] = _content_disposition(
        "attachment", download_name(ticket, att, n)
    )
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@bp.get("/tickets/<int:ticket_id>/messages/<int:message_id>/body.txt")
def message_body(ticket_id: int, message_id: int) -> Any:
    """The whole text of one message, as a plain-text download (the page shows its first part)."""
    ticket = _ticket(ticket_id)
    message = session.get(Message, message_id)
    if message is None or message.ticket_id != ticket.id:
        abort(404)
    response = Response(message.body_text or "", mimetype="text/plain")  # Flask adds charset=utf-8
    response.headers["Content-Disposition"] = _content_disposition(
        "attachment", f"ZXZJ-{ticket.id}-邮件{message.id}.txt"
    )
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


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
    )


@bp.get("/notifications/count")
def notification_count() -> Any:
    return jsonify(unread=queries.unread_count(current_user))


@bp.post("/notifications/read")
def notifications_read() -> Any:
    ids = [int(v) for v in request.form.getlist("ids") if v.isdigit()]
    count = services.mark_notifications_read(current_user, ids or None)
    target = request.form.get("next", "")
    if target.startswith("/tickets/") and _local_path(target):
        return redirect(target)
    flash(f"已将 {count} 条通知标为已读。", "success")
    return redirect(url_for("tickets.notifications"))


# ------------------------------------------------------------------------------------ macros


@bp.get("/macros", endpoint="macros")  # the navigation (helpdesk.web.NAV) links to "tickets.macros"
@requires(Role.SUPERVISOR)
def macros_index() -> Any:
    return render_template(
        "tickets/macros.html",
        macros=queries.macros(),
        actions=services.MACRO_ACTIONS,
        placeholders=macros.PLACEHOLDERS,
    )


@bp.route("/macros/new", methods=["GET", "POST"])
@bp.route("/macros/<int:macro_id>", methods=["GET", "POST"])
@requires(Role.SUPERVISOR)
def macro_edit(macro_id: int | None = None) -> Any:
    macro = (session.get(Macro, macro_id) or abort(404)) if macro_id is not None else None
    form = forms.MacroForm(obj=macro)
    if form.validate_on_submit():
        try:
            saved = services.save_macro(
                macro,
                key=form.key.data or "",
                title=form.title.data or "",
                body=form.body.data or "",
                category=form.category.data or "",
                action=form.action.data or "",
                by=current_user,
            )
        except services.TicketError as exc:
            session.rollback()
            flash(str(exc), "error")
        else:
            flash(f"已保存回复模板“{saved.title}”。", "success")
            return redirect(url_for("tickets.macros"))
    elif request.method == "POST":
        _form_errors(form)
    return render_template(
        "tickets/macro_edit.html", form=form, macro=macro, placeholders=macros.PLACEHOLDERS
    )


@bp.post("/macros/<int:macro_id>/delete")
@requires(Role.SUPERVISOR)
def macro_delete(macro_id: int) -> Any:
    macro = session.get(Macro, macro_id) or abort(404)
    title = macro.title
    services.delete_macro(macro, by=current_user)
    flash(f"已删除回复模板“{title}”。", "success")
    return redirect(url_for("tickets.macros"))


# ------------------------------------------------------------------------------------ API token


@bp.route("/account/api-token", methods=["GET", "POST"])
def api_token() -> Any:
    token = None
    if request.method == "POST":  # CSRF-checked by the app-wide CSRFProtect
        token = auth_services.issue_api_token(current_user)
    return render_template("tickets/api_token.html", token=token, has_token=bool(current_user.api_token_hash))
