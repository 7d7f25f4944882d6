"""Field extraction, what is asked: the reason (事由), the modification, old and new values."""

from __future__ import annotations

import re
from dataclasses import replace

from .codes import CodeMatch, check_code, find_codes
from .view import MASK, Cand, View, _cand, _clean

# --- reason, modification, old and new values -----------------------------------------------------

_R_SLOT = re.compile(r"由于\s*(?P<v>[^。]{1,150}?)\s*(?:的)?\s*原因")
_R_LABEL = re.compile(
    r"(?:事由|原因|理由|(?:情况|申请|具体)说明)\s*(?:是|为|:)\s*(?P<v>[^;。\n]{2,150}?)\s*(?:[;。\n]|$|,\s*(?:现|特|故|所以|因此|需|我司|本公司|申请))"
)
#: "因X，Y，现申请…": the reason runs up to the request
_R_BECAUSE_TO_ASK = re.compile(
    r"(?:由于|因为|鉴于|考虑到|(?<![原基])因(?!此|而))\s*(?P<v>(?:(?!,在)[^;。:]){2,150}?)\s*[,;]\s*(?:现|特|故|所以|因此|需要?|我司|本公司|申请|特此|请)"
)
#: "因X，…" / "因为X，想…" / "由于X，…": the clause after the marker, whatever comes next
_R_BECAUSE = re.compile(r"(?:由于|因为|鉴于|考虑到|(?<![原基])因(?!此|而|为))\s*(?P<v>[^,;。!?:]{2,80})")
#: a reason stated plainly: the clause right before the request ("该账号已不再使用，麻烦帮我们注销")
_R_ASK = re.compile(
    r"^(?:(?:我司|我公司|本公司|我单位|本单位|公司)\s*(?:决定|特|现)?\s*(?:申请|拟|需要?)|"
    r"麻烦|请|烦请|恳请|敬请|望|帮忙|能否|可否|现|特|故|所以|因此|想|需要?|拟|申请|希望|特此申请|在此申请|现申请)"
)
#: a label whose value is on the next line ("事由：\n人员变动")
_R_LABEL_NEXT = re.compile(
    r"(?:^|\n)[^\n]{0,6}(?:事由|原因|理由|情况说明)\s*(?:是|为)?\s*:?\s*\n(?P<v>[^\n]{2,80})"
)
#: a purpose opening a sentence: "为便于统一管理，…申请注销…" (为 alone, not 因为 / 作为 / 认为)
_R_PURPOSE = re.compile(
    r"(?:^|(?<=[。!?\n:]))\s*为了?(?!此|何|什么|您|你|贵)(?P<v>[^,;。!?:]{2,30})\s*,(?=[^。]*(?:申请|需要|请))"
)
_R_NOT_REASON = re.compile(
    r"[A-Za-z0-9]{3}|有限公司|公司$|账号信息|分别|您好|你好|老师|项目组|我们是|我司是|特此|如下|统一平台(?:上)?(?:注册|有|存在)"
)
#: a sentence that asks or thanks is not a reason stated plainly ("收到请回复。请帮我们注销…")
_R_NOT_STATEMENT = re.compile(r"请|麻烦|谢谢|感谢|回复|联系|处理|办理|审核|如下|以下|吗|呢")
_M_SLOT = re.compile(
    r"(?:申请|请求|要求|需要?)\s*(?:更改|修改|变更|更正|修正)\s*(?:商务部)?\s*(?:业务系统)?\s*(?:统一平台)?\s*"
    r"(?:外贸发展专项资金\(中小\)网络管理应用)?\s*(?:中|里|上|内)?\s*(?:的)?\s*(?P<v>[^,;。]{1,150})"
)
_M_LABEL = re.compile(r"(?:具体)?修改(?:的)?内容\s*(?:为|是|:)\s*(?P<v>[^;。\n]{1,150})")
_FIELD_WORDS = (
    r"(?:统一社会信用代码|社会信用代码|信用代码|组织机构代码|机构代码|企业名称|公司名称|名称|代码|账号)"
)
_CHANGE_VERB = r"(?:变更|更改|修改|更正|修正|改)"
_OLDNEW = [
    re.compile(
        r"由(?!于)\s*(?:原来?的?)?\s*(?P<old>[^,;。由]{1,80}?)\s*"
        + _CHANGE_VERB
        + r"\s*为\s*(?P<new>[^,;。]{1,80})"
    ),
    re.compile(
        r"(?:将|把)\s*(?:原来?的?)?\s*(?P<old>[^,;。]{1,80}?)\s*"
        + _CHANGE_VERB
        + r"\s*为\s*(?P<new>[^,;。]{1,80})"
    ),
]
#: "原代码：X；正确的代码：Y", on the line view (one label per line)
_OLDNEW_LINES = re.compile(
    r"(?:原|错误的?|旧的?)\s*(?:的)?\s*"
    + _FIELD_WORDS
    + r"?\s*(?:为|是|:)\s*(?P<old>[^,;。\n]{1,80}?)\s*[,;。\n]\s*\n?\s*"
    r"(?:现|新|正确的?|应为|更正为|改为|需改为|变更为)\s*(?:的)?\s*"
    + _FIELD_WORDS
    + r"?\s*(?:应)?\s*(?:为|是|:)?\s*(?P<new>[^,;。\n]{1,80})"
)
_LEAD_LABEL = re.compile(r"^(?:原来?的?|错误的?)?\s*" + _FIELD_WORDS + r"?\s*(?:由|为|是|:)?\s*")


def _text_value(
    v: View, name: str, m: re.Match[str], group: str, conf: float, *, lines: bool = False
) -> Cand | None:
    raw = m.group(group)
    value = _clean(raw)
    value = re.sub(r"^(?:的|中的|中)", "", value).strip()
    if not value or len(value) < 2:
        return None
    i = m.start(group) + (len(raw) - len(raw.lstrip(MASK + " ")))
    return _cand(v, name, value, i, i + len(raw.strip(MASK + " ")), conf, lines=lines)


def extract_reason(v: View) -> list[Cand]:
    out: list[Cand] = []
    slot = _R_SLOT.search(v.s)
    if slot is not None:
        # the template's "由于（事由）原因" blank: its content, or nothing when left empty
        c = _text_value(v, "reason", slot, "v", 0.95)
        return [c] if c is not None else []
    for m in [*_R_LABEL.finditer(v.ls), *_R_LABEL_NEXT.finditer(v.ls)]:
        c = _text_value(v, "reason", m, "v", 0.9, lines=True)
        if c is not None:
            return [_reason_trimmed(c)]
    for m in [*_R_BECAUSE_TO_ASK.finditer(v.s), *_R_BECAUSE.finditer(v.s)]:
        c = _text_value(v, "reason", m, "v", 0.75)
        if c is not None:
            return [_reason_trimmed(c)]
    for m in _R_PURPOSE.finditer(v.ls):
        c = _text_value(v, "reason", m, "v", 0.7, lines=True)
        if c is not None:
            return [c]
    previous: re.Match[str] | None = None
    for sentence in re.finditer(r"[^。!?;\n]+", v.s):
        # a clause stated plainly right before the request, in its sentence ("该账号已不再使用，
        # 麻烦帮我们注销") or as the sentence before it ("人员变动。麻烦帮我们把…注销")
        clauses = list(re.finditer(r"[^,:]+", sentence.group()))
        for k in range(1, len(clauses)):
            if _R_ASK.match(clauses[k].group()) and not _R_NOT_REASON.search(clauses[k - 1].group()):
                i = sentence.start() + clauses[k - 1].start()
                j = sentence.start() + clauses[k - 1].end()
                value = _clean(v.s[i:j])
                if 4 <= len(value) <= 40:
                    return [_cand(v, "reason", value, i, j, 0.6)]
        if (
            previous is not None
            and clauses
            and _R_ASK.match(clauses[0].group().strip())
            and v.s[previous.end() : previous.end() + 1] in ("。", "!")
            and "," not in previous.group()
            and not _R_NOT_REASON.search(previous.group())
            and not _R_NOT_STATEMENT.search(previous.group())
        ):
            value = _clean(previous.group())
            if 4 <= len(value) <= 20:
                return [_cand(v, "reason", value, previous.start(), previous.end(), 0.55)]
        previous = sentence
    return out


def _reason_trimmed(c: Cand) -> Cand:
    """ "因X原因" / "因X等原因" / "由于X的缘故": the reason without its closing word; a remark's closing
    bracket ("（原因：X）") is not part of it."""
    value = str(c.value)
    if value.endswith(")") and "(" not in value:
        value = value[:-1].rstrip()
    value = re.sub(r"(?:等|的)?(?:原因|缘故|关系)$", "", value).strip()
    return replace(c, value=value) if len(value) >= 2 else c


def extract_change(v: View) -> list[Cand]:
    out: list[Cand] = []
    m = _M_LABEL.search(v.ls)
    c = _text_value(v, "modification", m, "v", 0.95, lines=True) if m else None
    if c is None:
        m = _M_SLOT.search(v.s)
        c = _text_value(v, "modification", m, "v", 0.9) if m else None
    if c is not None:
        out.append(c)
    pairs = _code_pairs(v)
    if pairs:
        out.extend(pairs)
        return out
    tries = [(rx.search(v.s), False) for rx in _OLDNEW] + [(_OLDNEW_LINES.search(v.ls), True)]
    for m, lines in tries:
        if not m:
            continue
        pair = [_old_new(v, m, "old", lines), _old_new(v, m, "new", lines)]
        if all(pair):
            out.extend(c for c in pair if c is not None)
            break
    return out


#: between an old and a new code: a change verb, or the new value's label
_TO_NEW = re.compile(
    r"(?:变更|更改|修改|更正|修正|改正|改)\s*(?:为|成)|->|→|=>|正确|修改后|变更后|更正后|新的?|现为|应为|应该是|改正后"
)
_OLD_LABEL = re.compile(r"原|错误|旧|修改前|变更前|更正前|误填|填错|之前")


_CODE_SHAPE = re.compile(
    r"(?<![0-9A-Za-z])(?:(?=[0-9A-Z]*\d[0-9A-Z]*\d)[0-9A-Z]{18}|[0-9A-Z]{8}-[0-9A-Z])(?![0-9A-Za-z])"
)


def _code_pairs(v: View) -> list[Cand]:
    """old_value / new_value pairs of codes: "A变更为B", "A修改为B", "原来填的是A，正确的是B",
    "原代码：A / 正确代码：B", a table's 修改前 / 修改后 rows; one pair per changed code."""
    codes = find_codes(v.ls, repair="none")
    # a wrong code may break the code's structure too (a letter where digits belong), which
    # find_codes does not take for a code: take every code-shaped token
    for m in _CODE_SHAPE.finditer(v.ls):
        if not any(m.start() < c.end and c.start < m.end() for c in codes):
            raw = m.group()
            kind = "uscc" if len(raw) == 18 else "org_code"
            codes.append(CodeMatch(kind, raw.replace("-", ""), raw, m.start(), m.end(), False))
    codes.sort(key=lambda c: c.start)
    out: list[Cand] = []
    used: set[int] = set()
    for k in range(len(codes) - 1):
        a, b = codes[k], codes[k + 1]
        if k in used or a.kind != b.kind:
            continue
        between = v.ls[a.end : b.start]
        before = v.ls[max(0, a.start - 16) : a.start]
        if (
            len(between) > 40
            or not _TO_NEW.search(between)
            or _TO_NEW.search(before[-6:])
            and not _OLD_LABEL.search(before)
        ):
            continue
        used.update((k, k + 1))
        for code, name, repair in ((a, "old_value", "none"), (b, "new_value", v.repair)):
            c = check_code(code.raw, repair=repair) or code
            value = c.value if c.kind == "uscc" else f"{c.value[:8]}-{c.value[8:]}"
            out.append(
                _cand(
                    v,
                    name,
                    value,
                    code.start,
                    code.end,
                    0.9 if c.valid else 0.8,
                    lines=True,
                    repaired=c.repaired,
                    original=c.original,
                )
            )
    return out


def _old_new(v: View, m: re.Match[str], group: str, lines: bool = False) -> Cand | None:
    raw = m.group(group)
    lead = _LEAD_LABEL.match(raw)
    cut = lead.end() if lead else 0
    text = _clean(raw[cut:])
    if not text:
        return None
    i = m.start(group) + cut
    j = m.start(group) + len(raw.rstrip(MASK + " "))
    name = f"{group}_value"
    # the old value is the wrong one being corrected: never "repair" it
    code = check_code(text, repair="none" if group == "old" else v.repair)
    if code is not None:
        value = code.value if code.kind == "uscc" else f"{code.value[:8]}-{code.value[8:]}"
        return _cand(
            v,
            name,
            value,
            i,
            j,
            0.9 if code.valid else 0.8,
            lines=lines,
            repaired=code.repaired,
            original=code.original,
        )
    return _cand(v, name, text, i, j, 0.85, lines=lines)
