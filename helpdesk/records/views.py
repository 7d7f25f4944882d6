"""Records pages: search, enterprise page, the resolution endpoints of a ticket, approvals, import, export.

The resolution endpoints are the web side of helpdesk.tickets.resolve (views sit on top of both
packages; the records domain code itself never imports tickets).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy import func, select

from helpdesk.auth.models import Role, User
from helpdesk.core.models import Setting
from helpdesk.db import session, unit_of_work
from helpdesk.records import export, importer, lookup
from helpdesk.records.models import (
    AuditEntry,
    Enterprise,
    PendingApproval,
    PlatformAccount,
    ProjectApplication,
    Qualification,
)
from helpdesk.records.panel import records_panel
from helpdesk.records.resolutions import ACTION_LABELS, FIELD_LABELS, PreconditionFailed, audit_for
from helpdesk.tickets import resolve, services
from helpdesk.tickets.models import Ticket
from helpdesk.web import requires

bp = Blueprint("records", __name__, url_prefix="/records")

MAX_UPLOAD_FILES = 10


@bp.app_context_processor
def _panel_globals() -> dict[str, Any]:
    return {
        "records_panel_for": records_panel,  # not "records_panel": the ticket page uses that name as a flag
        "audit_field_label": lambda f: FIELD_LABELS.get(f, f),
        "audit_action_label": lambda a: ACTION_LABELS.get(a, a),
    }


def _back(ticket_id: int) -> Any:
    target = request.form.get("next", "")
    if _local(target):
        return redirect(target)
    return redirect(url_for("tickets.detail", ticket_id=ticket_id))


def _local(target: str) -> bool:
    """A path on this site (no scheme, no host, no backslash tricks): safe to redirect to."""
    return target.startswith("/") and not target.startswith(("//", "/\\")) and "\\" not in target


def _version() -> int | None:
    raw = request.form.get("version", "")
    return int(raw) if raw.isdigit() else None


# ------------------------------------------------------------------------------------------ search


@bp.get("/")
@requires(Role.AGENT)
def search() -> Any:
    q = request.args.get("q", "").strip()
    matches = lookup.search(q) if q else []
    if q and len(matches) == 1 and matches[0].via in ("uscc", "org_code", "account"):
        return redirect(url_for("records.enterprise", enterprise_id=matches[0].enterprise.id))
    counts = {
        "enterprises": session.scalar(select(func.count()).select_from(Enterprise)) or 0,
        "accounts": session.scalar(select(func.count()).select_from(PlatformAccount)) or 0,
        "pending": session.scalar(
            select(func.count()).select_from(PendingApproval).where(PendingApproval.decision.is_(None))
        )
        or 0,
    }
    active = {}
    if matches:
        ids = [m.enterprise.id for m in matches]
        active = dict(
            session.execute(
                select(PlatformAccount.enterprise_id, func.count())
                .where(PlatformAccount.enterprise_id.in_(ids), PlatformAccount.status == "active")
                .group_by(PlatformAccount.enterprise_id)
            ).all()
        )
    return render_template("records/search.html", q=q, matches=matches, counts=counts, active=active)


@bp.get("/enterprises/<int:enterprise_id>")
@requires(Role.AGENT)
def enterprise(enterprise_id: int) -> Any:
    ent = session.get(Enterprise, enterprise_id) or abort(404)
    tickets = session.scalars(
        select(Ticket).where(Ticket.enterprise_id == ent.id).order_by(Ticket.received_at.desc()).limit(100)
    ).all()
    audit = audit_for(ent)
    actors = {
        u.id: u
        for u in session.scalars(select(User).where(User.id.in_({a.actor_id for a in audit} - {None})))
    }
    quals = session.scalars(
        select(Qualification)
        .where(Qualification.enterprise_id == ent.id)
        .order_by(Qualification.fund_year.desc())
    ).all()
    projects = session.scalars(
        select(ProjectApplication)
        .where(ProjectApplication.enterprise_id == ent.id)
        .order_by(ProjectApplication.id)
    ).all()
    return render_template("records/enterprise.html", ent=ent, tickets=tickets, audit=audit, actors=actors,
                           qualifications=quals, projects=projects)  # fmt: skip


# ------------------------------------------------------------------------------------------ ticket actions


@bp.post("/tickets/<int:ticket_id>/link")
@requires(Role.AGENT)
def link(ticket_id: int) -> Any:
    ticket = session.get(Ticket, ticket_id) or abort(404)
    raw = request.form.get("enterprise_id", "")
    ent = None
    if raw:
        ent = session.get(Enterprise, int(raw)) if raw.isdigit() else None
        if ent is None:
            abort(400, "所选企业不存在。")
    try:
        changed = resolve.link_enterprise(ticket, ent, by=current_user, expected_version=_version())
    except services.TicketError as exc:
        flash(str(exc), "error")
    else:
        if changed:
            flash(f"已关联企业：{ent.name}。" if ent else "已取消关联企业。", "success")
    return _back(ticket_id)


CHANGE_FIELDS = resolve.CHANGE_PARAMS


@bp.post("/tickets/<int:ticket_id>/resolve", endpoint="resolve")
@requires(Role.AGENT)
def resolve_ticket(ticket_id: int) -> Any:
    ticket = session.get(Ticket, ticket_id) or abort(404)
    action = request.form.get("action", "")
    try:
        if action == "reject":
            services.reject(
                ticket, request.form.get("reason", ""), by=current_user, expected_version=_version()
            )
            flash("已驳回，驳回原因已发给企业。", "success")
            return _back(ticket_id)
        if action not in resolve.ACTIONS:
            abort(400, "未知的办理类型。")
        params: dict[str, Any] = {}
        if action == "change":
            params = {
                k: request.form.get(k, "").strip() for k in CHANGE_FIELDS if request.form.get(k, "").strip()
            }
            # the form carries the letter's company name; an agent who clears it skips that check
            if "company_name" in request.form:
                params["company_name"] = request.form["company_name"].strip()
        elif action in ("unbind", "cancel"):
            params = {"account": request.form.get("account", "").strip()}
        outcome = resolve.apply_resolution(
            ticket, action, params, by=current_user, expected_version=_version()
        )
    except (services.TicketError, PreconditionFailed) as exc:
        flash(str(exc), "error")
    else:
        flash(outcome.message, "success" if outcome.status == "applied" else "warning")
    return _back(ticket_id)


# ------------------------------------------------------------------------------------------ approvals


@bp.get("/approvals")
@requires(Role.SUPERVISOR)
def approvals() -> Any:
    pending = session.scalars(
        select(PendingApproval)
        .where(PendingApproval.decision.is_(None))
        .order_by(PendingApproval.requested_at)
    ).all()
    decided = session.scalars(
        select(PendingApproval)
        .where(PendingApproval.decision.is_not(None))
        .order_by(PendingApproval.decided_at.desc())
        .limit(30)
    ).all()
    ids = {p.requested_by_id for p in [*pending, *decided]} | {p.decided_by_id for p in decided}
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids - {None})))}
    tickets = {
        t.id: t
        for t in session.scalars(
            select(Ticket).where(Ticket.id.in_({p.ticket_id for p in [*pending, *decided]}))
        )
    }
    return render_template("records/approvals.html", pending=pending, decided=decided, users=users, tickets=tickets,
                           required=resolve.second_approval_required())  # fmt: skip


def _pending(approval_id: int) -> PendingApproval:
    return session.get(PendingApproval, approval_id) or abort(404)


@bp.post("/approvals/<int:approval_id>/approve")
@requires(Role.SUPERVISOR)
def approve(approval_id: int) -> Any:
    pending = _pending(approval_id)
    try:
        outcome = resolve.approve(pending, by=current_user)
    except (services.TicketError, PreconditionFailed) as exc:
        flash(str(exc), "error")
    else:
        flash(outcome.message, "success")
    return _back_to_approvals(pending.ticket_id)


@bp.post("/approvals/<int:approval_id>/decline")
@requires(Role.SUPERVISOR)
def decline(approval_id: int) -> Any:
    pending = _pending(approval_id)
    try:
        resolve.decline(pending, by=current_user, reason=request.form.get("reason", ""))
    except services.TicketError as exc:
        flash(str(exc), "error")
    else:
        flash("已驳回注销申请，工单仍为处理中，请客服继续跟进。", "success")
    return _back_to_approvals(pending.ticket_id)


def _back_to_approvals(ticket_id: int) -> Any:
    target = request.form.get("next", "")
    if _local(target):
        return redirect(target)
    return redirect(url_for("records.approvals"))


# ------------------------------------------------------------------------------------------ admin


@bp.get("/import")
@requires(Role.ADMIN)
def import_page() -> Any:
    recent = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "import", AuditEntry.entity == "import")
        .order_by(AuditEntry.at.desc()).limit(10)
    ).all()  # fmt: skip
    return render_template("records/import.html", report=None, recent=recent,
                           second_approval=resolve.second_approval_required())  # fmt: skip


@bp.post("/import")
@requires(Role.ADMIN)
def import_upload() -> Any:
    uploads = [f for f in request.files.getlist("files") if f and f.filename]
    if not uploads:
        flash("请选择要导入的 CSV 或 XLSX 文件。", "error")
        return redirect(url_for("records.import_page"))
    if len(uploads) > MAX_UPLOAD_FILES:
        flash(f"一次最多导入 {MAX_UPLOAD_FILES} 个文件。", "error")
        return redirect(url_for("records.import_page"))
    skip = request.form.get("skip_invalid") == "1"
    try:
        files = [(f.filename or "文件", f.read()) for f in uploads]
        report = importer.import_files(files, skip_invalid=skip, actor_id=current_user.id)
    except importer.ImportFileError as exc:
        flash(str(exc), "error")
        return redirect(url_for("records.import_page"))
    if report.applied:
        flash("导入完成。" + ("有误的行已跳过，见下方列表。" if report.errors else ""), "success")
    else:
        flash("文件中有错误，未导入任何数据。", "error")
    return render_template("records/import.html", report=report, recent=[],
                           second_approval=resolve.second_approval_required()), (200 if report.applied else 422)  # fmt: skip


@bp.post("/settings/second-approval")
@requires(Role.ADMIN)
def set_second_approval() -> Any:
    value = request.form.get("value") == "1"
    with unit_of_work():
        row = session.get(Setting, resolve.SECOND_APPROVAL_KEY)
        before = row.value if row is not None else False
        if row is None:
            session.add(Setting(key=resolve.SECOND_APPROVAL_KEY, value=value))
        else:
            row.value = value
        session.add(AuditEntry(actor_id=current_user.id, action="setting", entity="setting",
                               entity_id=resolve.SECOND_APPROVAL_KEY, field="value", before=str(bool(before)),
                               after=str(value)))  # fmt: skip
    flash("注销账号现在需要主管审批。" if value else "注销账号不再需要主管审批。", "success")
    return redirect(url_for("records.import_page"))


@bp.get("/export")
@requires(Role.ADMIN)
def export_page() -> Any:
    today = datetime.now(current_app.config["HELPDESK"].timezone).date()
    return render_template("records/export.html", since=today - timedelta(days=30), until=today)


@bp.get("/export/download")
@requires(Role.ADMIN)
def export_download() -> Any:
    def parse(name: str) -> date | None:
        raw = request.args.get(name, "")
        try:
            return date.fromisoformat(raw) if raw else None
        except ValueError:
            abort(400, f"日期格式不对：{raw}（应为 YYYY-MM-DD）")

    since = parse("since")
    if since is None:
        abort(400, "请填写开始日期。")
    fmt = request.args.get("format", "csv")
    if fmt not in ("csv", "xlsx"):
        abort(400, "格式只能是 CSV 或 XLSX。")
    data, name, _count = export.export(since, parse("until"), fmt, current_app.config["HELPDESK"].timezone)
    mime = "text/csv; charset=utf-8" if fmt == "csv" else (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )  # fmt: skip
    response = Response(data, mimetype=mime)
    from urllib.parse import quote

    ascii_name = f"changes_{since:%Y%m%d}.{fmt}"
    response.headers["Content-Disposition"] = (
        f"attachment; filename={ascii_name}; filename*=UTF-8''{quote(name)}"
    )
    return response
