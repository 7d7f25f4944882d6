"""Export of the applied changes (audit entries of resolutions) for the platform team, as CSV or XLSX."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from helpdesk.auth.models import User
from helpdesk.db import session
from helpdesk.records.models import AuditEntry, Enterprise
from helpdesk.records.resolutions import ACTION_LABELS, FIELD_LABELS

#: the audit actions that changed records on the platform's side (recovery only disclosed names)
EXPORTED_ACTIONS = ("change", "unbind", "cancel")
HEADERS = (
    "办理时间",
    "工单号",
    "操作",
    "企业名称",
    "统一社会信用代码",
    "对象",
    "字段",
    "变更前",
    "变更后",
    "办理人",
)
WIDTHS = (19, 12, 8, 34, 22, 22, 18, 26, 26, 12)
ENTITY_LABELS = {"enterprise": "企业", "account": "账号", "qualification": "资质"}


@dataclass(frozen=True, slots=True)
class ChangeRow:
    at: datetime  #: local time, naive (as a spreadsheet shows it)
    ticket: str
    action: str
    company: str
    uscc: str
    target: str
    field: str
    before: str
    after: str
    actor: str

    def cells(self) -> tuple[object, ...]:
        return (self.at, self.ticket, self.action, self.company, self.uscc, self.target, self.field, self.before,
                self.after, self.actor)  # fmt: skip


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=tz)


def changes_between(since: datetime, until: datetime | None, tz: ZoneInfo) -> list[ChangeRow]:
    """Applied changes with since <= at < until (aware datetimes), oldest first."""
    stmt = (
        select(AuditEntry, Enterprise.name, Enterprise.uscc, User.display_name, User.username)
        .outerjoin(Enterprise, Enterprise.id == AuditEntry.enterprise_id)
        .outerjoin(User, User.id == AuditEntry.actor_id)
        .where(AuditEntry.action.in_(EXPORTED_ACTIONS), AuditEntry.at >= since)
        .order_by(AuditEntry.at, AuditEntry.id)
    )
    if until is not None:
        stmt = stmt.where(AuditEntry.at < until)
    rows = []
    for entry, company, uscc, display, username in session.execute(stmt):
        target = ENTITY_LABELS.get(entry.entity, entry.entity)
        if entry.entity == "account":
            target = f"账号 {entry.entity_id}"
        rows.append(
            ChangeRow(
                at=entry.at.astimezone(tz).replace(tzinfo=None, microsecond=0),
                ticket=f"ZXZJ#{entry.ticket_id}" if entry.ticket_id else "",
                action=ACTION_LABELS.get(entry.action, entry.action),
                company=company or "",
                uscc=uscc or "",
                target=target,
                field=FIELD_LABELS.get(entry.field, entry.field),
                before=entry.before or "",
                after=entry.after or "",
                actor=display or username or "",
            )
        )
    return rows


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _inert(value: object) -> object:
    """A text cell that a spreadsheet would run as a formula, quoted (names and values come from letters)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not value.lstrip("-+").isdigit():
        return "'" + value
    return value


def iter_csv(rows: list[ChangeRow]) -> Iterator[bytes]:
    """UTF-8 with BOM (Excel opens it as UTF-8), Chinese headers, dates as YYYY-MM-DD HH:MM:SS; in
    chunks of about 500 rows, for a streamed response."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    out.write("\ufeff")
    writer.writerow(HEADERS)
    for n, row in enumerate(rows, start=1):
        cells = [_inert(c) for c in row.cells()]
        cells[0] = row.at.strftime("%Y-%m-%d %H:%M:%S")
        writer.writerow(cells)
        if n % 500 == 0:
            yield out.getvalue().encode("utf-8")
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode("utf-8")


def to_csv(rows: list[ChangeRow]) -> bytes:
    """The whole CSV (see iter_csv)."""
    return b"".join(iter_csv(rows))


#: columns (0-based) holding codes and values: they must stay text (no scientific notation, no lost zeros)
_TEXT_COLUMNS = (4, 7, 8)


def to_xlsx(rows: list[ChangeRow], *, title: str = "变更记录") -> bytes:
    """One sheet: bold frozen header, column widths, real date-time cells, codes kept as text.

    Written row by row in openpyxl's write-only mode: the normal mode's `sheet[sheet.max_row]`
    scanned every cell after each row (quadratic; see bench/exports.py).
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title)
    for i, width in enumerate(WIDTHS, start=1):  # widths, panes and filter go before the first row
        sheet.column_dimensions[get_column_letter(i)].width = width
    sheet.freeze_panes = "A2"
    if rows:
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(HEADERS))}{len(rows) + 1}"
    bold, middle = Font(bold=True), Alignment(vertical="center")
    header = []
    for text in HEADERS:
        cell = WriteOnlyCell(sheet, value=text)
        cell.font, cell.alignment = bold, middle
        header.append(cell)
    sheet.append(header)

    def cell(value: object, number_format: str) -> WriteOnlyCell:
        c = WriteOnlyCell(sheet, value=value)
        if c.data_type == "f":  # openpyxl reads "=..." as a formula: keep it text
            c.data_type = "s"
        c.number_format = number_format
        return c

    for row in rows:
        values: list[object] = list(row.cells())
        values[0] = cell(row.at, "yyyy-mm-dd hh:mm:ss")
        for col in _TEXT_COLUMNS:
            values[col] = cell(values[col], "@")
        for col, value in enumerate(values):
            if isinstance(value, str) and value.startswith("="):
                values[col] = cell(value, "General")
        sheet.append(values)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def export_chunks(
    since: date, until: date | None, fmt: str, tz: ZoneInfo
) -> tuple[Iterator[bytes], str, int]:
    """(the file in chunks, file name, number of rows) of the changes from `since` to `until` (local
    dates, inclusive); a CSV comes out as it is written, for a streamed response."""
    start = local_midnight(since, tz)
    end = local_midnight(until + timedelta(days=1), tz) if until else None
    rows = changes_between(start, end, tz)
    stamp = f"{since:%Y%m%d}-{(until or datetime.now(tz).date()):%Y%m%d}"
    if fmt == "xlsx":
        return iter([to_xlsx(rows)]), f"变更记录_{stamp}.xlsx", len(rows)
    return iter_csv(rows), f"变更记录_{stamp}.csv", len(rows)


def export(since: date, until: date | None, fmt: str, tz: ZoneInfo) -> tuple[bytes, str, int]:
    """(file bytes, file name, number of rows): export_chunks, whole (for the CLI)."""
    chunks, name, count = export_chunks(since, until, fmt, tz)
    return b"".join(chunks), name, count
