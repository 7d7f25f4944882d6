"""What makes two stored mails the same mail: their content without the headers that delivery adds.

A Message-ID is a hint, not an identity: broken clients, list software and `0@localhost` reuse them,
so keying on it drops real mail. The same message delivered by two routes, fetched again, or re-sent
byte for byte differs only in its trace headers (Received, Return-Path, Delivered-To, spam and
authentication results), so those are left out of the key, and line endings are normalised.
"""

from __future__ import annotations

import hashlib
import re

#: headers a transfer or delivery agent adds or rewrites on the way; never part of what the sender wrote
TRACE_HEADERS = frozenset(
    {
        "received",
        "return-path",
        "delivered-to",
        "x-original-to",
        "x-delivered-to",
        "envelope-to",
        "x-envelope-to",
        "x-envelope-from",
        "x-received",
        "received-spf",
        "authentication-results",
        "x-original-authentication-results",
        "dkim-signature",
        "x-google-dkim-signature",
        "x-google-smtp-source",
        "x-gm-message-state",
        "x-uid",
        "status",
        "x-status",
        "x-keywords",
        "x-mozilla-status",
        "x-mozilla-status2",
        "content-length",
        "lines",
        "x-imapbase",
    }
)
#: families of trace headers (anti-spam, anti-virus, ARC seals, mailbox server bookkeeping)
TRACE_PREFIXES = (
    "arc-",
    "x-spam",
    "x-virus",
    "x-rspamd",
    "x-ms-exchange-",
    "x-forefront-",
    "x-microsoft-antispam",
    "x-sieve",
    "x-proofpoint",
    "x-barracuda",
    "x-mailgun",
    "x-qq-",
)
_MESSAGE_ID = re.compile(rb"(?im)^message-id:[ \t]*(?:\r?\n[ \t]+)?<?([^\s<>]+@[^\s<>]+)>?")


def split_head(raw: bytes) -> tuple[bytes, bytes]:
    """(header block, body) at the first empty line, whichever line ending the mail uses."""
    match = re.search(rb"\r?\n\r?\n", raw)
    if match is None:
        return raw, b""
    return raw[: match.start()], raw[match.end() :]


def is_trace(name: str) -> bool:
    name = name.strip().lower()
    return name in TRACE_HEADERS or name.startswith(TRACE_PREFIXES)


def content_key(raw: bytes) -> str:
    """sha256 of the mail without trace headers, line endings as LF, trailing blank lines dropped."""
    head, body = split_head(raw.replace(b"\r\n", b"\n"))
    kept: list[bytes] = []
    keep = True
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t"):
            if keep:
                kept.append(line.rstrip())
            continue
        name, colon, _ = line.partition(b":")
        if colon:
            keep = not is_trace(name.decode("latin-1"))
        # a line that is neither a header nor a continuation belongs to what the sender wrote
        if keep:
            kept.append(line.rstrip())
    digest = hashlib.sha256()
    digest.update(b"\n".join(kept))
    digest.update(b"\n\n")
    digest.update(body.rstrip(b"\n"))
    return "c:" + digest.hexdigest()


def message_id(raw: bytes) -> str | None:
    """The Message-ID without <> (lower-cased), read cheaply from the header block, or None."""
    head, _ = split_head(raw)
    match = _MESSAGE_ID.search(head)
    if match is None:
        return None
    return match.group(1).decode("ascii", "replace").lower()[:490]
