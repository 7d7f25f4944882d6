"""The working-day calendar as stored (seeded from chinesecalendar, edited by admins) and SLA policies."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, Integer, String
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
