"""The working-day calendar as stored (seeded from chinesecalendar, edited by admins) and SLA policies."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.db import Base, UTCDateTime, utcnow


class CalendarDay(Base):
    """A day that differs from plain Mon-Fri: a weekday off ('off') or a make-up working weekend day ('work')."""

    __tablename__ = "calendar_days"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  #: off / work
    name: Mapped[str] = mapped_column(String(100), default="")  #: e.g. 国庆节
    source: Mapped[str] = mapped_column(String(300), default="package")  #: package / admin / notice URL
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CalendarYear(Base):
    """Whether a year's schedule is known: official (from the package or a notice) or provisional."""

    __tablename__ = "calendar_years"
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default="official")
    source: Mapped[str] = mapped_column(String(300), default="package")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SlaPolicy(Base):
    """How a ticket type is held to its promise."""

    __tablename__ = "sla_policies"
    ticket_type: Mapped[str] = mapped_column(String(20), primary_key=True)
    mode: Mapped[str] = mapped_column(String(20), default="working_days")  #: working_days / business_hours
    days: Mapped[int] = mapped_column(Integer, default=2)
    business_start: Mapped[str] = mapped_column(String(5), default="09:00")
    business_end: Mapped[str] = mapped_column(String(5), default="17:00")
    warn_ratio: Mapped[float] = mapped_column(Float, default=0.75)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SlaClock(Base):
    """One SLA clock of a ticket: written only by helpdesk.sla.clock, outcomes stored when they happen.

    A ticket has clock 1 from its first mail; each reopen starts the next. While the clock runs,
    due_at / warn_at are the deadlines (copied onto the ticket for the queue index). While paused,
    paused_at is set and due_at keeps the due that was in force at the pause (a clock closed while
    waiting is judged against it). stopped_at, outcome and handling_minutes are set once, at the stop.
    """

    __tablename__ = "sla_clocks"
    id: Mapped[int] = mapped_column(primary_key=True)
    # a string reference: sla never imports tickets (the table is the only thing it knows of it)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    clock_no: Mapped[int] = mapped_column(Integer)
    ticket_type: Mapped[str] = mapped_column(String(20))  #: the type whose policy the clock follows
    policy: Mapped[str] = mapped_column(String(30), default="working_days")  #: the policy's mode
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  #: None while paused or stopped
    budget_minutes: Mapped[int | None] = mapped_column(Integer)  #: business minutes of the whole clock
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  #: the pause in progress began
    resumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  #: the last resume
    #: business minutes left at the last pause (kept after the resume: due = resumed_at + this)
    remaining_minutes: Mapped[int | None] = mapped_column(Integer)
    #: business minutes spent paused (at the stop, including a pause it was closed in)
    paused_minutes: Mapped[int] = mapped_column(Integer, default=0)
    provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    calendar_version: Mapped[str] = mapped_column(String(64), default="")
    explanation: Mapped[str] = mapped_column(Text, default="")
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stop_status: Mapped[str | None] = mapped_column(String(20))  #: resolved / rejected / merged
    stopped_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    outcome: Mapped[str | None] = mapped_column(String(10))  #: met / breached, set at the stop
    #: business minutes from start to stop (or to the pause it was closed in), minus paused minutes
    handling_minutes: Mapped[int | None] = mapped_column(Integer)
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # facts the breach reasons name, stored when they happen
    paused_after_due: Mapped[bool] = mapped_column(Boolean, default=False)
    shortest_resume_minutes: Mapped[int | None] = mapped_column(Integer)  #: least time left at a resume
    type_changed: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        UniqueConstraint("ticket_id", "clock_no"),
        # the report reads the clocks stopped in a period; partial, so that SQLite's planner never
        # takes it for the tick's "stopped_at IS NULL" (every running clock)
        Index(
            "ix_sla_clocks_stopped_at",
            "stopped_at",
            postgresql_where=text("stopped_at IS NOT NULL"),
            sqlite_where=text("stopped_at IS NOT NULL"),
        ),
        # the SLA tick: running clocks not yet warned / breached, by deadline
        Index(
            "ix_sla_clocks_warn_due",
            "warn_at",
            postgresql_where=text("warned_at IS NULL AND stopped_at IS NULL"),
            sqlite_where=text("warned_at IS NULL AND stopped_at IS NULL"),
        ),
        Index(
            "ix_sla_clocks_breach_due",
            "due_at",
            postgresql_where=text("breached_at IS NULL AND stopped_at IS NULL"),
            sqlite_where=text("breached_at IS NULL AND stopped_at IS NULL"),
        ),
    )
