"""User accounts: creation, passwords, deactivation and the failed-login throttle.

The second login step, enrolment and recovery codes live in two_factor.py.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select

from helpdesk.auth.models import LoginAttempt, Role, User, UserSession
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
    """Resolve a Flask-Login id "<user id>:<session key>"; an ended session or inactive user gives None."""
    user_id, _, key = cookie_id.partition(":")
    uid = parse_id(user_id)
    if uid is None or not key:
        return None
    row = session.scalar(
        select(UserSession).where(UserSession.key_hash == hash_token(key), UserSession.user_id == uid)
    )
    user = session.get(User, uid) if row is not None else None
    if user is None or not user.active:
        return None
    user.session_key = key
    return user


def start_session(user: User, *, user_agent: str = "", address: str = "") -> str:
    """Record a new login of `user` and return its key (for the cookie; only its hash is stored). Commits."""
    with unit_of_work():
        key = add_session(user, user_agent=user_agent, address=address)
    return key


def add_session(user: User, *, user_agent: str, address: str) -> str:
    """Add a login row for `user` and return its key; flushes only (the caller's unit of work commits:
    change_password here, two_factor.complete_login)."""
    key = secrets.token_urlsafe(32)
    session.add(
        UserSession(
            user_id=user.id, key_hash=hash_token(key), user_agent=user_agent[:200], address=address[:64]
        )
    )
    user.session_key = key
    return key


def end_session(user: User, key: str | None) -> None:
    """End this login: every copy of its session and remember-me cookies stops working. Commits."""
    with unit_of_work() as s:
        if key:
            s.execute(delete(UserSession).where(UserSession.key_hash == hash_token(key)))
        user.session_key = None


def end_other_session(user: User, session_id: int) -> bool:
    """End one of `user`'s own sessions (not another user's); True when one was ended. Commits."""
    with unit_of_work() as s:
        ended = s.execute(
            delete(UserSession).where(UserSession.id == session_id, UserSession.user_id == user.id)
        ).rowcount
    return ended == 1


def sessions_of(user: User) -> list[UserSession]:
    """The user's logins, newest first."""
    return list(
        session.scalars(
            select(UserSession).where(UserSession.user_id == user.id).order_by(UserSession.id.desc())
        )
    )


def current_session_id(user: User) -> int | None:
    """The id of the UserSession row the request came with."""
    if not user.session_key:
        return None
    return session.scalar(select(UserSession.id).where(UserSession.key_hash == hash_token(user.session_key)))


def _revoke_everything(user: User) -> None:
    # every session and the API token go for good: reactivating the user later issues neither
    session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    user.api_token_hash = None
    user.session_key = None


def recent_failures(username: str, now: datetime | None = None) -> int:
    """Failed logins for this user name within the throttle window."""
    since = (now or utcnow()) - THROTTLE_WINDOW
    return (
        session.scalar(
            select(func.count()).where(
                LoginAttempt.username == username.strip().lower(), LoginAttempt.at >= since
            )
        )
        or 0
    )


def is_throttled(username: str, address: str, now: datetime | None = None) -> bool:
    """True when too many recent failures came for this user name or from this address."""
    since = (now or utcnow()) - THROTTLE_WINDOW
    by_user = recent_failures(username, now)
    by_address = session.scalar(
        select(func.count()).where(LoginAttempt.address == address, LoginAttempt.at >= since)
    )
    return (by_user or 0) >= MAX_FAILURES_PER_USER or (by_address or 0) >= MAX_FAILURES_PER_ADDRESS


def authenticate(username: str, password: str, address: str) -> User | None:
    """Check a password; a failure is recorded for the throttle, a success clears the user's failures,
    unless a second step follows (two_factor.complete_login clears them then: the right password
    alone must not wipe out the wrong codes typed after it). Commits."""
    user = session.scalar(select(User).where(User.username == username.strip()))
    ok = user is not None and user.active and user.check_password(password)
    with unit_of_work() as s:
        if ok:
            if not user.has_totp:  # type: ignore[union-attr]
                s.execute(delete(LoginAttempt).where(LoginAttempt.username == username.strip().lower()))
        else:
            s.add(LoginAttempt(username=username.strip().lower()[:80], address=address[:64]))
            s.execute(delete(LoginAttempt).where(LoginAttempt.at < utcnow() - THROTTLE_WINDOW * 4))
    return user if ok else None


def change_password(user: User, old: str, new: str, *, user_agent: str = "", address: str = "") -> str:
    """Change a user's own password: every session and the API token end, and a new session starts
    for this browser; returns its key. Commits."""
    if not user.check_password(old):
        raise AuthError("原密码不正确。")
    _check_password_strength(new)
    with unit_of_work():
        user.set_password(new)
        _revoke_everything(user)
        key = add_session(user, user_agent=user_agent, address=address)
    return key


def set_password(user: User, new: str) -> None:
    """Set a password (admin or CLI); every session and the API token of the user end. Commits."""
    _check_password_strength(new)
    with unit_of_work():
        user.set_password(new)
        _revoke_everything(user)


def set_active(user: User, active: bool, *, by: User | None = None) -> None:
    """Activate or deactivate; deactivation ends every session and the API token for good. Commits."""
    if by is not None and by.id == user.id and not active:
        raise AuthError("不能停用自己的账号。")
    if not active:
        _keep_an_admin(user, "停用")
    with unit_of_work():
        user.active = active
        if not active:
            _revoke_everything(user)


def set_role(user: User, role: Role) -> None:
    """Change a user's role; the last active admin keeps theirs. Commits."""
    if role != Role.ADMIN:
        _keep_an_admin(user, "改为其他角色")
    with unit_of_work():
        user.role = role.value


def _keep_an_admin(user: User, what: str) -> None:
    """Refuse to take away the last active admin: then nobody could administer the service."""
    if user.role != Role.ADMIN.value or not user.active:
        return
    others = session.scalar(
        select(func.count()).where(User.role == Role.ADMIN.value, User.active.is_(True), User.id != user.id)
    )
    if not others:
        raise AuthError(f"{user.username} 是唯一在用的管理员，不能{what}。请先把另一位用户设为管理员。")


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
