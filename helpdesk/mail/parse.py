"""Raw RFC 5322 bytes -> ParsedMail, robust against what Chinese mail clients really send.

`parse_mail()` never raises. It reads the message as bytes with the compat32 policy (the one that
accepts any header) and decodes every header and body itself, because the charset labels lie:
"gb2312" parts carry GBK characters, "utf-8" parts carry GBK bytes, headers and file names arrive as
raw 8-bit bytes, and boundaries go missing. Whatever could not be read cleanly is listed in
`ParsedMail.defects`, in Chinese, for the agent.

Stages: charsets.py (bytes -> str), html.py (sanitising, text version), this file (header block,
header fields, the MIME walk).

Choices:
- text is the text/plain body (text extracted from the HTML when there is none), whole; forwarded
  mails (message/rfc822) are appended to it under "---------- 转发的邮件 ----------" with their
  headers, and their attachments are collected like the outer mail's. A forwarded mail sent as a
  file (a filename, or Content-Disposition: attachment) is also kept as a .eml attachment.
- html is sanitised once, here (html.sanitize_html); over its size or depth budget only the text
  version is kept.
- Header values (subject, names, addresses, ids, file names) hold no line break of any class and no
  control character.
- Budgets: the header block (MAX_HEADER_BYTES), HTML (html.MAX_HTML_CHARS, MAX_HTML_DEPTH), MIME
  nesting (_MAX_DEPTH; deeper than the stdlib parser can recurse: a header-only parse), attachments
  (max_attachment_bytes, max_total_bytes: kept with empty data, problem="oversize" and their size).
  Whenever a part could not be read within its budget, the raw mail is attached as original.eml and
  a defect says so.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html as html_lib
import quopri
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.feedparser import BytesFeedParser
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

from tnefparse.tnef import TNEF

from helpdesk.mail.charsets import best_effort, decode, decode_unlabelled, resolve_charset, strictly
from helpdesk.mail.html import html_to_text, sanitize_html, sniff_html_charset, too_complex
from helpdesk.mail.parsed import MailAttachment, ParsedMail

MB = 1024 * 1024
_MAX_DEPTH = 30  #: MIME nesting deeper than this is kept as an attachment instead of being walked
_CHINA = timezone(timedelta(hours=8))

# --------------------------------------------------------------------------------------------------
# Headers
# --------------------------------------------------------------------------------------------------

_ENCODED_WORD = re.compile(rb"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")
#: every line-break class: CR, LF, VT, FF, FS/GS/RS, NEL, LINE and PARAGRAPH SEPARATOR (and tab);
#: a header value keeps none of them, or a reply built from it could smuggle in a header of its own
_LINE_BREAKS = re.compile(r"[\t\n\v\f\r\x1c-\x1e\x85\u2028\u2029]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  #: C0, DEL and C1 control characters


def _to_bytes(value: object) -> bytes:
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


def _raw_header(msg: Message, name: str) -> bytes | None:
    """The first `name` header as raw bytes, undecoded; None when absent."""
    wanted = name.lower()
    for key, value in msg.raw_items():
        if key.strip().lower() == wanted:
            return _to_bytes(value)
    return None


def _unfold(raw: bytes) -> bytes:
    return re.sub(rb"[\r\n]", b"", re.sub(rb"\r?\n(?=[ \t])", b"", raw))


def _squash(text: str) -> str:
    """A header value on one line: each run of line breaks or tabs one space, control characters removed."""
    return _CONTROL.sub("", _LINE_BREAKS.sub(" ", text)).strip()


_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _lenient_b64(data: bytes) -> tuple[bytes, bool]:
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


def _decode_header(raw: bytes | None, notes: list[str], declared: tuple[str, ...] = ()) -> str:
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
        data = _lenient_b64(match[3])[0] if match[2] in b"bB" else _q_decode(match[3])
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


def _parse_structured(
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
    params = {name: _squash(_decode_header(val, notes, declared)) for name, val in plain.items()}
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
        return _squash(_decode_header(bytes(data), notes, declared))
    return _squash(decode(bytes(data), charset, notes))


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


def _addresses(raw: bytes | None, notes: list[str], declared: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """An address header -> [(display name, bare lower-case address)], skipping groups and junk."""
    if not raw:
        return []
    # parse on a byte-transparent str first, decode names after: a decoded name may contain , < >
    result = []
    for name, addr in getaddresses([_guard_gbk(_unfold(raw))]):
        address = _squash(decode_unlabelled(_unguard(addr), notes, declared)).strip("<>'\" ").lower()
        if "@" not in address or any(ch.isspace() for ch in address):
            continue
        display = _squash(_decode_header(_unguard(name), notes, declared)).strip("'\" ")
        result.append((display, address))
    return result


def _msgids(raw: bytes | None, *, bare_needs_at: bool = True) -> list[str]:
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


def _date(raw: bytes | None, notes: list[str]) -> datetime | None:
    """The Date header as an aware datetime (UTC when the zone is -0000), or None."""
    if not raw:
        return None
    value = _squash(_decode_header(raw, notes))
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


# --------------------------------------------------------------------------------------------------
# Attachments
# --------------------------------------------------------------------------------------------------

# Our own table, not `mimetypes`: that one reads /etc/mime.types and would differ between machines.
_EXTENSIONS = {
    "application/pdf": ".pdf",
    "application/msword": ".doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.ms-excel": ".xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.ms-powerpoint": ".ppt",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
    "application/wps-office.doc": ".wps",
    "application/ofd": ".ofd",
    "application/rtf": ".rtf",
    "application/zip": ".zip",
    "application/x-zip-compressed": ".zip",
    "application/x-rar-compressed": ".rar",
    "application/vnd.rar": ".rar",
    "application/x-7z-compressed": ".7z",
    "application/ms-tnef": ".dat",
    "application/vnd.ms-tnef": ".dat",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/bmp": ".bmp",
    "image/tiff": ".tif",
    "image/webp": ".webp",
    "text/plain": ".txt",
    "text/html": ".html",
    "text/csv": ".csv",
    "text/calendar": ".ics",
    "text/rfc822-headers": ".txt",
    "message/rfc822": ".eml",
    "message/delivery-status": ".txt",
    "message/disposition-notification": ".txt",
}
_TYPES = {ext: ctype for ctype, ext in reversed(_EXTENSIONS.items())} | {
    ".jpeg": "image/jpeg",
    ".tiff": "image/tiff",
}
_FORMAT_CHARS = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")  # bidi overrides spoof ".exe"


def _clean_filename(name: str) -> str:
    """A sender's file name, safe to display: no path, no control or bidi characters, bounded length."""
    name = _FORMAT_CHARS.sub("", _squash(name))
    name = re.split(r"[/\\]", name)[-1].strip().strip("\"'").strip()
    if not name.strip("."):
        return ""
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = stem[: 200 - len(ext) - 1] + dot + ext if dot and len(ext) <= 10 else name[:200]
    return name


def _type_for_name(name: str) -> str:
    return _TYPES.get(name[name.rfind(".") :].lower() if "." in name else "", "application/octet-stream")


# --------------------------------------------------------------------------------------------------
# Walking the MIME tree
# --------------------------------------------------------------------------------------------------


@dataclass
class _State:
    """What a walk collects for the whole mail."""

    max_attachment_bytes: int
    max_total_bytes: int
    declared: tuple[str, ...] = ()  #: codecs named in the mail's Content-Type headers, for raw 8-bit bytes
    bounce: bool = False
    #: a budget was hit or a part could not be read: the caller attaches the original .eml
    needs_original: bool = False
    notes: list[str] = field(default_factory=list)
    attachments: list[MailAttachment] = field(default_factory=list)
    kept_bytes: int = 0
    unnamed: int = 0
    original_message_id: str | None = None

    def keep(
        self,
        filename: str,
        content_type: str,
        data: bytes,
        *,
        content_id: str | None = None,
        inline: bool = False,
    ) -> None:
        """Add an attachment; over a limit it is kept without its bytes, never dropped."""
        name = _clean_filename(filename)
        if not name:
            self.unnamed += 1
            name = f"附件{self.unnamed}{_EXTENSIONS.get(content_type, '.bin')}"
        size = len(data)
        problem = None
        if size > self.max_attachment_bytes:
            problem = "oversize"
            self.notes.append(
                f"附件 {name}（{size} 字节）超过单个附件上限 {self.max_attachment_bytes} 字节，内容未保留"
            )
        elif self.kept_bytes + size > self.max_total_bytes:
            problem = "oversize"
            self.notes.append(f"附件 {name} 使附件总大小超过上限 {self.max_total_bytes} 字节，内容未保留")
        if problem:
            data = b""
        self.kept_bytes += len(data)
        self.attachments.append(
            MailAttachment(
                filename=name,
                content_type=content_type,
                data=data,
                content_id=content_id,
                inline=inline,
                problem=problem,
                declared_size=size if problem else None,
            )
        )


@dataclass
class _Body:
    """The readable content of one subtree."""

    texts: list[str] = field(default_factory=list)
    htmls: list[str] = field(default_factory=list)  #: sanitised
    forwarded_htmls: list[str] = field(default_factory=list)  #: sanitised, shown after the html
    has_plain: bool = False  #: some text came from text/plain (not extracted from HTML)


@dataclass(frozen=True)
class _PartInfo:
    content_type: str
    params: dict[str, str]
    disposition: str | None
    filename: str
    transfer_encoding: str
    content_id: str | None


_CONTENT_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")


def _part_info(part: Message, notes: list[str], declared: tuple[str, ...] = ()) -> _PartInfo:
    raw_type = _raw_header(part, "content-type")
    content_type, params = part.get_default_type(), {}
    if raw_type is not None:
        declared_type, params = _parse_structured(raw_type, notes, declared)
        if _CONTENT_TYPE.fullmatch(declared_type):
            content_type = declared_type
        elif declared_type:
            notes.append(f"无效的 Content-Type“{declared_type[:40]}”，已按 {content_type} 处理")
    raw_disposition = _raw_header(part, "content-disposition")
    disposition, disposition_params = None, {}
    if raw_disposition is not None:
        disposition, disposition_params = _parse_structured(raw_disposition, notes, declared)
    filename = (
        disposition_params.get("filename") or params.get("name") or disposition_params.get("name") or ""
    )
    encoding = (_raw_header(part, "content-transfer-encoding") or b"").decode("ascii", "replace")
    content_id = _msgids(_raw_header(part, "content-id"), bare_needs_at=False)
    return _PartInfo(
        content_type=content_type,
        params=params,
        disposition=disposition or None,
        filename=filename,
        transfer_encoding=encoding.strip().lower(),
        content_id=content_id[0] if content_id else None,
    )


_PARSER_DEFECTS = {
    "CloseBoundaryNotFoundDefect": "MIME 结束边界缺失，已按现有内容解析",
    "FirstHeaderLineIsContinuationDefect": "邮件头格式错误（首行是续行）",
    "MissingHeaderBodySeparatorDefect": "邮件头与正文之间缺少空行，部分邮件头可能被当作正文",
    "MisplacedEnvelopeHeaderDefect": "邮件头中有错位的信封行，已忽略",
    "InvalidMultipartContentTransferEncodingDefect": "multipart 部分声明了无效的传输编码",
}


def _payload_bytes(part: Message, info: _PartInfo, notes: list[str]) -> bytes:
    """The decoded content of a leaf part (base64 decoded leniently, quoted-printable, or raw)."""
    if "base64" in info.transfer_encoding:
        try:
            payload = part.get_payload()  # base64 text is ASCII: no charset decoding happens
        except (ValueError, TypeError, LookupError):  # ... unless junk 8-bit bytes and a bogus charset
            payload = None
        if not isinstance(payload, str):
            data = part.get_payload(decode=True)
            return data if isinstance(data, bytes) else b""
        data, clean = _lenient_b64(payload.encode("ascii", "ignore"))
        if not clean:
            notes.append("base64 编码有误，已尽量解码")
        return data
    # the stdlib decodes quoted-printable and uuencode and returns any other body as its raw bytes
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return b""
    python_cte = str(part.get("content-transfer-encoding", "")).lower()
    if info.transfer_encoding == "quoted-printable" and python_cte != "quoted-printable":
        data = quopri.decodestring(data)  # "Quoted-Printable " with stray spaces: the stdlib skipped it
    return data


def _walk(part: Message, st: _State, body: _Body, depth: int) -> None:
    """Collect the text, html and attachments of `part` and its children."""
    for defect in part.defects:
        message = _PARSER_DEFECTS.get(type(defect).__name__)
        if message:
            st.notes.append(message)
    info = _part_info(part, st.notes, st.declared)
    # only a multipart's payload is fetched undecoded: for a leaf, get_payload() would decode 8-bit
    # text with the declared charset (and raise on a bogus one)
    payload = part.get_payload() if part.is_multipart() else None
    if depth > _MAX_DEPTH:
        st.notes.append("MIME 嵌套过深，内层内容已作为附件保留")
        st.keep(info.filename, "message/rfc822", part.as_bytes(policy=policy.compat32))
    elif isinstance(payload, list):
        if info.content_type in ("message/rfc822", "message/global", "message/news"):
            _forwarded(payload, info, st, body, depth)
        elif info.content_type.startswith("message/"):  # delivery-status, disposition-notification
            _report_fields(payload, info.content_type, st, body)
        elif info.content_type == "multipart/alternative":
            _alternative(payload, st, body, depth)
        else:
            for child in payload:
                _walk_safely(child, st, body, depth + 1)
    elif info.content_type.startswith("multipart/"):
        _broken_multipart(part, info, st, body, depth)
    else:
        _leaf(part, info, st, body)


def _walk_safely(part: object, st: _State, body: _Body, depth: int) -> None:
    """Walk one part; if it breaks, keep its raw bytes as an attachment and go on with the others."""
    if not isinstance(part, Message):
        return
    try:
        _walk(part, st, body, depth)
    except Exception as exc:
        st.notes.append(f"一个 MIME 部分无法解析（{type(exc).__name__}），已作为附件保留")
        try:
            raw = part.as_bytes(policy=policy.compat32)
        except Exception:
            raw = b""
        st.unnamed += 1
        st.attachments.append(
            MailAttachment(
                filename=f"附件{st.unnamed}.eml", content_type="message/rfc822", data=raw, problem="unparsed"
            )
        )


def _alternative(children: list[Message], st: _State, body: _Body, depth: int) -> None:
    """Same content in several forms: text from text/plain, html from the richest HTML form."""
    forms = []
    for child in children:
        form = _Body()
        _walk_safely(child, st, form, depth + 1)
        forms.append(form)
    plain = next((f for f in forms if f.has_plain), None)
    rich = next((f for f in reversed(forms) if f.htmls), None)
    chosen = plain or rich or next((f for f in forms if f.texts), None)
    if chosen:
        body.texts += chosen.texts
        body.has_plain |= chosen.has_plain
    if rich:
        body.htmls += rich.htmls
        body.forwarded_htmls += rich.forwarded_htmls


def _leaf(part: Message, info: _PartInfo, st: _State, body: _Body) -> None:
    data = _payload_bytes(part, info, st.notes)
    ctype = info.content_type
    if ctype in ("text/plain", "text/html") and info.disposition != "attachment" and not info.filename:
        charset = info.params.get("charset")
        if ctype == "text/html":
            html = decode(data, charset or sniff_html_charset(data), st.notes)
            clean = sanitize_html(html)
            if clean is None:  # over the budget: the text version only, and the original for the agent
                st.notes.append(f"{too_complex(html)}，只显示纯文本，原始邮件已作为附件 {ORIGINAL_NAME} 保留")
                st.needs_original = True
            else:
                body.htmls.append(clean)
            body.texts.append(html_to_text(html))
        else:
            text = decode(data, charset, st.notes)
            if info.params.get("format", "").lower() == "flowed":
                text = _unflow(text, delsp=info.params.get("delsp", "").lower() == "yes")
            body.texts.append(text)
            body.has_plain = True
        return
    is_tnef = (
        ctype in ("application/ms-tnef", "application/vnd.ms-tnef") or info.filename.lower() == "winmail.dat"
    )
    if is_tnef and _expand_tnef(data, st):
        return
    if ctype == "text/rfc822-headers" and st.bounce and st.original_message_id is None:
        headers = BytesParser(policy=policy.compat32).parsebytes(data + b"\r\n\r\n", headersonly=True)
        ids = _msgids(_raw_header(headers, "message-id"), bare_needs_at=False)
        st.original_message_id = ids[0] if ids else None
    inline = info.disposition == "inline" or (info.disposition is None and info.content_id is not None)
    st.keep(info.filename, ctype, data, content_id=info.content_id, inline=inline)


def _unflow(text: str, *, delsp: bool) -> str:
    """RFC 3676 format=flowed: lines ending in a space continue on the next line."""
    out: list[str] = []
    buffer = ""
    for line in text.replace("\r\n", "\n").split("\n"):
        line = line[1:] if line.startswith(" ") else line  # space-stuffing
        if line.endswith(" ") and line != "-- ":
            buffer += line[:-1] if delsp else line
        else:
            out.append(buffer + line)
            buffer = ""
    if buffer:
        out.append(buffer)
    return "\n".join(out)


def _tnef_name(attachment: object, codepage: str | None) -> str:
    """The file name of a TNEF attachment; tnefparse decodes names as UTF-8 only, Outlook writes them
    in the OEM codepage (936, GBK, on Chinese Windows)."""
    for getter in ("long_filename", "name"):
        try:
            value = getattr(attachment, getter)
            value = value() if callable(value) else value
        except Exception:
            continue
        if isinstance(value, bytes):
            value = decode(value.rstrip(b"\0"), codepage, [])
        if isinstance(value, str) and value.strip("\0 "):
            return value.strip("\0 ")
    raw = getattr(attachment, "_name", b"")  # the undecoded title, when decoding it failed above
    return decode(raw.rstrip(b"\0"), codepage, []) if isinstance(raw, bytes) else ""


def _tnef_objects(data: bytes) -> int:
    """How many objects tnefparse would read; it copies the rest of the data for each one."""
    offset, count = 6, 0
    while offset + 12 < len(data) and count <= 10_000:
        offset += min(len(data) - offset, int.from_bytes(data[offset + 5 : offset + 9], "little") + 11)
        count += 1
    return count


def _expand_tnef(data: bytes, st: _State) -> bool:
    """Replace an Outlook winmail.dat by the files inside it; False when it holds none or is unreadable."""
    try:
        if _tnef_objects(data) > 10_000:
            raise ValueError("too many TNEF objects")
        tnef = TNEF(data, do_checksum=False)
        files = [
            (_tnef_name(a, tnef.codepage), a.data) for a in tnef.attachments if isinstance(a.data, bytes)
        ]
    except Exception:
        st.notes.append("winmail.dat（TNEF）无法解析，已作为附件保留")
        return False
    if not files:
        st.notes.append("winmail.dat（TNEF）中没有附件，已原样保留")
    for name, content in files:
        st.keep(name, _type_for_name(name), content)
    return bool(files)


_SUMMARY_HEADERS = {"from": "发件人", "date": "日期", "subject": "主题", "to": "收件人", "cc": "抄送"}


def _summary(msg: Message, notes: list[str], declared: tuple[str, ...]) -> list[tuple[str, str]]:
    """The header lines shown above a forwarded or returned mail."""
    lines = []
    for header, label in _SUMMARY_HEADERS.items():
        raw = _raw_header(msg, header)
        if raw is None:
            continue
        if header in ("from", "to", "cc"):
            people = _addresses(raw, notes, declared)
            value = ", ".join(f"{name} <{addr}>" if name else addr for name, addr in people)
        else:
            value = _squash(_decode_header(raw, notes, declared))
        if value:
            lines.append((label, value))
    return lines


def _forwarded(payload: list[Message], info: _PartInfo, st: _State, body: _Body, depth: int) -> None:
    """A message/rfc822 part: its text goes under a separator, its attachments join the mail's."""
    inner = payload[0] if payload else None
    if not isinstance(inner, Message):
        return
    encoded_transfer = info.transfer_encoding in ("base64", "quoted-printable")
    decoded = b""
    if encoded_transfer:
        # illegal for message/rfc822 but sent anyway; the stdlib parsed the encoded text as a mail
        encoded = inner.as_bytes(policy=policy.compat32).strip()
        decoded = (
            _lenient_b64(encoded)[0] if info.transfer_encoding == "base64" else quopri.decodestring(encoded)
        )
        inner = BytesParser(policy=policy.compat32).parsebytes(decoded)
    if st.bounce and st.original_message_id is None:
        ids = _msgids(_raw_header(inner, "message-id"), bare_needs_at=False)
        st.original_message_id = ids[0] if ids else None
    if info.filename or info.disposition == "attachment":
        # sent as a file: the agent gets the file too (forwarded as evidence, to be passed on)
        data = decoded if encoded_transfer else inner.as_bytes(policy=policy.compat32)
        subject = _squash(_decode_header(_raw_header(inner, "subject"), st.notes, st.declared))
        name = info.filename or subject.replace("/", "_").replace("\\", "_")
        if name and not name.lower().endswith(".eml"):
            name = name[:150] + ".eml"
        st.keep(name, "message/rfc822", data)
    inner_body = _Body()
    _walk_safely(inner, st, inner_body, depth + 1)
    title = "---------- 退回的原邮件 ----------" if st.bounce else "---------- 转发的邮件 ----------"
    header_lines = [f"{label}: {value}" for label, value in _summary(inner, st.notes, st.declared)]
    text = _join_texts(inner_body.texts)
    body.texts.append("\n".join([title, *header_lines]) + ("\n\n" + text if text else ""))
    head = "<hr><p>" + "<br>".join(html_lib.escape(line) for line in [title, *header_lines]) + "</p>"
    if inner_body.htmls:
        inner_html = "\n".join(inner_body.htmls + inner_body.forwarded_htmls)
    else:
        inner_html = f"<pre>{html_lib.escape(text)}</pre>" if text else ""
    body.forwarded_htmls.append(head + inner_html)


_REPORT_TITLES = {"message/delivery-status": "投递状态", "message/disposition-notification": "阅读回执"}


def _report_fields(blocks: list[Message], content_type: str, st: _State, body: _Body) -> None:
    """message/delivery-status and the like: the fields (Status, Diagnostic-Code, ...) as text."""
    paragraphs = []
    for block in blocks:
        if isinstance(block, Message):
            lines = [
                f"{key}: {_squash(_decode_header(_to_bytes(value), st.notes, st.declared))}"
                for key, value in block.raw_items()
            ]
            paragraphs.append("\n".join(lines))
    status = "\n\n".join(p for p in paragraphs if p)
    if status:
        title = _REPORT_TITLES.get(content_type, content_type)
        body.texts.append(f"---------- {title} ----------\n{status}")


def _find_boundary(raw: bytes) -> bytes | None:
    """A boundary actually used in a multipart body: a '--token' line followed by a Content- header."""
    for match in re.finditer(rb"(?m)^--(\S[^\r\n]{0,199}?)[ \t]*\r?$", raw):
        following = raw[match.end() : match.end() + 200].lstrip(b"\r\n")
        if re.match(rb"(?i)content-[a-z-]+[ \t]*:", following):
            return match[1]
    return None


def _broken_multipart(part: Message, info: _PartInfo, st: _State, body: _Body, depth: int) -> None:
    """A multipart whose boundary is missing or wrong: re-split on the boundary really used, or show it raw."""
    raw = part.get_payload(decode=True)
    raw = raw if isinstance(raw, bytes) else b""
    boundary = _find_boundary(raw)
    if boundary is not None:
        head = b'Content-Type: %s; boundary="%s"\r\n\r\n' % (
            info.content_type.encode(),
            boundary.replace(b'"', b""),
        )
        repaired = BytesParser(policy=policy.compat32).parsebytes(head + raw)
        if repaired.is_multipart():
            st.notes.append("MIME 边界与声明不符，已按正文中实际使用的边界解析")
            _walk_safely(repaired, st, body, depth + 1)
            return
    st.notes.append("MIME 边界缺失，正文按原文处理")
    body.texts.append(decode(raw, info.params.get("charset"), st.notes))
    body.has_plain = True


def _tidy(text: str) -> str:
    # PostgreSQL text cannot hold NUL; CRLF is an artefact of the transport. Each replace copies the
    # text (30 MB bodies), so only the ones that change something run.
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text.lstrip("\ufeff").rstrip().lstrip("\n")


def _join_texts(texts: list[str]) -> str:
    if len(texts) == 1:
        return _tidy(texts[0])  # the usual case: no join, no second copy of a long body
    return "\n\n".join(t for t in (_tidy(t) for t in texts) if t)


# --------------------------------------------------------------------------------------------------
# Machine-generated mail
# --------------------------------------------------------------------------------------------------

# fmt: off
_ROBOT_LOCAL_PARTS = frozenset({
    "mailer-daemon", "postmaster", "noreply", "no-reply", "no_reply", "donotreply", "do-not-reply", "do_not_reply",
})
# fmt: on
_AUTO_SUBJECT = re.compile(
    r"\s*(自动回复|自动答复|自動回覆|自動回復|auto[ -]?reply|automatic reply|out of (?:the )?office|系统退信|退信|"
    r"undeliverable|undelivered mail|delivery status notification|mail delivery failed|delivery failure|"
    r"returned mail|failure notice)",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT = re.compile(
    r"\s*(系统退信|退信|undeliverable|undelivered|delivery status notification|mail delivery failed|"
    r"delivery failure|returned mail|failure notice)",
    re.IGNORECASE,
)


def _auto_reasons(
    msg: Message, content_type: str, report_type: str, sender: str, subject: str, notes: list[str]
) -> list[str]:
    """Why the mail looks machine-generated, one short reason per signal."""

    def value(name: str) -> str | None:
        raw = _raw_header(msg, name)
        return None if raw is None else _squash(_decode_header(raw, notes)).lower()

    reasons = []
    auto_submitted = (value("auto-submitted") or "").split(";")[0].strip()
    if auto_submitted and auto_submitted != "no":
        reasons.append(f"auto-submitted: {auto_submitted}")
    precedence = (value("precedence") or "").split(";")[0].strip()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        reasons.append(f"precedence: {precedence}")
    for header in ("x-loop", "list-id", "list-unsubscribe", "x-autoreply", "x-autorespond"):
        if _raw_header(msg, header) is not None:
            reasons.append(header)
    suppress = value("x-auto-response-suppress") or ""
    if {t.strip() for t in suppress.split(",")} & {"all", "oof", "autoreply"}:
        reasons.append(f"x-auto-response-suppress: {suppress}")
    return_path = _raw_header(msg, "return-path")
    if return_path is not None and re.fullmatch(rb"\s*<?\s*>?\s*", return_path):
        reasons.append("return-path: <>")
    local_part = sender.partition("@")[0]
    if local_part in _ROBOT_LOCAL_PARTS:
        reasons.append(f"sender: {local_part}")
    if content_type == "multipart/report":
        reasons.append(f"report: {report_type or 'unknown'}")
    match = _AUTO_SUBJECT.match(subject)
    if match:
        reasons.append(f"subject: {match[1].lower()}")
    return reasons


def _is_bounce(content_type: str, report_type: str, sender: str, subject: str) -> bool:
    """A delivery failure report (a read receipt is a report too, but not a bounce)."""
    local_part = sender.partition("@")[0]
    if content_type == "multipart/report":
        return report_type in ("", "delivery-status")
    return local_part == "mailer-daemon" or (
        local_part == "postmaster" and bool(_BOUNCE_SUBJECT.match(subject))
    )


# --------------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------------


#: the header block read at most; beyond, only the fields we use are kept (see _fit_header_block)
MAX_HEADER_BYTES = 1 * MB
#: the raw mail is fed to the stdlib parser in pieces this big: it never holds a str copy of all of it
_FEED_CHUNK = 1 * MB
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


def _raw_id(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _dedupe(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _split_head(raw: bytes) -> int:
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


def _prepare(raw: bytes, max_header_bytes: int, notes: list[str]) -> tuple[bytes, bool]:
    """The raw mail with its header block repaired and within budget; (bytes, whether a budget was hit).

    The body is copied only when the header block changed.
    """
    end = _split_head(raw)
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


def _parse_bytes(raw: bytes) -> Message:
    """The stdlib's compat32 parse, fed in pieces (parsebytes() would hold a str copy of all of it)."""
    parser = BytesFeedParser(policy=policy.compat32)
    view = memoryview(raw)
    for start in range(0, len(raw), _FEED_CHUNK):
        parser.feed(bytes(view[start : start + _FEED_CHUNK]))
    return parser.close()


_CHARSET_PARAM = re.compile(rb"""(?i)charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""")


def _declared_charsets(msg: Message) -> tuple[str, ...]:
    """The codecs named by charset= in the mail's Content-Type headers, in order (first 1,000 parts)."""
    found: list[str] = []
    stack = [msg]
    seen = 0
    while stack and seen < 1000:
        part = stack.pop()
        seen += 1
        raw = _raw_header(part, "content-type")
        match = _CHARSET_PARAM.search(raw or b"")
        codec = resolve_charset(match[1].decode("ascii")) if match else None
        if codec and codec not in found:
            found.append(codec)
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list):
            stack.extend(reversed([p for p in payload if isinstance(p, Message)]))
    return tuple(found)


def _original(raw: bytes) -> MailAttachment:
    """The whole raw mail as an attachment: what the agent opens when a part could not be read."""
    return MailAttachment(filename=ORIGINAL_NAME, content_type="message/rfc822", data=raw)


def parse_mail(
    raw: bytes,
    *,
    max_attachment_bytes: int = 20 * MB,
    max_total_bytes: int = 50 * MB,
    max_header_bytes: int = MAX_HEADER_BYTES,
) -> ParsedMail:
    """Parse a raw RFC 5322 message; never raises.

    Whatever could not be read within its budget is listed in `defects` and the raw mail is then
    attached as original.eml; the worst case is a header-only parse (sender, subject) with the body
    as raw text.
    """
    if isinstance(raw, str):  # not the contract, but a str must not lose the mail either
        raw = raw.encode("utf-8", "surrogateescape")
    try:
        raw = bytes(raw)
    except Exception:
        raw = b""
    try:
        return _parse(raw, max_attachment_bytes, max_total_bytes, max_header_bytes)
    except RecursionError:  # the stdlib parser recurses once per nested multipart
        reason = "MIME 嵌套过深，邮件结构无法解析"
    except Exception as exc:
        reason = f"邮件无法解析（{type(exc).__name__}）"
    try:
        return _headers_only(
            raw, max_header_bytes, f"{reason}：正文按原文显示，原始邮件已作为附件 {ORIGINAL_NAME} 保留"
        )
    except Exception as second:  # the last line of defence: the caller stores whatever we return
        text, _ = best_effort(raw)
        return ParsedMail(
            message_id=_raw_id(raw),
            in_reply_to=None,
            references=(),
            sender="",
            sender_name="",
            to=(),
            cc=(),
            subject="",
            date=None,
            text=_tidy(text),
            html="",
            attachments=(_original(raw),),
            defects=(f"{reason}，邮件头也无法读取（{type(second).__name__}），已按原文显示",),
        )


def _headers_only(raw: bytes, max_header_bytes: int, reason: str) -> ParsedMail:
    """The fallback when the MIME structure cannot be read: headers parsed, the body as raw text."""
    notes: list[str] = []
    prepared, _ = _prepare(raw, max_header_bytes, notes)
    end = _split_head(prepared)
    msg = BytesParser(policy=policy.compat32).parsebytes(prepared[:end] + b"\n", headersonly=True)
    envelope = _envelope(msg, _declared_charsets(msg), notes)
    envelope["message_id"] = envelope["message_id"] or _raw_id(raw)
    body, _ = best_effort(prepared[end:])
    return ParsedMail(
        **envelope,
        text=_tidy(body),
        html="",
        attachments=(_original(raw),),
        defects=_dedupe([reason, *(_squash(n) for n in notes)]),
    )


def _envelope(msg: Message, declared: tuple[str, ...], notes: list[str]) -> dict[str, Any]:
    """The ParsedMail fields that come from the top header block alone."""

    def header(name: str) -> bytes | None:
        return _raw_header(msg, name)

    people: list[tuple[str, str]] = []
    for name in ("from", "reply-to", "sender", "return-path"):  # the sender falls back in this order
        people = people or _addresses(header(name), notes, declared)
    sender_name, sender = people[0] if people else ("", "")
    message_ids = _msgids(header("message-id"), bare_needs_at=False)
    in_reply_to = _msgids(header("in-reply-to"))
    return {
        "message_id": message_ids[0] if message_ids else "",
        "in_reply_to": in_reply_to[0] if in_reply_to else None,
        "references": tuple(_msgids(header("references"))),
        "sender": sender,
        "sender_name": sender_name,
        "to": _dedupe([addr for _, addr in _addresses(header("to"), notes, declared)]),
        "cc": _dedupe([addr for _, addr in _addresses(header("cc"), notes, declared)]),
        "subject": _squash(_decode_header(header("subject"), notes, declared)),
        "date": _date(header("date"), notes),
    }


def _parse(raw: bytes, max_attachment_bytes: int, max_total_bytes: int, max_header_bytes: int) -> ParsedMail:
    st = _State(max_attachment_bytes=max_attachment_bytes, max_total_bytes=max_total_bytes)
    notes = st.notes
    if not raw.strip():
        notes.append("邮件为空")
    prepared, st.needs_original = _prepare(raw, max_header_bytes, notes)
    msg = _parse_bytes(prepared)
    del prepared  # the parser holds its own pieces; a repaired copy must not stay alive beside them
    st.declared = _declared_charsets(msg)
    envelope = _envelope(msg, st.declared, notes)
    top = _part_info(msg, notes, st.declared)
    report_type = top.params.get("report-type", "").lower()
    auto_reasons = _auto_reasons(
        msg, top.content_type, report_type, envelope["sender"], envelope["subject"], notes
    )
    st.bounce = _is_bounce(top.content_type, report_type, envelope["sender"], envelope["subject"])

    envelope["message_id"] = envelope["message_id"] or _raw_id(raw)

    body = _Body()
    _walk_safely(msg, st, body, 0)
    if st.needs_original:
        st.attachments.append(_original(raw))  # outside the attachment budget: it is the guarantee
    return ParsedMail(
        **envelope,
        text=_join_texts(body.texts),
        html="\n".join(body.htmls + body.forwarded_htmls) if body.htmls else "",
        attachments=tuple(st.attachments),
        auto_reasons=_dedupe(auto_reasons),
        is_bounce=st.bounce,
        defects=_dedupe([_squash(n) for n in notes]),
        original_message_id=st.original_message_id,
    )
