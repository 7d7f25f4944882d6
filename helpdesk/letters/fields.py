"""Field extraction from the text of one source (a letter, a licence, a mail body).

Extraction runs on a normalised copy of the text (`text.normalize`: NFKC, so "（" is "(" and "："
is ":"; no spaces between Chinese characters; line breaks joined) in which the template's
placeholders — "（公司名称）", "（账号信息）", "XXXX" … — are masked out, so they are never taken as values.
Values are NFKC-normalised text; the evidence quotes the source as written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date

from .codes import CodeMatch, check_code, find_codes, is_valid_uscc
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


# --- company name ---------------------------------------------------------------------------------

ORG_SUFFIX = (
    r"(?:有限责任公司|股份有限公司|有限公司|分公司|公司|集团|总厂|厂|合作社|联合社|中心|商行|经营部|"
    r"事务所|研究院|研究所|工作室|商店|门市部|贸易行)"
)
_ORG_END = re.compile(ORG_SUFFIX + r"(?:\([^()]{1,12}\))?$")
_PRONOUNS = re.compile(
    r"^(?:兹有|兹|我司|我公司|本公司|我单位|本单位|我们|本企业|我企业|贵司|该公司|特此说明!?)+"
)
_NOT_NAMES = re.compile(r"商务部|项目组|统一平台|管理应用|专项资金|账号|说明")
_STOP_WORDS = re.compile(
    r"在|于|现|因|由于|申请|特此|的|已|需|要|将|就|拥有|存在|有\d|有[一二两三四五六七八九十]"
)

_C_SLOT = re.compile(
    r"(?:^|[:。!?;]|项目组|您好|你好)\s*(?P<v>[^:;,。!?"
    + MASK
    + r"]{2,80}?)(?:\([^()]{0,60}\))?["
    + MASK
    + r"\s]*(?:目前)?在\s*(?:商务部)?\s*"
    r"(?:业务系统)?\s*(?:统一)?\s*(?:管理)?平台"
)
_C_LABEL = re.compile(
    r"(?:公司|企业|单位|申请单位|申请企业)(?:全称|名称)\s*[:为是]\s*(?P<v>[^:;,。!?\t\n " + MASK + r"]{2,60})"
)
_C_WE = re.compile(
    r"(?:我司|我公司|本公司|我单位|本单位|(?:我们|我方|这边|这里)(?:公司)?\s*(?:是|系|为))\s*[(“\"]?\s*(?P<v>[\u4e00-\u9fff][\u4e00-\u9fff()]{1,60})"
)
_C_LICENCE = re.compile(r"(?:名\s*称|企业名称|公司名称)\s*:?\s*(?P<v>[\u4e00-\u9fff][\u4e00-\u9fff()]{1,60})")
_SIG_LINE = re.compile(
    r"^[\s"
    + MASK
    + r"]*(?:(?:单位|公司|企业)(?:名称)?[:]\s*)?(?P<v>[\u4e00-\u9fff][\u4e00-\u9fff()]{1,60}?)[\s"
    + MASK
    + r"]*(?:\((?:盖章|公章|签章|章)\))?[\s"
    + MASK
    + r"]*$"
)


def _org_name(v: str) -> str | None:
    """A company name out of a captured span: pronouns off, must look like an organisation."""
    v = _clean(v)
    v = _PRONOUNS.sub("", v)
    v = re.sub(r"^.*项目组:?", "", v)
    v = re.sub(r"\((?:盖章|公章|签章|章)\)$", "", v).strip()
    # "…有限公司(统一社会信用代码…)": the remark is not part of the name
    v = re.sub(
        r"(" + ORG_SUFFIX + r")\((?:[^()]*(?:代码|账号|简称|以下)[^()]*|[^()]*[A-Za-z0-9][^()]*)\)?$",
        r"\1",
        v,
    )
    if len(v) < 4 or not re.search(r"[\u4e00-\u9fff]", v) or _NOT_NAMES.search(v):
        return None
    return v


def _org_prefix(run: str) -> str | None:
    """The longest prefix of `run` that ends with an organisation suffix, before any stop word."""
    stop = _STOP_WORDS.search(run, 2)
    head = run[: stop.start()] if stop else run
    best = None
    for m in re.finditer(ORG_SUFFIX, head):
        best = head[: m.end()]
    # keep a bracketed tail such as "有限公司(北京)", never "(统一社会信用代码…)" or "(账号…)"
    if best is not None:
        tail = re.match(r"\([\u4e00-\u9fff]{2,6}\)", head[len(best) :])
        if tail and re.search(r"代码|账号|盖章|公章|签章|以下|简称", tail.group(0)):
            tail = None
        if tail:
            best += tail.group(0)
    return best


def extract_company(v: View, *, licence: bool = False) -> list[Cand]:
    out: list[Cand] = []
    s = v.s
    if licence:
        for m in _C_LICENCE.finditer(v.ls):
            name = _org_prefix(m.group("v"))
            if name and _org_name(name):
                i = m.start("v")
                out.append(_cand(v, "company_name", name, i, i + len(name), 0.7, lines=True))
                break
        return out
    for m in _C_LABEL.finditer(v.ls):
        name = _org_name(m.group("v"))
        if name:
            out.append(_cand(v, "company_name", name, m.start("v"), m.end("v"), 0.95, lines=True))
            break
    for m in _C_SLOT.finditer(s):
        raw = m.group("v")
        name = _org_name(raw)
        if name:
            i = m.start("v") + raw.find(name[:2]) if name[:2] in raw else m.start("v")
            conf = 0.95 if _ORG_END.search(name) else 0.75
            out.append(_cand(v, "company_name", name, i, i + len(name), conf))
            break
    # signature: a line that is just an organisation name, after "特此说明" or at the end
    lines = v.ls.split("\n")
    offsets = []
    pos = 0
    for line in lines:
        offsets.append(pos)
        pos += len(line) + 1
    tail_from = 0
    for k, line in enumerate(lines):
        if "特此" in line:
            tail_from = k
    if tail_from == 0:
        tail_from = max(0, len(lines) - 4)
    for k in range(len(lines) - 1, tail_from - 1, -1):
        line = lines[k]
        m = _SIG_LINE.match(line)
        if not m:
            continue
        name = m.group("v")
        if _ORG_END.search(name) and _org_name(name):
            i = offsets[k] + m.start("v")
            out.append(_cand(v, "company_name", name, i, i + len(name), 0.9, lines=True))
            break
    for m in _C_WE.finditer(s):
        name = _org_prefix(m.group("v"))
        if name and _org_name(name):
            i = m.start("v")
            out.append(_cand(v, "company_name", name, i, i + len(name), 0.85))
            break
    return out


# --- accounts -------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"(?i:zxkt)\s?[-_ —]\s?[A-Za-z0-9](?:[A-Za-z0-9.@\-]|\s?_\s?)*|[A-Za-z0-9](?:[A-Za-z0-9.@\-]|\s?_\s?)*"
)
_SEP = re.compile(r"\s*(?:、|,|;|/|\||和|及|以及|与|跟|还有|或|\s)\s*")
_NOISE = re.compile(
    r"\s*(?:[“”\"'‘’《》<>\[\]【】()]|(?:第?[一二三四五六七八九十\d]个?)?(?:账号|账户|用户名)(?:名称|信息)?"
    r"[一二三四五六七八九十\d]?\s*(?:为|是)?\s*:?)\s*"
)
_LIST_START = re.compile(
    r"(?:账号|账户|用户名)(?:信息|名称|名)?\s*,?\s*(?:分别|依次|各)?\s*(?:是|为|:|如下|包括)\s*:?\s*(?:如下)?\s*:?"
    r"|统一平台\s*(?:的)?\s*(?:账号|账户|用户名)(?:信息)?\s*(?:为|是|:)?"
    r"|(?:账号|账户)[一二三四五六七八九十\d]\s*(?:为|是|:)"
)
_TARGET_VERB = r"(?:解绑|注销|解除绑定|删除|停用|撤销)"
_TARGET_START = re.compile(
    _TARGET_VERB
    + r"\s*(?:掉)?\s*(?:以下|如下|下列|其中)?\s*(?:的)?\s*(?:账号|账户|用户名|用户)?\s*(?:信息)?\s*(?:为|是)?\s*:?\s*"
)
_TARGET_BEFORE = re.compile(
    r"(?:将|把|对)\s*(?:其中)?\s*(?:的)?\s*(?:账号|账户|用户名)?\s*(?:为|是)?\s*:?\s*"
)
_TARGET_AFTER = re.compile(
    r"\s*(?:账号|账户)?\s*(?:的[^,;。]{0,24}?)?\s*(?:进行|予以|做|作)?\s*" + _TARGET_VERB
)
_N = r"\d{1,2}|[一二两三四五六七八九十]{1,3}"
_COUNT = re.compile(
    r"(?:存在|有|拥有|注册(?:了|过)?|共有?|开通(?:了)?|申请(?:了)?|持有)\s*(?P<n>" + _N + r")\s*个\s*"
    r"(?:商务部)?(?:业务系统)?(?:统一平台)?\s*(?:的)?\s*(?:账号|账户|用户|号)"
    r"|(?:账号|账户)\s*(?:共|共计|总计|一共)\s*(?:有)?\s*(?P<n2>" + _N + r")\s*个"
    r"|(?:账号|账户)(?:个数|数量|总数)\s*(?:为|是|:)?\s*(?P<n3>" + _N + r")(?![\d.])"
)
_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}


def cn_number(s: str) -> int | None:
    """A small count written as digits or Chinese numerals ("3", "三", "两", "十二") as an int, else None."""
    if s.isdigit():
        return int(s)
    if not s:
        return None
    if "十" in s:
        a, _, b = s.partition("十")
        tens = _CN_DIGITS.get(a) if a else 1
        ones = _CN_DIGITS.get(b) if b else 0
        if tens is None or ones is None:
            return None
        return tens * 10 + ones
    if len(s) == 1:
        return _CN_DIGITS.get(s)
    return None


def norm_account(tok: str) -> str:
    """An account name as written, minus OCR damage to the "zxkt_" prefix and spaces around "_"."""
    tok = re.sub(r"\s*_\s*", "_", tok)
    tok = re.sub(r"(?i)^zxkt\s?[-_ —]\s?", "zxkt_", tok)
    return tok.rstrip(".-@")


def _is_account(tok: str) -> bool:
    t = norm_account(tok)
    if len(t) < 3 or len(t) > 64:
        return False
    if t.isdigit() and len(t) < 5:
        return False
    if not re.search(r"[A-Za-z]", t) and not t.isdigit():
        return False
    if re.fullmatch(r"[0-9A-Z]{18}", t) and sum(c.isdigit() for c in t) >= 4:
        return False  # a code, valid or not
    if re.fullmatch(r"[0-9A-Z]{8}-[0-9A-Z]", t) or re.fullmatch(r"(?=.*[A-Z])[0-9A-Z]{8}[0-9X]", t):
        return False
    return not (len(t) == 18 and is_valid_uscc(t.upper()))


def scan_accounts(s: str, pos: int) -> list[tuple[str, int, int]]:
    """Account names listed from `pos` on: separated by 、,;/ 和 及 or spaces, possibly quoted."""
    items: list[tuple[str, int, int]] = []
    p = pos
    while True:
        m = _NOISE.match(s, p)
        while m and m.end() > p:
            p = m.end()
            m = _NOISE.match(s, p)
        m = _TOKEN.match(s, p)
        if not m or not _is_account(m.group()):
            break
        tok = m.group()
        items.append((norm_account(tok), m.start(), m.start() + len(tok.rstrip(".-@"))))
        p = m.end()
        m = _NOISE.match(s, p)
        while m and m.end() > p:
            p = m.end()
            m = _NOISE.match(s, p)
        m = _SEP.match(s, p)
        if not m or m.end() == p:
            break
        p = m.end()
    return items


_ACCOUNT_WORD = re.compile(r"账号|账户|用户名|个号|平台号|号码?[:：]|(?i:zxkt)")
_KEEP_WORD = re.compile(r"保留|继续使用|继续用|留用|仍使用|仍在使用|正常使用")
_TARGET_WORD = re.compile(_TARGET_VERB + r"(?!后|以后|之后)")
_ACCT_TOKEN = re.compile(
    r"(?<![A-Za-z0-9_.@\-])(?:(?i:zxkt)\s?[-_ —]\s?)?[A-Za-z0-9](?:[A-Za-z0-9.@\-]|\s?_\s?)*"
)
_NOT_ACCOUNT_BEFORE = re.compile(
    r"(?:电话|手机|联系方式|座机|传真|Tel|TEL|tel|邮箱|e-?mail|Email|QQ)\s*(?:号码?)?\s*(?:为|是|:)?\s*$"
)
_DATE_TOKEN = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}")
_LABEL = re.compile(
    r"\s*(?:[(（]?(?:\d{1,2}|[一二三四五六七八九十]{1,2})[)）.、:]\s*)?(?P<label>[^:\n]{1,16}?):"
)


_LIST_MARK = re.compile(r"\s*(?:\d{1,2}[.、)]|[一二三四五六七八九十]{1,2}[、.]|\(\d{1,2}\))(?!\d)")


def _segments(ls: str) -> list[tuple[int, int]]:
    """Sentence-like spans of the line view: ended by 。!? and by line breaks the writer made.

    A line break is the layout's (a wrapped paragraph, a list going on after "、" or "；", a value
    after "申请注销账号：") unless the line ends a sentence, the next line starts a label ("事由：")
    or a numbered item, or the line is short (a title, a signature).
    """
    out: list[tuple[int, int]] = []
    start = 0
    line_start = 0
    for k, ch in enumerate(ls):
        if ch == "\n":
            line = ls[line_start:k]
            writer = (
                line[-1:] in "。!?"
                or _LIST_MARK.match(ls, k + 1) is not None
                or (_LABEL.match(ls, k + 1) is not None and not _ACCT_TOKEN.match(ls, k + 1))
                or (len(line) < 12 and line[-1:] not in "、,;:和及")
            )
            if writer:
                out.append((start, k))
                start = k + 1
            line_start = k + 1
        elif ch in "。!?":  # not ";": "a；b" lists accounts
            out.append((start, k + 1))
            start = k + 1
    out.append((start, len(ls)))
    return [(a, b) for a, b in out if ls[a:b].strip()]


_LABEL_SPEAKS = re.compile(r"账号|账户|用户名|号|" + _TARGET_VERB + r"|保留|继续")


def _account_tokens(v: View) -> list[tuple[str, int, int, str]]:
    """(account, start, end, role) in the line view; role "target", "keep" or "listed"."""
    s = v.ls
    codes = [(c.start, c.end) for c in find_codes(s, repair="none")]
    out: list[tuple[str, int, int, str]] = []
    for a, b in _segments(s):
        seg = s[a:b]
        label_m = _LABEL.match(seg)
        label = label_m.group("label") if label_m else ""
        seg = seg.replace("\n", " ")
        tokens = []
        for m in _ACCT_TOKEN.finditer(seg):
            tok = m.group().rstrip(" ")
            i, j = a + m.start(), a + m.start() + len(tok)
            if not _is_account(tok) or any(i < y and x < j for x, y in codes):
                continue
            if _DATE_TOKEN.fullmatch(tok) or _NOT_ACCOUNT_BEFORE.search(s[max(a, i - 12) : i]):
                continue
            if "@" in tok and re.search(r"邮箱|邮件|mail|发到|发送", seg, re.I):
                continue
            tokens.append((tok, i, j))
        if not tokens:
            continue
        if not (_ACCOUNT_WORD.search(seg) or _TARGET_WORD.search(seg) or _KEEP_WORD.search(seg)):
            continue
        for tok, i, j in tokens:
            if label_m is not None and i >= a + label_m.end() and _LABEL_SPEAKS.search(label):
                # "需要注销的账号：a、b" / "保留账号：c": the label speaks for the whole line
                where = label
            else:
                # the comma clause around the token
                ca = seg.rfind(",", 0, i - a) + 1
                cb = seg.find(",", j - a)
                where = seg[ca : cb if cb >= 0 else len(seg)]
                rest = seg[j - a : cb if cb >= 0 else len(seg)]
                if _KEEP_WORD.search(rest[:8]):
                    where = "保留"
            role = (
                "keep" if _KEEP_WORD.search(where) else "target" if _TARGET_WORD.search(where) else "listed"
            )
            out.append((norm_account(tok), i, j, role))
    return out


def extract_accounts(v: View) -> list[Cand]:
    out: list[Cand] = []
    tokens = _account_tokens(v)
    # the enterprise's accounts: its list when it gives one (a target missing from the list is a
    # finding, so it is not added), else every account it names (to keep and to remove)
    named = [t for t in tokens if t[3] != "target"] if any(t[3] == "listed" for t in tokens) else tokens
    names = list(dict.fromkeys(t[0] for t in named))
    targets = [t for t in tokens if t[3] == "target"]
    if names:
        out.append(_cand(v, "account_names", names, named[0][1], named[-1][2], 0.9, lines=True))
    if targets:
        tnames = list(dict.fromkeys(t[0] for t in targets))
        out.append(_cand(v, "target_accounts", tnames, targets[0][1], targets[-1][2], 0.9, lines=True))
    for m in _COUNT.finditer(v.ls):
        raw = m.group("n") or m.group("n2") or m.group("n3")
        n = cn_number(raw)
        if n is not None and 0 < n < 100:
            out.append(_cand(v, "account_count", n, m.start(), m.end(), 0.95, lines=True))
            break
    return out


# --- reason, modification, old and new values -----------------------------------------------------

_R_SLOT = re.compile(r"由于\s*(?P<v>[^。]{1,150}?)\s*(?:的)?\s*原因")
_R_LABEL = re.compile(
    r"(?:事由|原因|理由)\s*(?:是|为|:)\s*(?P<v>[^;。\n]{2,150}?)\s*(?:[;。\n]|$|,\s*(?:现|特|故|所以|因此|需|我司|本公司|申请))"
)
#: "因X，Y，现申请…": the reason runs up to the request
_R_BECAUSE_TO_ASK = re.compile(
    r"(?:由于|因为|(?<![原基])因(?!此|而))\s*(?P<v>(?:(?!,在)[^;。:]){2,150}?)\s*[,;]\s*(?:现|特|故|所以|因此|需要?|我司|本公司|申请|特此|请)"
)
#: "因X，…" / "因为X，想…" / "由于X，…": the clause after the marker, whatever comes next
_R_BECAUSE = re.compile(r"(?:由于|因为|(?<![原基])因(?!此|而|为))\s*(?P<v>[^,;。!?:]{2,80})")
#: a reason stated plainly: the clause right before the request ("该账号已不再使用，麻烦帮我们注销")
_R_ASK = re.compile(r"^(?:麻烦|请|烦请|现|特|故|所以|因此|想|需要|申请|希望|特此申请|在此申请|现申请)")
_R_NOT_REASON = re.compile(
    r"[A-Za-z0-9]{3}|有限公司|公司$|账号信息|分别|您好|你好|老师|项目组|我们是|我司是|特此|如下|统一平台(?:上)?(?:注册|有|存在)"
)
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
    for m in _R_LABEL.finditer(v.ls):
        c = _text_value(v, "reason", m, "v", 0.9, lines=True)
        if c is not None:
            return [c]
    for m in [*_R_BECAUSE_TO_ASK.finditer(v.s), *_R_BECAUSE.finditer(v.s)]:
        c = _text_value(v, "reason", m, "v", 0.75)
        if c is not None:
            return [_reason_trimmed(c)]
    for sentence in re.finditer(r"[^。!?;\n]+", v.s):
        clauses = list(re.finditer(r"[^,]+", sentence.group()))
        for k in range(1, len(clauses)):
            if _R_ASK.match(clauses[k].group()) and not _R_NOT_REASON.search(clauses[k - 1].group()):
                i = sentence.start() + clauses[k - 1].start()
                j = sentence.start() + clauses[k - 1].end()
                value = _clean(v.s[i:j])
                if 4 <= len(value) <= 40:
                    return [_cand(v, "reason", value, i, j, 0.6)]
    return out


def _reason_trimmed(c: Cand) -> Cand:
    """ "因X原因" / "因X等原因": the reason without its closing word."""
    value = re.sub(r"(?:等|的)?原因$", "", str(c.value)).strip()
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


# --- codes ----------------------------------------------------------------------------------------


def code_cand(v: View, c) -> Cand:
    """A uscc / org_code candidate out of a valid `codes.CodeMatch` found in `v.raw`."""
    value = c.value if c.kind == "uscc" else f"{c.value[:8]}-{c.value[8]}"
    conf = (0.99 if c.keyword else 0.95) if not c.repaired else 0.8
    return Cand(
        c.kind,
        value,
        v.label,
        c.start,
        c.end,
        c.raw,
        v.page_of(c.start),
        round(conf * v.factor, 3),
        c.repaired,
        c.original,
    )


def extract_codes(v: View) -> list[Cand]:
    return [code_cand(v, c) for c in find_codes(v.raw, repair=v.repair) if c.valid]


def extract_all(v: View) -> list[Cand]:
    """Every candidate in one letter-like source, in a stable order."""
    out: list[Cand] = []
    out += extract_company(v)
    out += extract_accounts(v)
    out += extract_reason(v)
    out += extract_change(v)
    out += extract_date(v)
    out += extract_contact(v)
    return out
