"""Bytes -> str for mail bodies and header words, robust against the charset lies of Chinese mail.

"gb2312" parts carry GBK characters, "utf-8" parts carry GBK bytes, headers arrive as raw 8-bit bytes:
every guess is noted, in Chinese, for the agent.
"""

from __future__ import annotations

import codecs
import re
from functools import lru_cache

# Every label Chinese senders put on GBK-family text. GB18030 is a superset of all of them, so
# decoding with it never loses a character the narrower label would reject: 镕 and 喆 are GBK-only,
# and a strict gb2312 decoder turns them into U+FFFD (the classic garbled-subject bug).
# fmt: off
_GB_LABELS = frozenset({
    "gb2312", "gb_2312", "gb-2312", "gb_2312-80", "csgb2312", "euc-cn", "euccn", "x-euc-cn", "x-euc",
    "gbk", "x-gbk", "cp936", "ms936", "windows-936", "chinese", "iso-ir-58",
    "gb18030", "gb-18030", "gb18030-2000", "gb18030-2005",
})
#: labels whose own, narrower codec we try too, only to report that the label was wrong
_NARROW_GB = {
    "gb2312": "gb2312", "gb_2312": "gb2312", "gb-2312": "gb2312", "gb_2312-80": "gb2312", "csgb2312": "gb2312",
    "euc-cn": "gb2312", "euccn": "gb2312", "x-euc-cn": "gb2312",
    "gbk": "gbk", "x-gbk": "gbk", "cp936": "gbk", "ms936": "gbk", "windows-936": "gbk",
}
_BIG5_LABELS = frozenset({
    "big5", "big-5", "x-big5", "csbig5", "cn-big5", "big5-hkscs", "big5hkscs", "cp950", "ms950", "windows-950",
})
_UTF8_LABELS = frozenset({"utf8", "utf-8", "unicode-1-1-utf-8", "x-unicode20utf8", "utf-8-sig"})
_ASCII_LABELS = frozenset({"us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "646", "us"})
_LATIN_CODECS = frozenset({"latin-1", "iso8859-1", "cp1252", "iso8859-15"})
#: codecs whose ASCII bytes do not mean ASCII characters: no "pure ASCII" shortcut for them
_NOT_ASCII_SAFE = frozenset({
    "hz", "utf-7", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be",
    "iso2022_jp", "iso2022_jp_1", "iso2022_jp_2", "iso2022_jp_2004", "iso2022_jp_3", "iso2022_jp_ext",
    "iso2022_kr", "iso-2022-cn",
})
# fmt: on
_SHOWN = {
    "utf-8": "UTF-8",
    "gb18030": "GB18030",
    "big5hkscs": "Big5-HKSCS",
    "latin-1": "Latin-1",
    "iso8859-1": "ISO-8859-1",
    "shift_jis": "Shift_JIS",
    "cp1252": "Windows-1252",
    "iso2022_jp_2": "ISO-2022-JP",
    "iso2022_kr": "ISO-2022-KR",
    "iso-2022-cn": "ISO-2022-CN",
    "euc_jp": "EUC-JP",
    "euc_kr": "EUC-KR",
}
#: 7-bit escape sequences that announce an ISO-2022 text even without a label (RFC 1468, 1557, 1922)
_ISO2022_ESCAPES = (
    (b"\x1b$)A", "iso-2022-cn"),
    (b"\x1b$)G", "iso-2022-cn"),
    (b"\x1b$)C", "iso2022_kr"),
    (b"\x1b$B", "iso2022_jp_2"),
    (b"\x1b$@", "iso2022_jp_2"),
    (b"\x1b(J", "iso2022_jp_2"),
    (b"\x1b$(D", "iso2022_jp_2"),
    (b"\x1b$A", "iso2022_jp_2"),
    (b"\x1b(I", "iso2022_jp_ext"),
)


def shown(codec: str) -> str:
    """A codec's name as the agent knows it."""
    return _SHOWN.get(codec, codec.upper().replace("_", "-"))


def resolve_charset(label: str | None) -> str | None:
    """The Python codec to use for a MIME charset label; None when the label is unknown or absent."""
    if not label:
        return None
    name = label.strip().strip("\"'").strip().lower()
    if not name:
        return None
    if name in _GB_LABELS:
        return "gb18030"
    if name in _BIG5_LABELS:
        return "big5hkscs"
    if name in _UTF8_LABELS:
        return "utf-8"
    if name in _ASCII_LABELS:
        return "ascii"
    if name in ("hz-gb-2312", "hz-gb", "hz"):
        return "hz"
    if name in ("iso-2022-cn", "iso-2022-cn-ext", "csiso2022cn"):
        return "iso-2022-cn"  # Python has no codec for it: decode_iso2022_cn() below
    if name in ("iso-2022-jp", "csiso2022jp", "iso-2022-jp-1", "iso-2022-jp-2", "csiso2022jp2"):
        # JIS X 0208 text often carries JIS X 0212 or GB 2312 designations too: jp_2 reads them all
        return "iso2022_jp_2"
    try:
        # bytes.decode() refuses codecs that are not text encodings (base64, rot13, ...)
        b"".decode(name)
        return codecs.lookup(name).name
    except (LookupError, ValueError, TypeError):
        return None


def strictly(data: bytes, codec: str) -> str | None:
    """`data` decoded without a single error, or None."""
    try:
        if codec == "iso-2022-cn":
            return decode_iso2022_cn(data, errors="strict")
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def decode_iso2022_cn(data: bytes, errors: str = "replace") -> str:
    """ISO-2022-CN (RFC 1922): SO/SI shift into GB 2312 after ESC $ ) A; CNS 11643 planes have no codec
    here, their characters become U+FFFD (errors="strict": UnicodeDecodeError)."""
    out: list[str] = []
    g1 = None  # the set designated to G1: "gb" or "cns"
    shifted = False
    for line in data.split(b"\n"):  # designations end with the line (RFC 1922 section 4)
        g1, shifted = None, False
        for token in re.split(rb"(\x1b\$\)[AGE]|\x1b\$\*H|\x1b\$\+[I-M]|\x1bN..|\x1bO..|\x0e|\x0f)", line):
            if token == b"\x1b$)A":
                g1 = "gb"
            elif token.startswith(b"\x1b$)"):
                g1 = "cns"
            elif token.startswith(b"\x1b$"):
                pass  # SS2/SS3 designations: only the single shifts below use them
            elif token[:2] in (b"\x1bN", b"\x1bO"):  # one CNS 11643 plane 2-7 character
                if errors == "strict":
                    raise UnicodeDecodeError(
                        "iso-2022-cn", token, 0, len(token), "CNS 11643 is not supported"
                    )
                out.append("\ufffd")
            elif token == b"\x0e":
                shifted = True
            elif token == b"\x0f":
                shifted = False
            elif shifted and g1 == "gb":
                out.append(bytes(b | 0x80 for b in token).decode("gb18030", errors))
            elif shifted:
                if errors == "strict":
                    raise UnicodeDecodeError(
                        "iso-2022-cn", token, 0, len(token), "CNS 11643 is not supported"
                    )
                out.append("\ufffd" * (len(token) // 2))
            else:
                out.append(token.decode("ascii", errors))
        out.append("\n")
    return "".join(out)[:-1]


def _mostly_utf8(data: bytes) -> bool:
    """True for UTF-8 with a few broken bytes (a truncated character), not for GBK bytes."""
    text = data.decode("utf-8", "replace")
    bad = text.count("\ufffd")
    good = len(text) - len(text.encode("ascii", "ignore")) - bad  # non-ASCII characters, counted in C
    return good >= 20 * bad


_CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def looks_chinese(text: str) -> bool:
    """True when the non-ASCII characters of `text` are (almost) all CJK: a sign GB18030 was right."""
    sample = text[:200_000]  # a sample says as much as the whole, without a 30 MB scan
    wide = len(sample) - len(sample.encode("ascii", "ignore"))
    cjk = len(_CJK.findall(sample))
    return cjk >= 4 and cjk >= 0.9 * wide


def _iso2022_in(data: bytes) -> str | None:
    """The ISO-2022 codec announced by an escape sequence in 7-bit `data`, if any."""
    if b"\x1b" not in data:
        return None
    for escape, codec in _ISO2022_ESCAPES:
        if escape in data:
            return codec
    return None


def best_effort(data: bytes) -> tuple[str, str]:
    """Bytes without a usable label: UTF-8, else GB18030, else the one with fewer errors, else Latin-1.

    Returns (text, codec used).
    """
    for codec in ("utf-8", "gb18030"):
        text = strictly(data, codec)
        if text is not None:
            return text, codec
    candidates = [(data.decode(codec, "replace"), codec) for codec in ("utf-8", "gb18030")]
    text, codec = min(candidates, key=lambda c: c[0].count("\ufffd"))
    # a few replacement characters in Chinese text beat Latin-1 mojibake of all of it
    wide = len(text) - len(text.encode("ascii", "ignore"))
    if text.count("\ufffd") <= max(1, wide // 20):
        return text, codec
    return data.decode("latin-1"), "latin-1"


def decode(data: bytes, label: str | None, notes: list[str]) -> str:
    """Decode a body or encoded word declared as `label`; never raises, notes every guess."""
    if not data:
        return ""
    codec = resolve_charset(label)
    if data.isascii() and codec not in _NOT_ASCII_SAFE:
        announced = _iso2022_in(data)  # ISO-2022 is 7-bit: "pure ASCII" is no proof of ASCII
        text = strictly(data, announced) if announced else None
        if text is None:
            return data.decode("ascii")
        if label and codec not in ("ascii", None):
            notes.append(f"字符集 {label.strip()} 声明与内容不符，已按 {shown(announced or '')} 解码")
        return text
    if codec is None or codec == "ascii":
        text, used = best_effort(data)
        if label and codec is None:
            notes.append(f"未知字符集 {label.strip()}，已按 {shown(used)} 解码")
        elif label:
            notes.append(f"字符集 {label.strip()} 声明与内容不符，已按 {shown(used)} 解码")
        return text
    text = strictly(data, codec)
    if text is None:
        return _decode_mislabelled(data, label or "", codec, notes)
    name = (label or "").strip().strip("\"'").lower()
    if name in _NARROW_GB and strictly(data, _NARROW_GB[name]) is None:
        notes.append(f"字符集 {label} 声明与内容不符，已按 GB18030 解码")
    elif codec in _LATIN_CODECS:
        # Chinese text sent with a Western label: prefer an exact UTF-8 or a convincing GB18030 reading
        for other in ("utf-8", "gb18030"):
            better = strictly(data, other)
            if better is not None and (other == "utf-8" or looks_chinese(better)):
                notes.append(f"字符集 {label} 声明与内容不符，已按 {shown(other)} 解码")
                return better
    return text


def _decode_mislabelled(data: bytes, label: str, codec: str, notes: list[str]) -> str:
    """The declared codec failed: try the others Chinese mail really uses."""
    if codec == "utf-8" and _mostly_utf8(data):
        notes.append("正文含无效的 UTF-8 字节，已用替换字符显示")
        return data.decode("utf-8", "replace")
    for other in ("utf-8", "gb18030", "big5hkscs"):
        if other != codec:
            text = strictly(data, other)
            if text is not None:
                notes.append(f"字符集 {label} 声明与内容不符，已按 {shown(other)} 解码")
                return text
    notes.append(f"部分字符无法按 {label} 解码，已用替换字符显示")
    if codec == "iso-2022-cn":
        return decode_iso2022_cn(data)
    return data.decode(codec, "replace")


_HIGH_PAIRS = re.compile(rb"(?:[\x00-\x7f]|[\x81-\xfe][\x80-\xfe])*")


def _gb_pairs(data: bytes) -> bool:
    """True when every 8-bit byte comes in a pair of 8-bit bytes, at least two pairs: a short GBK name
    ("张三丰"). Latin-1 accents stand alone beside ASCII letters ("Müller"), and GBK would pair them
    with the next letter (M黮ler)."""
    return data.count(b"\x80") == 0 and bool(_HIGH_PAIRS.fullmatch(data)) and sum(b > 0x7F for b in data) >= 4


@lru_cache(maxsize=64)
def _single_byte(codec: str) -> bool:
    """True for Latin-1-like codecs, which decode almost any bytes: success proves nothing."""
    return len(strictly(b"\xc3\xa9\xe4\xb8\xad", codec) or "") == 5


def decode_unlabelled(data: bytes, notes: list[str], declared: tuple[str, ...] = ()) -> str:
    """Raw 8-bit header bytes: the mail's declared charsets first, then UTF-8 (legal since RFC 6532),
    then GB18030 (what Chinese clients send).

    `declared` are codecs (from resolve_charset) named in the mail's Content-Type headers. A multi-byte
    declared codec that decodes the bytes exactly wins; a single-byte one (Latin-1, which decodes
    anything) only when the bytes are neither valid UTF-8 nor convincingly Chinese.
    """
    if data.isascii():
        announced = _iso2022_in(data)
        return (strictly(data, announced) if announced else None) or data.decode("ascii")
    for codec in declared:
        if codec in ("utf-8", "gb18030", "ascii"):
            continue  # tried below anyway, in that order
        text = strictly(data, codec)
        if text is None:
            continue
        if _single_byte(codec):
            gb = strictly(data, "gb18030")
            if strictly(data, "utf-8") is not None or (
                gb is not None and (looks_chinese(gb) or _gb_pairs(data))
            ):
                break
        notes.append(f"邮件头含未编码的 8 位字符，已按邮件声明的字符集 {shown(codec)} 解码")
        return text
    text, used = best_effort(data)
    if used != "utf-8":
        notes.append(f"邮件头含未编码的 8 位字符，已按 {shown(used)} 解码")
    return text


def decode_text(data: bytes, *, errors: str = "strict") -> tuple[str, str]:
    """The bytes of a text file (an attachment, an import): (text, the encoding as shown to people).

    UTF-8 with or without BOM, UTF-16 with BOM, otherwise GB18030 (what Chinese Windows saves). When
    none fits: UnicodeDecodeError, or with errors="replace" UTF-8 with U+FFFD for the bad bytes.
    """
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", errors), "UTF-8（带 BOM）"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors), "UTF-16"
    for codec, shown_as in (("utf-8", "UTF-8"), ("gb18030", "GB18030")):
        try:
            return data.decode(codec), shown_as
        except UnicodeDecodeError:
            if codec == "gb18030" and errors == "strict":
                raise
    return data.decode("utf-8", errors), "UTF-8（含无法识别的字符）"
