"""The view fields are read from: one source's normalised text with the template's placeholders
masked out (MASK), and `Cand`, a candidate value with its evidence.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from .text import NText, normalize

MASK = "\x01"

# --- placeholders ---------------------------------------------------------------------------------

#: template blanks: the label inside the brackets -> the field it stands for (None: an instruction)
_PH_LABELS: list[tuple[str, str | None]] = [
    (r"公司名称[、,]?\s*加盖公章|公司名称[、,]?\s*盖章", "company_name"),
    (r"公司名称|企业名称|单位名称|公司全称|企业全称", "company_name"),
    (r"账号信息|账户信息|账号名称|账号|账户", "account_names"),
    (r"几个|个数|数量|账号个数", "account_count"),
    (r"事由[^()]{0,40}|原因", "reason"),
    (r"具体修改内容|修改内容", "modification"),
    (r"再次确认修改事项|确认修改事项", "modification"),
    (r"加盖公章|盖章|公章|签章|盖公章", None),
    (r"日期|年月日", "letter_date"),
]
_PH_PAREN = re.compile(r"\(\s*(" + "|".join(f"(?:{p})" for p, _ in _PH_LABELS) + r")\s*\)")
_PH_X = re.compile(r"(?<![0-9A-Za-z_])(?:X{2,}|x{3,}|×{2,}|_{3,}|\*{3,})(?![0-9A-Za-z])")


@dataclass(frozen=True, slots=True)
class Placeholder:
    text: str  #: normalised (what was matched)
    field: str | None  #: the field the blank stands for; None for an instruction such as "（盖章）"
    start: int  #: offsets in the normalised flat text
    end: int
    shown: str = ""  #: as written in the source, for messages


def find_placeholders(s: str) -> list[Placeholder]:
    """Template blanks left in normalised flat text `s`."""
    out: list[Placeholder] = []
    for m in _PH_PAREN.finditer(s):
        label = m.group(1)
        fld = next((f for p, f in _PH_LABELS if re.fullmatch(p, label)), None)
        out.append(Placeholder(m.group(0), fld, m.start(), m.end()))
    for m in _PH_X.finditer(s):
        after = s[m.end() : m.end() + 2]
        if after[:1] in ("年", "月", "日"):
            fld = "letter_date"
        elif after.startswith("(") or m.end() == len(s):
            fld = "company_name"
        else:
            fld = None
        out.append(Placeholder(m.group(0), fld, m.start(), m.end()))
    out.sort(key=lambda p: p.start)
    return out


def _mask(s: str, phs: list[Placeholder]) -> str:
    if not phs:
        return s
    chars = list(s)
    for p in phs:
        for k in range(p.start, p.end):
            chars[k] = MASK
    # "XX月XX日" around a masked year: mask the date words too, so that "年月日" is not half a date
    return "".join(chars)


# --- the view of one source -----------------------------------------------------------------------


@dataclass
class View:
    """One source's text, normalised twice (flat, and keeping lines) with placeholders masked."""

    label: str
    raw: str
    flat: NText
    lines: NText
    s: str  #: masked flat text
    ls: str  #: masked line text
    placeholders: list[Placeholder]
    page_of: Callable[[int], int | None]
    factor: float  #: confidence factor of the source (OCR, body, subject are weaker)
    repair: str = "alphabet"  #: code repair allowed: "all" for OCR text, "alphabet" for typed text


def make_view(
    label: str,
    raw: str,
    *,
    page_of: Callable[[int], int | None] | None = None,
    factor: float = 1.0,
    repair: str = "alphabet",
) -> View:
    flat = normalize(raw, flat=True)
    lines = normalize(raw, flat=False)
    phs = []
    for p in find_placeholders(flat.text):
        a, b = flat.span(p.start, p.end)
        phs.append(replace(p, shown=raw[a:b].strip() or p.text))
    lphs = find_placeholders(lines.text)
    return View(
        label,
        raw,
        flat,
        lines,
        _mask(flat.text, phs),
        _mask(lines.text, lphs),
        phs,
        page_of or (lambda _o: None),
        factor,
        repair,
    )


@dataclass(frozen=True, slots=True)
class Cand:
    """A candidate value with its source offsets (into `View.raw`)."""

    name: str
    value: object
    label: str
    start: int
    end: int
    evidence: str
    page: int | None
    confidence: float
    repaired: bool = False
    original: str | None = None


def _cand(
    v: View, name: str, value: object, i: int, j: int, conf: float, *, lines: bool = False, **kw
) -> Cand:
    nt = v.lines if lines else v.flat
    a, b = nt.span(i, j)
    return Cand(
        name, value, v.label, a, b, v.raw[a:b], v.page_of(a), round(min(1.0, conf * v.factor), 3), **kw
    )


def _clean(value: str) -> str:
    value = value.replace(MASK, "")
    return value.strip(" \t\n,;:.、。!?\"'“”‘’")
