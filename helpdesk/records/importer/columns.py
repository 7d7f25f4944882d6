"""The columns of each kind of export (`COLUMNS`, documented in docs/records-import.md) and how a
cell's text becomes a value."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from helpdesk.letters import codes
from helpdesk.records.checks import uscc_problem as _uscc_problem

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
