"""SLA pages for supervisors: the working-day calendar (month view, single days, a year from its notice)
and the policies per ticket type. Every change is audited and recomputes the open tickets at once."""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from helpdesk.auth.models import Role
from helpdesk.db import session
from helpdesk.sla import clock, service
from helpdesk.sla.notice_text import NoticeTextError, parse_notice_text
from helpdesk.vocabulary import TYPE_LABELS
from helpdesk.web import requires

bp = Blueprint("sla", __name__, url_prefix="/sla")
log = logging.getLogger(__name__)

SOURCE_LABELS = {
    "package": "chinesecalendar 软件包",
    "chinesecalendar": "chinesecalendar 软件包",
    "admin": "管理员",
}


def _today() -> date:
    return datetime.now(clock.TZ).date()


@bp.app_context_processor
def _calendar_banner() -> dict[str, Any]:
    """`calendar_banner` for the base layout: the missing-year warning, for supervisors and admins only."""
    if "sla_banner" not in g:
        g.sla_banner = None
        if current_user.is_authenticated and current_user.has_role(Role.SUPERVISOR):
            try:
                g.sla_banner = service.calendar_banner(_today())
            except SQLAlchemyError:  # a banner must never break a page (e.g. the 500 page itself)
                log.exception("calendar banner")
                session.rollback()
    return {"calendar_banner": g.sla_banner}


@bp.app_template_filter("calendar_source")
def _source_label(source: str) -> str:
    return SOURCE_LABELS.get(source, source)


# -------------------------------------------------------------------------------------- calendar


@bp.get("/calendar")
@requires(Role.SUPERVISOR)
def calendar() -> Any:
    today = _today()
    year, month = _month_arg(request.args.get("month", ""), today)
    prev_month = f"{year - 1}-12" if month == 1 else f"{year}-{month - 1:02d}"
    next_month = f"{year + 1}-01" if month == 12 else f"{year}-{month + 1:02d}"
    return render_template(
        "sla/calendar.html",
        year=year,
        month=month,
        weeks=service.month_weeks(year, month),
        years=service.year_infos(extra=(today.year, today.year + 1, year)),
        prev_month=prev_month,
        next_month=next_month,
        today=today,
        states=service.DAY_STATES,
    )


@bp.post("/calendar/day")
@requires(Role.SUPERVISOR)
def set_day() -> Any:
    try:
        day = date.fromisoformat(request.form.get("day", ""))
    except ValueError:
        flash("请填写日期，例如 2026-10-09。", "error")
        return redirect(url_for("sla.calendar"))
    try:
        result = service.set_day(
            day,
            request.form.get("state", ""),
            name=request.form.get("name", ""),
            reason=request.form.get("reason", ""),
            by=current_user,
        )
    except service.CalendarError as exc:
        flash(str(exc), "error")
    else:
        if result is None:
            flash(f"{day} 没有变化。", "info")
        else:
            flash(
                f"已修改 {day}（{service.DAY_STATES[request.form['state']]}）。{result.summary()}", "success"
            )
    return redirect(url_for("sla.calendar", month=f"{day:%Y-%m}"))


@bp.get("/calendar/year/<int:year>")
@requires(Role.SUPERVISOR)
def year(year: int) -> Any:
    if not 2000 <= year <= 2100:
        abort(404)
    days = service.year_days(year)
    return render_template(
        "sla/year.html",
        info=service.year_info(year),
        off=[d for d in days if d.kind == "off"],
        work=[d for d in days if d.kind == "work"],
    )


@bp.get("/calendar/import")
@requires(Role.SUPERVISOR)
def import_form() -> Any:
    today = _today()
    year = request.args.get("year", type=int) or (service.missing_years(today) or [today.year + 1])[0]
    if not 2000 <= year <= 2100:
        abort(404)
    return render_template("sla/import.html", form={"year": year}, notice=None, info=service.year_info(year))


@bp.post("/calendar/import")
@requires(Role.SUPERVISOR)
def import_year() -> Any:
    form = {k: request.form.get(k, "") for k in ("year", "off", "work", "source", "replace", "text")}
    try:
        year = int(form["year"])
    except ValueError:
        flash("请填写年份。", "error")
        return render_template("sla/import.html", form=form, notice=None, info=None), 400
    info = service.year_info(year) if 2000 <= year <= 2100 else None
    try:
        if form["text"].strip():  # the notice's own prose: read into date lines, then the same checks
            pasted = parse_notice_text(form["text"], year)
            form.update(off="\n".join(pasted.off), work="\n".join(pasted.work), text="")
            for note in pasted.notes:
                flash(note, "info")
        notice = service.parse_notice(year, [form["off"]], [form["work"]])
        if request.form.get("confirm") != "1":  # first the check, then the supervisor confirms
            return render_template("sla/import.html", form=form, notice=notice, info=info)
        result = service.import_year(
            notice, source=form["source"], by=current_user, replace=form["replace"] == "1"
        )
    except (service.CalendarError, NoticeTextError) as exc:
        flash(str(exc), "error")
        return render_template("sla/import.html", form=form, notice=None, info=info), 400
    off, work = notice.counts
    flash(f"已录入 {year} 年放假安排：工作日放假 {off} 天，调休上班 {work} 天。{result.summary()}", "success")
    return redirect(url_for("sla.year", year=year))


@bp.post("/recompute")
@requires(Role.SUPERVISOR)
def recompute() -> Any:
    result = service.recompute_open_tickets_report()
    flash(result.summary(), "success")
    return redirect(url_for("sla.calendar"))


# -------------------------------------------------------------------------------------- policies


@bp.get("/policies")
@requires(Role.SUPERVISOR)
def policies() -> Any:
    return render_template(
        "sla/policies.html", policies=service.policies(), types=TYPE_LABELS, modes=service.MODES
    )


@bp.post("/policies/<ticket_type>")
@requires(Role.SUPERVISOR)
def update_policy(ticket_type: str) -> Any:
    if ticket_type not in TYPE_LABELS:
        abort(404)
    try:
        result = service.update_policy(
            ticket_type,
            mode=request.form.get("mode", ""),
            days=_int(request.form.get("days")),
            business_start=request.form.get("business_start", ""),
            business_end=request.form.get("business_end", ""),
            warn_percent=_int(request.form.get("warn_percent")),
            by=current_user,
        )
    except service.CalendarError as exc:
        flash(f"{TYPE_LABELS[ticket_type]}：{exc}", "error")
        return redirect(url_for("sla.policies"))
    if result is None:
        flash(f"{TYPE_LABELS[ticket_type]}：没有变化。", "info")
    else:
        flash(f"已保存“{TYPE_LABELS[ticket_type]}”的时限。{result.summary()}", "success")
    return redirect(url_for("sla.policies"))


def _int(raw: str | None) -> int:
    try:
        return int(raw or "")
    except ValueError:
        return 0


def _month_arg(raw: str, today: date) -> tuple[int, int]:
    try:
        year, month = (int(p) for p in raw.split("-"))
        if 2000 <= year <= 2100 and 1 <= month <= 12:
            return year, month
    except ValueError:
        pass
    return today.year, today.month
