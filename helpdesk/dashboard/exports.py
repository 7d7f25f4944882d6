"""The period report and the breach list as XLSX (openpyxl) and CSV (UTF-8 with BOM, for Excel).

Each export is a list of `Table`s: the XLSX has one sheet per table, with Chinese headers, column
widths set, frozen header row, real dates (local time, formatted) and numbers; the CSV holds the
first table only, dates written as "YYYY-MM-DD HH:MM" local time.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from helpdesk import xlsx
from helpdesk.dashboard.queries import TYPES, TZ, Report, Stats
from helpdesk.tickets.models import STATUS_LABELS, TYPE_LABELS

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIME = "text/csv; charset=utf-8"

DATETIME, DATE, HOURS, PERCENT, INT, TEXT = "datetime", "date", "hours", "percent", "int", "text"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_FORMATS = {DATETIME: "yyyy-mm-dd hh:mm", DATE: "yyyy-mm-dd", HOURS: "0.0", PERCENT: "0.0%", INT: "0"}


@dataclass
class Column:
    header: str
    kind: str = TEXT


@dataclass
class Table:
    title: str  #: sheet name (31 characters at most)
    columns: list[Column]
    rows: list[list[Any]]


def _local(dt: datetime | None) -> datetime | None:
    return None if dt is None else dt.astimezone(TZ).replace(tzinfo=None)


def _hours(minutes: float | None) -> float | None:
    return None if minutes is None else round(minutes / 60, 2)


def _stats_row(label: str, received: int, s: Stats, breaches: int) -> list[Any]:
    return [
        label,
        received,
        s.resolved,
        s.met,
        s.compliance,
        _hours(s.median_minutes),
        _hours(s.p90_minutes),
        _hours(s.paused_total),
        s.reopen_rate,
        breaches,
    ]


SUMMARY_COLUMNS = [
    Column("分组"),
    Column("收到", INT),
    Column("办结（含驳回）", INT),
    Column("按时办结", INT),
    Column("按时办结率", PERCENT),
    Column("办理用时中位数（工作小时）", HOURS),
    Column("办理用时P90（工作小时）", HOURS),
    Column("暂停合计（工作小时）", HOURS),
    Column("重开率", PERCENT),
    Column("超时", INT),
]


def report_tables(report: Report) -> list[Table]:
    """Summary (all, by type, by agent), the period's resolutions, the breaches, the daily series."""
    breaches_by_agent: dict[int | None, int] = {}
    for b in report.breaches:
        breaches_by_agent[b.agent_id] = breaches_by_agent.get(b.agent_id, 0) + 1
    summary = [
        _stats_row(
            f"全部（{report.period.first} 至 {report.period.last}）",
            report.received,
            report.total,
            len(report.breaches),
        )
    ]
    for t in TYPES:
        summary.append(
            _stats_row(
                f"类型：{TYPE_LABELS[t]}",
                report.by_type_received.get(t, 0),
                report.by_type[t],
                report.breaches_by_type.get(t, 0),
            )
        )
    for a in report.agents:
        summary.append(
            _stats_row(
                f"客服：{a.name}",
                report.by_agent_received.get(a.id, 0),
                a.stats,
                breaches_by_agent.get(a.id, 0),
            )
        )
    resolutions = [
        [
            f"ZXZJ#{r.ticket_id}",
            TYPE_LABELS.get(r.ticket_type, r.ticket_type),
            report.users.get(r.agent_id, "") if r.agent_id else "",
            r.no,
            _local(r.start),
            _local(r.stop),
            STATUS_LABELS.get(r.stop_status, ""),
            _local(r.due),
            "是" if r.met else "否",
            _hours(r.handling_minutes),
            _hours(r.paused_minutes),
            "是" if r.reopened else "否",
        ]
        for r in sorted(report.resolutions, key=lambda r: (r.stop, r.ticket_id))
    ]
    return [
        Table("概要", SUMMARY_COLUMNS, summary),
        Table(
            "办结明细",
            [
                Column("工单号"),
                Column("类型"),
                Column("客服"),
                Column("第几次计时", INT),
                Column("计时开始", DATETIME),
                Column("办结时间", DATETIME),
                Column("办结方式"),
                Column("截止时间", DATETIME),
                Column("是否按时"),
                Column("办理用时（工作小时）", HOURS),
                Column("暂停（工作小时）", HOURS),
                Column("之后重开"),
            ],
            resolutions,
        ),
        breach_table(report),
        Table(
            "每日",
            [Column("日期", DATE), Column("收到", INT), Column("办结", INT)],
            [[d, received, resolved] for d, received, resolved in report.daily],
        ),
    ]


def breach_table(report: Report) -> Table:
    rows = [
        [
            f"ZXZJ#{b.clock.ticket_id}",
            b.subject,
            TYPE_LABELS.get(b.ticket_type, b.ticket_type),
            b.agent,
            b.clock.no,
            _local(b.clock.start),
            _local(b.clock.breach_due),
            None if b.still_open else _local(b.clock.stop),
            "未办结" if b.still_open else "已办结（超时）",
            _hours(b.over_minutes),
            "；".join(b.reasons),
        ]
        for b in report.breaches
    ]
    return Table(
        "超时明细",
        [
            Column("工单号"),
            Column("主题"),
            Column("类型"),
            Column("客服"),
            Column("第几次计时", INT),
            Column("计时开始", DATETIME),
            Column("截止时间", DATETIME),
            Column("办结时间", DATETIME),
            Column("状态"),
            Column("超时（工作小时）", HOURS),
            Column("原因"),
        ],
        rows,
    )


def _width(value: Any, kind: str) -> int:
    if value is None:
        return 0
    if kind == DATETIME:
        return 16
    if kind == DATE:
        return 10
    text = str(value)
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def iter_xlsx(tables: Sequence[Table]) -> Iterator[bytes]:
    """A workbook with one sheet per table, in chunks as it is written (helpdesk.xlsx, linear: see
    bench/exports.py). Text is always text, so a subject that starts with "=" is never a formula."""
    sheets = []
    for table in tables:
        widths = [
            min(60, max(8, max([_width(col.header, TEXT)] + [_width(r[i], col.kind) for r in table.rows[:2000]]) + 2))
            for i, col in enumerate(table.columns)
        ]  # fmt: skip
        sheets.append(
            xlsx.Sheet(
                title=table.title[:31],
                headers=[col.header for col in table.columns],
                rows=table.rows,
                widths=widths,
                formats=[_FORMATS.get(col.kind) for col in table.columns],
                header_fill="EEF2F6",
            )
        )
    return xlsx.iter_workbook(sheets)


def to_xlsx(tables: Sequence[Table]) -> bytes:
    """The whole workbook (see iter_xlsx)."""
    return b"".join(iter_xlsx(tables))


def _csv_value(value: Any, kind: str) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if kind == PERCENT:
        return f"{value * 100:.1f}%"
    if kind == HOURS:
        return f"{value:.1f}"
    if isinstance(value, str) and value[:1] in FORMULA_STARTS:
        return "'" + value  # a spreadsheet would run it as a formula (CSV injection)
    return value


def iter_csv(table: Table) -> Iterator[bytes]:
    """One table as CSV, UTF-8 with a byte-order mark so that Excel reads the Chinese text, in chunks
    of about 500 rows (for a streamed response)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    out.write("\ufeff")
    writer.writerow([c.header for c in table.columns])
    for n, row in enumerate(table.rows, start=1):
        writer.writerow([_csv_value(v, c.kind) for v, c in zip(row, table.columns, strict=True)])
        if n % 500 == 0:
            yield out.getvalue().encode("utf-8")
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode("utf-8")


def to_csv(table: Table) -> bytes:
    """One table as CSV (see iter_csv), whole."""
    return b"".join(iter_csv(table))
