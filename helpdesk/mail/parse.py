"""Raw RFC 5322 bytes -> ParsedMail, robust against what Chinese mail clients really send.

`parse_mail()` never raises. It reads the message as bytes with the compat32 policy (the one that
accepts any header) and decodes every header and body itself, because the charset labels lie:
"gb2312" parts carry GBK characters, "utf-8" parts carry GBK bytes, headers and file names arrive as
raw 8-bit bytes, and boundaries go missing. Whatever could not be read cleanly is listed in
`ParsedMail.defects`, in Chinese, for the agent.

Stages: charsets.py (bytes -> str), html.py (sanitising, text version), headers.py (header block,
header fields), mime.py (the MIME walk), this file (the entry point: the parse, its fallbacks, the
machine-generated signals, the ParsedMail).

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
  nesting (mime._MAX_DEPTH; deeper than the stdlib parser can recurse: a header-only parse), attachments
  (max_attachment_bytes, max_total_bytes: kept with empty data, problem="oversize" and their size).
  Whenever a part could not be read within its budget, the raw mail is attached as original.eml and
  a defect says so.
"""

from __future__ import annotations

import hashlib
import re
from email import policy
from email.feedparser import BytesFeedParser
from email.message import Message
from email.parser import BytesParser
from typing import Any

from helpdesk.mail.charsets import best_effort, resolve_charset
from helpdesk.mail.headers import (
    MAX_HEADER_BYTES,
    MB,
    ORIGINAL_NAME,
    addresses,
    date,
    decode_header,
    msgids,
    prepare,
    raw_header,
    split_head,
    squash,
)
from helpdesk.mail.mime import Body, State, join_texts, part_info, tidy, walk_safely
from helpdesk.mail.parsed import MailAttachment, ParsedMail

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
        raw = raw_header(msg, name)
        return None if raw is None else squash(decode_header(raw, notes)).lower()

    reasons = []
    auto_submitted = (value("auto-submitted") or "").split(";")[0].strip()
    if auto_submitted and auto_submitted != "no":
        reasons.append(f"auto-submitted: {auto_submitted}")
    precedence = (value("precedence") or "").split(";")[0].strip()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        reasons.append(f"precedence: {precedence}")
    for header in ("x-loop", "list-id", "list-unsubscribe", "x-autoreply", "x-autorespond"):
        if raw_header(msg, header) is not None:
            reasons.append(header)
    suppress = value("x-auto-response-suppress") or ""
    if {t.strip() for t in suppress.split(",")} & {"all", "oof", "autoreply"}:
        reasons.append(f"x-auto-response-suppress: {suppress}")
    return_path = raw_header(msg, "return-path")
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


#: the raw mail is fed to the stdlib parser in pieces this big: it never holds a str copy of all of it
_FEED_CHUNK = 1 * MB


def _raw_id(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _dedupe(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


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
        raw = raw_header(part, "content-type")
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
            text=tidy(text),
            html="",
            attachments=(_original(raw),),
            defects=(f"{reason}，邮件头也无法读取（{type(second).__name__}），已按原文显示",),
        )


def _headers_only(raw: bytes, max_header_bytes: int, reason: str) -> ParsedMail:
    """The fallback when the MIME structure cannot be read: headers parsed, the body as raw text."""
    notes: list[str] = []
    prepared, _ = prepare(raw, max_header_bytes, notes)
    end = split_head(prepared)
    msg = BytesParser(policy=policy.compat32).parsebytes(prepared[:end] + b"\n", headersonly=True)
    envelope = _envelope(msg, _declared_charsets(msg), notes)
    envelope["message_id"] = envelope["message_id"] or _raw_id(raw)
    body, _ = best_effort(prepared[end:])
    return ParsedMail(
        **envelope,
        text=tidy(body),
        html="",
        attachments=(_original(raw),),
        defects=_dedupe([reason, *(squash(n) for n in notes)]),
    )


def _envelope(msg: Message, declared: tuple[str, ...], notes: list[str]) -> dict[str, Any]:
    """The ParsedMail fields that come from the top header block alone."""

    def header(name: str) -> bytes | None:
        return raw_header(msg, name)

    people: list[tuple[str, str]] = []
    for name in ("from", "reply-to", "sender", "return-path"):  # the sender falls back in this order
        people = people or addresses(header(name), notes, declared)
    sender_name, sender = people[0] if people else ("", "")
    message_ids = msgids(header("message-id"), bare_needs_at=False)
    in_reply_to = msgids(header("in-reply-to"))
    return {
        "message_id": message_ids[0] if message_ids else "",
        "in_reply_to": in_reply_to[0] if in_reply_to else None,
        "references": tuple(msgids(header("references"))),
        "sender": sender,
        "sender_name": sender_name,
        "to": _dedupe([addr for _, addr in addresses(header("to"), notes, declared)]),
        "cc": _dedupe([addr for _, addr in addresses(header("cc"), notes, declared)]),
        "subject": squash(decode_header(header("subject"), notes, declared)),
        "date": date(header("date"), notes),
    }


def _parse(raw: bytes, max_attachment_bytes: int, max_total_bytes: int, max_header_bytes: int) -> ParsedMail:
    st = State(max_attachment_bytes=max_attachment_bytes, max_total_bytes=max_total_bytes)
    notes = st.notes
    if not raw.strip():
        notes.append("邮件为空")
    prepared, st.needs_original = prepare(raw, max_header_bytes, notes)
    msg = _parse_bytes(prepared)
    del prepared  # the parser holds its own pieces; a repaired copy must not stay alive beside them
    st.declared = _declared_charsets(msg)
    envelope = _envelope(msg, st.declared, notes)
    top = part_info(msg, notes, st.declared)
    report_type = top.params.get("report-type", "").lower()
    auto_reasons = _auto_reasons(
        msg, top.content_type, report_type, envelope["sender"], envelope["subject"], notes
    )
    st.bounce = _is_bounce(top.content_type, report_type, envelope["sender"], envelope["subject"])

    envelope["message_id"] = envelope["message_id"] or _raw_id(raw)

    body = Body()
    walk_safely(msg, st, body, 0)
    if st.needs_original:
        st.attachments.append(_original(raw))  # outside the attachment budget: it is the guarantee
    return ParsedMail(
        **envelope,
        text=join_texts(body.texts),
        html="\n".join(body.htmls + body.forwarded_htmls) if body.htmls else "",
        attachments=tuple(st.attachments),
        auto_reasons=_dedupe(auto_reasons),
        is_bounce=st.bounce,
        defects=_dedupe([squash(n) for n in notes]),
        original_message_id=st.original_message_id,
    )
