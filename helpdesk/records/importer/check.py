"""Checking: every row of every table validated against the others and the records, before any write."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from helpdesk.records.checks import org_code_problem
from helpdesk.records.importer.columns import (
    ACTIVE_WORDS,
    CANCELLED_WORDS,
    CHUNK,
    FIELD_LABELS,
    KINDS,
    REQUIRED,
    REVIEW_SYNONYMS,
    _bool,
    _code,
    _int,
    _norm,
    _text,
    uscc_problem,
)
from helpdesk.records.importer.read import Table
from helpdesk.records.importer.report import ImportReport, RowError
from helpdesk.records.importer.sql import _select
from helpdesk.records.keys import account_key, email_key
from helpdesk.records.models import (
    REVIEW_STATUSES,
    Enterprise,
    PlatformAccount,
)

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
