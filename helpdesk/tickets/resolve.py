"""Resolving a ticket against the records: one transaction for the record change, the audit, the
ticket's event and status, and the reply to the enterprise.

    outcome = apply_resolution(ticket, "unbind", {"account": "zxkt_acme"}, by=agent, expected_version=3)
    outcome.status    # "applied" (ticket resolved, reply queued) or "pending" (waits for a supervisor)
    outcome.message   # Chinese, for the flash message

Applying twice applies once: the ticket row is locked (SELECT ... FOR UPDATE on PostgreSQL; SQLite
takes its write lock at BEGIN), and a ticket that is no longer open is refused with a message that
says who resolved it. A refused precondition (records.resolutions.PreconditionFailed) or any error
on the way (the reply, a constraint) rolls everything back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from helpdesk.auth.models import Role, User
from helpdesk.db import lock_row, session, unit_of_work, utcnow
from helpdesk.records import resolutions
from helpdesk.records.findings import gate_checks, gate_fingerprint, ticket_values
from helpdesk.records.models import Enterprise, PendingApproval
from helpdesk.records.resolutions import APP, Applied, PreconditionFailed
from helpdesk.records.settings import second_approval_required
from helpdesk.tickets import lifecycle
from helpdesk.tickets.lifecycle import TicketError
from helpdesk.tickets.macros import SIGNATURE
from helpdesk.tickets.models import STATUS_LABELS, Ticket, TicketEvent, TicketStatus

__all__ = [
    "ACTIONS",
    "Blocked",
    "PreconditionFailed",
    "Preview",
    "ResolutionOutcome",
    "apply_resolution",
    "approve",
    "decline",
    "link_enterprise",
    "pending_for",
    "preview_resolution",
    "request_material",
]

ACTIONS = ("change", "unbind", "cancel", "recovery")
ACTION_TITLES = {
    "change": "办理变更",
    "unbind": "办理解绑",
    "cancel": "办理注销",
    "recovery": "告知账号（找回）",
}
CHANGE_PARAMS = (
    "new_uscc", "new_org_code", "new_name", "new_division_code", "new_division_name", "industry",
    "main_business", "headcount", "old_uscc", "old_org_code", "company_name",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ResolutionOutcome:
    ticket_id: int
    action: str
    status: str  #: "applied" or "pending"
    message: str  #: Chinese, for the agent
    summary: str = ""
    approval_id: int | None = None


class Blocked(TicketError):
    """Required checks failed or are unknown: request the material, or override with a written reason."""

    def __init__(self, blockers: list[dict[str, Any]]) -> None:
        self.blockers = blockers
        shown = "；".join(b["message"].rstrip("。") for b in blockers)
        super().__init__(
            f"核对未通过，不能直接办理：{shown}。请一键向企业索要缺少的材料，或填写理由后强制办理（理由会记入审计并提交审批人）。"
        )


@dataclass(frozen=True, slots=True)
class Preview:
    """What applying would do, computed in a transaction that is rolled back."""

    action: str
    summary: str  #: the record change, in Chinese
    subject: str  #: of the reply ("" when the ticket has no requester address)
    reply: str  #: the reply as it would be sent; the agent may edit it
    blockers: list[dict[str, Any]]
    checks: str  #: gate_fingerprint(blockers): the apply refuses when it differs
    version: int  #: the ticket version the preview was made at
    needs_approval: bool


class _RolledBack(Exception):
    """Raised inside a unit of work to undo it (the preview)."""

    def __init__(self, preview: Preview) -> None:
        self.preview = preview


def pending_for(ticket: Ticket) -> PendingApproval | None:
    """The undecided approval request of this ticket, if any."""
    return session.scalar(
        select(PendingApproval).where(
            PendingApproval.ticket_id == ticket.id, PendingApproval.decision.is_(None)
        )
    )


# ------------------------------------------------------------------------------------------ guards


def _lock_ticket(ticket_id: int) -> Ticket:
    # FOR UPDATE: a second click, agent or retried request waits here, then sees the first one's result
    return lock_row(Ticket, ticket_id)


def _closed_message(ticket: Ticket) -> str:
    event = session.scalar(
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "status")
        .order_by(TicketEvent.at.desc(), TicketEvent.id.desc())
        .limit(1)
    )
    who = ""
    if event is not None and event.actor_id:
        actor = session.get(User, event.actor_id)
        at = event.at.astimezone(current_app.config["HELPDESK"].timezone)
        who = f"（{actor.name if actor else '他人'}于 {at:%Y-%m-%d %H:%M} 办理）"
    label = STATUS_LABELS.get(ticket.status, ticket.status)
    return f"工单 {ticket.number} 已是“{label}”状态{who}，本次操作没有执行，也没有重复办理。"


def _check_open(ticket: Ticket, expected_version: int | None) -> None:
    if not ticket.is_open:
        raise TicketError(_closed_message(ticket))
    lifecycle.check_version(ticket, expected_version)


def _enterprise(ticket: Ticket) -> Enterprise:
    enterprise = session.get(Enterprise, ticket.enterprise_id) if ticket.enterprise_id else None
    if enterprise is None:
        raise TicketError("这张工单还没有关联企业档案：请先在“企业档案”中选择并关联企业。")
    return enterprise


def _check_no_pending(ticket: Ticket) -> None:
    pending = pending_for(ticket)
    if pending is not None:
        who = session.get(User, pending.requested_by_id)
        raise TicketError(
            f"这张工单已有一项待主管审批的注销申请（{who.name if who else '他人'}提交），"
            "请等待审批结果，不能重复提交。"
        )


def _account_param(params: dict[str, Any]) -> str:
    account = str(params.get("account") or "").strip()
    if not account:
        raise TicketError("请填写要办理的账号。")
    return account


def _change_params(ticket: Ticket, params: dict[str, Any]) -> dict[str, Any]:
    values = {k: params.get(k) for k in CHANGE_PARAMS if params.get(k) not in (None, "")}
    if "company_name" not in params:  # by default the company named in the letter must match
        name = ticket_values(ticket).get("company_name")
        if name:
            values["company_name"] = str(name)
    return values


def _apply(action: str, ticket: Ticket, enterprise: Enterprise, params: dict[str, Any], by: User,
           detail: dict[str, Any] | None = None) -> Applied:  # fmt: skip
    if action == "change":
        return resolutions.apply_change(
            enterprise, actor=by, ticket_id=ticket.id, detail=detail, **_change_params(ticket, params)
        )
    if action == "unbind":
        return resolutions.apply_unbind(
            enterprise, _account_param(params), actor=by, ticket_id=ticket.id, detail=detail
        )
    if action == "cancel":
        return resolutions.apply_cancel(
            enterprise, _account_param(params), actor=by, ticket_id=ticket.id, detail=detail
        )
    return resolutions.apply_recovery(enterprise, actor=by, ticket_id=ticket.id)


# ------------------------------------------------------------------------------------------ notice


def notice(ticket: Ticket, enterprise: Enterprise, applied: Applied) -> str:
    """The Chinese resolution notice mailed to the enterprise (never a password)."""
    letter = {"change": "《变更说明》", "unbind": "《解绑说明》", "cancel": "《注销说明》"}.get(
        applied.action, "申请"
    )
    lines = [f"{enterprise.name}：", "", "您好！"]
    if applied.action == "recovery":
        lines.append(
            f"您的找回账号申请（工单 {ticket.number}）已办理。经核实，贵单位在商务部业务系统统一平台的账号为："
        )
        for name, bound in applied.accounts:
            lines.append(f"    {name}" + (f"（已绑定{APP}，请用此账号登录应用）" if bound else ""))
        lines += [
            "",
            "为保障账号安全，我们不会通过邮件提供或重置密码。如忘记密码，请在统一平台登录页使用“找回密码”，"
            "或致电 010-67870108（统一平台账号密码找回）。",
        ]
    else:
        lines.append(f"您提交的{letter}（工单 {ticket.number}）已办理完毕：")
        if applied.action == "change":
            for c in applied.changes:
                if c.field != "review_status":
                    lines.append(f"    {c.label}：由 {c.before or '空'} 变更为 {c.after}")
        elif applied.action == "unbind":
            lines.append(f"    已解绑账号 {applied.changes[0].entity_id} 的{APP}。")
            lines.append(
                "请使用需要绑定的账号登录应用大厅，点击左侧“增加应用”，选择“综合业务”里的"
                f"“{APP}”，重新操作“申请”。"
            )
        elif applied.action == "cancel":
            lines.append(
                f"    已注销账号 {applied.changes[0].entity_id}，该账号不能再登录。贵单位的其他账号不受影响。"
            )
        lines.extend(applied.notes)
    lines += ["", "如有疑问，请直接回复本邮件（保留标题中的工单号）。", "", SIGNATURE]
    return "\n".join(lines)


def _reply_text(reply: str | None, generated: str) -> str:
    """The reply to queue: the one the agent saw (and perhaps edited) in the preview, else the notice."""
    if reply is None:
        return generated
    text = reply.replace("\r\n", "\n").strip()
    if not text:
        raise TicketError("回复内容不能为空：请填写要发给企业的回复，或恢复预览中的默认内容。")
    return text


def _finish(ticket: Ticket, enterprise: Enterprise, applied: Applied, by: User, detail: dict[str, Any],
            reply: str | None = None) -> None:  # fmt: skip
    """Event, reply and status: the tickets side of an applied resolution (caller's transaction)."""
    now = utcnow()
    lifecycle.record(ticket, "resolution", by=by, field=applied.action, new=applied.summary,
                    detail={"action": applied.action, "enterprise": enterprise.id, **detail,
                            "changes": [[c.entity, c.entity_id, c.field, c.before, c.after] for c in applied.changes]},
                    at=now)  # fmt: skip
    if ticket.assignee_id is None:
        ticket.assignee_id = by.id
        lifecycle.record(ticket, "assigned", by=by, field="assignee", old=None, new=by.id, at=now)
    if ticket.requester_email:
        body = _reply_text(reply, notice(ticket, enterprise, applied))
        lifecycle.queue_reply(ticket, body, by=by, kind="resolution", subject=_reply_subject(ticket))
    lifecycle.change_status(ticket, TicketStatus.RESOLVED, by=by, at=now, reason=applied.summary)


def _reply_subject(ticket: Ticket) -> str:
    return f"已办结：{ticket.subject}"


def _run(fn: Any) -> Any:
    """Run `fn` in one unit of work (a stale version is a Conflict there); a unique key taken by a
    concurrent change becomes a Chinese message."""
    try:
        with unit_of_work():
            return fn()
    except IntegrityError:
        raise TicketError(
            "保存时与他人同时进行的修改冲突（例如同一代码或绑定已被占用），本次没有做任何改动。请刷新后再试。"
        ) from None


# ------------------------------------------------------------------------------------------ actions


def _override(blockers: list[dict[str, Any]], reason: str) -> dict[str, Any]:
    """The override as stored in the event, the audit entry and the approval: reason and what it overrode."""
    reason = reason.strip()[:1000]
    if not blockers or not reason:
        return {}
    checks = [{k: b[k] for k in ("code", "status", "message")} for b in blockers]
    return {"override": {"reason": reason, "checks": checks}}


def _check_unchanged(blockers: list[dict[str, Any]], checks: str | None) -> None:
    # the page showed other checks (someone edited the fields or the records since): the agent
    # decided on something that no longer holds
    if checks is not None and checks != gate_fingerprint(blockers):
        raise TicketError(
            "自您预览以来，核对结果已经变化（他人修改了来信字段或企业档案）。本次没有办理，请重新预览后再确认。"
        )


def apply_resolution(
    ticket: Ticket,
    action: str,
    params: dict[str, Any],
    *,
    by: User,
    expected_version: int | None = None,
    reply: str | None = None,
    override_reason: str = "",
    checks: str | None = None,
) -> ResolutionOutcome:
    """Apply a change / unbind / cancel / recovery and resolve the ticket, all or nothing. Commits.

    A required check that failed or is unknown (records.findings.gate_checks) refuses with Blocked
    unless `override_reason` is given; the reason is stored in the event, the audit entry and the
    approval. `reply` is the text the agent saw in the preview (queued as is); `checks` the preview's
    fingerprint of the blocking checks (refused when they changed). With the require_second_approval
    setting on, a cancel only records a PendingApproval (the ticket stays open) and `approve` applies
    it later. Raises TicketError (incl. Conflict, Blocked) or PreconditionFailed; in every such case
    nothing was changed.
    """
    if action not in ACTIONS:
        raise TicketError("未知的办理类型。")
    params = dict(params)

    def work() -> ResolutionOutcome:
        t = _lock_ticket(ticket.id)
        _check_open(t, expected_version)
        enterprise = _enterprise(t)
        _check_no_pending(t)
        blockers = gate_checks(t, action)
        _check_unchanged(blockers, checks)
        if action == "cancel" and second_approval_required():
            account = resolutions.check_cancel(enterprise, _account_param(params))
            override = _override(blockers, override_reason)
            if blockers and not override:
                raise Blocked(blockers)
            stored: dict[str, Any] = {"account": account.account_name, **override}
            if reply is not None:
                stored["reply"] = _reply_text(reply, "")
            pending = PendingApproval(ticket_id=t.id, action="cancel", params=stored,
                                      requested_by_id=by.id, requested_at=utcnow())  # fmt: skip
            session.add(pending)
            session.flush()
            lifecycle.record(t, "approval_requested", by=by, field="cancel", new=account.account_name,
                            detail={"approval": pending.id, "account": account.account_name, **override})  # fmt: skip
            if t.status == TicketStatus.NEW.value:
                lifecycle.change_status(t, TicketStatus.OPEN, by=by, at=utcnow())
            return ResolutionOutcome(t.id, action, "pending",
                                     f"注销账号 {account.account_name} 需要主管审批，已提交；批准后自动办理并回复企业。",
                                     f"注销账号 {account.account_name}", pending.id)  # fmt: skip
        # the hard preconditions (records.resolutions) refuse first: no reason overrides those
        detail = _override(blockers, override_reason)
        applied = _apply(action, t, enterprise, params, by, detail=detail or None)
        if blockers and not detail:  # after _apply: a refused precondition is the clearer message
            raise Blocked(blockers)
        _finish(t, enterprise, applied, by, detail, reply)
        return ResolutionOutcome(
            t.id, action, "applied", f"已办结：{applied.summary}。回复已放入发件队列。", applied.summary
        )

    return _run(work)


def preview_resolution(
    ticket: Ticket, action: str, params: dict[str, Any], *, by: User, expected_version: int | None = None
) -> Preview:
    """What `apply_resolution` would change and reply, and which checks block it. Changes nothing.

    The resolution is applied in a unit of work that is then rolled back, so the preview runs the very
    code (and preconditions) that the apply will. Raises TicketError or PreconditionFailed like it.
    """
    if action not in ACTIONS:
        raise TicketError("未知的办理类型。")
    params = dict(params)

    def work() -> None:
        t = _lock_ticket(ticket.id)
        _check_open(t, expected_version)
        enterprise = _enterprise(t)
        _check_no_pending(t)
        blockers = gate_checks(t, action)
        version = t.version
        needs_approval = action == "cancel" and second_approval_required()
        applied = _apply(action, t, enterprise, params, by)
        raise _RolledBack(Preview(action, applied.summary,
                                  _reply_subject(t) if t.requester_email else "",
                                  notice(t, enterprise, applied) if t.requester_email else "",
                                  blockers, gate_fingerprint(blockers), version, needs_approval))  # fmt: skip

    try:
        _run(work)
    except _RolledBack as done:
        return done.preview
    raise AssertionError("unreachable: the preview always rolls back")


def material_request(ticket: Ticket, items: list[str]) -> str:
    """The mail that asks the enterprise for exactly `items` (Chinese)."""
    enterprise = session.get(Enterprise, ticket.enterprise_id) if ticket.enterprise_id else None
    lines = [f"{enterprise.name}：" if enterprise else "您好！", "",
             f"您的来函（工单 {ticket.number}）我们已收到。经核对，办理还需要以下材料：", ""]  # fmt: skip
    lines += [f"    {i}. {item}" for i, item in enumerate(items, 1)]
    lines += [
        "",
        "请直接回复本邮件并附上以上材料（保留标题中的工单号），收到后我们会尽快办理。",
        "",
        SIGNATURE,
    ]
    return "\n".join(lines)


def request_material(
    ticket: Ticket, action: str, *, by: User, expected_version: int | None = None
) -> list[str]:
    """Ask the enterprise for what the blocking checks of `action` lack, in one mail, and set the ticket
    to 待企业补充. Returns the items asked for. Commits."""

    def work() -> list[str]:
        t = _lock_ticket(ticket.id)
        _check_open(t, expected_version)
        items = list(dict.fromkeys(b["material"] for b in gate_checks(t, action)))
        if not items:
            raise TicketError("核对均已通过，没有需要企业补充的材料。")
        if not t.requester_email:
            raise TicketError("这张工单没有发件人地址，无法发邮件索要材料。请电话联系企业。")
        now = utcnow()
        lifecycle.queue_reply(t, material_request(t, items), by=by, kind="request",
                              subject=f"请补充材料：{t.subject}")  # fmt: skip
        lifecycle.record(t, "material_requested", by=by, field=action, new="、".join(items),
                        detail={"action": action, "items": items}, at=now)  # fmt: skip
        lifecycle.change_status(
            t, TicketStatus.WAITING, by=by, at=now, reason="请企业补充：" + "、".join(items)
        )
        return items

    return _run(work)


def _lock_undecided(pending: PendingApproval) -> PendingApproval:
    """The approval row, locked and re-read; refused when someone decided it in the meantime."""
    p = lock_row(PendingApproval, pending.id)
    if p.decision is not None:
        raise TicketError(f"这项申请已经{'批准' if p.decision == 'approved' else '驳回'}，不能重复审批。")
    return p


def approve(pending: PendingApproval, *, by: User) -> ResolutionOutcome:
    """A supervisor other than the requester approves a pending cancel: it is applied now. Commits."""
    if not by.has_role(Role.SUPERVISOR):
        raise TicketError("只有主管可以审批注销申请。")

    def work() -> ResolutionOutcome:
        p = _lock_undecided(pending)
        if p.requested_by_id == by.id:
            raise TicketError("不能审批自己提交的注销申请：需要另一位主管审批。")
        t = _lock_ticket(p.ticket_id)
        if not t.is_open:
            raise TicketError(_closed_message(t))
        enterprise = _enterprise(t)
        _recheck_gate(t, p)
        now = utcnow()
        p.decision, p.decided_by_id, p.decided_at = "approved", by.id, now
        detail = {"approval": p.id, "requested_by": p.requested_by_id, "approved_by": by.id}
        if p.params.get("override"):
            detail["override"] = p.params["override"]
        lifecycle.record(
            t, "approval_approved", by=by, field=p.action, new=p.params.get("account"), detail=detail
        )
        applied = _apply(p.action, t, enterprise, dict(p.params), by, detail=detail)
        _finish(t, enterprise, applied, by, detail, p.params.get("reply"))
        return ResolutionOutcome(
            t.id, p.action, "applied", f"已批准并办结：{applied.summary}。", applied.summary, p.id
        )

    return _run(work)


def _recheck_gate(ticket: Ticket, pending: PendingApproval) -> None:
    """The gate again at approval: the letter or the records may have changed since the request.

    A blocking check the request's override did not name (or any, without an override) refuses.
    """
    blockers = gate_checks(ticket, pending.action)
    overridden = {c.get("code") for c in (pending.params.get("override") or {}).get("checks", [])}
    new = [b for b in blockers if b["code"] not in overridden]
    if new:
        shown = "；".join(b["message"].rstrip("。") for b in new)
        raise TicketError(
            f"审批时重新核对，以下必查项未通过：{shown}。"
            + ("申请时填写的强制办理理由不包括这些项。" if overridden else "申请时没有填写强制办理理由。")
            + "本次没有注销，请驳回申请，由客服请企业补充材料后重新提交。"
        )


def decline(pending: PendingApproval, *, by: User, reason: str = "") -> None:
    """A supervisor declines a pending cancel; the ticket stays open for the agent. Commits."""
    if not by.has_role(Role.SUPERVISOR):
        raise TicketError("只有主管可以审批注销申请。")

    def work() -> None:
        p = _lock_undecided(pending)
        p.decision, p.decided_by_id, p.decided_at = "declined", by.id, utcnow()
        p.decision_note = reason.strip()[:500]
        t = _lock_ticket(p.ticket_id)
        lifecycle.record(t, "approval_declined", by=by, field=p.action, new=p.params.get("account"),
                        detail={"approval": p.id, "reason": p.decision_note})  # fmt: skip

    _run(work)


def link_enterprise(
    ticket: Ticket, enterprise: Enterprise | None, *, by: User, expected_version: int | None = None
) -> bool:
    """Link the ticket to an enterprise the agent chose (None unlinks); False if it was already. Commits."""

    def work() -> bool:
        t = _lock_ticket(ticket.id)
        lifecycle.check_version(t, expected_version)
        new = enterprise.id if enterprise else None
        if t.enterprise_id == new:
            return False
        if pending_for(t) is not None:
            raise TicketError("这张工单有待审批的注销申请，审批前不能更换关联企业。")
        lifecycle.record(t, "enterprise_linked", by=by, field="enterprise", old=t.enterprise_id, new=new,
                        detail={"auto": False, "name": enterprise.name if enterprise else None})  # fmt: skip
        t.enterprise_id = new
        return True

    return _run(work)
