"""IMAP access through imapclient: UIDs only, UIDVALIDITY tracked, batched fetches, PEEK so nothing is
marked read before its ticket exists, and a move (or flag) only after the caller's commit."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from imapclient import IMAPClient

PROCESSED_KEYWORD = b"$ZXZJIngested"
FETCH_BATCH = 50


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    user: str
    password: str
    folder: str = "INBOX"
    security: str = "ssl"  #: ssl / starttls / none
    processed_folder: str = ""
    timeout: float = 60.0

    @classmethod
    def from_settings(cls, settings: Any) -> ImapSettings:
        return cls(
            host=str(settings["HELPDESK_IMAP_HOST"]),
            port=int(settings["HELPDESK_IMAP_PORT"]),
            user=str(settings["HELPDESK_IMAP_USER"]),
            password=str(settings["HELPDESK_IMAP_PASSWORD"]),
            folder=str(settings["HELPDESK_IMAP_FOLDER"]),
            security=str(settings["HELPDESK_IMAP_SSL"]),
            processed_folder=str(settings["HELPDESK_IMAP_PROCESSED_FOLDER"]),
        )

    @property
    def mailbox_name(self) -> str:
        return f"{self.user}@{self.host}/{self.folder}"


@dataclass(frozen=True)
class FetchedMessage:
    uid: int
    raw: bytes
    internal_date: datetime  #: aware, UTC
    flags: tuple[bytes, ...]


class ImapSource:
    """One connection to one folder."""

    def __init__(self, settings: ImapSettings) -> None:
        self.settings = settings
        self.client: IMAPClient | None = None
        self.uidvalidity: int = 0
        self.exists: int = 0
        self.can_move = False

    def __enter__(self) -> ImapSource:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        s = self.settings
        context = ssl.create_default_context() if s.security != "none" else None
        client = IMAPClient(
            s.host, port=s.port, ssl=s.security == "ssl", ssl_context=context, timeout=s.timeout
        )
        if s.security == "starttls":
            client.starttls(context)
        client.normalise_times = False  # keep INTERNALDATE aware: the SLA clock starts there
        client.login(s.user, s.password)
        info = client.select_folder(s.folder)
        self.client = client
        self.uidvalidity = int(info[b"UIDVALIDITY"])
        self.exists = int(info.get(b"EXISTS", 0))
        self.can_move = client.has_capability("MOVE")
        if s.processed_folder and not client.folder_exists(s.processed_folder):
            client.create_folder(s.processed_folder)

    def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):  # the connection may already be gone; nothing to save
                self.client.logout()
            self.client = None

    def uids_after(self, last_uid: int) -> list[int]:
        assert self.client is not None
        # "n:*" always includes the highest UID even when it is below n: filter again
        return sorted(u for u in self.client.search(["UID", f"{last_uid + 1}:*"]) if u > last_uid)

    def fetch(self, uids: list[int], batch: int = FETCH_BATCH) -> Iterator[FetchedMessage]:
        assert self.client is not None
        for start in range(0, len(uids), batch):
            chunk = uids[start : start + batch]
            data = self.client.fetch(chunk, ["BODY.PEEK[]", "INTERNALDATE", "FLAGS"])
            for uid in chunk:
                item = data.get(uid)
                if item is None:  # expunged between SEARCH and FETCH: nothing to import
                    continue
                raw = item.get(b"BODY[]") or b""
                yield FetchedMessage(
                    uid, raw, _aware(item.get(b"INTERNALDATE")), tuple(item.get(b"FLAGS", ()))
                )

    def mark_processed(self, uids: list[int]) -> None:
        """Move to the processed folder (MOVE capability) or flag \\Seen plus our keyword."""
        assert self.client is not None
        if not uids:
            return
        if self.settings.processed_folder and self.can_move:
            self.client.move(uids, self.settings.processed_folder)
        else:
            self.client.add_flags(uids, [b"\\Seen", PROCESSED_KEYWORD])

    def count(self) -> int:
        assert self.client is not None
        return int(self.client.folder_status(self.settings.folder, [b"MESSAGES"])[b"MESSAGES"])

    def idle_wait(self, seconds: float) -> bool:
        """Wait up to `seconds` for the server to announce new mail (IDLE); True if it did."""
        assert self.client is not None
        if not self.client.has_capability("IDLE"):
            return False
        self.client.idle()
        try:
            responses = self.client.idle_check(timeout=seconds)
        finally:
            self.client.idle_done()
        return any(r[1] in (b"EXISTS", b"RECENT") for r in responses if len(r) > 1)


def _aware(value: datetime | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    if value.tzinfo is None:  # imapclient returns local naive times unless normalise=False
        return value.astimezone(UTC)
    return value.astimezone(UTC)
