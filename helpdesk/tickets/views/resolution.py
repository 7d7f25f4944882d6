"""Resolving a ticket against the records, linking its enterprise, and the approvals of cancels
(the web side of tickets.resolve; under /records/ URLs, where these forms have always posted)."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from helpdesk.auth.models import Role, User
from helpdesk.db import session
from helpdesk.params import optional_int, parse_id
from helpdesk.records import findings
from helpdesk.records.models import Enterprise, PendingApproval
from helpdesk.records.resolutions import PreconditionFailed
from helpdesk.records.settings import second_approval_required
from helpdesk.tickets import resolve, services
from helpdesk.tickets.models import Ticket
from helpdesk.tickets.views.common import bp, is_local_path, ticket_or_404
from helpdesk.web import NAV_COUNTS, requires

# ------------------------------------------------------------------------------------ resolution


def _version() -> int | None:
    return optional_int(request.form.get("version", ""), "工单版本号")


def _back_to(default: str) -> Any:
    """Redirect to the form's `next` (a path on this site) or to `default`."""
    target = request.form.get("next", "")
    return redirect(target if is_local_path(target) else default)


# URLs under /records/ (where these forms have always posted); the work is tickets.resolve's


@bp.post("/records/tickets/<int:ticket_id>/link", endpoint="link")
@requires(Role.AGENT)
def link_enterprise(ticket_id: int) -> Any:
    ticket = ticket_or_404(ticket_id)
    raw = request.form.get("enterprise_id", "")
    ent = None
    if raw:
        ent_id = parse_id(raw)
        ent = session.get(Enterprise, ent_id) if ent_id is not None else None
        if ent is None:
            abort(400, "所选企业不存在。")
    try:
        changed = resolve.link_enterprise(ticket, ent, by=current_user, expected_version=_version())
    except services.TicketError as exc:
        flash(str(exc), "error")
    else:
        if changed:
            flash(f"已关联企业：{ent.name}。" if ent else "已取消关联企业。", "success")
    return _back_to(url_for("tickets.detail", ticket_id=ticket_id))


def _params(action: str) -> dict[str, Any]:
    """The resolution's parameters from the form (the panel's, or the preview's hidden copy)."""
    if action == "change":
        params = {
            k: request.form.get(k, "").strip()
            for k in resolve.CHANGE_PARAMS
            if request.form.get(k, "").strip()
        }
        # the form carries the letter's company name; an agent who clears it skips that check
        if "company_name" in request.form:
            params["company_name"] = request.form["company_name"].strip()
        return params
    if action in ("unbind", "cancel"):
        return {"account": request.form.get("account", "").strip()}
    return {}


@bp.post("/records/tickets/<int:ticket_id>/resolve/preview", endpoint="resolve_preview")
@requires(Role.AGENT)
def resolve_preview(ticket_id: int) -> Any:
    """The reply a resolution will send (editable) and the checks that block it; nothing is applied."""
    ticket = ticket_or_404(ticket_id)
    action = request.form.get("action", "")
    if action not in resolve.ACTIONS:
        abort(400, "未知的办理类型。")
    params = _params(action)
    try:
        preview = resolve.preview_resolution(
            ticket, action, params, by=current_user, expected_version=_version()
        )
    except (services.TicketError, PreconditionFailed) as exc:
        flash(str(exc), "error")
        return _back_to(url_for("tickets.detail", ticket_id=ticket_id))
    ticket = ticket_or_404(ticket_id)  # the rolled-back preview expired it
    return render_template("tickets/resolve_preview.html", ticket=ticket, preview=preview, params=params,
                           title=resolve.ACTION_TITLES.get(action, action))  # fmt: skip


@bp.post("/records/tickets/<int:ticket_id>/request-material", endpoint="request_material")
@requires(Role.AGENT)
def request_material(ticket_id: int) -> Any:
    ticket = ticket_or_404(ticket_id)
    action = request.form.get("action", "")
    if action not in resolve.ACTIONS:
        abort(400, "未知的办理类型。")
    try:
        items = resolve.request_material(ticket, action, by=current_user, expected_version=_version())
    except services.TicketError as exc:
        flash(str(exc), "error")
    else:
        flash(
            f"已发邮件请企业补充：{'、'.join(items)}。工单转为“待企业补充”，企业回复后自动恢复计时。",
            "success",
        )
    return redirect(url_for("tickets.detail", ticket_id=ticket_id))


@bp.post("/records/tickets/<int:ticket_id>/resolve", endpoint="resolve")
@requires(Role.AGENT)
def resolve_ticket(ticket_id: int) -> Any:
    ticket = ticket_or_404(ticket_id)
    action = request.form.get("action", "")
    back = url_for("tickets.detail", ticket_id=ticket_id)
    try:
        if action == "reject":
            services.reject(
                ticket, request.form.get("reason", ""), by=current_user, expected_version=_version()
            )
            flash("已驳回，驳回原因已发给企业。", "success")
            return _back_to(back)
        if action not in resolve.ACTIONS:
            abort(400, "未知的办理类型。")
        # from the preview: the reply as the agent left it, the checks it showed, any override reason
        outcome = resolve.apply_resolution(
            ticket,
            action,
            _params(action),
            by=current_user,
            expected_version=_version(),
            reply=request.form.get("reply"),  # None: not from the preview
            override_reason=request.form.get("override_reason", ""),
            checks=request.form.get("checks") or None,
        )
    except (services.TicketError, PreconditionFailed) as exc:
        flash(str(exc), "error")
    else:
        flash(outcome.message, "success" if outcome.status == "applied" else "warning")
    return _back_to(back)


@bp.get("/records/approvals", endpoint="approvals")
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
    return render_template("tickets/approvals.html", pending=pending, decided=decided, users=users, tickets=tickets,
                           cases={p.id: _case(tickets.get(p.ticket_id)) for p in pending},
                           enterprises=_enterprises(tickets.values()), required=second_approval_required())  # fmt: skip


def _enterprises(tickets: Any) -> dict[int, Enterprise]:
    ids = {t.enterprise_id for t in tickets if t.enterprise_id}
    return {e.id: e for e in session.scalars(select(Enterprise).where(Enterprise.id.in_(ids)))} if ids else {}


def _case(ticket: Ticket | None) -> dict[str, Any]:
    """What the approver decides on: the letter's fields, all its checks, the seal and the licence."""
    if ticket is None:
        return {}
    values = findings.ticket_values(ticket)
    return {"values": values, "checks": findings.ticket_checks(ticket),
            "seal": values.get("seal"), "licence": values.get("has_licence")}  # fmt: skip


def waiting_approvals() -> int:
    """How many cancels wait for a supervisor (the count in the nav)."""
    return (
        session.scalar(
            select(func.count()).select_from(PendingApproval).where(PendingApproval.decision.is_(None))
        )
        or 0
    )


NAV_COUNTS["tickets.approvals"] = waiting_approvals


def _pending(approval_id: int) -> PendingApproval:
    return session.get(PendingApproval, approval_id) or abort(404)


@bp.post("/records/approvals/<int:approval_id>/approve", endpoint="approve")
@requires(Role.SUPERVISOR)
def approve(approval_id: int) -> Any:
    pending = _pending(approval_id)
    try:
        outcome = resolve.approve(pending, by=current_user)
    except (services.TicketError, PreconditionFailed) as exc:
        flash(str(exc), "error")
    else:
        flash(outcome.message, "success")
    return _back_to(url_for("tickets.approvals"))


@bp.post("/records/approvals/<int:approval_id>/decline", endpoint="decline")
@requires(Role.SUPERVISOR)
def decline(approval_id: int) -> Any:
    pending = _pending(approval_id)
    try:
        resolve.decline(pending, by=current_user, reason=request.form.get("reason", ""))
    except services.TicketError as exc:
        flash(str(exc), "error")
    else:
        flash("已驳回注销申请，工单仍为处理中，请客服继续跟进。", "success")
    return _back_to(url_for("tickets.approvals"))


@bp.app_template_global()
def ticket_checks(ticket: Ticket) -> list[dict[str, Any]]:
    """The ticket's one list of checks (letter and records), for its page."""
    return findings.ticket_checks(ticket)


@bp.app_template_global()
def enterprise_tickets(enterprise_id: int) -> list[Ticket]:
    """The latest 100 tickets of an enterprise, for its records page (records does not import tickets)."""
    return list(
        session.scalars(
            select(Ticket)
            .where(Ticket.enterprise_id == enterprise_id)
            .order_by(Ticket.received_at.desc())
            .limit(100)
        )
    )
