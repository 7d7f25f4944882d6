"""Text normalisation with an offset map back to the source text.

Letters arrive with full-width digits and punctuation, spaces between Chinese characters (OCR, hand
alignment), and line breaks in the middle of names and codes. Extraction runs on a normalised copy;
every normalised character remembers the index of the source character it came from, so evidence
can quote the source text exactly.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

#: dashes and tildes that NFKC leaves alone but that mean "-" / "~" in a letter
_EXTRA = {
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u2015": "-",
    "\u2212": "-",
    "\u301c": "~",
    "\u3007": "〇",  # keep the Chinese zero as it is (NFKC keeps it too; stated for clarity)
    "\u25cb": "〇",  # WHITE CIRCLE, often typed for the Chinese zero in dates
}
#: traditional characters of letter vocabulary, folded to simplified: many enterprises (and their
#: input methods) mix the two, and every rule is written in simplified characters
_TRAD = str.maketrans(
    "說帳號綁註銷變後對項統會碼為將現請於無響與個這臺資質務業應組織構認證別產實際處發專網絡經營執稱錯誤"
    "貿進據報備書寫單機關辦員離職問題麼們還復並從當時該屬條權護設計數據據證碼舊檔聯繫電話銀賬開戶"
    "體區縣鎮圖廠廣東蘇淺濱灣邊寧漢瀋陽複錄歷紀範簽蓋章",
    "说帐号绑注销变后对项统会码为将现请于无响与个这台资质务业应组织构认证别产实际处发专网络经营执称错误"
    "贸进据报备书写单机关办员离职问题么们还复并从当时该属条权护设计数据据证码旧档联系电话银账开户"
    "体区县镇图厂广东苏浅滨湾边宁汉沈阳复录历纪范签盖章",
)
_DROP = {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"}
_NEWLINES = {"\n", "\r", "\f", "\v", "\u2028", "\u2029", "\x85"}


@lru_cache(maxsize=4096)
def _fold(ch: str) -> str:
    if ch in _EXTRA:
        return _EXTRA[ch]
    if ch in _DROP:
        return ""
    out = unicodedata.normalize("NFKC", ch).translate(_TRAD)
    if out == "帐":
        out = "账"  # 帐号 and 账号 are both written; the rules use one
    # NFKC turns some symbols into several characters ("㈱" -> "(株)"); that is harmless here.
    return out


def is_cjk(ch: str) -> bool:
    """A Chinese character or CJK punctuation (where a space carries no meaning)."""
    o = ord(ch)
    return (
        0x4E00 <= o <= 0x9FFF
        or 0x3400 <= o <= 0x4DBF
        or 0x3000 <= o <= 0x303F
        or 0xF900 <= o <= 0xFAFF
        or 0x20000 <= o <= 0x2FFFF
        or ch in "“”‘’《》【】、。…·"
    )


_WORD = re.compile(r"[A-Za-z0-9_]")
WRAP_MIN_LINE = 24  #: a line this long (characters) that ends inside a word was wrapped by the layout
_GLUE = set(",.:;!?()[]{}<>\"'、。")
#: a short label starting a line ("事由", "公司名称", "修改前", "拟注销账号"), optionally numbered: a
#: space after it, where a table cell or a tab was flattened (HTML mail, PDF of a Word table), is
#: the label's separator, as a tab is
_LINE_LABEL = re.compile(
    r"(?:\d{1,2}[.、]|[一二三四五六七八九十]{1,2}、)?[\u4e00-\u9fff]{0,8}"
    r"(?:名称|全称|个数|数量|账号|账户|用户名|账号名|事由|事项|原因|理由|情况说明|代码|项目|修改前|修改后|变更前|变更后|日期|电话|联系人|单位|内容|列表)"
)


@dataclass(frozen=True, slots=True)
class NText:
    """Normalised text plus, for each of its characters, the index of the source character."""

    text: str
    pos: tuple[int, ...]  #: len(text) + 1 entries; the last is len(source)

    def span(self, i: int, j: int) -> tuple[int, int]:
        """Source offsets (start, end) of the normalised slice text[i:j]."""
        if j <= i:
            return self.pos[i], self.pos[i]
        return self.pos[i], self.pos[j - 1] + 1


def _after_label(src: str, start: int) -> bool:
    """Whether the line of `src` up to `start` is a label alone (see `_LINE_LABEL`)."""
    lo = max(0, start - 24)  # a label is short: never look further back (long lines stay linear)
    cut = max(src.rfind("\n", lo, start), src.rfind("\r", lo, start))
    if cut < 0 and lo > 0:
        return False
    head = src[cut + 1 : start].strip()
    if not head or len(head) > 14:
        return False
    return _LINE_LABEL.fullmatch("".join(_fold(ch) for ch in head)) is not None


def normalize(src: str, *, flat: bool) -> NText:
    """NFKC per character, drop zero-width characters, tidy whitespace.

    Whitespace between two CJK characters (or next to punctuation) is dropped: it never separates
    words in Chinese. Other whitespace runs become one space; with ``flat=False`` a run that holds a
    line break becomes "\\n" instead, so that line structure (title, signature) survives.
    """
    chars: list[str] = []
    pos: list[int] = []
    n = len(src)
    k = 0
    while k < n:
        c = src[k]
        if c.isspace() or c in _NEWLINES:
            start = k
            newline = False
            while k < n and (src[k].isspace() or src[k] in _NEWLINES or src[k] in _DROP):
                newline = newline or src[k] in _NEWLINES
                k += 1
            prev = chars[-1] if chars else ""
            nxt = _fold(src[k])[:1] if k < n else ""
            if newline and _WORD.match(prev) and _WORD.match(nxt) and k < n:
                # a name or code wrapped at the end of a full line (PDF, OCR, hard-wrapped mail):
                # the line break was the layout's, not the writer's
                line_start = src.rfind("\n", 0, start) + 1
                if start - line_start >= WRAP_MIN_LINE and src[start:k].count("\n") == 1:
                    continue
            if (
                not newline
                and prev
                and prev not in ":\n"
                and nxt
                and nxt not in _GLUE
                and _after_label(src, start)
            ):
                chars.append(":")
                pos.append(start)
                continue
            if "\t" in src[start:k] and not newline and prev and prev not in ":\n" and nxt:
                # a tab separates a label from its value (table cells are joined by tabs)
                chars.append(":")
                pos.append(start)
                continue
            if not flat and newline:
                if prev and prev != "\n":
                    chars.append("\n")
                    pos.append(start)
                continue
            if not prev or not nxt or prev == "\n":
                continue
            if is_cjk(prev) or is_cjk(nxt) or prev in _GLUE or nxt in _GLUE:
                continue
            chars.append(" ")
            pos.append(start)
            continue
        f = _fold(c)
        for fc in f:
            if fc.isspace():  # a symbol whose compatibility form holds a space
                continue
            chars.append(fc)
            pos.append(k)
        k += 1
    while chars and chars[-1] in " \n":
        chars.pop()
        pos.pop()
    pos.append(n)
    return NText("".join(chars), tuple(pos))
