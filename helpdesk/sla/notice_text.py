"""The State Council's holiday notice, pasted as published, turned into the import form's date lines.

The General Office publishes each year's schedule as prose ("一、元旦：1月1日（周四）至3日（周六）放假调休，
共3天。1月4日（周日）上班。"). Supervisors copy it from gov.cn; retyping it as ISO dates is where mistakes
creep in. This reads the prose into the same `date[:date] name` lines that `edits.parse_notice` checks,
so the pasted text goes through exactly the checks and the confirmation a typed entry does.

Pure text handling: no Flask, no database.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

# A numbered item's head: "一、元旦：" / "六、国庆节、中秋节：" (after NFKC the colon is ASCII).
_HEAD = re.compile(r"(?:^|(?<=[。;\s]))([一二三四五六七八九十]{1,3})、([^:\n。]{1,20}?):")
# Asides in brackets carry weekdays and lunar dates ("（农历腊月二十八、周日）"), never a date we need.
_ASIDE = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")
_DAY = r"(?:(\d{4})年)?(\d{1,2})月(\d{1,2})日"
_RANGE = re.compile(rf"{_DAY}\s*(?:至|到|~|-|—|－)\s*(?:(?:(\d{{4}})年)?(\d{{1,2}})月)?(\d{{1,2}})日")
_SINGLE = re.compile(_DAY)
_YEAR = re.compile(r"(\d{4})年(?:部分)?节假日安排")


class NoticeTextError(ValueError):
    """The pasted text cannot be read as a holiday notice; the message says what to do."""


@dataclass(frozen=True)
class NoticeText:
    year: int | None  # the year the notice names in its title, if pasted with it
    off: tuple[str, ...]  # "2026-01-01:2026-01-03 元旦"
    work: tuple[str, ...]  # "2026-01-04 元旦"
    notes: tuple[str, ...]


def parse_notice_text(text: str, year: int) -> NoticeText:
    """Read the notice's prose for `year`. Days that fall in another year (a New Year's holiday that
    starts on 31 December) are left to that year's notice and noted."""
    clean = _ASIDE.sub("", unicodedata.normalize("NFKC", text or ""))
    titled = _YEAR.search(clean)
    named_year = int(titled[1]) if titled else None
    if named_year is not None and named_year != year:
        raise NoticeTextError(f"粘贴的是 {named_year} 年的通知，但年份填的是 {year}：请改正年份或通知。")
    off: list[str] = []
    work: list[str] = []
    notes: list[str] = []
    for name, body in _items(clean):
        for sentence in re.split(r"[。;\n]+", body):
            if "上班" in sentence:
                for first, _ in _dates(sentence, year):
                    if _keep(first, first, year, notes):
                        work.append(f"{first.isoformat()} {name}".strip())
            elif "放假" in sentence or "休息" in sentence:
                for first, last in _dates(sentence, year):
                    span = _keep(first, last, year, notes)
                    if span:
                        a, b = span
                        item = a.isoformat() if a == b else f"{a.isoformat()}:{b.isoformat()}"
                        off.append(f"{item} {name}".strip())
    if not off:
        raise NoticeTextError(
            "没有从通知原文里读到放假日期：请粘贴通知正文（如“一、元旦：1月1日（周四）至3日（周六）放假调休，共3天。”），"
            "或在下面逐行填写日期。"
        )
    return NoticeText(named_year, tuple(off), tuple(work), tuple(notes))


def _items(text: str) -> list[tuple[str, str]]:
    heads = list(_HEAD.finditer(text))
    if not heads:
        return [("", text)]
    out = []
    for i, head in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        out.append((head[2].strip(), text[head.end() : end]))
    return out


def _dates(sentence: str, year: int) -> list[tuple[date, date]]:
    """Ranges first ("5月31日至6月2日", "1月1日至3日"), then the single days left in the sentence."""
    found: list[tuple[int, tuple[date, date]]] = []
    taken: list[tuple[int, int]] = []
    for m in _RANGE.finditer(sentence):
        first = _date(m[1], m[2], m[3], year)
        last_year = int(m[4]) if m[4] else first.year if first else year
        last_month = m[5] or m[2]
        last = _date(str(last_year), last_month, m[6], year)
        if first and last and last < first and not m[4]:
            last = _date(str(last_year + 1), last_month, m[6], year)  # "12月31日至1月2日"
        if first and last:
            found.append((m.start(), (first, last)))
        taken.append(m.span())
    for m in _SINGLE.finditer(sentence):
        if any(a <= m.start() < b for a, b in taken):
            continue
        day = _date(m[1], m[2], m[3], year)
        if day:
            found.append((m.start(), (day, day)))
    return [span for _, span in sorted(found)]


def _date(y: str | None, m: str, d: str, year: int) -> date | None:
    try:
        return date(int(y) if y else year, int(m), int(d))
    except ValueError:
        return None


def _keep(first: date, last: date, year: int, notes: list[str]) -> tuple[date, date] | None:
    """The part of a range inside `year`; what lies outside is the other year's notice's business."""
    a, b = max(first, date(year, 1, 1)), min(last, date(year, 12, 31))
    if a > b:
        notes.append(f"{first} 不在 {year} 年内，按那一年的通知录入。")
        return None
    if (a, b) != (first, last):
        outside = (b - a).days + 1
        notes.append(
            f"{first} 至 {last} 中有 {(last - first).days + 1 - outside} 天不在 {year} 年内，未录入。"
        )
    return a, b


def days_in(items: tuple[str, ...]) -> set[date]:
    """Every day an item list covers (for checks and tests)."""
    out: set[date] = set()
    for item in items:
        span = item.split(" ", 1)[0]
        first, _, last = span.partition(":")
        d, end = date.fromisoformat(first), date.fromisoformat(last or first)
        while d <= end:
            out.add(d)
            d += timedelta(days=1)
    return out
