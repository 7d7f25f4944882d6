"""Reading: CSV or XLSX bytes -> `Table`s, each of one kind detected from its headers."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from helpdesk.letters.sources import zip_guard
from helpdesk.mail import charsets
from helpdesk.records.importer.columns import COLUMNS
from helpdesk.records.importer.report import ImportFileError

# ------------------------------------------------------------------------------------------ reading


@dataclass
class Table:
    """One CSV file or one worksheet: its kind, column map and data rows (row number, cells)."""

    source: str
    kind: str
    columns: dict[str, int]  #: field -> column index
    rows: list[tuple[int, list[str]]]
    ignored: list[str] = field(default_factory=list)
    encoding: str = ""

    def get(self, cells: list[str], name: str) -> str:
        i = self.columns.get(name)
        return cells[i] if i is not None and i < len(cells) else ""

    def has(self, name: str) -> bool:
        return name in self.columns


_NOTE = re.compile(r"[(\[【（].*?[)\]】）]")


def header_key(text: str) -> str:
    """A header as compared: NFKC, no spaces, no "*" marks, no bracketed notes."""
    t = unicodedata.normalize("NFKC", str(text or ""))
    t = _NOTE.sub("", t)
    return re.sub(r"[\s*＊:：]+", "", t)


_SYNONYMS: dict[str, dict[str, str]] = {
    kind: {header_key(h): f for f, names in cols.items() for h in names} for kind, cols in COLUMNS.items()
}


def detect_kind(headers: Sequence[str]) -> str | None:
    """The record kind a header row belongs to, or None.

    项目名称 makes a project table, 账号 an account table; 审核状态 or 允许修改资料 (or 年度 without
    the enterprise columns) a qualification table; 企业名称 with 统一社会信用代码 an enterprise table.
    """
    keys = [header_key(h) for h in headers]

    def has(kind: str, *fields: str) -> bool:
        mapped = {_SYNONYMS[kind].get(k) for k in keys}
        return all(f in mapped for f in fields)

    if has("project", "name"):
        return "project"
    if has("account", "account_name"):
        return "account"
    enterprise = has("enterprise", "name", "uscc")
    if has("qualification", "review_status") or has("qualification", "allow_modify"):
        return "qualification"
    if has("qualification", "fund_year") and not enterprise:
        return "qualification"
    return "enterprise" if enterprise else None


def _table(source: str, rows: Iterator[tuple[int, list[str]]], encoding: str = "") -> Table | None:
    """Find the header (first row with two or more cells), detect the kind, keep the data rows."""
    for number, cells in rows:
        if sum(1 for c in cells if c) < 2:
            continue
        kind = detect_kind(cells)
        if kind is None:
            shown = "、".join(c for c in cells if c)[:200]
            raise ImportFileError(
                f"{source} 第 {number} 行的表头无法识别为企业、账号、资质或申报项目（{shown}）。"
                "可接受的表头见 docs/records-import.md。"
            )
        columns: dict[str, int] = {}
        ignored: list[str] = []
        for i, header in enumerate(cells):
            f = _SYNONYMS[kind].get(header_key(header))
            if f is None or f in columns:
                if header:
                    ignored.append(header)
                continue
            columns[f] = i
        data = [(n, c) for n, c in rows if any(c)]
        return Table(source, kind, columns, data, ignored, encoding)
    return None


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def decode_text(data: bytes) -> tuple[str, str]:
    """CSV bytes to text: UTF-8 with or without BOM, UTF-16 with BOM, otherwise GB18030."""
    try:
        return charsets.decode_text(data)
    except UnicodeDecodeError:
        raise ImportFileError("文件编码无法识别：既不是 UTF-8，也不是 GB18030（GBK）。") from None


def read_csv(source: str, data: bytes) -> list[Table]:
    text, encoding = decode_text(data)
    first = text.split("\n", 1)[0]
    delimiter = max((",", "\t", ";"), key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = ((n, [c.strip() for c in cells]) for n, cells in enumerate(reader, start=1))
    table = _table(source, rows, encoding)
    if table is None:
        raise ImportFileError(f"{source} 是空文件或没有表头。")
    return [table]


#: openpyxl keeps every shared string of a workbook in memory; the zip guard bounds the bytes, this the count
MAX_SHARED_STRINGS = 1_000_000


def _xlsx_problem(data: bytes) -> str | None:
    """Why this workbook must not be opened (a zip bomb, too many shared strings), or None."""
    z, problem = zip_guard(data)
    if z is None:
        return problem
    with z:
        for info in z.infolist():
            if info.filename.lower().endswith("sharedstrings.xml"):
                try:
                    count = _count_shared_strings(z, info)
                except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
                    return "文件已损坏（压缩结构无法打开）"
                if count > MAX_SHARED_STRINGS:
                    return f"共享字符串多达 {count} 个（上限 {MAX_SHARED_STRINGS}），疑似压缩炸弹，未打开"
    return None


def _count_shared_strings(z: zipfile.ZipFile, info: zipfile.ZipInfo) -> int:
    # streamed: zip_guard has already capped the member's size, so this reads at most that much
    count, tail = 0, b""
    with z.open(info) as member:
        while chunk := member.read(1024 * 1024):
            window = tail + chunk
            count += window.count(b"<si>") + window.count(b"<si ")
            tail = window[-3:]  # shorter than "<si>": a tag split across chunks is counted once
    return count


def read_xlsx(source: str, data: bytes) -> list[Table]:
    from openpyxl import load_workbook

    problem = _xlsx_problem(data)  # before openpyxl reads anything
    if problem:
        hint = "大的导出请拆分成多个文件或改用 CSV。" if "炸弹" in problem else ""
        raise ImportFileError(f"{source} 无法作为 XLSX 工作簿打开：{problem}。{hint}")
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ImportFileError(f"{source} 无法作为 XLSX 工作簿打开（{exc}）。") from None
    tables: list[Table] = []
    skipped: list[str] = []
    try:
        for sheet in book.worksheets:
            label = f"{source}/{sheet.title}" if len(book.worksheets) > 1 else source
            rows = (
                (n, [_cell(v) for v in values])
                for n, values in enumerate(sheet.iter_rows(values_only=True), start=1)
            )
            try:
                table = _table(label, rows)
            except ImportFileError:
                if len(book.worksheets) == 1:
                    raise
                skipped.append(sheet.title)  # a notes or summary sheet next to the data sheets
                continue
            if table is not None:
                tables.append(table)
    finally:
        book.close()
    if not tables:
        raise ImportFileError(f"{source} 中没有可识别的工作表（表头见 docs/records-import.md）。")
    for t in tables:
        if skipped:
            t.ignored.append(f"（未识别的工作表：{'、'.join(skipped)}）")
            break
    return tables


def read_file(filename: str, data: bytes) -> list[Table]:
    """Parse one uploaded file into tables (a CSV is one table, an XLSX one table per data sheet)."""
    name = filename.rsplit("/", 1)[-1] or "文件"
    if data.startswith(b"PK\x03\x04"):
        return read_xlsx(name, data)
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileError(f"{name} 是旧版 Excel（.xls）文件：请在 Excel 中另存为 .xlsx 或 CSV 后再导入。")
    if not data.strip():
        raise ImportFileError(f"{name} 是空文件。")
    return read_csv(name, data)
