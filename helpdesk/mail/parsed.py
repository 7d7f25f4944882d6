"""The contract between `mail` (bytes -> ParsedMail) and everything downstream.

Pure data: no Flask, no database. `letters.read()` takes a ParsedMail; `tickets.intake` stores one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class MailAttachment:
    filename: str  #: decoded name as the sender gave it; for display only, never a path
    content_type: str  #: as declared by the sender (lower-case); do not trust it, sniff `data`
    data: bytes
    content_id: str | None = None
    inline: bool = False
    #: why the attachment is not usable (e.g. "oversize"); the bytes may then be empty
    problem: str | None = None
    declared_size: int | None = None  #: size before an oversize attachment was dropped

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True, slots=True)
class ParsedMail:
    message_id: str  #: without angle brackets; a "sha256:<hex>" of the raw bytes when absent
    in_reply_to: str | None  #: without angle brackets
    references: tuple[str, ...]  #: without angle brackets, oldest first
    sender: str  #: bare address, lower-cased ("" when there is none)
    sender_name: str
    to: tuple[str, ...]  #: bare addresses, lower-cased
    cc: tuple[str, ...]
    subject: str
    date: datetime | None  #: the sender's Date header (aware), for display only; SLA uses INTERNALDATE
    text: str  #: text/plain body, or text extracted from the HTML body
    html: str  #: sanitised HTML body ("" when the mail had none)
    attachments: tuple[MailAttachment, ...] = ()
    #: reasons the mail looks machine-generated (Auto-Submitted, Precedence bulk, DSN, ...); empty = human
    auto_reasons: tuple[str, ...] = ()
    is_bounce: bool = False  #: a delivery status notification / bounce
    #: problems met while parsing (bad charset, broken boundary, ...), in Chinese for the agent
    defects: tuple[str, ...] = field(default_factory=tuple)
    #: for a bounce: the Message-ID (without angle brackets) of the returned original, when it is quoted
    original_message_id: str | None = None

    @property
    def auto_generated(self) -> bool:
        return bool(self.auto_reasons)
