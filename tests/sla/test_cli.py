"""`helpdesk sla due`, `helpdesk calendar show`, `helpdesk calendar import-year` and `set-day`."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from helpdesk.cli import helpdesk as helpdesk_group
from helpdesk.db import session
from helpdesk.records.models import AuditEntry
from helpdesk.sla.models import CalendarDay, CalendarYear
from helpdesk.tickets.models import Ticket
from tests.tickets.factories import make_ticket

SH = ZoneInfo("Asia/Shanghai")
NOTICE = "https://www.gov.cn/zhengce/content/2027-notice.htm"


def run(app, *args: str):
    result = app.test_cli_runner().invoke(helpdesk_group, list(args))
    return result


def test_sla_due_prints_the_deadline_and_its_explanation(app):
    result = run(app, "sla", "due", "--received", "2026-09-30T18:42:00+08:00", "--type", "change")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "截止：2026-10-09 17:00（周五）" in lines
    assert (
        "说明：收到 2026-09-30 18:42（周三，下班后）；不计当日；"
        "第1个工作日 2026-10-08（国庆节后首个工作日），第2个工作日 2026-10-09；截止 2026-10-09 17:00"
    ) in lines
    assert lines[0].startswith("类型：变更（change），按工作日 2 个工作日，上班 09:00-17:00")


def test_sla_due_across_new_year_is_provisional(app):
    result = run(app, "sla", "due", "--received", "2026-12-31T10:00:00+08:00")
    assert result.exit_code == 0, result.output
    assert "截止：2027-01-04 17:00（周一）（暂定）" in result.output
    assert "2027年尚无官方节假日安排" in result.output


def test_sla_due_refuses_a_bad_time(app):
    result = run(app, "sla", "due", "--received", "yesterday")
    assert result.exit_code == 2 and "ISO" in result.output


def test_calendar_show_prints_days_off_make_up_days_and_the_check(app):
    result = run(app, "calendar", "show", "2026")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "2026 年：已录入" in out
    assert "  国庆节：10-01（周四）、10-02（周五）、10-05（周一）、10-06（周二）、10-07（周三）" in out
    assert "  国庆节：09-20（周日）、10-10（周六）" in out
    assert out.rstrip().endswith("核对：工作日放假 19 天，调休上班 6 天")
    assert "核对：工作日放假 18 天，调休上班 5 天" in run(app, "calendar", "show", "2025").output


def test_calendar_import_year_enters_2027_recomputes_and_prints_the_count(app):
    ticket = make_ticket(received_at=datetime(2026, 12, 31, 10, tzinfo=SH))
    assert "2027 年：未录入" in run(app, "calendar", "show", "2027").output
    result = run(
        app,
        "calendar",
        "import-year",
        "2027",
        "--off",
        "2027-01-01=元旦",
        "--off",
        "2027-02-05:2027-02-11=春节",
        "--work",
        "2027-02-14",
        "--source",
        NOTICE,
    )
    assert result.exit_code == 0, result.output
    assert "注意：2027-02-05 至 2027-02-11 中的 2 个周末日本就休息，不单独保存。" in result.output
    assert f"已录入 2027 年：工作日放假 6 天，调休上班 1 天（来源：{NOTICE}）" in result.output
    assert "其中 1 张的截止时间有变动，1 张不再是暂定" in result.output
    assert session.get(CalendarYear, 2027).source == NOTICE
    session.expire_all()
    assert session.get(Ticket, ticket.id).due_at == datetime(2027, 1, 5, 17, tzinfo=SH)
    entries = session.scalars(select(AuditEntry).where(AuditEntry.entity == "calendar_year")).all()
    assert [(e.entity_id, e.actor_id, e.detail["moved"]) for e in entries] == [("2027", None, 1)]
    out = run(app, "calendar", "show", "2027").output
    assert "  春节：02-05（周五）、02-08（周一）、02-09（周二）、02-10（周三）、02-11（周四）" in out
    assert "核对：工作日放假 6 天，调休上班 1 天" in out
    # a second time is refused unless --replace
    again = run(app, "calendar", "import-year", "2027", "--off", "2027-01-01", "--source", NOTICE)
    assert again.exit_code == 1 and "已有官方安排" in again.output


def test_calendar_import_year_refuses_a_weekday_make_up_day(app):
    result = run(
        app,
        "calendar",
        "import-year",
        "2027",
        "--off",
        "2027-01-01",
        "--work",
        "2027-01-04",
        "--source",
        NOTICE,
    )
    assert result.exit_code == 1
    assert "2027-01-04 是周一，本就上班" in result.output
    assert session.get(CalendarYear, 2027) is None


def test_calendar_set_day(app):
    result = run(app, "calendar", "set-day", "2026-03-10", "off", "--name", "台风停工", "--reason", "测试")
    assert result.exit_code == 0, result.output
    assert "已修改 2026-03-10：放假（不上班）" in result.output
    assert session.get(CalendarDay, date(2026, 3, 10)).name == "台风停工"
    assert "没有变化" in run(app, "calendar", "set-day", "2026-03-10", "off").output


def test_sla_recompute(app):
    make_ticket(received_at=datetime(2026, 3, 9, 10, tzinfo=SH))
    result = run(app, "sla", "recompute")
    assert result.exit_code == 0
    assert "已重新计算 1 张未结工单的截止时间，其中 0 张的截止时间有变动。" in result.output
