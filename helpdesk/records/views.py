"""Records pages: search, enterprise page, import, export, the second-approval setting.

The resolution, link and approval routes of a ticket are tickets' (helpdesk.tickets.views, under the
same /records/ URLs): records never imports tickets.
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
    stream_with_context,
    url_for,
)
from flask_login import current_user
from sqlalchemy import func, select

from helpdesk.auth.models import Role, User
from helpdesk.db import session
from helpdesk.records import export, importer, lookup, settings
from helpdesk.records.models import (
    AuditEntry,
    Enterprise,
    PendingApproval,
    PlatformAccount,
    ProjectApplication,
    Qualification,
)
from helpdesk.records.panel import records_panel
from helpdesk.records.resolutions import ACTION_LABELS, FIELD_LABELS, audit_for
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
    # the page's ticket list comes from tickets' template global `enterprise_tickets` (records does not
    # import tickets)
    return render_template("records/enterprise.html", ent=ent, audit=audit, actors=actors,
                           qualifications=quals, projects=projects)  # fmt: skip


# ------------------------------------------------------------------------------------------ admin


@bp.get("/import")
@requires(Role.ADMIN)
def import_page() -> Any:
    recent = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "import", AuditEntry.entity == "import")
        .order_by(AuditEntry.at.desc()).limit(10)
    ).all()  # fmt: skip
    return render_template("records/import.html", report=None, recent=recent,
                           second_approval=settings.second_approval_required())  # fmt: skip


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
                           second_approval=settings.second_approval_required()), (200 if report.applied else 422)  # fmt: skip


@bp.post("/settings/second-approval")
@requires(Role.SUPERVISOR)
def set_second_approval() -> Any:
    value = request.form.get("value") == "1"
    settings.set_second_approval(value, by=current_user)
    flash("注销账号现在需要主管审批。" if value else "注销账号不再需要主管审批。", "success")
    return redirect(url_for("settings.page"))


@bp.get("/export")
@requires(Role.SUPERVISOR)
def export_page() -> Any:
    today = datetime.now(current_app.config["HELPDESK"].timezone).date()
    return render_template("records/export.html", since=today - timedelta(days=30), until=today)


@bp.get("/export/download")
@requires(Role.SUPERVISOR)
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
    data, name, _count = export.export_chunks(
        since, parse("until"), fmt, current_app.config["HELPDESK"].timezone
    )
    mime = "text/csv; charset=utf-8" if fmt == "csv" else (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )  # fmt: skip
    response = Response(stream_with_context(data), mimetype=mime)  # rows are read as the file is sent
    from urllib.parse import quote

    ascii_name = f"changes_{since:%Y%m%d}.{fmt}"
    response.headers["Content-Disposition"] = (
        f"attachment; filename={ascii_name}; filename*=UTF-8''{quote(name)}"
    )
    return response
