"""Field extraction, the letter's date and the contact."""

from __future__ import annotations

import re
from datetime import date

from .accounts import _CN_DIGITS, cn_number
from .view import Cand, View, _cand

# --- date, contact --------------------------------------------------------------------------------

_CN_YEAR = "〇零○OoΟ一二三四五六七八九"
_D_NUM = re.compile(r"(?<!\d)(?P<y>(?:19|20)\d{2})\s*年\s*(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*[日号]?")
_D_ISO = re.compile(r"(?<![\d.\-/])(?P<y>(?:19|20)\d{2})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})(?![\d.\-/])")
_D_CN = re.compile(
    r"(?P<y>["
    + _CN_YEAR
    + r"]{4})\s*年\s*(?P<m>[一二三四五六七八九十]{1,2})\s*月\s*(?P<d>[一二三四五六七八九十]{1,3})\s*[日号]"
)


def _cn_year(s: str) -> int | None:
    digits = []
    for ch in s:
        if ch in "〇零○OoΟ":
            digits.append("0")
        elif ch in _CN_DIGITS:
            digits.append(str(_CN_DIGITS[ch]))
        else:
            return None
    return int("".join(digits))


def extract_date(v: View) -> list[Cand]:
    found: list[tuple[int, int, date, float]] = []
    s = v.ls
    for rx, kind in ((_D_NUM, "num"), (_D_ISO, "num"), (_D_CN, "cn")):
        for m in rx.finditer(s):
            if kind == "cn":
                y, mo, d = _cn_year(m.group("y")), cn_number(m.group("m")), cn_number(m.group("d"))
            else:
                y, mo, d = int(m.group("y")), int(m.group("m")), int(m.group("d"))
            if y is None or mo is None or d is None:
                continue
            try:
                found.append((m.start(), m.end(), date(y, mo, d), 0.95 if kind == "num" else 0.9))
            except ValueError:
                continue
    if not found:
        return []
    i, j, day, conf = max(found, key=lambda t: t[0])  # the last date: the signature's
    return [_cand(v, "letter_date", day.isoformat(), i, j, conf, lines=True)]


_CONTACT_NAME = re.compile(
    r"(?:联系人(?:姓名)?\s*(?:为|是|:)?|经办人(?:姓名)?\s*(?:为|是|:))\s*(?P<v>[\u4e00-\u9fff]{2,4})"
)
_PHONE = re.compile(
    r"(?<![\dA-Za-z_])(?P<v>(?:\+?86[- ]?)?1[3-9]\d{9}|0\d{2,3}-?\d{7,8}(?:-\d{1,5})?)(?![\dA-Za-z_])"
)
_PHONE_LABEL = re.compile(r"(?:电话|手机|联系方式|座机|Tel|TEL|tel|Mobile)\s*(?:号码)?\s*(?:为|是|:)?\s*$")
_OUR_NUMBERS = {"01067870108", "01067800259", "4008863200", "01067800213", "01067801941"}


def extract_contact(v: View) -> list[Cand]:
    s = v.ls
    name_m = _CONTACT_NAME.search(s)
    name = None
    if name_m:
        name = re.split(r"电话|手机|联系|座机|邮箱|号码|先生|女士", name_m.group("v"))[0]
        if len(name) < 2:
            name = None
    phone_m = None
    for m in _PHONE.finditer(s):
        if m.group("v").replace("-", "") in _OUR_NUMBERS:
            continue  # the help desk's own numbers, quoted from the FAQ
        labelled = _PHONE_LABEL.search(s[max(0, m.start() - 12) : m.start()])
        if labelled or (name_m is not None and 0 <= m.start() - name_m.end() < 20):
            phone_m = m
            break
    if name is None and phone_m is None:
        return []
    parts = [p for p in (name, phone_m.group("v") if phone_m else None) if p]
    spans = [m for m in (name_m if name else None, phone_m) if m is not None]
    i = min(m.start() for m in spans)
    j = max(m.end() for m in spans)
    return [_cand(v, "contact", " ".join(parts), i, j, 0.85, lines=True)]
