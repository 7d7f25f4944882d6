"""Users, roles and the record of login attempts used by the throttle."""

from __future__ import annotations

import secrets
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from helpdesk.db import Base, UTCDateTime, utcnow


class Role(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return {"agent": 1, "supervisor": 2, "admin": 3}[self.value]

    @property
    def label(self) -> str:
        return {"agent": "客服人员", "supervisor": "主管", "admin": "管理员"}[self.value]


def _new_session_token() -> str:
    return secrets.token_hex(16)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(80), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(20), default=Role.AGENT.value)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: no longer read: logins are UserSession rows (revision e1f4c2a7b9d3); kept to avoid rebuilding
    #: this referenced table on SQLite
    session_token: Mapped[str] = mapped_column(String(64), default=_new_session_token)
    #: comma-separated ticket types this agent takes with "下一个" (empty = all)
    ticket_types: Mapped[str] = mapped_column(String(200), default="")
    api_token_hash: Mapped[str | None] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: two-factor login (auth/two_factor.py): the base32 TOTP secret, set while enrolling and kept once
    #: confirmed; totp_enabled_at says it was confirmed; totp_last_step refuses a code a second time
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    totp_last_step: Mapped[int | None] = mapped_column(Integer)

    # Flask-Login protocol
    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    #: the key (str) of the login this request came with, set by auth.services; not a column, so
    #: not annotated (SQLAlchemy would map an annotation)
    session_key = None

    def get_id(self) -> str:
        # Flask-Login stores this in the signed session cookie and in the remember-me cookie: the
        # random key of a UserSession row, so deleting the row ends every copy of both cookies
        return f"{self.id}:{self.session_key or ''}"

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    def has_role(self, role: Role) -> bool:
        return self.role_enum.rank >= role.rank

    @property
    def name(self) -> str:
        return self.display_name or self.username

    @property
    def has_totp(self) -> bool:
        """The user confirmed a TOTP app: logins then take a second step."""
        return self.totp_enabled_at is not None and bool(self.totp_secret)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)


class LoginAttempt(Base):
    """Failed logins, kept for the throttle (per user name and per address)."""

    __tablename__ = "login_attempts"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_login_attempts_username_at", "username", "at"),
        Index("ix_login_attempts_address_at", "address", "at"),
    )


class UserSession(Base):
    """One login (a browser): the cookie holds its random key, the row only the key's hash."""

    __tablename__ = "user_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: what the login came with, shown in the user's list of sessions
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(String(64), default="")


class RecoveryCode(Base):
    """A single-use code for a login without the TOTP app; only its SHA-256 hash is stored."""

    __tablename__ = "user_recovery_codes"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
