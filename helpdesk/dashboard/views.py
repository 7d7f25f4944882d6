"""Supervisor dashboard: the "now" panel, the period report, people, charts, drill-down and exports.

Endpoints (supervisors and admins):
  GET  /dashboard/                      the whole page (?period=week|last_week|month|last_month|custom
                                        &from=&to=&type=&agent=)
  GET  /dashboard/now                   the "now" panel alone (polled by static/app.js every minute)
  GET  /dashboard/drill?key=...         the tickets behind a figure too large for an ids= queue link
  GET  /dashboard/export/report.xlsx|csv, /dashboard/export/breaches.xlsx|csv   (same query as the page)
  POST /dashboard/reassign              move one agent's open tickets to another
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from helpdesk.auth.models import Role, User
from helpdesk.dashboard import charts, exports, queries, services
from helpdesk.dashboard.figures import ID_LINK_LIMIT, Figures
from helpdesk.dashboard.periods import DEFAULT_PERIOD
from helpdesk.db import session, utcnow
from helpdesk.params import optional_int, parse_id, parse_int
from helpdesk.sla.wording import working_time
from helpdesk.tickets.models import STATUS_LABELS, TYPE_LABELS, Ticket
from helpdesk.web import requires

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")

REPORT_ARGS = ("period", "from", "to", "type", "agent")
DRILL_PAGE = 100


class Links:
    """Turns a figure key into the URL of exactly its tickets: queue filters, ids=, or the drill page."""

    def __init__(self, figures: Figures, report_args: dict[str, str]) -> None:
        self.figures = figures
        self.report_args = report_args

    def href(self, key: str) -> str | None:
        fig = self.figures.get(key)
        if fig is None or fig.value == 0:
            return None  # nothing to list (and an empty ids= would read as "no filter")
        if fig.filters is not None:
            return url_for("tickets.queue", **fig.filters)
        if fig.few_ids(ID_LINK_LIMIT):
            return url_for("tickets.queue", ids=",".join(map(str, fig.ids or ())))
        return url_for("dashboard.drill", key=key, **self.report_args)

    def value(self, key: str) -> int:
        return self.figures.value(key)


def _now() -> datetime:
    return utcnow()


def _report_args() -> dict[str, str]:
    return {k: request.args[k] for k in REPORT_ARGS if request.args.get(k)}


def _agent_arg() -> int | None:
    return parse_id(request.args.get("agent"))


def _report(now: datetime) -> queries.Report:
    today = now.astimezone(queries.TZ).date()
    period = queries.period_for(
        request.args.get("period", DEFAULT_PERIOD), today, request.args.get("from"), request.args.get("to")
    )
    return queries.period_report(
        period, now, ticket_type=request.args.get("type") or None, agent_id=_agent_arg()
    )


def hours(minutes: float | None, unit: str = " 小时") -> str:
    if minutes is None:
        return "—"
    return f"{minutes / 60:.1f}{unit}"


def overdue(minutes: int | None) -> str:
    """Business time past due; a clock that ran out at close of business is late by 0 business minutes."""
    if minutes is None:
        return "—"
    if minutes <= 0:
        return "不足 1 分钟（截止后为非工作时间）"
    return working_time(minutes)


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "从未"
    minutes = int((now - moment).total_seconds() // 60)
    if minutes < 1:
        return "刚刚"
    if minutes < 120:
        return f"{minutes} 分钟前"
    if minutes < 48 * 60:
        return f"{minutes // 60} 小时前"
    return f"{minutes // 1440} 天前"


def _now_context(now: datetime) -> dict[str, Any]:
    panel = queries.now_panel(now)
    return {
        "now": panel,
        "nl": Links(panel.figures, {}),
        "STATUS_LABELS": STATUS_LABELS,
        "TYPE_LABELS": TYPE_LABELS,
        "AGE_LABELS": queries.AGE_LABELS,
        "hours": hours,
        "overdue": overdue,
        "ago": ago,
        "pct": pct,
        "calendar_url": url_for("sla.calendar") if "sla.calendar" in current_app.view_functions else None,
        "ageing_chart": _ageing_chart(panel),
    }


def _ageing_chart(panel: queries.NowPanel) -> Any:
    links = Links(panel.figures, {})
    return charts.bar_chart(
        "未结工单账龄（工作日）",
        list(queries.AGE_LABELS),
        [
            charts.Series(
                "工单数",
                charts.BLUE,
                panel.ageing,
                [links.href(f"now.age.{k}") for k in range(4)],
                colors=[charts.GREEN, charts.BLUE, charts.ORANGE, charts.RED],
            )
        ],
        value_labels=True,
        height=220,
    )


def _report_charts(report: queries.Report, links: Links) -> list[Any]:
    days = [d.strftime("%m-%d") for d, _, _ in report.daily]
    daily = charts.bar_chart(
        "每日收到与办结",
        days,
        [
            charts.Series("收到", charts.BLUE, [r for _, r, _ in report.daily]),
            charts.Series("办结", charts.GREEN, [s for _, _, s in report.daily]),
        ],
    )
    weekly = charts.bar_chart(
        "每周按时办结率",
        [f"{m:%m-%d} 周" for m, _, _ in report.weekly],
        [charts.Series("按时办结率", charts.GREEN, [met / n if n else None for _, n, met in report.weekly])],
        y_max=1,
        y_format=charts.percent,
        value_labels=True,
        empty_text="本期暂无办结",
    )
    types = list(queries.TYPES)
    by_type = charts.bar_chart(
        "超时工单（按类型）",
        [TYPE_LABELS[t] for t in types],
        [
            charts.Series(
                "超时",
                charts.RED,
                [report.breaches_by_type.get(t, 0) for t in types],
                [links.href(f"report.type.{t}.breaches") for t in types],
            )
        ],
        value_labels=True,
        empty_text="本期无超时",
    )
    return [daily, weekly, by_type]


@bp.get("/")
@requires(Role.SUPERVISOR)
def index() -> Any:
    now = _now()
    report = _report(now)
    links = Links(report.figures, _report_args())
    agents = session.scalars(
        select(User).where(User.active.is_(True)).order_by(User.display_name, User.username)
    ).all()
    return render_template(
        "dashboard/index.html",
        report=report,
        rl=links,
        report_charts=_report_charts(report, links),
        agents=agents,
        args=request.args,
        export_args=_report_args(),
        scopes=services.SCOPES,
        **_now_context(now),
    )


@bp.get("/now")
@requires(Role.SUPERVISOR)
def now_fragment() -> Any:
    return render_template("dashboard/_now.html", **_now_context(_now()))


@bp.get("/drill")
@requires(Role.SUPERVISOR)
def drill() -> Any:
    key = request.args.get("key", "")
    now = _now()
    if key.startswith("now."):
        figs = queries.now_panel(now, want_ids=key).figures
    elif key.startswith(("report.", "people.")):
        figs = _report(now).figures
    else:
        abort(404)
    fig = figs.get(key)
    if fig is None:
        abort(404)
    if fig.filters is not None:
        return redirect(url_for("tickets.queue", **fig.filters))
    ids = fig.ids or []
    if len(ids) <= ID_LINK_LIMIT:
        return redirect(url_for("tickets.queue", ids=",".join(map(str, ids))))
    page = parse_int(request.args.get("page"), low=1) or 1
    shown = ids[(page - 1) * DRILL_PAGE : page * DRILL_PAGE]
    tickets = (
        session.scalars(select(Ticket).where(Ticket.id.in_(shown)).order_by(Ticket.id)).all() if shown else []
    )
    return render_template(
        "dashboard/drill.html",
        key=key,
        total=len(ids),
        tickets=tickets,
        page=page,
        pages=(len(ids) + DRILL_PAGE - 1) // DRILL_PAGE,
        args=request.args,
        back_args=_report_args(),
    )


@bp.get("/export/<what>.<fmt>")
@requires(Role.SUPERVISOR)
def export(what: str, fmt: str) -> Any:
    if what not in ("report", "breaches") or fmt not in ("xlsx", "csv"):
        abort(404)
    report = _report(_now())
    tables = exports.report_tables(report) if what == "report" else [exports.breach_table(report)]
    if fmt == "xlsx":
        body, mime = exports.iter_xlsx(tables), exports.XLSX_MIME
    else:
        body, mime = exports.iter_csv(tables[0]), exports.CSV_MIME
    stem = "sla-report" if what == "report" else "sla-breaches"
    name = f"{stem}-{report.period.first:%Y%m%d}-{report.period.last:%Y%m%d}.{fmt}"
    return Response(body, mimetype=mime, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.post("/reassign")
@requires(Role.SUPERVISOR)
def reassign() -> Any:
    back = (
        url_for("dashboard.index", **{k: v for k, v in request.form.items() if k in REPORT_ARGS and v})
        + "#people"
    )
    from_id, target = parse_id(request.form.get("from_user")), request.form.get("to_user", "")
    to_id = parse_id(target)
    from_user = session.get(User, from_id) if from_id is not None else None
    to_user = session.get(User, to_id) if to_id is not None else None
    if from_user is None or (to_user is None and target != "none"):
        flash("请选择原客服和目标客服。", "error")
        return redirect(back)
    limit = optional_int(request.form.get("limit"), "改派数量")
    try:
        moved = services.reassign(
            from_user, to_user, by=current_user, scope=request.form.get("scope", "all"), limit=limit
        )
    except services.ReassignError as exc:
        flash(str(exc), "error")
        return redirect(back)
    target_name = to_user.name if to_user else "未分配"
    if moved:
        flash(f"已将 {from_user.name} 的 {len(moved)} 张工单改派给 {target_name}。", "success")
    else:
        flash(f"{from_user.name} 没有符合条件的未结工单。", "warning")
    return redirect(back)
