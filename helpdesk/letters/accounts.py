"""Field extraction, the accounts: listed, kept, removed, and the number stated."""

from __future__ import annotations

import re

from .codes import find_codes, is_valid_uscc
from .view import Cand, View, _cand

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


_INTRODUCES = re.compile(
    r"(?:"
    + _TARGET_VERB
    + r"|保留)\s*(?:掉)?\s*(?:以下|如下|下列|其中)?\s*(?:的)?\s*(?:账号|账户|用户名)?\s*$"
)


def _clause_role_text(seg: str, i: int, j: int) -> str:
    """The text that says what the account at seg[i:j] is for: its comma clause.

    A remark in brackets is a clause of its own ("申请注销账号a（名下账号共2个：a、b）": b is only
    listed), unless the words just before the bracket introduce it ("申请注销以下账号（a、b）").
    """
    ca = max(seg.rfind(ch, 0, i) for ch in ",()") + 1
    ends = [k for k in (seg.find(ch, j) for ch in ",()") if k >= 0]
    cb = min(ends) if ends else len(seg)
    where = seg[ca:cb]
    if ca > 0 and seg[ca - 1] == "(":
        before = seg[max(seg.rfind(",", 0, ca - 1), seg.rfind(")", 0, ca - 1)) + 1 : ca - 1]
        if _INTRODUCES.search(before):
            where = before + where
    if _KEEP_WORD.search(seg[j:cb][:8]):
        where = "保留"
    return where


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
                where = _clause_role_text(seg, i - a, j - a)
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
