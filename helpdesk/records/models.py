"""The account and qualification records that letters are resolved against, and their audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    delete,
    event,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.orm.base import NO_VALUE

from helpdesk.db import Base, UTCDateTime, utcnow
from helpdesk.records.keys import name_grams, name_key

REVIEW_STATUSES = ("未审核", "未公示", "已公示")


class Enterprise(Base):
    __tablename__ = "enterprises"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    #: normalised name (NFKC, no spaces or punctuation) for exact-insensitive and fuzzy lookup
    name_key: Mapped[str] = mapped_column(String(200), index=True, default="")
    uscc: Mapped[str | None] = mapped_column(String(18), unique=True)  #: 统一社会信用代码
    org_code: Mapped[str | None] = mapped_column(String(9), index=True)  #: 组织机构代码
    division_code: Mapped[str] = mapped_column(String(12), default="")  #: 行政区划代码
    division_name: Mapped[str] = mapped_column(String(100), default="")
    authority: Mapped[str] = mapped_column(String(200), default="")  #: 商务主管机关
    contact_name: Mapped[str] = mapped_column(String(100), default="")
    contact_phone: Mapped[str] = mapped_column(String(50), default="")
    contact_email: Mapped[str] = mapped_column(String(254), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    accounts: Mapped[list[PlatformAccount]] = relationship(
        back_populates="enterprise", order_by="PlatformAccount.id"
    )
    qualifications: Mapped[list[Qualification]] = relationship(
        back_populates="enterprise", order_by="Qualification.fund_year.desc()"
    )
    projects: Mapped[list[ProjectApplication]] = relationship(
        back_populates="enterprise", order_by="ProjectApplication.id"
    )
    __table_args__ = (Index("ix_enterprises_contact_email", "contact_email"),)


class EnterpriseNameGram(Base):
    """The bigrams of an enterprise's name_key: narrows a fuzzy name lookup to a few candidates.

    Kept in step by the mapper events below for ORM writes and by the importer for its bulk writes.
    """

    __tablename__ = "enterprise_name_grams"
    gram: Mapped[str] = mapped_column(String(8), primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), primary_key=True)


class PlatformAccount(Base):
    """A 商务部业务系统统一平台 account; at most one active account per enterprise holds the fund application."""

    __tablename__ = "platform_accounts"
    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), index=True)
    account_name: Mapped[str] = mapped_column(String(100), unique=True)  #: stored lower-case
    status: Mapped[str] = mapped_column(String(20), default="active")  #: active / cancelled
    app_bound: Mapped[bool] = mapped_column(Boolean, default=False)
    email: Mapped[str] = mapped_column(String(254), default="")
    mobile: Mapped[str] = mapped_column(String(30), default="")
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    enterprise: Mapped[Enterprise] = relationship(back_populates="accounts")
    __table_args__ = (
        # the database itself refuses a second binding for one enterprise
        Index(
            "uq_platform_accounts_one_binding",
            "enterprise_id",
            unique=True,
            sqlite_where=text("app_bound = 1"),
            postgresql_where=text("app_bound"),
        ),
        Index("ix_platform_accounts_email", "email"),
        CheckConstraint("status IN ('active', 'cancelled')", name="status"),
        # a cancelled account never holds the fund application
        CheckConstraint("status = 'active' OR NOT app_bound", name="cancelled_unbound"),
    )


class Qualification(Base):
    """资质: per enterprise and fund year, with its review status."""

    __tablename__ = "qualifications"
    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"))
    fund_year: Mapped[int] = mapped_column(Integer)
    review_status: Mapped[str] = mapped_column(String(10), default="未审核")
    allow_modify: Mapped[bool] = mapped_column(Boolean, default=False)  #: 允许修改资料
    industry: Mapped[str] = mapped_column(String(100), default="")
    main_business: Mapped[str] = mapped_column(String(500), default="")
    headcount: Mapped[int | None] = mapped_column(Integer)

    enterprise: Mapped[Enterprise] = relationship(back_populates="qualifications")
    __table_args__ = (
        UniqueConstraint("enterprise_id", "fund_year"),
        CheckConstraint("review_status IN ('未审核', '未公示', '已公示')", name="review_status"),
    )


class ProjectApplication(Base):
    """申报项目, with the company name and division it was filed under (FAQ case 三)."""

    __tablename__ = "project_applications"
    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(40), default="")
    fund_year: Mapped[int | None] = mapped_column(Integer)
    filed_company_name: Mapped[str] = mapped_column(String(200), default="")
    filed_division: Mapped[str] = mapped_column(String(100), default="")

    enterprise: Mapped[Enterprise] = relationship(back_populates="projects")
    __table_args__ = (UniqueConstraint("enterprise_id", "name"),)


class AuditEntry(Base):
    """Every change to records, calendar or settings: who, when, why (ticket), field, before, after."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprises.id"), index=True)
    action: Mapped[str] = mapped_column(String(40))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str] = mapped_column(String(40), default="")
    field: Mapped[str] = mapped_column(String(80), default="")
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class PendingApproval(Base):
    """An irreversible resolution (cancel) waiting for a supervisor's approval."""

    __tablename__ = "pending_approvals"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    action: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision: Mapped[str | None] = mapped_column(String(20))  #: approved / declined
    decision_note: Mapped[str] = mapped_column(String(500), default="")

    __table_args__ = (
        # one undecided approval per ticket: a double click cannot queue the cancel twice
        Index(
            "uq_pending_approvals_open",
            "ticket_id",
            unique=True,
            sqlite_where=text("decision IS NULL"),
            postgresql_where=text("decision IS NULL"),
        ),
    )


# --------------------------------------------------------------------------- name keys and grams
# ORM writes (demo, resolutions, tests) keep name_key and the gram index in step by themselves;
# the importer's bulk statements bypass these events and maintain both explicitly.


@event.listens_for(Enterprise, "before_insert")
def _set_name_key(_mapper: object, _connection: object, target: Enterprise) -> None:
    target.name_key = name_key(target.name)


@event.listens_for(Enterprise, "before_update")
def _reset_name_key(_mapper: object, connection: Connection, target: Enterprise) -> None:
    key = name_key(target.name)
    state = inspect(target).attrs.name_key
    old = state.loaded_value
    if old is NO_VALUE:  # expired: read the stored key, so that its grams can be removed
        old = connection.scalar(select(Enterprise.name_key).where(Enterprise.id == target.id))
    if key != old:
        target.name_key = key
        target.__dict__["_old_name_key"] = old or ""


@event.listens_for(Enterprise, "after_insert")
def _grams_for_new(_mapper: object, connection: Connection, target: Enterprise) -> None:
    rows = [{"gram": g, "enterprise_id": target.id} for g in sorted(name_grams(target.name_key))]
    if rows:
        connection.execute(insert(EnterpriseNameGram), rows)


@event.listens_for(Enterprise, "after_update")
def _grams_for_rename(_mapper: object, connection: Connection, target: Enterprise) -> None:
    old_key = target.__dict__.pop("_old_name_key", None)
    if old_key is None:
        return
    new = name_grams(target.name_key)
    stale = name_grams(old_key) | new  # delete the new ones too: a stray row must not break the insert
    if stale:
        connection.execute(
            delete(EnterpriseNameGram).where(
                EnterpriseNameGram.enterprise_id == target.id, EnterpriseNameGram.gram.in_(sorted(stale))
            )
        )
    if new:
        connection.execute(
            insert(EnterpriseNameGram), [{"gram": g, "enterprise_id": target.id} for g in sorted(new)]
        )
