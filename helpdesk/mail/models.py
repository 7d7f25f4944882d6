"""Mailbox state, every inbound message's raw bytes and keys, and the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql import ColumnElement

from helpdesk.db import Base, UTCDateTime, utcnow


class Mailbox(Base):
    """One polled IMAP folder: where we are (UIDVALIDITY, last UID) and how it went."""

    __tablename__ = "mailboxes"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300), unique=True)  #: user@host/folder
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    last_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    server_count: Mapped[int] = mapped_column(Integer, default=0)  #: messages on the server at the last poll


class InboundMail(Base):
    """A fetched message, stored before anything else happens to it; the ticket is made from this row."""

    __tablename__ = "inbound_mails"
    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int | None] = mapped_column(ForeignKey("mailboxes.id"))
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    uid: Mapped[int | None] = mapped_column(BigInteger)
    #: the mail's identity: c:<sha256> of its content without trace headers (helpdesk.mail.identity)
    message_key: Mapped[str] = mapped_column(String(500), unique=True)
    #: Message-ID without <>: a hint for threading and for noticing reuse, never an identity
    message_id: Mapped[str | None] = mapped_column(String(500), index=True)
    raw_sha256: Mapped[str] = mapped_column(String(64), index=True)
    #: set when the retention policy emptied `raw` (helpdesk.tickets.retention): nothing reads it again
    raw_removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    internal_date: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default="stored")  #: stored/ingested/failed/ignored
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: the claim of the path that is turning this mail into a ticket (compare-and-set; see tickets.inbound.claim)
    claim_token: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    flagged_on_server: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(20), default="imap")  #: imap / eml / demo
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    #: the raw bytes live in their own row (InboundMailRaw), written once: claiming, settling and
    #: flagging this row then never rewrite them (SQLite rewrites a whole row on every UPDATE)
    raw_row: Mapped[InboundMailRaw | None] = relationship(cascade="all, delete-orphan", lazy="select")

    __table_args__ = (
        UniqueConstraint("mailbox_id", "uidvalidity", "uid"),
        Index("ix_inbound_mails_status", "status"),
    )

    @hybrid_property
    def raw(self) -> bytes:
        """The message exactly as fetched (b"" once the retention policy emptied it)."""
        return self.raw_row.raw if self.raw_row is not None else b""

    @raw.inplace.setter
    def _raw_setter(self, value: bytes) -> None:
        if self.raw_row is None:
            self.raw_row = InboundMailRaw(raw=value)
        else:
            self.raw_row.raw = value

    @raw.inplace.expression
    @classmethod
    def _raw_expression(cls) -> ColumnElement[bytes]:
        return (
            select(InboundMailRaw.raw)
            .where(InboundMailRaw.inbound_mail_id == cls.id)
            .correlate_except(InboundMailRaw)
            .scalar_subquery()
        )


class InboundMailRaw(Base):
    """The raw bytes of one stored mail (`InboundMail.raw` reads and writes them)."""

    __tablename__ = "inbound_mail_raws"
    inbound_mail_id: Mapped[int] = mapped_column(ForeignKey("inbound_mails.id"), primary_key=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)


class OutboundMail(Base):
    """A mail we will send; written in the same transaction as the change that caused it."""

    __tablename__ = "outbound_mails"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(
        String(30), default="reply"
    )  #: ack / reply / request / resolution / sla / notice
    to_addr: Mapped[str] = mapped_column(String(1000))
    cc_addr: Mapped[str] = mapped_column(String(1000), default="")
    subject: Mapped[str] = mapped_column(Text)  #: "回复：" + a whole ticket subject
    body_text: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(500), unique=True)  #: ours, without <>
    in_reply_to: Mapped[str | None] = mapped_column(String(500))
    references: Mapped[str | None] = mapped_column(Text)
    headers: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    attachments: Mapped[list[Any] | None] = mapped_column(JSON)  #: [{"name":..., "sha256":...}]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    failed: Mapped[bool] = mapped_column(Boolean, default=False)  #: permanent failure, shown to admins

    __table_args__ = (Index("ix_outbound_mails_pending", "sent_at", "failed", "next_attempt_at"),)
