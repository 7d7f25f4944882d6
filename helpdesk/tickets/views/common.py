"""What the agent workspace's pages share: the blueprint, the ticket lookup, redirects, time filters."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, url_for
from sqlalchemy import select

from helpdesk import params
from helpdesk.db import session
from helpdesk.records.models import Enterprise
from helpdesk.sla.wording import working_time
from helpdesk.tickets import queries
from helpdesk.tickets.models import Ticket

bp = Blueprint("tickets", __name__)

SLA_LABELS = {"ok": "正常", "warn": "即将超时", "breached": "已超时", "paused": "已暂停", "stopped": "已停止"}

# ------------------------------------------------------------------------------------ helpers


def local_tz() -> Any:
    return current_app.config["HELPDESK"].timezone


def page_clock() -> queries.Clock:
    return queries.new_clock(local_tz())


def is_local_path(target: str) -> bool:
    """A path on this site, safe to redirect to (the one rule: helpdesk.params.local_path)."""
    return params.is_local_path(target)


def ticket_or_404(ticket_id: int) -> Ticket:
    return session.get(Ticket, ticket_id) or abort(404)


def back_to_ticket(ticket: Ticket, anchor: str = "") -> Any:
    return redirect(url_for("tickets.detail", ticket_id=ticket.id) + (f"#{anchor}" if anchor else ""))


def flash_form_errors(form: Any) -> None:
    for errors in form.errors.values():
        for error in errors:
            flash(str(error), "error")


@bp.app_template_filter("minutes")
def fmt_minutes(minutes: int | None) -> str:
    """Business minutes in working days and hours: "1 个工作日 3 小时"."""
    return "—" if minutes is None else working_time(minutes)


@bp.app_template_filter("time_left")
def fmt_time_left(minutes: int | None, state: str) -> str:
    """The queue's "time left" cell in business time."""
    if state == "stopped" or minutes is None:
        return "—"
    if state == "paused":
        # paused after the deadline passed: still a breach, the pause does not hide it
        return "已超时（暂停中）" if minutes <= 0 else f"暂停（剩 {fmt_minutes(minutes)}）"
    if minutes < 0 or state == "breached":
        over = -minutes if minutes < 0 else 0
        return f"已超时 {fmt_minutes(over)}" if over else "已超时"
    return f"剩 {fmt_minutes(minutes)}"


def enterprise_names(ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(session.execute(select(Enterprise.id, Enterprise.name).where(Enterprise.id.in_(ids))).all())
