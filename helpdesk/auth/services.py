"""User accounts: creation, passwords, deactivation and the failed-login throttle."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select

from helpdesk.auth.models import LoginAttempt, Role, User
from helpdesk.db import session, unit_of_work, utcnow
from helpdesk.params import parse_id

THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_ADDRESS = 20
MIN_PASSWORD_LENGTH = 8


class AuthError(ValueError):
    """A user-facing reason (in Chinese) why an account operation was refused."""


def create_user(username: str, password: str, role: Role, *, display_name: str = "", email: str = "") -> User:
    """Create a user with a hashed password. Commits."""
    username = username.strip()
    if not username:
        raise AuthError("用户名不能为空。")
    _check_password_strength(password)
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise AuthError(f"用户名 {username} 已存在。")
    with unit_of_work() as s:
        user = User(username=username, role=role.value, display_name=display_name, email=email)
        user.set_password(password)
        s.add(user)
    return user


def _check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthError(f"密码至少需要 {MIN_PASSWORD_LENGTH} 位。")


def load_user(cookie_id: str) -> User | None:
    """Resolve a Flask-Login id "<user id>:<session token>"; an old token or inactive user gives None."""
    user_id, _, token = cookie_id.partition(":")
    uid = parse_id(user_id)
    if uid is None or not token:
        return None
    user = session.get(User, uid)
    if user is None or not user.active or not secrets.compare_digest(user.session_token, token):
        return None
    return user


def is_throttled(username: str, address: str, now: datetime | None = None) -> bool:
    """True when too many recent failures came for this user name or from this address."""
    since = (now or utcnow()) - THROTTLE_WINDOW
    by_user = session.scalar(
        select(func.count()).where(
            LoginAttempt.username == username.strip().lower(), LoginAttempt.at >= since
        )
    )
    by_address = session.scalar(
        select(func.count()).where(LoginAttempt.address == address, LoginAttempt.at >= since)
    )
    return (by_user or 0) >= MAX_FAILURES_PER_USER or (by_address or 0) >= MAX_FAILURES_PER_ADDRESS


def authenticate(username: str, password: str, address: str) -> User | None:
    """Check a login; a failure is recorded for the throttle, a success clears the user's failures. Commits."""
    user = session.scalar(select(User).where(User.username == username.strip()))
    ok = user is not None and user.active and user.check_password(password)
    with unit_of_work() as s:
        if ok:
            s.execute(delete(LoginAttempt).where(LoginAttempt.username == username.strip().lower()))
        else:
            s.add(LoginAttempt(username=username.strip().lower()[:80], address=address[:64]))
            s.execute(delete(LoginAttempt).where(LoginAttempt.at < utcnow() - THROTTLE_WINDOW * 4))
    return user if ok else None


def change_password(user: User, old: str, new: str) -> None:
    """Change a user's own password; every other session of the user ends. Commits."""
    if not user.check_password(old):
        raise AuthError("原密码不正确。")
    _check_password_strength(new)
    with unit_of_work():
        user.set_password(new)


def set_password(user: User, new: str) -> None:
    """Set a password (admin or CLI). Commits."""
    _check_password_strength(new)
    with unit_of_work():
        user.set_password(new)


def set_active(user: User, active: bool, *, by: User | None = None) -> None:
    """Activate or deactivate; deactivation rotates the session token so old cookies stop at once. Commits."""
    if by is not None and by.id == user.id and not active:
        raise AuthError("不能停用自己的账号。")
    with unit_of_work():
        user.active = active
        if not active:
            user.session_token = secrets.token_hex(16)


def set_role(user: User, role: Role) -> None:
    """Change a user's role. Commits."""
    with unit_of_work():
        user.role = role.value


def issue_api_token(user: User) -> str:
    """Create a new API token for `user` (shown once; only its hash is stored). Commits."""
    token = "hd_" + secrets.token_urlsafe(32)
    with unit_of_work():
        user.api_token_hash = hash_token(token)
    return token


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def user_for_token(token: str) -> User | None:
    if not token:
        return None
    user = session.scalar(select(User).where(User.api_token_hash == hash_token(token)))
    return user if user is not None and user.active else None
