"""`helpdesk sla ...` and `helpdesk calendar ...`: deadlines, the stored calendar, entering a year."""

from __future__ import annotations

from datetime import datetime
from itertools import groupby

import click
from flask.cli import with_appcontext

from helpdesk.sla import clock, service
from helpdesk.sla.calendar import WEEKDAY_ZH
from helpdesk.vocabulary import TYPE_LABELS


@click.group("sla")
def sla_group() -> None:
    """SLA deadlines on the stored calendar and policies."""


@sla_group.command("due")
@click.option(
    "--received", required=True, help="When the mail reached the server, e.g. 2026-09-30T18:42:00+08:00."
)
@click.option(
    "--type", "ticket_type", type=click.Choice(list(TYPE_LABELS)), default="change", show_default=True
)
@with_appcontext
def due(received: str, ticket_type: str) -> None:
    """Print the deadline of a mail received at --received and how it was counted."""
    try:
        at = datetime.fromisoformat(received)
    except ValueError:
        raise click.BadParameter(
            "请写成 ISO 格式，例如 2026-09-30T18:42:00+08:00", param_hint="--received"
        ) from None
    if at.tzinfo is None:  # a bare local time is Beijing time
        at = at.replace(tzinfo=clock.TZ)
    info = service.explain_due(at, ticket_type)
    p = info.policy
    mode = "按工作日" if p.mode == "working_days" else "按工作时间"
    click.echo(
        f"类型：{TYPE_LABELS[ticket_type]}（{ticket_type}），{mode} {p.days} 个工作日，"
        f"上班 {p.start:%H:%M}-{p.end:%H:%M}，{p.warn_ratio:.0%} 预警"
    )
    click.echo(f"收到：{_stamp(info.received)}")
    click.echo(f"截止：{_stamp(info.due_at)}{'（暂定）' if info.provisional else ''}")
    click.echo(f"预警：{_stamp(info.warn_at)}")
    click.echo(f"工作时间预算：{clock._hours(info.budget_minutes)}")
    click.echo(f"说明：{info.explanation}")
    click.echo(f"日历版本：{info.calendar_version}")


@sla_group.command("recompute")
@with_appcontext
def recompute() -> None:
    """Recompute every open ticket's deadline on the stored calendar and policies."""
    click.echo(service.recompute_open_tickets_report().summary())


@click.group("calendar")
def calendar_group() -> None:
    """The stored working-day calendar (China's official holidays and make-up workdays)."""


@calendar_group.command("show")
@click.argument("year", type=click.IntRange(2000, 2100))
@with_appcontext
def show(year: int) -> None:
    """Print a year's weekday days off, make-up weekend workdays and the check counts."""
    info = service.year_info(year)
    days = service.year_days(year)
    source = _source(info.source)
    click.echo(f"{year} 年：{info.status_label}{f'（来源：{source}）' if source else ''}")
    if info.status != "official":
        click.echo(f"  {year} 年尚无官方安排：涉及这一年的截止时间按周一至周五暂定。")
    click.echo("工作日放假：")
    _print_grouped([d for d in days if d.kind == "off"])
    click.echo("调休上班（周末）：")
    _print_grouped([d for d in days if d.kind == "work"])
    click.echo(f"核对：工作日放假 {info.days_off} 天，调休上班 {info.makeup_days} 天")


@calendar_group.command("import-year")
@click.argument("year", type=click.IntRange(2000, 2100))
@click.option(
    "--off",
    "off",
    multiple=True,
    required=True,
    help="Days off: 2027-01-01 or a range 2027-02-05:2027-02-11, optionally =name (repeatable).",
)
@click.option(
    "--work", "work", multiple=True, help="A make-up weekend workday, e.g. 2027-02-14 (repeatable)."
)
@click.option("--source", required=True, help="The State Council notice's URL.")
@click.option("--replace", is_flag=True, help="Replace a year that already has an official schedule.")
@with_appcontext
def import_year(year: int, off: tuple[str, ...], work: tuple[str, ...], source: str, replace: bool) -> None:
    """Enter a year the way the notice gives it; audited; recomputes the open tickets."""
    try:
        notice = service.parse_notice(year, list(off), list(work))
        result = service.import_year(notice, source=source, by=None, replace=replace)
    except service.CalendarError as exc:
        raise click.ClickException(str(exc)) from None
    for note in notice.notes:
        click.echo(f"注意：{note}")
    days_off, makeup = notice.counts
    click.echo(f"已录入 {year} 年：工作日放假 {days_off} 天，调休上班 {makeup} 天（来源：{source}）")
    click.echo(result.summary())


@calendar_group.command("set-day")
@click.argument("day", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.argument("state", type=click.Choice(list(service.DAY_STATES)))
@click.option("--name", default="", help="A label, e.g. 台风停工.")
@click.option("--reason", default="", help="Why (kept in the audit log).")
@with_appcontext
def set_day(day: datetime, state: str, name: str, reason: str) -> None:
    """Make one day a day off ('off'), a working day ('work') or plain Mon-Fri again ('default')."""
    try:
        result = service.set_day(day.date(), state, name=name, reason=reason, by=None)
    except service.CalendarError as exc:
        raise click.ClickException(str(exc)) from None
    if result is None:
        click.echo(f"{day:%Y-%m-%d} 没有变化。")
    else:
        click.echo(f"已修改 {day:%Y-%m-%d}：{service.DAY_STATES[state]}。{result.summary()}")


def _source(source: str) -> str:
    return {"package": "chinesecalendar 软件包", "chinesecalendar": "chinesecalendar 软件包"}.get(
        source, source
    )


def _print_grouped(days: list) -> None:
    if not days:
        click.echo("  （无）")
        return
    for name, group in groupby(days, key=lambda d: d.name or "（未命名）"):
        items = "、".join(f"{d.day:%m-%d}（{WEEKDAY_ZH[d.day.weekday()]}）" for d in group)
        click.echo(f"  {name}：{items}")


def _stamp(at: datetime) -> str:
    local = at.astimezone(clock.TZ)
    return f"{local:%Y-%m-%d %H:%M}（{WEEKDAY_ZH[local.weekday()]}）"


COMMANDS: list[click.Command] = [sla_group, calendar_group]
