"""Tickets, their messages, attachments, timeline events, notifications and canned replies."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
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
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpdesk.db import Base, UTCDateTime, utcnow
from helpdesk.sla.models import SlaClock

# the ticket's words live in helpdesk.vocabulary; imported here too, where models' users look for them
from helpdesk.vocabulary import CLOSED_STATUSES as CLOSED_STATUSES
from helpdesk.vocabulary import OPEN_STATUSES, STATUS_LABELS, TYPE_LABELS, TicketStatus, TicketType


class Ticket(Base):
    __tablename__ = "tickets"
    id: Mapped[int] = mapped_column(primary_key=True)  #: also the number shown as ZXZJ#<id>
    type: Mapped[str] = mapped_column(String(20), default=TicketType.INQUIRY.value)
    status: Mapped[str] = mapped_column(String(20), default=TicketStatus.NEW.value)
    subject: Mapped[str] = mapped_column(Text, default="")  #: whole, as sent (lists shorten it)
    requester_email: Mapped[str] = mapped_column(String(254), default="")
    requester_name: Mapped[str] = mapped_column(String(200), default="")
    channel: Mapped[str] = mapped_column(
        String(10), default="mail", server_default="mail"
    )  #: mail / phone / visit
    client_key: Mapped[str | None] = mapped_column(
        String(40), unique=True, index=True
    )  #: the form that opened it
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprises.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    #: the ticket a mail named (In-Reply-To) although its sender does not belong to it
    related_ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    #: IMAP INTERNALDATE of the first mail: the SLA clock starts here
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # The SLA clock is a record of helpdesk/sla (sla_clocks, one row per clock). These copies of the
    # current clock's deadlines serve the queue index; only helpdesk.sla.clock writes them.
    sla_clock_no: Mapped[int] = mapped_column(Integer, default=1)  #: the current clock (a reopen adds one)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  #: None while paused
    warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  #: None while paused

    #: field values shown for the letter (name -> value): the readings' values (helpdesk.letters.current),
    #: with the agent's corrections, which a later reading never overwrites
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ocr_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    #: lower-cased subject, sender, company, codes and accounts, for the queue's free-text search
    #: (at most 2,000 bytes of UTF-8, so that it fits a btree index entry on PostgreSQL)
    search_text: Mapped[str] = mapped_column(Text, default="")

    version: Mapped[int] = mapped_column(Integer, default=1)  #: optimistic locking

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index("ix_tickets_status_due_at", "status", "due_at"),
        Index("ix_tickets_status_warn_at", "status", "warn_at"),
        Index("ix_tickets_assignee_id_status", "assignee_id", "status"),
        Index("ix_tickets_enterprise_id", "enterprise_id"),
        Index("ix_tickets_received_at", "received_at"),
        Index("ix_tickets_requester_email", "requester_email"),
        # the queue (tickets/queries.py) picks a page's ids from this index alone, then reads only those
        # rows (a letter is kilobytes of JSON): open tickets filtered on all these columns, closed ones
        # newest first per status (status, received_at, id). `id` is in it for PostgreSQL's index-only
        # scans (SQLite's indexes carry the rowid anyway).
        Index("ix_tickets_queue", "status", "received_at", "id", "due_at", "type", "assignee_id", "warn_at"),
        # free-text search scans this narrow index, not the table (search_text is capped at 2,000 bytes)
        Index("ix_tickets_search_text", "search_text"),
    )

    #: the current SLA clock (read-only here: helpdesk.sla.clock writes it)
    clock: Mapped[SlaClock | None] = relationship(
        primaryjoin="and_(SlaClock.ticket_id == Ticket.id, SlaClock.clock_no == Ticket.sla_clock_no)",
        foreign_keys="SlaClock.ticket_id",
        viewonly=True,
        uselist=False,
    )
    messages: Mapped[list[Message]] = relationship(
        back_populates="ticket", order_by="Message.created_at, Message.id", foreign_keys="Message.ticket_id"
    )
    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", order_by="TicketEvent.at, TicketEvent.id"
    )
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="ticket", order_by="Attachment.id", foreign_keys="Attachment.ticket_id"
    )
    #: what the retention policy removed from this ticket (helpdesk.tickets.retention writes these)
    retention_removals: Mapped[list[RetentionRemoval]] = relationship(
        order_by="RetentionRemoval.removed_at, RetentionRemoval.id", viewonly=True
    )

    @property
    def number(self) -> str:
        return f"ZXZJ#{self.id}"

    @property
    def type_label(self) -> str:
        return TYPE_LABELS.get(self.type, self.type)

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class MessageKind(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    NOTE = "note"


class Message(Base):
    """One entry of a ticket's conversation: an inbound mail, a reply we sent, or an internal note."""

    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    message_id: Mapped[str | None] = mapped_column(String(500), unique=True)  #: RFC 5322 id, no <>
    in_reply_to: Mapped[str | None] = mapped_column(String(500))
    sender: Mapped[str] = mapped_column(String(254), default="")
    recipients: Mapped[str] = mapped_column(String(2000), default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")  #: sanitised when stored
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    inbound_mail_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_mails.id"))
    outbound_mail_id: Mapped[int | None] = mapped_column(ForeignKey("outbound_mails.id"))
    #: the Letter read from this inbound mail (helpdesk.letters.Letter.to_dict()); read it back only
    #: through helpdesk.letters.current (the ticket's letter merges every message's reading)
    letter: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: set when the retention policy cleared this mail's body (helpdesk.tickets.retention)
    body_removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    ticket: Mapped[Ticket] = relationship(back_populates="messages", foreign_keys=[ticket_id])


class Attachment(Base):
    """A file that came with a mail; bytes stored content-addressed, never under the sender's name."""

    __tablename__ = "attachments"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    stored_name: Mapped[str] = mapped_column(String(200))  #: path relative to the attachments dir
    original_name: Mapped[str] = mapped_column(String(500), default="")  #: for display only
    content_type: Mapped[str] = mapped_column(String(100), default="application/octet-stream")  #: sniffed
    size: Mapped[int] = mapped_column(Integer, default=0)
    problem: Mapped[str | None] = mapped_column(String(500))  #: e.g. oversize, not stored
    data: Mapped[bytes | None] = mapped_column(LargeBinary)  #: small files may live in the database
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: set when the retention policy removed the bytes (file and `data`); the row stays for the record
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    ticket: Mapped[Ticket] = relationship(back_populates="attachments", foreign_keys=[ticket_id])


class RetentionRemoval(Base):
    """What the retention policy removed from a closed ticket: one row per kind and run."""

    __tablename__ = "retention_removals"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))  #: raw_mail / attachment / licence_scan / mail_body
    items: Mapped[int] = mapped_column(Integer, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    policy_days: Mapped[int] = mapped_column(Integer, default=0)  #: HELPDESK_RETENTION_DAYS at the time
    removed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TicketEvent(Base):
    """One line of the timeline: who changed what, when (status, assignee, field, record, SLA)."""

    __tablename__ = "ticket_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    field: Mapped[str | None] = mapped_column(String(80))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="events")
    __table_args__ = (Index("ix_ticket_events_kind_at", "kind", "at"),)


class Notification(Base):
    """An in-app notice to one user; unique per (user, ticket, kind, clock) so a job never sends it twice."""

    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    kind: Mapped[str] = mapped_column(String(40))
    clock_no: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("user_id", "ticket_id", "kind", "clock_no"),
        Index("ix_notifications_user_id_read_at", "user_id", "read_at"),
    )


class Macro(Base):
    """A canned reply in Chinese; its body may use {company}, {account}, {number}, {due} placeholders."""

    __tablename__ = "macros"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(40), default="")
    #: what the macro does besides replying: "" or "request_material" (sets waiting)
    action: Mapped[str] = mapped_column(String(40), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    #: None: shared (supervisors edit it); a user: that agent's personal canned reply, seen by no one else
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)


class ReplyDraft(Base):
    """What a user has typed in a ticket's reply box, saved as they type; deleted when the reply is sent."""

    __tablename__ = "reply_drafts"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    body: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("ticket_id", "user_id"),)


class SavedFilter(Base):
    __tablename__ = "saved_filters"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(100))
    query: Mapped[str] = mapped_column(String(2000))  #: the queue's query string
