"""What the records panel on a ticket page shows: linked enterprise, candidates, findings, form values.

Read only; the template `records/_ticket_panel.html` calls `records_panel_for(ticket)` (a Jinja global
registered by records.views as `records_panel_for`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from helpdesk.db import session
from helpdesk.records import findings
from helpdesk.records.lookup import Match
from helpdesk.records.models import Enterprise, PendingApproval, PlatformAccount, Qualification
from helpdesk.records.resolutions import active_accounts, latest_qualification

#: which resolution forms fit each ticket type (the agent may still pick another in the menu)
FORMS_BY_TYPE = {
    "change": ("change",),
    "unbind": ("unbind",),
    "cancel": ("cancel",),
    "recovery": ("recovery",),
    "inquiry": (),
}
ACTION_TITLES = {
    "change": "办理变更",
    "unbind": "办理解绑",
    "cancel": "办理注销",
    "recovery": "告知账号（找回）",
}


@dataclass
class Panel:
    enterprise: Enterprise | None
    accounts: list[PlatformAccount] = field(default_factory=list)
    qualification: Qualification | None = None
    candidates: list[Match] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    change: dict[str, str] = field(default_factory=dict)  #: prefilled change form
    target_account: str = ""
    forms: tuple[str, ...] = ()
    other_forms: tuple[str, ...] = ()
    pending: PendingApproval | None = None
    titles: dict[str, str] = field(default_factory=lambda: dict(ACTION_TITLES))
    ready: dict[str, bool] = field(default_factory=dict)  #: action -> its record checks all pass
    #: action -> the required checks that failed or are unknown (findings.gate_checks), for its forms
    blockers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def summary(self) -> dict[str, int]:
        counts = {"pass": 0, "fail": 0, "unknown": 0}
        for f in self.findings:
            counts[f["status"]] = counts.get(f["status"], 0) + 1
        return counts


def records_panel(ticket: Any) -> Panel:
    """Everything the panel needs for `ticket` (a tickets.models.Ticket)."""
    values = findings.ticket_values(ticket)
    enterprise = session.get(Enterprise, ticket.enterprise_id) if ticket.enterprise_id else None
    panel = Panel(enterprise=enterprise, values=values)
    panel.findings = findings.record_findings(ticket)
    panel.candidates = findings.ticket_candidates(ticket, values)
    if enterprise is not None:
        panel.candidates = [c for c in panel.candidates if c.enterprise.id != enterprise.id]
        panel.accounts = sorted(
            enterprise.accounts, key=lambda a: (a.status != "active", not a.app_bound, a.id)
        )
        panel.qualification = latest_qualification(enterprise)
    panel.change = findings.suggest_change(values, enterprise)
    target = findings.first_account(values)
    if not target and enterprise is not None and ticket.type == "unbind":
        holder = next((a for a in active_accounts(enterprise) if a.app_bound), None)
        target = holder.account_name if holder else ""
    if target and enterprise is not None:  # an O/0 or l/1 slip: prefill the record's spelling
        near = findings.did_you_mean(target, enterprise.accounts)
        target = near.account_name if near is not None else target
    panel.target_account = target
    panel.forms = FORMS_BY_TYPE.get(ticket.type, ())
    panel.other_forms = tuple(a for a in ACTION_TITLES if a not in panel.forms)
    panel.ready = _ready(panel.findings)
    if ticket.is_open and enterprise is not None:
        panel.blockers = {a: findings.gate_checks(ticket, a) for a in panel.forms}
    panel.pending = session.scalar(
        select(PendingApproval).where(
            PendingApproval.ticket_id == ticket.id, PendingApproval.decision.is_(None)
        )
    )
    return panel


#: the findings that must pass for an action's preconditions to hold
READY_CHECKS = {
    "change": ("records_change_ready",),
    "unbind": ("records_multiple_accounts", "records_binding"),
    "cancel": ("records_multiple_accounts", "records_cancel_target"),
    "recovery": ("records_recovery_accounts",),
}


def _ready(items: list[dict[str, Any]]) -> dict[str, bool]:
    status = {f["code"]: f["status"] for f in items}
    out = {}
    for action, needed in READY_CHECKS.items():
        out[action] = all(status.get(code) == "pass" for code in needed[:1]) and all(
            status.get(code) in ("pass", "unknown") for code in needed[1:]
        )
    return out
