"""Export of the applied changes (audit entries of resolutions) for the platform team, as CSV or XLSX."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from helpdesk import xlsx
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


BATCH = 2000  #: audit rows per fetch: the export reads them as it writes, never all at once


def iter_changes(since: datetime, until: datetime | None, tz: ZoneInfo) -> Iterator[ChangeRow]:
    """Applied changes with since <= at < until (aware datetimes), oldest first, read in batches.

    A plain Core select of the columns the export shows (no ORM objects: building 100,000 AuditEntry
    instances cost more than writing the file), streamed with yield_per (a server-side cursor on
    PostgreSQL), so memory stays flat however long the period.
    """
    a = AuditEntry.__table__.c
    stmt = (
        select(
            a.at,
            a.ticket_id,
            a.action,
            a.entity,
            a.entity_id,
            a.field,
            a.before,
            a.after,
            Enterprise.name,
            Enterprise.uscc,
            User.display_name,
            User.username,
        )  # fmt: skip
        .select_from(AuditEntry.__table__)
        .outerjoin(Enterprise, Enterprise.id == a.enterprise_id)
        .outerjoin(User, User.id == a.actor_id)
        .where(a.action.in_(EXPORTED_ACTIONS), a.at >= since)
        .order_by(a.at, a.id)
        .execution_options(yield_per=BATCH)
    )
    if until is not None:
        stmt = stmt.where(a.at < until)
    actions, fields, entities = ACTION_LABELS, FIELD_LABELS, ENTITY_LABELS
    for (
        at,
        ticket_id,
        action,
        entity,
        entity_id,
        field,
        before,
        after,
        company,
        uscc,
        display,
        username,
    ) in session.execute(stmt):
        yield ChangeRow(
            at=at.astimezone(tz).replace(tzinfo=None, microsecond=0),
            ticket=f"ZXZJ#{ticket_id}" if ticket_id else "",
            action=actions.get(action, action),
            company=company or "",
            uscc=uscc or "",
            target=f"账号 {entity_id}" if entity == "account" else entities.get(entity, entity),
            field=fields.get(field, field),
            before=before or "",
            after=after or "",
            actor=display or username or "",
        )


def changes_between(since: datetime, until: datetime | None, tz: ZoneInfo) -> list[ChangeRow]:
    """Applied changes with since <= at < until (aware datetimes), oldest first (see iter_changes)."""
    return list(iter_changes(since, until, tz))


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _inert(value: object) -> object:
    """A text cell that a spreadsheet would run as a formula, quoted (names and values come from letters)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not value.lstrip("-+").isdigit():
        return "'" + value
    return value


class RowTally:
    """How many rows an export has written so far (known in full once its chunks are consumed)."""

    def __init__(self) -> None:
        self.rows = 0

    def counted(self, rows: Iterable[ChangeRow]) -> Iterator[ChangeRow]:
        for row in rows:
            self.rows += 1
            yield row


def iter_csv(rows: Iterable[ChangeRow]) -> Iterator[bytes]:
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


def to_csv(rows: Iterable[ChangeRow]) -> bytes:
    """The whole CSV (see iter_csv)."""
    return b"".join(iter_csv(rows))


#: number formats by column: the date-time, and codes and values that must stay text (no scientific
#: notation, no lost zeros)
_FORMATS = ("yyyy-mm-dd hh:mm:ss", None, None, None, "@", None, None, "@", "@", None)


def iter_xlsx(rows: Iterable[ChangeRow], *, title: str = "变更记录") -> Iterator[bytes]:
    """One sheet in chunks as it is written: bold frozen header, column widths, real date-time
    cells, codes kept as text, every text a text (a value "=1+1" from a letter is never a formula)."""
    sheet = xlsx.Sheet(
        title=title,
        headers=HEADERS,
        rows=(row.cells() for row in rows),
        widths=WIDTHS,
        formats=_FORMATS,
    )
    return xlsx.iter_workbook([sheet])


def to_xlsx(rows: Iterable[ChangeRow], *, title: str = "变更记录") -> bytes:
    """The whole workbook (see iter_xlsx)."""
    return b"".join(iter_xlsx(rows, title=title))


def export_chunks(
    since: date, until: date | None, fmt: str, tz: ZoneInfo
) -> tuple[Iterator[bytes], str, RowTally]:
    """(the file in chunks, file name, its row tally) of the changes from `since` to `until` (local
    dates, inclusive). The rows are read from the database as the chunks are consumed, so a streamed
    response needs the application context until its end (the view uses stream_with_context); the
    tally holds the row count once the last chunk is out."""
    start = local_midnight(since, tz)
    end = local_midnight(until + timedelta(days=1), tz) if until else None
    tally = RowTally()
    rows = tally.counted(iter_changes(start, end, tz))
    stamp = f"{since:%Y%m%d}-{(until or datetime.now(tz).date()):%Y%m%d}"
    if fmt == "xlsx":
        return iter_xlsx(rows), f"变更记录_{stamp}.xlsx", tally
    return iter_csv(rows), f"变更记录_{stamp}.csv", tally


def export(since: date, until: date | None, fmt: str, tz: ZoneInfo) -> tuple[bytes, str, int]:
    """(file bytes, file name, number of rows): export_chunks, whole (for the CLI)."""
    chunks, name, tally = export_chunks(since, until, fmt, tz)
    data = b"".join(chunks)
    return data, name, tally.rows
