"""What an admin does for a user who is stuck: a new temporary password, or lifting the lockout.

The lockout message tells users to "联系管理员"; these are the two things the admin can then do.
Both are audited (records' AuditEntry, entity "user"), and a password reset ends every session and
the API token of the user, as any password change does.
"""

from __future__ import annotations

import secrets

from sqlalchemy import delete

from helpdesk.auth.models import LoginAttempt, User
from helpdesk.auth.services import MAX_FAILURES_PER_USER, AuthError, recent_failures, set_password
from helpdesk.db import session, unit_of_work
from helpdesk.records.models import AuditEntry

# no 0/O, 1/l/I: the admin reads it out over the phone
_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def temporary_password() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(12))


def reset_password(user: User, *, by: User) -> str:
    """Give the user a new random password (returned once, for the admin to pass on); their sessions
    and API token end and their lockout is lifted. Commits."""
    if by.id == user.id:
        raise AuthError("不能在这里重置自己的密码：请在“修改密码”页面修改。")
    password = temporary_password()
    set_password(user, password)
    with unit_of_work():
        session.execute(delete(LoginAttempt).where(LoginAttempt.username == user.username.lower()))
        session.add(AuditEntry(actor_id=by.id, action="password_reset", entity="user", entity_id=str(user.id),
                               field="password", detail={"username": user.username}))  # fmt: skip
    return password


def is_locked(user: User) -> bool:
    """Locked out by the per-user-name throttle (the per-address one is not the user's)."""
    return recent_failures(user.username) >= MAX_FAILURES_PER_USER


def unlock(user: User, *, by: User) -> int:
    """Forget the user's failed logins (the throttle counts them per user name); returns how many. Commits."""
    with unit_of_work():
        removed = session.execute(
            delete(LoginAttempt).where(LoginAttempt.username == user.username.lower())
        ).rowcount
        session.add(AuditEntry(actor_id=by.id, action="unlock", entity="user", entity_id=str(user.id),
                               field="login_attempts", before=str(removed), after="0",
                               detail={"username": user.username}))  # fmt: skip
    return removed or 0
