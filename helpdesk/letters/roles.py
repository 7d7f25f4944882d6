"""Step 3 of `read`: which source is the letter and which the business licence, decided from the text.

A page's role comes from its layout (title, salutation, request, closing, date), a licence page's
from the licence's own words; the file name decides when nothing could be read, and breaks a tie
otherwise.
"""

from __future__ import annotations

import re

from .classify import letter_structure, title_type
from .sources import Source

_LICENCE_WORDS = (
    "营业执照",
    "统一社会信用代码",
    "法定代表人",
    "注册资本",
    "成立日期",
    "登记机关",
    "经营范围",
    "营业期限",
    "住所",
    "市场监督管理",
    "国家企业信用信息公示系统",
    "执行事务合伙人",
    "经营者",
)
_LETTER_WORDS = (
    "说明",
    "项目组",
    "特此",
    "现申请",
    "无影响",
    "申报项目",
    "统一平台",
    "专项资金",
    "盖章",
    "由于",
)
LICENCE_NAME = re.compile(r"营业执照|执照|license|licence|营业", re.I)
LETTER_NAME = re.compile(r"说明|变更|解绑|注销|申请|函")


def _licence_score(text: str) -> int:
    return sum(w in text for w in _LICENCE_WORDS)


def _licence_title(page: str) -> bool:
    head = [re.sub(r"\s+", "", ln) for ln in page.splitlines() if ln.strip()][:3]
    return any(ln.startswith("营业执照") and len(ln) <= 12 for ln in head)


def is_letter_text(text: str) -> bool:
    """Text laid out like a letter (a mail body, a quoted part)."""
    # a short covering note ("老师您好，附件是说明，麻烦处理") has a salutation and a request too;
    # a letter also has its title, or more of a letter's parts
    return title_type(text) is not None or letter_structure(text) >= 4 or _letter_score(text) >= 3


def _letter_score(text: str) -> int:
    flat = re.sub(r"\s+", "", text)
    return sum(w in flat for w in _LETTER_WORDS)


def assign_role(s: Source) -> None:
    roles = []
    for page in s.pages:
        flat = re.sub(r"\s+", "", page)
        lic, let = _licence_score(flat), _letter_score(flat)
        shape = letter_structure(page)
        # the role comes from the page's layout (title, salutation, request, closing, date), not from
        # a count of licence words: a letter may quote the licence's 统一社会信用代码 and 法定代表人
        if shape >= 3 or (let >= 2 and not _licence_title(page)):
            roles.append("letter")
        elif lic >= 3:
            roles.append("licence")
        elif page.strip():
            roles.append("other")
        else:
            roles.append("")
    if any(r in ("letter", "licence") for r in roles):
        s.role = "letter" if "letter" in roles else "licence"
    elif s.kind in ("exe", "empty") or s.problem_code in ("exe", "empty", "format"):
        s.role = "other"
    elif not any(roles) or not s.text.strip():
        # nothing readable: the file name is all we have (a tie-breaker otherwise)
        if LICENCE_NAME.search(s.filename):
            s.role, roles = "licence", ["licence"] * max(1, len(roles))
        elif LETTER_NAME.search(s.filename):
            s.role, roles = "letter", ["letter"] * max(1, len(roles))
    elif all(r in ("other", "") for r in roles):
        if LICENCE_NAME.search(s.filename) and _licence_score(s.text) >= 1:
            s.role, roles = "licence", ["licence" if r else r for r in roles]
        elif LETTER_NAME.search(s.filename) and _letter_score(s.text) >= 1:
            s.role, roles = "letter", ["letter" if r else r for r in roles]
    s.page_roles = roles
