"""The MIME walk of a parsed mail, for parse.py: parts, payloads, TNEF, forwarded mails, reports,
attachments.

`walk_safely()` collects the text, the sanitised html and the attachments of a message tree into a
`Body` and the mail's `State`; a part that breaks is kept as an attachment and the walk goes on.
"""

from __future__ import annotations

import html as html_lib
import quopri
import re
from dataclasses import dataclass, field
from email import policy
from email.message import Message
from email.parser import BytesParser

from tnefparse.tnef import TNEF

from helpdesk.mail.charsets import decode
from helpdesk.mail.headers import (
    ORIGINAL_NAME,
    addresses,
    clean_filename,
    decode_header,
    lenient_b64,
    msgids,
    parse_structured,
    raw_header,
    squash,
    to_bytes,
)
from helpdesk.mail.html import html_to_text, sanitize_html, sniff_html_charset, too_complex
from helpdesk.mail.parsed import MailAttachment

_MAX_DEPTH = 30  #: MIME nesting deeper than this is kept as an attachment instead of being walked

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


def _type_for_name(name: str) -> str:
    return _TYPES.get(name[name.rfind(".") :].lower() if "." in name else "", "application/octet-stream")


# --------------------------------------------------------------------------------------------------
# Walking the MIME tree
# --------------------------------------------------------------------------------------------------


@dataclass
class State:
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
        name = clean_filename(filename)
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
class Body:
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


def part_info(part: Message, notes: list[str], declared: tuple[str, ...] = ()) -> _PartInfo:
    raw_type = raw_header(part, "content-type")
    content_type, params = part.get_default_type(), {}
    if raw_type is not None:
        declared_type, params = parse_structured(raw_type, notes, declared)
        if _CONTENT_TYPE.fullmatch(declared_type):
            content_type = declared_type
        elif declared_type:
            notes.append(f"无效的 Content-Type“{declared_type[:40]}”，已按 {content_type} 处理")
    raw_disposition = raw_header(part, "content-disposition")
    disposition, disposition_params = None, {}
    if raw_disposition is not None:
        disposition, disposition_params = parse_structured(raw_disposition, notes, declared)
    filename = (
        disposition_params.get("filename") or params.get("name") or disposition_params.get("name") or ""
    )
    encoding = (raw_header(part, "content-transfer-encoding") or b"").decode("ascii", "replace")
    content_id = msgids(raw_header(part, "content-id"), bare_needs_at=False)
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
        data, clean = lenient_b64(payload.encode("ascii", "ignore"))
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


def _walk(part: Message, st: State, body: Body, depth: int) -> None:
    """Collect the text, html and attachments of `part` and its children."""
    for defect in part.defects:
        message = _PARSER_DEFECTS.get(type(defect).__name__)
        if message:
            st.notes.append(message)
    info = part_info(part, st.notes, st.declared)
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
                walk_safely(child, st, body, depth + 1)
    elif info.content_type.startswith("multipart/"):
        _broken_multipart(part, info, st, body, depth)
    else:
        _leaf(part, info, st, body)


def walk_safely(part: object, st: State, body: Body, depth: int) -> None:
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


def _alternative(children: list[Message], st: State, body: Body, depth: int) -> None:
    """Same content in several forms: text from text/plain, html from the richest HTML form."""
    forms = []
    for child in children:
        form = Body()
        walk_safely(child, st, form, depth + 1)
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


def _leaf(part: Message, info: _PartInfo, st: State, body: Body) -> None:
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
        ids = msgids(raw_header(headers, "message-id"), bare_needs_at=False)
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


def _expand_tnef(data: bytes, st: State) -> bool:
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
        raw = raw_header(msg, header)
        if raw is None:
            continue
        if header in ("from", "to", "cc"):
            people = addresses(raw, notes, declared)
            value = ", ".join(f"{name} <{addr}>" if name else addr for name, addr in people)
        else:
            value = squash(decode_header(raw, notes, declared))
        if value:
            lines.append((label, value))
    return lines


def _forwarded(payload: list[Message], info: _PartInfo, st: State, body: Body, depth: int) -> None:
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
            lenient_b64(encoded)[0] if info.transfer_encoding == "base64" else quopri.decodestring(encoded)
        )
        inner = BytesParser(policy=policy.compat32).parsebytes(decoded)
    if st.bounce and st.original_message_id is None:
        ids = msgids(raw_header(inner, "message-id"), bare_needs_at=False)
        st.original_message_id = ids[0] if ids else None
    if info.filename or info.disposition == "attachment":
        # sent as a file: the agent gets the file too (forwarded as evidence, to be passed on)
        data = decoded if encoded_transfer else inner.as_bytes(policy=policy.compat32)
        subject = squash(decode_header(raw_header(inner, "subject"), st.notes, st.declared))
        name = info.filename or subject.replace("/", "_").replace("\\", "_")
        if name and not name.lower().endswith(".eml"):
            name = name[:150] + ".eml"
        st.keep(name, "message/rfc822", data)
    inner_body = Body()
    walk_safely(inner, st, inner_body, depth + 1)
    title = "---------- 退回的原邮件 ----------" if st.bounce else "---------- 转发的邮件 ----------"
    header_lines = [f"{label}: {value}" for label, value in _summary(inner, st.notes, st.declared)]
    text = join_texts(inner_body.texts)
    body.texts.append("\n".join([title, *header_lines]) + ("\n\n" + text if text else ""))
    head = "<hr><p>" + "<br>".join(html_lib.escape(line) for line in [title, *header_lines]) + "</p>"
    if inner_body.htmls:
        inner_html = "\n".join(inner_body.htmls + inner_body.forwarded_htmls)
    else:
        inner_html = f"<pre>{html_lib.escape(text)}</pre>" if text else ""
    body.forwarded_htmls.append(head + inner_html)


_REPORT_TITLES = {"message/delivery-status": "投递状态", "message/disposition-notification": "阅读回执"}


def _report_fields(blocks: list[Message], content_type: str, st: State, body: Body) -> None:
    """message/delivery-status and the like: the fields (Status, Diagnostic-Code, ...) as text."""
    paragraphs = []
    for block in blocks:
        if isinstance(block, Message):
            lines = [
                f"{key}: {squash(decode_header(to_bytes(value), st.notes, st.declared))}"
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


def _broken_multipart(part: Message, info: _PartInfo, st: State, body: Body, depth: int) -> None:
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
            walk_safely(repaired, st, body, depth + 1)
            return
    st.notes.append("MIME 边界缺失，正文按原文处理")
    body.texts.append(decode(raw, info.params.get("charset"), st.notes))
    body.has_plain = True


def tidy(text: str) -> str:
    # PostgreSQL text cannot hold NUL; CRLF is an artefact of the transport. Each replace copies the
    # text (30 MB bodies), so only the ones that change something run.
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text.lstrip("\ufeff").rstrip().lstrip("\n")


def join_texts(texts: list[str]) -> str:
    if len(texts) == 1:
        return tidy(texts[0])  # the usual case: no join, no second copy of a long body
    return "\n\n".join(t for t in (tidy(t) for t in texts) if t)
