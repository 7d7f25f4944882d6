"""The header block and the header fields of a raw mail, for parse.py.

The header block: split from the body, stray lines repaired, cut down to its budget
(MAX_HEADER_BYTES) before the stdlib parser sees it. The header fields, read from the raw bytes the
compat32 parser keeps: RFC 2047 encoded words, RFC 2231 parameters, addresses (GBK-safe), message ids,
dates, file names. Every value comes back on one line, without control characters.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime, timedelta, timezone
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime

from helpdesk.mail.charsets import decode, decode_unlabelled, resolve_charset, strictly

MB = 1024 * 1024
_CHINA = timezone(timedelta(hours=8))

# --------------------------------------------------------------------------------------------------
# Headers
# --------------------------------------------------------------------------------------------------

_ENCODED_WORD = re.compile(rb"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")
#: every line-break class: CR, LF, VT, FF, FS/GS/RS, NEL, LINE and PARAGRAPH SEPARATOR (and tab);
#: a header value keeps none of them, or a reply built from it could smuggle in a header of its own
_LINE_BREAKS = re.compile(r"[\t\n\v\f\r\x1c-\x1e\x85\u2028\u2029]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  #: C0, DEL and C1 control characters


def to_bytes(value: object) -> bytes:
    """A header value as stored by the compat32 parser (8-bit bytes kept as surrogates) -> the raw bytes."""
    text = str(value)
    try:
        return text.encode("ascii", "surrogateescape")  # what the parser gives: C speed, even for 5 MB
    except UnicodeEncodeError:
        pass
    out = bytearray()
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:
            out.append(code - 0xDC00)
        elif code < 0x100:
            out.append(code)
        else:
            out += ch.encode("utf-8", "surrogatepass")
    return bytes(out)


def raw_header(msg: Message, name: str) -> bytes | None:
    """The first `name` header as raw bytes, undecoded; None when absent."""
    wanted = name.lower()
    for key, value in msg.raw_items():
        if key.strip().lower() == wanted:
            return to_bytes(value)
    return None


def _unfold(raw: bytes) -> bytes:
    return re.sub(rb"[\r\n]", b"", re.sub(rb"\r?\n(?=[ \t])", b"", raw))


def squash(text: str) -> str:
    """A header value on one line: each run of line breaks or tabs one space, control characters removed."""
    return _CONTROL.sub("", _LINE_BREAKS.sub(" ", text)).strip()


_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def lenient_b64(data: bytes) -> tuple[bytes, bool]:
    """Base64 that survives bad padding, junk characters and per-line padded chunks; (bytes, was clean)."""
    # bytes.translate, not regexes: attachments run to tens of megabytes
    compact = data.translate(None, b" \t\r\n\x0b\x0c")
    junk = compact.translate(None, _B64_ALPHABET + b"=")
    if not junk and len(compact) % 4 == 0 and b"=" not in compact.rstrip(b"="):
        try:
            return base64.b64decode(compact), True
        except (binascii.Error, ValueError):
            pass
    if junk:
        compact = compact.translate(None, bytes(set(junk)))
    out = bytearray()
    # decode each run between padding separately: some encoders pad every line
    for chunk in re.split(rb"=+", compact):
        chunk = chunk[: len(chunk) - (len(chunk) % 4 == 1)]  # a lone trailing sextet carries no byte
        if chunk:
            out += base64.b64decode(chunk + b"=" * (-len(chunk) % 4))
    return bytes(out), False


def _q_decode(data: bytes) -> bytes:
    data = data.replace(b"_", b" ")
    return re.sub(rb"=([0-9A-Fa-f]{2})", lambda m: bytes([int(m[1], 16)]), data)


def decode_header(raw: bytes | None, notes: list[str], declared: tuple[str, ...] = ()) -> str:
    """RFC 2047 encoded words (B and Q, any charset) and raw 8-bit text -> str.

    Adjacent encoded words in the same charset are joined as bytes before decoding, because
    encoders split a long subject every N bytes, often inside a multibyte character.
    """
    if not raw:
        return ""
    raw = _unfold(raw)
    pieces: list[tuple[str | None, bytearray]] = []  # (charset, bytes); charset None = unencoded text
    pos = 0
    for match in _ENCODED_WORD.finditer(raw):
        gap = raw[pos : match.start()]
        after_word = bool(pieces) and pieces[-1][0] is not None
        if gap and not (after_word and not gap.strip()):  # space between two encoded words is dropped
            pieces.append((None, bytearray(gap)))
        label = match[1].split(b"*", 1)[0].decode("ascii", "replace").lower()  # RFC 2231 "*lang" suffix
        data = lenient_b64(match[3])[0] if match[2] in b"bB" else _q_decode(match[3])
        previous = pieces[-1][0] if pieces else None
        if previous is not None and _same_charset(previous, label):
            pieces[-1][1].extend(data)
        else:
            pieces.append((label, bytearray(data)))
        pos = match.end()
    if pos < len(raw):
        pieces.append((None, bytearray(raw[pos:])))
    return "".join(
        decode_unlabelled(bytes(data), notes, declared)
        if label is None
        else decode(bytes(data), label, notes)
        for label, data in pieces
    )


def _same_charset(a: str, b: str) -> bool:
    return (resolve_charset(a) or a) == (resolve_charset(b) or b)


def _split_structured(raw: bytes) -> list[bytes]:
    """Split a structured header on ';' outside quotes, removing quotes and backslash escapes."""
    # In GBK a trail byte can be 0x5C ("\\"): inside raw 8-bit GBK a backslash is not an escape.
    gbk_pairs = strictly(raw, "utf-8") is None
    segments: list[bytes] = []
    buf = bytearray()
    quoted = False
    i = 0
    while i < len(raw):
        byte = raw[i]
        if gbk_pairs and byte >= 0x81 and i + 1 < len(raw) and 0x40 <= raw[i + 1] <= 0xFE:
            buf += raw[i : i + 2]
            i += 2
            continue
        if quoted and byte == 0x5C and i + 1 < len(raw):
            buf.append(raw[i + 1])
            i += 2
            continue
        if byte == 0x22:
            quoted = not quoted
        elif byte == 0x3B and not quoted:
            segments.append(bytes(buf))
            buf.clear()
        else:
            buf.append(byte)
        i += 1
    segments.append(bytes(buf))
    return segments


_PARAM_NAME = re.compile(r"([^*]+)(?:\*(\d+))?(\*)?")


def parse_structured(
    raw: bytes, notes: list[str], declared: tuple[str, ...] = ()
) -> tuple[str, dict[str, str]]:
    """'type/subtype; a=1; name*0*=...' -> ('type/subtype', decoded parameters with lower-case names).

    RFC 2231 (continuations, charset'lang'%XX) wins over a plain value of the same name; plain values
    may hold RFC 2047 words or raw 8-bit bytes (both common for file names).
    """
    first, *rest = _split_structured(_unfold(raw))
    value = first.decode("ascii", "replace").strip().lower()
    plain: dict[str, bytes] = {}
    extended: dict[str, list[tuple[int, bool, bytes]]] = {}
    for segment in rest:
        name_b, sep, val = segment.partition(b"=")
        name = name_b.decode("ascii", "replace").strip().lower()
        match = _PARAM_NAME.fullmatch(name)
        if not sep or not match:
            continue
        base, number, star = match[1].strip(), match[2], match[3]
        val = val.strip()
        if number is None and not star:
            plain.setdefault(base, val)
        else:
            extended.setdefault(base, []).append((int(number or 0), bool(star), val))
    params = {name: squash(decode_header(val, notes, declared)) for name, val in plain.items()}
    for name, segments in extended.items():
        decoded = _join_rfc2231(sorted(segments, key=lambda s: s[0]), notes, declared)
        if decoded:
            params[name] = decoded
    return value, params


def _join_rfc2231(
    segments: list[tuple[int, bool, bytes]], notes: list[str], declared: tuple[str, ...]
) -> str:
    charset: str | None = None
    data = bytearray()
    for index, (_, encoded, value) in enumerate(segments):
        if encoded and index == 0 and value.count(b"'") >= 2:
            label, _lang, value = value.split(b"'", 2)
            charset = label.decode("ascii", "replace") or None
        if encoded:
            value = re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m[1], 16)]), value)
        data += value
    if charset is None:
        return squash(decode_header(bytes(data), notes, declared))
    return squash(decode(bytes(data), charset, notes))


_GUARD = 0xE000  #: private-use offset that hides GBK trail bytes from the stdlib address parser


def _guard_gbk(raw: bytes) -> str:
    """Raw header bytes as a byte-transparent str in which no GBK trail byte reads as \\ @ [ or ].

    In GBK, 誠 is D5 5C: a parser that sees a backslash there eats the closing quote and the address
    with it. UTF-8 never uses ASCII bytes inside a character, so valid UTF-8 is left alone.
    """
    if strictly(raw, "utf-8") is not None:
        return raw.decode("latin-1")
    out = []
    i = 0
    while i < len(raw):
        if raw[i] >= 0x81 and i + 1 < len(raw) and 0x40 <= raw[i + 1] <= 0xFE:
            trail = raw[i + 1]
            out.append(chr(raw[i]) + (chr(_GUARD + trail) if trail in b"@[\\]" else chr(trail)))
            i += 2
        else:
            out.append(chr(raw[i]))
            i += 1
    return "".join(out)


def _unguard(text: str) -> bytes:
    return "".join(chr(ord(c) - _GUARD) if ord(c) >= _GUARD else c for c in text).encode("latin-1", "replace")


def addresses(raw: bytes | None, notes: list[str], declared: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """An address header -> [(display name, bare lower-case address)], skipping groups and junk."""
    if not raw:
        return []
    # parse on a byte-transparent str first, decode names after: a decoded name may contain , < >
    result = []
    for name, addr in getaddresses([_guard_gbk(_unfold(raw))]):
        address = squash(decode_unlabelled(_unguard(addr), notes, declared)).strip("<>'\" ").lower()
        if "@" not in address or any(ch.isspace() for ch in address):
            continue
        display = squash(decode_header(_unguard(name), notes, declared)).strip("'\" ")
        result.append((display, address))
    return result


def msgids(raw: bytes | None, *, bare_needs_at: bool = True) -> list[str]:
    """Message ids without angle brackets, in header order; bare ids accepted as a fallback."""
    if not raw:
        return []
    value = _unfold(raw)
    found = [re.sub(rb"\s+", b"", m) for m in re.findall(rb"<([^<>]*)>", value)]
    if not any(found):
        found = [t.strip(b"<>,;") for t in re.split(rb"[\s,]+", value)]
        found = [t for t in found if t and (b"@" in t or not bare_needs_at)]
    ids: list[str] = []
    for item in found:
        text = _CONTROL.sub("", _LINE_BREAKS.sub("", item.decode("utf-8", "replace")))
        if text and text not in ids:
            ids.append(text)
    return ids


_ISO_DATE = re.compile(
    r"(\d{4})[-/年](\d{1,2})[-/月](\d{1,2})日?[ T]*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(?:([+-])(\d{2}):?(\d{2}))?"
)


def date(raw: bytes | None, notes: list[str]) -> datetime | None:
    """The Date header as an aware datetime (UTC when the zone is -0000), or None."""
    if not raw:
        return None
    value = squash(decode_header(raw, notes))
    try:
        parsed: datetime | None = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        parsed = _iso_date(value)
    if parsed is None:
        notes.append(f"日期“{value[:60]}”无法解析")
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _iso_date(value: str) -> datetime | None:
    """'2024-06-03 10:00:00 +0800' and '2024年6月3日 10:00' from home-made mailers (no zone: China)."""
    match = _ISO_DATE.search(value)
    if not match:
        return None
    year, month, day, hour, minute, second, sign, off_h, off_m = match.groups()
    zone = _CHINA
    if sign:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        try:
            zone = timezone(offset if sign == "+" else -offset)
        except ValueError:
            return None
    try:
        fields = (int(year), int(month), int(day), int(hour), int(minute), int(second or 0))
        return datetime(*fields, tzinfo=zone)
    except ValueError:
        return None


_FORMAT_CHARS = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")  # bidi overrides spoof ".exe"


def clean_filename(name: str) -> str:
    """A sender's file name, safe to display: no path, no control or bidi characters, bounded length."""
    name = _FORMAT_CHARS.sub("", squash(name))
    name = re.split(r"[/\\]", name)[-1].strip().strip("\"'").strip()
    if not name.strip("."):
        return ""
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = stem[: 200 - len(ext) - 1] + dot + ext if dot and len(ext) <= 10 else name[:200]
    return name


# --------------------------------------------------------------------------------------------------
# The header block
# --------------------------------------------------------------------------------------------------

#: the header block read at most; beyond, only the fields we use are kept (see _fit_header_block)
MAX_HEADER_BYTES = 1 * MB
ORIGINAL_NAME = "original.eml"
# fmt: off
#: the header fields parse_mail() reads: kept whole when an oversize header block is cut down
_READ_HEADERS = frozenset({
    b"from", b"reply-to", b"sender", b"return-path", b"to", b"cc", b"subject", b"date", b"message-id",
    b"in-reply-to", b"references", b"mime-version", b"content-type", b"content-transfer-encoding",
    b"content-disposition", b"content-id", b"auto-submitted", b"precedence", b"x-loop", b"list-id",
    b"list-unsubscribe", b"x-autoreply", b"x-autorespond", b"x-auto-response-suppress",
})
# fmt: on
_FIELD_LINE = re.compile(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:")  # "Name:" (RFC 5322 ftext, then a colon)
_PARSER_LINE = re.compile(rb"From |[\x21-\x39\x3b-\x7e]*:|[ \t]")  # what the stdlib reads as a header line
#: a line, not the first, that is neither a header field nor a continuation (nor the blank line)
_STRAY_LINE = re.compile(rb"\n(?![ \t]|From |[\x21-\x39\x3b-\x7e]*:|\r?\n|\r?\Z)")


def split_head(raw: bytes) -> int:
    """The length of the header block (up to, not including, the blank line); len(raw) when there is none."""
    if raw.startswith((b"\r\n", b"\n")):
        return 0
    ends = [i + 1 for i in (raw.find(b"\n\r\n"), raw.find(b"\n\n")) if i >= 0]
    return min(ends) if ends else len(raw)


def _repair_head(head: bytes, notes: list[str]) -> bytes:
    """Stray lines inside the header block become continuations of the field before them.

    The stdlib ends the header block at the first line that is neither "Name:" nor indented, and
    Subject or From below it are lost. A stray line is repaired only when a field follows within three
    lines; otherwise the header block really ended there (the body began without a blank line).
    """
    if not _STRAY_LINE.search(head):
        return head
    lines = head.splitlines(keepends=True)
    repaired = 0
    for index in range(1, len(lines)):
        line = lines[index]
        if _PARSER_LINE.match(line) or not line.strip():
            continue
        following = lines[index + 1 : index + 4]
        if not any(_FIELD_LINE.match(later) for later in following):
            break
        lines[index] = b" " + line
        repaired += 1
    if repaired:
        notes.append(f"邮件头中有 {repaired} 行既不是字段也不是续行，已按上一字段的续行读取")
    return b"".join(lines)


def _fit_header_block(head: bytes, budget: int, notes: list[str]) -> bytes:
    """A header block over `budget` bytes cut down: the fields we read first (each at most a quarter of
    the budget), then the others while they fit in a quarter of it; the rest is dropped."""
    fields = re.split(rb"\n(?![ \t])", head)
    kept: list[bytes] = []
    size = 0
    for whole in fields:
        name = whole.split(b":", 1)[0].strip().lower()
        line = whole[: budget // 4]
        # the fields we read may fill the budget; the others (Received, X-...) only its first quarter
        room = budget if name in _READ_HEADERS else budget // 4
        if size + len(line) <= room:
            kept.append(line)
            size += len(line) + 1
    notes.append(
        f"邮件头过大（{len(head)} 字节，上限 {budget}），只读取了主要字段，原始邮件已作为附件 {ORIGINAL_NAME} 保留"
    )
    return b"\n".join(kept) + b"\n"


def _cut_fields(head: bytes, budget: int, notes: list[str]) -> bytes:
    """A header block within budget whose single fields are longer than a quarter of it: cut them."""
    fields = re.split(rb"\n(?![ \t])", head)
    if all(len(f) <= budget // 4 for f in fields):
        return head
    notes.append(f"邮件头中有字段超过 {budget // 4} 字节，已截断，原始邮件已作为附件 {ORIGINAL_NAME} 保留")
    return b"\n".join(f[: budget // 4] for f in fields)


def prepare(raw: bytes, max_header_bytes: int, notes: list[str]) -> tuple[bytes, bool]:
    """The raw mail with its header block repaired and within budget; (bytes, whether a budget was hit).

    The body is copied only when the header block changed.
    """
    end = split_head(raw)
    head = raw[:end]
    fixed = _repair_head(head, notes)
    over = len(fixed) > max_header_bytes
    if over:
        fixed = _fit_header_block(fixed, max_header_bytes, notes)
    else:
        cut = _cut_fields(fixed, max_header_bytes, notes)
        over = cut is not fixed
        fixed = cut
    if fixed is head:
        return raw, False
    return fixed + raw[end:], over
