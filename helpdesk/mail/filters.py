"""Pure checks on a ParsedMail: machine-generated mail, thread ids, our subject tag, bounces.

Threading order (STYLE convention 11): `thread_ids()` against stored Message-IDs first, then
`subject_tag()`.
"""

from __future__ import annotations

import re

from helpdesk.mail.parsed import ParsedMail

TAG_PREFIX = "ZXZJ"

# Chinese input methods type full-width forms: ［ＺＸＺＪ＃１２３］, 【ZXZJ#123】, ideographic spaces.
# \d and int() accept full-width digits; \s includes U+3000.
_FULL_WIDTH_PREFIX = "".join(f"[{c}{chr(ord(c) + 0xFEE0)}]" for c in TAG_PREFIX)
_TAG = re.compile(rf"[\[［【]\s*{_FULL_WIDTH_PREFIX}\s*[#＃]\s*(\d{{1,9}})\s*[\]］】]", re.IGNORECASE)
_REPLY_PREFIX = re.compile(
    r"\s*(?:re|fw|fwd|aw|wg|sv|vs|答复|回复|回覆|转发|轉寄|转寄)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*",
    re.IGNORECASE,
)
_QUOTED_MESSAGE_ID = re.compile(r"(?im)^[ \t>]*message-id:[ \t]*<([^<>\s]+)>")


def is_auto_generated(mail: ParsedMail, *, our_addresses: set[str]) -> list[str]:
    """Reasons not to answer `mail` automatically (empty when a person wrote it)."""
    reasons = list(mail.auto_reasons)
    if mail.sender and mail.sender in {address.strip().lower() for address in our_addresses}:
        reasons.append("our own address")
    return reasons


def thread_ids(mail: ParsedMail) -> list[str]:
    """Message-IDs this mail answers, newest first: In-Reply-To, then References from the end."""
    candidates = [mail.in_reply_to, *reversed(mail.references)]
    return list(dict.fromkeys(c for c in candidates if c))


def subject_tag(subject: str) -> int | None:
    """The ticket number in a `[ZXZJ#123]` tag (full-width brackets, ＃ and spaces tolerated), or None."""
    match = _TAG.search(subject)
    number = int(match[1]) if match else 0
    return number or None


def _prefix_length(subject: str) -> int:
    """How many leading characters of `subject` are reply/forward prefixes ("Re: 回复：Fw:")."""
    length = 0
    while (match := _REPLY_PREFIX.match(subject, length)) and match.end() > length:
        length = match.end()
    return length


def strip_reply_prefixes(subject: str) -> str:
    """`subject` without its leading Re:/Fwd:/回复：/答复:/转发： prefixes (repeated ones too)."""
    return subject[_prefix_length(subject) :].strip()


def add_subject_tag(subject: str, number: int) -> str:
    """`subject` with our tag for `number` after any reply prefixes; idempotent.

    "回复：关于资金" -> "回复：[ZXZJ#12] 关于资金". A tag for another ticket is replaced, not doubled.
    """
    if subject_tag(subject) == number:
        return subject
    cut = _prefix_length(subject)
    prefixes = subject[:cut].strip()
    rest = re.sub(r"\s{2,}", " ", _TAG.sub("", subject[cut:])).strip()
    tag = f"[{TAG_PREFIX}#{number}]"
    head = prefixes + ("" if prefixes.endswith("：") or not prefixes else " ") + tag
    return f"{head} {rest}" if rest else head


def bounce_original_message_id(mail: ParsedMail) -> str | None:
    """For a bounce, the Message-ID of the mail that could not be delivered, when the bounce quotes it."""
    if mail.original_message_id:
        return mail.original_message_id
    if not mail.is_bounce:
        return None
    # plain-text bounces (qmail, Coremail, QQ) quote the original headers in the body
    match = _QUOTED_MESSAGE_ID.search(mail.text)
    return match[1] if match else None
