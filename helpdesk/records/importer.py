"""Import the platform's exports (CSV or XLSX) into the records: validate every row, then upsert in bulk.

The accepted column headers are documented in docs/records-import.md; `COLUMNS` below is the source.

    tables = read_file("企业.xlsx", data)            # parse: kinds detected from the headers
    report = import_tables(tables, skip_invalid=False, actor_id=admin.id)   # one transaction
    report.applied, report.errors[0].text()          # True/False, "…第 5 行 [统一社会信用代码]：…"

Each kind has a natural key (enterprise: USCC; account: account name; qualification: enterprise and
year; project: enterprise and project name), so importing the same file twice changes nothing the
second time. A file with any invalid row imports nothing unless `skip_invalid` is set, in which
case the valid rows are imported and the invalid ones reported.
"""

from __future__ import annotations

import csv
import io
import re
import time
import unicodedata
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, delete, func, select, tuple_, update

from helpdesk.db import session, unit_of_work, utcnow
from helpdesk.letters import codes
from helpdesk.letters.sources import zip_guard
from helpdesk.mail import charsets
from helpdesk.records.checks import org_code_problem
from helpdesk.records.checks import uscc_problem as _uscc_problem
from helpdesk.records.keys import account_key, email_key, name_grams, name_key
from helpdesk.records.models import (
    REVIEW_STATUSES,
    AuditEntry,
    Enterprise,
    EnterpriseNameGram,
    PlatformAccount,
    ProjectApplication,
    Qualification,
)

KINDS = ("enterprise", "account", "qualification", "project")
KIND_LABELS = {"enterprise": "企业", "account": "账号", "qualification": "资质", "project": "申报项目"}

#: per kind: field -> (canonical header, accepted synonyms...). Headers are compared after NFKC,
#: without spaces, "*" marks and bracketed notes, so "统一社会信用代码（必填）*" is accepted too.
COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    "enterprise": {
        "name": ("企业名称", "公司名称", "单位名称", "企业全称"),
        "uscc": ("统一社会信用代码", "社会信用代码", "信用代码", "统一代码"),
        "org_code": ("组织机构代码", "机构代码", "组织机构代码证号"),
        "division_code": ("行政区划代码", "区划代码", "所属行政区划代码"),
        "division_name": ("行政区划", "行政区划名称", "所属行政区划", "所属地区", "所在地区"),
        "authority": ("商务主管机关", "主管机关", "商务主管部门", "所属商务主管机关", "主管商务部门"),
        "contact_name": ("联系人", "联系人姓名"),
        "contact_phone": ("联系电话", "电话", "联系人电话", "联系方式"),
        "contact_email": ("联系邮箱", "电子邮箱", "邮箱", "联系人邮箱", "电子信箱"),
    },
    "account": {
        "account_name": ("账号", "账号名称", "平台账号", "用户名", "登录账号", "用户账号", "帐号"),
        "uscc": ("统一社会信用代码", "社会信用代码", "信用代码"),
        "org_code": ("组织机构代码", "机构代码"),
        "company": ("企业名称", "公司名称", "单位名称"),
        "status": ("账号状态", "状态", "帐号状态"),
        "app_bound": ("是否绑定应用", "绑定应用", "是否绑定", "已绑定应用", "绑定状态", "应用绑定"),
        "email": ("邮箱", "电子邮箱", "账号邮箱", "注册邮箱"),
        "mobile": ("手机", "手机号", "手机号码", "移动电话"),
    },
    "qualification": {
        "uscc": ("统一社会信用代码", "社会信用代码", "信用代码"),
        "org_code": ("组织机构代码", "机构代码"),
        "company": ("企业名称", "公司名称", "单位名称"),
        "fund_year": ("年度", "资金年度", "申报年度", "资质年度"),
        "review_status": ("审核状态", "资质状态", "资质审核状态"),
        "allow_modify": ("允许修改资料", "是否允许修改资料", "允许修改"),
        "industry": ("所属行业", "行业", "行业划分"),
        "main_business": ("主营业务", "主营业务描述"),
        "headcount": ("从业人数", "职工人数", "员工人数"),
    },
    "project": {
        "uscc": ("统一社会信用代码", "社会信用代码", "信用代码"),
        "org_code": ("组织机构代码", "机构代码"),
        "company": ("企业名称", "公司名称", "单位名称"),
        "name": ("项目名称", "申报项目名称"),
        "status": ("项目状态", "申报状态", "状态", "审核状态"),
        "fund_year": ("年度", "资金年度", "申报年度", "项目年度"),
        "filed_company_name": ("申报时企业名称", "申报企业名称", "申报单位名称"),
        "filed_division": ("申报时行政区划", "申报行政区划", "申报时所属地区"),
    },
}
REQUIRED = {
    "enterprise": ("name", "uscc"),
    "account": ("account_name",),
    "qualification": ("fund_year",),
    "project": ("name",),
}
FIELD_LABELS = {kind: {f: names[0] for f, names in cols.items()} for kind, cols in COLUMNS.items()}

TRUE_WORDS = {
    "是",
    "y",
    "yes",
    "true",
    "1",
    "已绑定",
    "绑定",
    "允许",
    "已允许",
    "已开通",
    "开通",
    "√",
    "✓",
    "有",
}
FALSE_WORDS = {"否", "n", "no", "false", "0", "未绑定", "不允许", "未允许", "未开通", "×", "无", ""}
ACTIVE_WORDS = {"正常", "启用", "有效", "激活", "已激活", "在用", "active"}
CANCELLED_WORDS = {"注销", "已注销", "cancelled", "canceled"}
REVIEW_SYNONYMS = {"待审核": "未审核"}

CHUNK = 900  #: keys per IN (...) query (SQLite's default limit of bound parameters is 999 on old builds)


# ------------------------------------------------------------------------------------------ report


@dataclass(frozen=True, slots=True)
class RowError:
    """One refused row: where, which column, why (Chinese)."""

    source: str
    row: int  #: 1-based row number as a spreadsheet shows it (the header is a row too)
    column: str
    message: str

    def text(self) -> str:
        column = f" [{self.column}]" if self.column else ""
        where = f"{self.source} 第 {self.row} 行" if self.row else self.source
        return f"{where}{column}：{self.message}"


@dataclass
class KindCount:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    invalid: int = 0


@dataclass
class ImportReport:
    """What an import found and did; `applied` is False when nothing was written."""

    tables: list[tuple[str, str, int]] = field(default_factory=list)  #: (source, kind, data rows)
    errors: list[RowError] = field(default_factory=list)
    counts: dict[str, KindCount] = field(default_factory=lambda: {k: KindCount() for k in KINDS})
    notes: list[str] = field(default_factory=list)
    applied: bool = False
    skip_invalid: bool = False
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(c.rows for c in self.counts.values())

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> list[str]:
        """The report in Chinese, one line each, without the row errors."""
        lines = [f"{source}：{KIND_LABELS[kind]}，{n} 行" for source, kind, n in self.tables]
        for kind in KINDS:
            c = self.counts[kind]
            if c.rows:
                lines.append(
                    f"{KIND_LABELS[kind]}：新增 {c.created}，更新 {c.updated}，未变 {c.unchanged}，有误 {c.invalid}"
                )
        lines.extend(self.notes)
        if self.applied:
            rate = self.rows / self.seconds if self.seconds else 0
            skipped = f"，跳过有误的行 {len(self.errors)} 处" if self.errors else ""
            lines.append(
                f"已导入{skipped}。共 {self.rows} 行，用时 {self.seconds:.1f} 秒（{rate:,.0f} 行/秒）。"
            )
        elif self.errors:
            lines.append(
                f"发现 {len(self.errors)} 处错误，未导入任何数据。请改正后重新导入，"
                "或选择“跳过有误的行”只导入正确的行。"
            )
        else:
            lines.append("没有导入任何数据。")
        return lines


class ImportFileError(ValueError):
    """The file as a whole cannot be read (not CSV/XLSX, encoding, no header)."""


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


# ------------------------------------------------------------------------------------------ values


def _text(text: str) -> str:
    """Free text (names, divisions) kept as written: full-width brackets are part of a registered name."""
    return " ".join(text.split())


def _norm(text: str) -> str:
    return text.strip() if text.isascii() else unicodedata.normalize("NFKC", text).strip()


_CODE_NOISE = re.compile(r"[\s\-—]")


def _code(text: str) -> str:
    if text.isalnum() and text.isascii():
        return text.upper()
    return _CODE_NOISE.sub("", _norm(text)).upper()


def _bool(text: str) -> bool | None:
    t = _norm(text).lower()
    if t in TRUE_WORDS:
        return True
    if t in FALSE_WORDS:
        return False
    return None


def _int(text: str) -> int | None:
    t = _norm(text).replace(",", "")
    if t.endswith(".0"):
        t = t[:-2]
    return int(t) if t.isdigit() else None


@lru_cache(maxsize=1 << 18)
def uscc_problem(code: str) -> str | None:
    # cached: an account file repeats the USCCs of the enterprise file
    return None if codes.is_valid_uscc(code) else _uscc_problem(code)


def _bulk_insert(table: Any, rows: list[dict[str, Any]]) -> None:
    """INSERT many rows given as dicts (every row has the keys of the first); see `_insert_rows`."""
    if rows:
        cols = list(rows[0])
        _insert_rows(table, cols, [[row[c] for c in cols] for row in rows])


def _insert_rows(table: Any, cols: list[str], data: Sequence[Sequence[Any]]) -> None:
    """INSERT many rows through the driver's executemany.

    SQLAlchemy's per-row parameter processing would cost more than SQLite's insert itself; the
    columns' bind processors (UTC datetimes, JSON) are still applied, once per distinct value.
    """
    if not data:
        return
    conn = session.connection()
    dialect = conn.dialect
    procs = [(i, p) for i, c in enumerate(cols) if (p := table.c[c].type.bind_processor(dialect)) is not None]
    if procs:
        data = [list(values) for values in data]
        for i, proc in procs:
            memo: dict[Any, Any] = {}
            for values in data:
                v = values[i]
                if v is None:
                    continue
                try:
                    values[i] = memo[v]
                except KeyError:
                    values[i] = memo[v] = proc(v)
                except TypeError:  # unhashable (a JSON dict)
                    values[i] = proc(v)
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({', '.join([mark] * len(cols))})"
    for i in range(0, len(data), 50_000):
        conn.exec_driver_sql(sql, [tuple(v) for v in data[i : i + 50_000]])


def _select(stmt: Any) -> Any:
    # Core execution on the session's connection: no ORM result processing for plain column rows
    return session.connection().execute(stmt)


# ------------------------------------------------------------------------------------------ import


@dataclass
class _Row:
    source: str
    number: int
    values: dict[str, Any]
    present: frozenset[str]  #: fields whose column is in the file (absent columns leave data as it is)
    key: Any = None
    enterprise: str | None = None  #: USCC of the enterprise the row belongs to


class _Run:
    """One import: validated rows per kind, then the writes."""

    def __init__(self, report: ImportReport, progress: Callable[[int], None] | None) -> None:
        self.report = report
        self.progress = progress or (lambda n: None)
        self.rows: dict[str, list[_Row]] = {k: [] for k in KINDS}
        self.bad: set[int] = set()  #: id() of refused rows
        self.ent_ids: dict[str, int] = {}  #: USCC -> id, for enterprises in the database
        self.org_to_uscc: dict[str, str | None] = {}  #: org code -> USCC (None when ambiguous)

    def error(self, row: _Row, kind: str, column: str, message: str) -> None:
        label = FIELD_LABELS[kind].get(column, column)
        self.report.errors.append(RowError(row.source, row.number, label, message))
        if id(row) not in self.bad:
            self.bad.add(id(row))
            self.report.counts[kind].invalid += 1

    def ok(self, kind: str) -> list[_Row]:
        return [r for r in self.rows[kind] if id(r) not in self.bad]

    # ----------------------------------------------------------------- parse rows into values

    def collect(self, tables: list[Table]) -> None:
        for table in tables:
            present = frozenset(table.columns)
            missing = [FIELD_LABELS[table.kind][f] for f in REQUIRED[table.kind] if f not in table.columns]
            if table.kind != "enterprise" and not present & {"uscc", "org_code"}:
                missing.append("统一社会信用代码（或组织机构代码）")
            if missing:
                self.report.errors.append(
                    RowError(table.source, 0, "", f"缺少必需的列：{'、'.join(missing)}，整个表未导入")
                )
                self.report.counts[table.kind].invalid += len(table.rows)
                self.report.counts[table.kind].rows += len(table.rows)
                continue
            if table.ignored:
                self.report.notes.append(f"{table.source}：忽略的列 {'、'.join(table.ignored)}")
            fields = list(table.columns.items())
            for number, cells in table.rows:
                values = {f: (cells[i] if i < len(cells) else "") for f, i in fields}
                self.rows[table.kind].append(_Row(table.source, number, values, present))
            self.report.counts[table.kind].rows += len(table.rows)

    # ----------------------------------------------------------------- enterprises

    def check_enterprises(self) -> None:
        seen: dict[str, int] = {}
        for row in self.rows["enterprise"]:
            v = row.values
            name = _text(v["name"])
            uscc = _code(v["uscc"])
            if not name:
                self.error(row, "enterprise", "name", "企业名称为空")
            problem = uscc_problem(uscc) if uscc else "统一社会信用代码为空"
            if problem:
                self.error(row, "enterprise", "uscc", problem)
            elif uscc in seen:
                self.error(row, "enterprise", "uscc", f"统一社会信用代码 {uscc} 与第 {seen[uscc]} 行重复")
            else:
                seen[uscc] = row.number
            org = _code(v.get("org_code", ""))
            if org and not (
                uscc and org == uscc[8:17] and id(row) not in self.bad
            ):  # checked inside the USCC
                problem = org_code_problem(org)
                if problem:
                    self.error(row, "enterprise", "org_code", problem)
                elif uscc and org != uscc[8:17]:
                    self.error(
                        row,
                        "enterprise",
                        "org_code",
                        f"组织机构代码 {org} 与统一社会信用代码第 9-17 位（{uscc[8:17]}）不一致",
                    )
            division = _norm(v.get("division_code", ""))
            if division and not (division.isdigit() and len(division) in (6, 9, 12)):
                self.error(
                    row, "enterprise", "division_code", f"行政区划代码“{division}”应为 6、9 或 12 位数字"
                )
            email = email_key(v.get("contact_email", ""))
            if email and "@" not in email:
                self.error(row, "enterprise", "contact_email", f"联系邮箱“{email}”不是邮件地址")
            row.key = uscc
            row.values = {
                "name": name[:200],
                "uscc": uscc,
                "org_code": org or uscc[8:17],
                "division_code": division,
                "division_name": _text(v.get("division_name", ""))[:100],
                "authority": _text(v.get("authority", ""))[:200],
                "contact_name": _text(v.get("contact_name", ""))[:100],
                "contact_phone": _norm(v.get("contact_phone", ""))[:50],
                "contact_email": email[:254],
            }
            row.present = row.present | {"org_code"}  # derived from the USCC when the column is absent
        self.progress(len(self.rows["enterprise"]))

    def load_enterprise_ids(self, usccs: Iterable[str]) -> None:
        wanted = sorted(set(usccs) - self.ent_ids.keys())
        for i in range(0, len(wanted), CHUNK):
            chunk = wanted[i : i + CHUNK]
            for ent_id, uscc in _select(
                select(Enterprise.id, Enterprise.uscc).where(Enterprise.uscc.in_(chunk))
            ):
                self.ent_ids[uscc] = ent_id

    def load_org_codes(self, orgs: Iterable[str]) -> None:
        wanted = sorted(set(orgs) - self.org_to_uscc.keys())
        found: dict[str, set[str]] = defaultdict(set)
        for i in range(0, len(wanted), CHUNK):
            chunk = wanted[i : i + CHUNK]
            for org, uscc, ent_id in _select(
                select(Enterprise.org_code, Enterprise.uscc, Enterprise.id).where(
                    Enterprise.org_code.in_(chunk)
                )
            ):
                if uscc:
                    found[org].add(uscc)
                    self.ent_ids[uscc] = ent_id
        for org in wanted:
            usccs = found.get(org, set())
            self.org_to_uscc[org] = next(iter(usccs)) if len(usccs) == 1 else None if usccs else ""

    def link(self, kind: str) -> None:
        """Resolve each dependent row's enterprise (by USCC, else organisation code) to a USCC."""
        file_usccs = {r.key: r for r in self.ok("enterprise")}
        rows = self.rows[kind]
        for r in rows:
            r.values["_uscc"] = _code(r.values.get("uscc", ""))
            r.values["_org"] = _code(r.values.get("org_code", ""))
        self.load_enterprise_ids(r.values["_uscc"] for r in rows if r.values["_uscc"])
        self.load_org_codes(r.values["_org"] for r in rows if r.values["_org"] and not r.values["_uscc"])
        file_orgs: dict[str, set[str]] = defaultdict(set)
        for uscc in file_usccs:
            file_orgs[uscc[8:17]].add(uscc)
        for row in rows:
            uscc = row.values.pop("_uscc")
            org = row.values.pop("_org")
            if uscc:
                problem = uscc_problem(uscc)
                if problem:
                    self.error(row, kind, "uscc", problem)
                    continue
                if uscc not in self.ent_ids and uscc not in file_usccs:
                    self.error(
                        row,
                        kind,
                        "uscc",
                        f"未知企业：统一社会信用代码 {uscc} 不在档案中，也不在本次导入的企业表中",
                    )
                    continue
                row.enterprise = uscc
            elif org:
                problem = org_code_problem(org)
                if problem:
                    self.error(row, kind, "org_code", problem)
                    continue
                matches = set(file_orgs.get(org, set()))
                db_match = self.org_to_uscc.get(org)
                if db_match is None:
                    self.error(
                        row, kind, "org_code", f"组织机构代码 {org} 对应多家企业，请改用统一社会信用代码"
                    )
                    continue
                if db_match:
                    matches.add(db_match)
                if len(matches) != 1:
                    self.error(
                        row,
                        kind,
                        "org_code",
                        f"未知企业：组织机构代码 {org} 不在档案中"
                        if not matches
                        else f"组织机构代码 {org} 对应多家企业",
                    )
                    continue
                row.enterprise = next(iter(matches))
            else:
                self.error(row, kind, "uscc", "缺少统一社会信用代码（或组织机构代码），无法确定所属企业")

    # ----------------------------------------------------------------- accounts

    def check_accounts(self) -> None:
        self.link("account")
        seen: dict[str, int] = {}
        for row in self.rows["account"]:
            v = row.values
            name = account_key(v["account_name"])
            if not name:
                self.error(row, "account", "account_name", "账号为空")
                continue
            if len(name) > 100 or re.search(r"\s", name):
                self.error(row, "account", "account_name", f"账号“{name}”含空白字符或超过 100 个字符")
                continue
            if name in seen:
                self.error(row, "account", "account_name", f"账号 {name} 与第 {seen[name]} 行重复")
                continue
            seen[name] = row.number
            status = "active"
            if "status" in row.present:
                raw = _norm(v["status"]).lower()
                if raw in ACTIVE_WORDS or not raw:
                    status = "active"
                elif raw in CANCELLED_WORDS:
                    status = "cancelled"
                else:
                    self.error(
                        row, "account", "status", f"账号状态“{v['status']}”无法识别（应为“正常”或“已注销”）"
                    )
            bound = False
            if "app_bound" in row.present:
                parsed = _bool(v["app_bound"])
                if parsed is None:
                    self.error(
                        row,
                        "account",
                        "app_bound",
                        f"是否绑定应用“{v['app_bound']}”无法识别（应为“是”或“否”）",
                    )
                bound = bool(parsed)
            if bound and status == "cancelled":
                self.error(row, "account", "app_bound", "已注销的账号不能绑定应用")
            email = email_key(v.get("email", ""))
            if email and "@" not in email:
                self.error(row, "account", "email", f"邮箱“{email}”不是邮件地址")
            row.key = name
            row.values = {
                "account_name": name,
                "status": status,
                "app_bound": bound,
                "email": email[:254],
                "mobile": _norm(v.get("mobile", ""))[:30],
            }
        self.progress(len(self.rows["account"]))

    def load_accounts(self) -> dict[str, tuple[int, int, str, bool, str, str]]:
        """Existing accounts named in the file: name -> (id, enterprise_id, status, bound, email, mobile)."""
        names = sorted({r.key for r in self.rows["account"] if r.key})
        out: dict[str, tuple[int, int, str, bool, str, str]] = {}
        t = PlatformAccount
        for i in range(0, len(names), CHUNK):
            for row in _select(
                select(t.account_name, t.id, t.enterprise_id, t.status, t.app_bound, t.email, t.mobile).where(
                    t.account_name.in_(names[i : i + CHUNK])
                )
            ):
                out[row[0]] = tuple(row[1:])  # type: ignore[assignment]
        return out

    def check_account_owners(self, existing: dict[str, tuple[int, int, str, bool, str, str]]) -> None:
        id_to_uscc = {v: k for k, v in self.ent_ids.items()}
        for row in self.ok("account"):
            old = existing.get(row.key)
            if old is not None and row.enterprise is not None and id_to_uscc.get(old[1]) != row.enterprise:
                owner = id_to_uscc.get(old[1]) or f"#{old[1]}"
                self.error(
                    row, "account", "account_name", f"账号 {row.key} 在档案中属于另一家企业（{owner}）"
                )

    def check_bindings(self, existing: dict[str, tuple[int, int, str, bool, str, str]]) -> None:
        """At most one bound account per enterprise once the file is applied; refuse the rows that bind."""
        ent_ids = {self.ent_ids[u] for u in {r.enterprise for r in self.rows["account"]} if u in self.ent_ids}
        db_bound: dict[int, set[str]] = defaultdict(set)
        ids = sorted(ent_ids)
        for i in range(0, len(ids), CHUNK):
            for ent_id, name in _select(
                select(PlatformAccount.enterprise_id, PlatformAccount.account_name).where(
                    PlatformAccount.enterprise_id.in_(ids[i : i + CHUNK]), PlatformAccount.app_bound.is_(True)
                )
            ):
                db_bound[ent_id].add(name)

        def effective(r: _Row) -> bool:  # without the column, an existing account keeps its binding
            if "app_bound" in r.present:
                return bool(r.values["app_bound"])
            old = existing.get(r.key)
            return bool(old and old[3]) and r.values["status"] == "active"

        while True:  # refusing a row can uncover another conflict (with --skip-invalid): repeat until stable
            rows = self.ok("account")
            in_file = {r.key: r for r in rows}
            refused_names = {r.key for r in self.rows["account"] if id(r) in self.bad and r.key}
            bound: dict[str, list[str]] = defaultdict(list)
            for uscc in {r.enterprise for r in rows}:
                ent_id = self.ent_ids.get(uscc)  # type: ignore[arg-type]
                for name in db_bound.get(ent_id, ()) if ent_id else ():
                    if name not in in_file or name in refused_names:
                        bound[uscc].append(name)  # type: ignore[index]
            for r in rows:
                if effective(r):
                    bound[r.enterprise].append(r.key)  # type: ignore[index]
            conflicts = 0
            for r in rows:
                names = bound.get(r.enterprise, [])  # type: ignore[arg-type]
                if effective(r) and len(names) > 1:
                    others = "、".join(sorted(n for n in names if n != r.key))
                    self.error(
                        r,
                        "account",
                        "app_bound",
                        f"重复绑定：同一企业只能有一个账号绑定应用，{others} 也已绑定（请同时把原绑定账号改为“否”）",
                    )
                    conflicts += 1
            if not conflicts:
                return

    # ----------------------------------------------------------------- qualifications and projects

    def check_qualifications(self) -> None:
        self.link("qualification")
        seen: dict[tuple[str, int], int] = {}
        for row in self.rows["qualification"]:
            v = row.values
            year = _int(v["fund_year"])
            if year is None or not 1990 <= year <= 2100:
                self.error(row, "qualification", "fund_year", f"年度“{v['fund_year']}”应为四位年份")
                continue
            status = None
            if "review_status" in row.present:
                raw = _norm(v["review_status"])
                status = REVIEW_SYNONYMS.get(raw, raw) or "未审核"
                if status not in REVIEW_STATUSES:
                    self.error(
                        row,
                        "qualification",
                        "review_status",
                        f"审核状态“{raw}”无法识别（应为 {'、'.join(REVIEW_STATUSES)}）",
                    )
            allow = False
            if "allow_modify" in row.present:
                parsed = _bool(v["allow_modify"])
                if parsed is None:
                    self.error(
                        row,
                        "qualification",
                        "allow_modify",
                        f"允许修改资料“{v['allow_modify']}”应为“是”或“否”",
                    )
                allow = bool(parsed)
            headcount = None
            if _norm(v.get("headcount", "")):
                headcount = _int(v["headcount"])
                if headcount is None:
                    self.error(row, "qualification", "headcount", f"从业人数“{v['headcount']}”应为整数")
            if row.enterprise is not None:
                key = (row.enterprise, year)
                if key in seen:
                    self.error(
                        row, "qualification", "fund_year", f"该企业 {year} 年度的资质与第 {seen[key]} 行重复"
                    )
                seen[key] = row.number
            row.key = year
            row.values = {
                "fund_year": year,
                "review_status": status or "未审核",
                "allow_modify": allow,
                "industry": _text(v.get("industry", ""))[:100],
                "main_business": _text(v.get("main_business", ""))[:500],
                "headcount": headcount,
            }
            if status is None:
                row.present = row.present - {"review_status"}
        self.progress(len(self.rows["qualification"]))

    def check_projects(self) -> None:
        self.link("project")
        seen: dict[tuple[str, str], int] = {}
        for row in self.rows["project"]:
            v = row.values
            name = _text(v["name"])
            if not name:
                self.error(row, "project", "name", "项目名称为空")
                continue
            if len(name) > 300:
                self.error(row, "project", "name", "项目名称超过 300 个字符")
                continue
            year = None
            if _norm(v.get("fund_year", "")):
                year = _int(v["fund_year"])
                if year is None or not 1990 <= year <= 2100:
                    self.error(row, "project", "fund_year", f"年度“{v['fund_year']}”应为四位年份")
            if row.enterprise is not None:
                key = (row.enterprise, name)
                if key in seen:
                    self.error(row, "project", "name", f"该企业的项目“{name}”与第 {seen[key]} 行重复")
                seen[key] = row.number
            row.key = name
            row.values = {
                "name": name,
                "status": _text(v.get("status", ""))[:40],
                "fund_year": year,
                "filed_company_name": _text(v.get("filed_company_name", ""))[:200],
                "filed_division": _text(v.get("filed_division", ""))[:100],
            }
        self.progress(len(self.rows["project"]))


ENTERPRISE_FIELDS = (
    "name", "org_code", "division_code", "division_name", "authority", "contact_name", "contact_phone",
    "contact_email",
)  # fmt: skip
ACCOUNT_FIELDS = ("status", "app_bound", "email", "mobile")
QUALIFICATION_FIELDS = ("review_status", "allow_modify", "industry", "main_business", "headcount")
PROJECT_FIELDS = ("status", "fund_year", "filed_company_name", "filed_division")


def _changes(row: _Row, old: dict[str, Any], fields: Sequence[str]) -> dict[str, tuple[Any, Any]]:
    return {
        f: (old[f], row.values[f])
        for f in fields
        if f in row.present and old[f] != row.values[f] and not (old[f] is None and row.values[f] == "")
    }


class _Writer:
    """The bulk writes of a validated run, in one transaction (the caller's unit of work)."""

    def __init__(self, run: _Run, actor_id: int | None) -> None:
        self.run = run
        self.actor_id = actor_id
        self.now = utcnow()
        self.audit: list[dict[str, Any]] = []

    def note(
        self, entity: str, entity_id: Any, enterprise_id: int | None, changes: dict[str, tuple[Any, Any]]
    ):
        for f, (before, after) in changes.items():
            self.audit.append({
                "at": self.now, "actor_id": self.actor_id, "ticket_id": None, "enterprise_id": enterprise_id,
                "action": "import", "entity": entity, "entity_id": str(entity_id), "field": f,
                "before": None if before is None else str(before), "after": None if after is None else str(after),
                "detail": None,
            })  # fmt: skip

    def enterprises(self) -> None:
        run, counts = self.run, self.run.report.counts["enterprise"]
        rows = run.ok("enterprise")
        old: dict[str, dict[str, Any]] = {}
        usccs = [r.key for r in rows]
        cols = [Enterprise.id, Enterprise.uscc, *(getattr(Enterprise, f) for f in ENTERPRISE_FIELDS)]
        for i in range(0, len(usccs), CHUNK):
            for rec in _select(select(*cols).where(Enterprise.uscc.in_(usccs[i : i + CHUNK]))):
                old[rec.uscc] = rec._asdict()
        new_rows, updates, renamed = [], [], []
        for r in rows:
            before = old.get(r.key)
            if before is None:
                new_rows.append({
                    **r.values, "name_key": name_key(r.values["name"]), "created_at": self.now, "updated_at": self.now,
                })  # fmt: skip
                continue
            changes = _changes(r, before, ENTERPRISE_FIELDS)
            if not changes:
                counts.unchanged += 1
                continue
            values = {f: (r.values[f] if f in changes else before[f]) for f in ENTERPRISE_FIELDS}
            values["name_key"] = name_key(values["name"])
            updates.append({"_id": before["id"], **values, "updated_at": self.now})
            if "name" in changes and name_key(before["name"]) != values["name_key"]:
                renamed.append((before["id"], name_key(before["name"]), values["name_key"]))
            self.note("enterprise", before["id"], before["id"], changes)
        if new_rows:
            top = _select(select(func.max(Enterprise.id))).scalar() or 0
            _bulk_insert(Enterprise.__table__, new_rows)
            counts.created += len(new_rows)
            wanted = {r["uscc"] for r in new_rows}
            for ent_id, uscc in _select(select(Enterprise.id, Enterprise.uscc).where(Enterprise.id > top)):
                if uscc in wanted:
                    run.ent_ids[uscc] = ent_id
        if updates:
            t = Enterprise.__table__
            session.execute(update(t).where(t.c.id == bindparam("_id")), updates)
            counts.updated += len(updates)
        run.load_enterprise_ids(r["uscc"] for r in new_rows)  # normally found above already
        pairs = [(g, run.ent_ids[r["uscc"]]) for r in new_rows for g in name_grams(r["name_key"])]
        if renamed:
            g = EnterpriseNameGram.__table__
            stale = [
                {"e": i, "g": gram}
                for i, old_key, new_key in renamed
                for gram in name_grams(old_key) | name_grams(new_key)
            ]
            session.execute(
                delete(g).where(g.c.enterprise_id == bindparam("e"), g.c.gram == bindparam("g")), stale
            )
            pairs.extend((gram, i) for i, _o, new_key in renamed for gram in name_grams(new_key))
        pairs.sort()  # in index order: appending to the B-tree is much cheaper than random inserts
        _insert_rows(EnterpriseNameGram.__table__, ["gram", "enterprise_id"], pairs)
        run.progress(len(rows))

    def accounts(self, existing: dict[str, tuple[int, int, str, bool, str, str]]) -> None:
        run, counts = self.run, self.run.report.counts["account"]
        rows = run.ok("account")
        run.load_enterprise_ids(r.enterprise for r in rows if r.enterprise)
        new_rows, unbinding, other = [], [], []
        for r in rows:
            ent_id = run.ent_ids[r.enterprise]  # type: ignore[index]
            rec = existing.get(r.key)
            if rec is None:
                new_rows.append({
                    "enterprise_id": ent_id, **r.values,
                    "cancelled_at": self.now if r.values["status"] == "cancelled" else None,
                })  # fmt: skip
                continue
            before = dict(zip(ACCOUNT_FIELDS, rec[2:], strict=True))
            changes = _changes(r, before, ACCOUNT_FIELDS)
            if not changes:
                counts.unchanged += 1
                continue
            values = {f: (r.values[f] if f in changes else before[f]) for f in ACCOUNT_FIELDS}
            if values["status"] == "cancelled" and values["app_bound"]:
                values["app_bound"] = False  # a cancelled account holds no binding
                changes["app_bound"] = (True, False)
            cancelled_at = self.now if "status" in changes and values["status"] == "cancelled" else None
            item = {"_id": rec[0], **values, "cancelled_at": cancelled_at}
            (unbinding if not values["app_bound"] else other).append(item)
            self.note("account", r.key, ent_id, changes)
        t = PlatformAccount.__table__
        stmt = update(t).where(t.c.id == bindparam("_id"))  # SET columns: the keys of the parameter dicts
        # unbind first, bind last: the one-binding index must hold after every statement
        if unbinding:
            session.execute(stmt, unbinding)
        if new_rows:
            _bulk_insert(PlatformAccount.__table__, sorted(new_rows, key=lambda r: r["app_bound"]))
        if other:
            session.execute(stmt, other)
        counts.created += len(new_rows)
        counts.updated += len(unbinding) + len(other)
        run.progress(len(rows))

    def keyed(self, kind: str, model: Any, key_col: Any, fields: Sequence[str]) -> None:
        """Upsert qualifications or projects by (enterprise, year / name)."""
        run, counts = self.run, self.run.report.counts[kind]
        rows = run.ok(kind)
        run.load_enterprise_ids(r.enterprise for r in rows if r.enterprise)
        keys = [(run.ent_ids[r.enterprise], r.key) for r in rows]  # type: ignore[index]
        old: dict[tuple[int, Any], dict[str, Any]] = {}
        cols = [model.id, model.enterprise_id, key_col, *(getattr(model, f) for f in fields)]
        for i in range(0, len(keys), CHUNK // 2):
            chunk = keys[i : i + CHUNK // 2]
            for rec in _select(select(*cols).where(tuple_(model.enterprise_id, key_col).in_(chunk))):
                d = rec._asdict()
                old[(d["enterprise_id"], d[key_col.key])] = d
        new_rows, updates = [], []
        for r, key in zip(rows, keys, strict=True):
            before = old.get(key)
            if before is None:
                new_rows.append({"enterprise_id": key[0], key_col.key: key[1], **r.values})
                continue
            changes = _changes(r, before, fields)
            if not changes:
                counts.unchanged += 1
                continue
            updates.append(
                {"_id": before["id"], **{f: (r.values[f] if f in changes else before[f]) for f in fields}}
            )
            self.note(kind, before["id"], key[0], changes)
        if new_rows:
            _bulk_insert(model.__table__, new_rows)
        if updates:
            t = model.__table__
            session.execute(update(t).where(t.c.id == bindparam("_id")), updates)
        counts.created += len(new_rows)
        counts.updated += len(updates)
        run.progress(len(rows))


@contextmanager
def _big_cache() -> Iterator[None]:
    """SQLite: a page cache large enough for the indexes being filled, for this import only.

    With the default 2 MB cache, inserting 100,000 rows into five B-trees in random key order
    keeps evicting and re-reading the same pages.
    """
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql("PRAGMA cache_size = -262144")  # KiB: at most 256 MB, allocated as needed
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(before)}")


def import_tables(
    tables: list[Table],
    *,
    skip_invalid: bool = False,
    actor_id: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Validate every row of `tables`, then write them in one transaction (or nothing). Commits.

    `progress(n)` is called as rows are checked and again as they are written (2 x rows in all).
    """
    started = time.perf_counter()
    report = ImportReport(skip_invalid=skip_invalid)
    report.tables = [(t.source, t.kind, len(t.rows)) for t in tables]
    for t in tables:
        if t.encoding:
            report.notes.append(f"{t.source}：编码 {t.encoding}")
    run = _Run(report, progress)
    try:
        run.collect(tables)
        run.check_enterprises()
        run.check_accounts()
        existing = run.load_accounts()
        run.check_account_owners(existing)
        run.check_bindings(existing)
        run.check_qualifications()
        run.check_projects()
        report.errors.sort(key=lambda e: (e.source, e.row))
        if report.errors and not skip_invalid:
            session.rollback()
            return report
        with unit_of_work(), _big_cache():
            writer = _Writer(run, actor_id)
            writer.enterprises()
            writer.accounts(existing)
            writer.keyed("qualification", Qualification, Qualification.fund_year, QUALIFICATION_FIELDS)
            writer.keyed("project", ProjectApplication, ProjectApplication.name, PROJECT_FIELDS)
            if writer.audit:
                _bulk_insert(AuditEntry.__table__, writer.audit)
            session.add(AuditEntry(
                actor_id=actor_id, action="import", entity="import", entity_id="",
                detail={
                    "sources": [s for s, _k, _n in report.tables],
                    "counts": {k: vars(c) for k, c in report.counts.items() if c.rows},
                    "skipped_rows": len(run.bad),
                },
            ))  # fmt: skip
        report.applied = True
        return report
    finally:
        report.seconds = time.perf_counter() - started


def import_files(
    files: Sequence[tuple[str, bytes]],
    *,
    skip_invalid: bool = False,
    actor_id: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Read and import several files at once (enterprises are written before what refers to them). Commits.

    Raises ImportFileError when a file cannot be read at all.
    """
    tables = [t for name, data in files for t in read_file(name, data)]
    return import_tables(tables, skip_invalid=skip_invalid, actor_id=actor_id, progress=progress)
