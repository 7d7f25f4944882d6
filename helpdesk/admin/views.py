"""Admin pages: users (create, role, deactivate, two-factor) and mail health (mailboxes, outbox)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from helpdesk.auth import admin_actions, services, two_factor
from helpdesk.auth.forms import UserForm
from helpdesk.auth.models import Role, User
from helpdesk.db import session
from helpdesk.web import requires

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/users")
@requires(Role.ADMIN)
def users() -> Any:
    rows = session.scalars(select(User).order_by(User.username)).all()
    locked = {u.id for u in rows if admin_actions.is_locked(u)}
    return render_template(
        "admin/users.html",
        users=rows,
        locked=locked,
        form=UserForm(),
        two_factor_roles=two_factor.required_roles(),
    )


@bp.post("/users")
@requires(Role.ADMIN)
def create_user() -> Any:
    form = UserForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
        return redirect(url_for("admin.users"))
    try:
        services.create_user(
            form.username.data or "",
            form.password.data or "",
            Role(form.role.data),
            display_name=form.display_name.data or "",
            email=form.email.data or "",
        )
    except services.AuthError as exc:
        flash(str(exc), "error")
    else:
        flash(f"已创建用户 {form.username.data}。", "success")
    return redirect(url_for("admin.users"))


@bp.post("/users/<int:user_id>/active")
@requires(Role.ADMIN)
def set_active(user_id: int) -> Any:
    user = session.get(User, user_id) or abort(404)
    active = request.form.get("active") == "1"
    try:
        services.set_active(user, active, by=current_user)
    except services.AuthError as exc:
        flash(str(exc), "error")
    else:
        flash(f"已{'启用' if active else '停用'}用户 {user.username}。", "success")
    return redirect(url_for("admin.users"))


@bp.post("/users/<int:user_id>/role")
@requires(Role.ADMIN)
def set_role(user_id: int) -> Any:
    user = session.get(User, user_id) or abort(404)
    try:
        role = Role(request.form.get("role", ""))
    except ValueError:
        abort(400)
    try:
        services.set_role(user, role)
    except services.AuthError as exc:
        flash(str(exc), "error")
    else:
        flash(f"已将 {user.username} 的角色改为{role.label}。", "success")
    return redirect(url_for("admin.users"))


@bp.post("/users/two-factor")
@requires(Role.ADMIN)
def set_two_factor_roles() -> Any:
    try:
        roles = {Role(value) for value in request.form.getlist("role")}
    except ValueError:
        abort(400, "角色无效。")
    two_factor.set_required_roles(roles, by=current_user)
    names = "、".join(r.label for r in sorted(roles, key=lambda r: r.rank)) or "无"
    flash(
        f"已保存：要求两步验证的角色为 {names}。这些角色中尚未设置的用户，下次打开页面时须先完成设置。",
        "success",
    )
    return redirect(url_for("admin.users"))


@bp.post("/users/<int:user_id>/two-factor/reset")
@requires(Role.ADMIN)
def reset_two_factor(user_id: int) -> Any:
    user = session.get(User, user_id) or abort(404)
    two_factor.reset(user, by=current_user)
    flash(
        f"已重置 {user.username} 的两步验证：其验证器和恢复码已作废，下次登录只需密码（如其角色要求，须重新设置）。",
        "success",
    )
    return redirect(url_for("admin.users"))


@bp.post("/users/<int:user_id>/password/reset")
@requires(Role.ADMIN)
def reset_password(user_id: int) -> Any:
    user = session.get(User, user_id) or abort(404)
    try:
        password = admin_actions.reset_password(user, by=current_user)
    except services.AuthError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.users"))
    # shown once, on this page only: it is not stored anywhere but as its hash
    return render_template("admin/password_reset.html", user=user, password=password)


@bp.post("/users/<int:user_id>/unlock")
@requires(Role.ADMIN)
def unlock(user_id: int) -> Any:
    user = session.get(User, user_id) or abort(404)
    removed = admin_actions.unlock(user, by=current_user)
    flash(f"已解除 {user.username} 的登录锁定（清除 {removed} 次失败记录）。", "success")
    return redirect(url_for("admin.users"))


@bp.get("/mail")
@requires(Role.ADMIN)
def mail() -> Any:
    from helpdesk.mail.models import InboundMail, Mailbox, OutboundMail
    from helpdesk.tickets.poll import reconciliation

    boxes = [(box, reconciliation(box)) for box in session.scalars(select(Mailbox).order_by(Mailbox.name))]
    failed_in = session.scalars(
        select(InboundMail).where(InboundMail.status == "failed").order_by(InboundMail.id.desc()).limit(50)
    ).all()
    waiting = session.scalars(
        select(OutboundMail)
        .where(OutboundMail.sent_at.is_(None), OutboundMail.failed.is_(False))
        .order_by(OutboundMail.id)
        .limit(100)
    ).all()
    failed_out = session.scalars(
        select(OutboundMail)
        .where(OutboundMail.failed.is_(True), OutboundMail.sent_at.is_(None))
        .order_by(OutboundMail.id.desc())
        .limit(100)
    ).all()
    return render_template(
        "admin/mail.html",
        boxes=boxes,
        failed_in=failed_in,
        waiting=waiting,
        failed_out=failed_out,
        backlog=mail_backlog_counts(),
    )


def mail_backlog_counts() -> dict[str, int]:
    """The mail still to do: stored but not yet a ticket (and of those, claimed by a path now), failed,
    and tickets whose scans wait for OCR; a few indexed counts, cheap enough to poll every few seconds."""
    from helpdesk.mail.models import InboundMail
    from helpdesk.tickets.models import Ticket

    by_status = dict(
        session.execute(
            select(InboundMail.status, func.count())
            .where(InboundMail.status.in_(("stored", "failed")))
            .group_by(InboundMail.status)
        ).all()
    )
    claimed = session.scalar(
        select(func.count()).where(InboundMail.status == "stored", InboundMail.claim_token.is_not(None))
    )
    ocr = session.scalar(select(func.count()).select_from(Ticket).where(Ticket.ocr_pending.is_(True)))
    return {
        "stored": by_status.get("stored", 0),
        "claimed": claimed or 0,
        "failed": by_status.get("failed", 0),
        "ocr_pending": ocr or 0,
    }


@bp.get("/mail/backlog")
@requires(Role.ADMIN)
def mail_backlog() -> Any:
    """The backlog figures of the mail page as JSON (its script polls this every few seconds)."""
    return jsonify(mail_backlog_counts())


@bp.post("/mail/outbox/<int:mail_id>/retry")
@requires(Role.ADMIN)
def retry_outbound(mail_id: int) -> Any:
    from helpdesk.mail import outbox
    from helpdesk.mail.models import OutboundMail

    session.get(OutboundMail, mail_id) or abort(404)
    outbox.retry(mail_id)
    flash("已重新放入发件队列，后台任务会在一分钟内重试发送。", "success")
    return redirect(url_for("admin.mail"))


@bp.post("/mail/reprocess")
@requires(Role.ADMIN)
def reprocess() -> Any:
    from helpdesk.tickets import intake

    results = intake.ingest_pending(limit=100)
    made = sum(1 for r in results if r.ticket_id)
    flash(f"已重新处理 {len(results)} 封邮件，其中 {made} 封已生成或归入工单。", "success")
    return redirect(url_for("admin.mail"))
