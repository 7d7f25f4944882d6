"""Two-factor login: enrolment, the second login step, recovery codes, the per-role requirement.

Each public function that writes is one unit of work and says so. Every change of a user's second
factor and of the requirement leaves an entry in the audit log (records' AuditEntry, entity "user"
or "setting"), as the records' own setting does. Wrong codes are failed logins for the throttle
(auth.services.is_throttled), wherever they are typed.
"""

from __future__ import annotations

import time
from typing import Literal

from sqlalchemy import delete, func, select, update

from helpdesk.auth import totp
from helpdesk.auth.models import LoginAttempt, RecoveryCode, Role, User
from helpdesk.auth.services import AuthError, add_session, is_throttled
from helpdesk.core.models import Setting
from helpdesk.db import session, unit_of_work, utcnow
from helpdesk.records.models import AuditEntry

#: the settings row listing the roles that must log in with a second factor (a JSON list of role values)
REQUIRED_ROLES_KEY = "two_factor_roles"
THROTTLED = "验证失败次数过多，已暂时锁定。请 15 分钟后再试，或联系管理员。"

Proof = Literal["totp", "recovery"]


# --- the requirement ----------------------------------------------------------------------------


def required_roles() -> set[Role]:
    """The roles an admin requires two-factor login of (none by default)."""
    row = session.get(Setting, REQUIRED_ROLES_KEY)
    values = row.value if row is not None and isinstance(row.value, list) else []
    return {Role(v) for v in values if v in {r.value for r in Role}}


def must_enrol(user: User) -> bool:
    """The user's role requires a second factor and the user has none yet."""
    return not user.has_totp and user.role_enum in required_roles()


def set_required_roles(roles: set[Role], *, by: User) -> None:
    """Require two-factor login of exactly `roles`, with an audit entry (before, after). Commits."""
    after = sorted((r.value for r in roles), key=lambda v: Role(v).rank)
    with unit_of_work():
        before = sorted((r.value for r in required_roles()), key=lambda v: Role(v).rank)
        row = session.get(Setting, REQUIRED_ROLES_KEY)
        if row is None:
            session.add(Setting(key=REQUIRED_ROLES_KEY, value=after))
        else:
            row.value = after
        session.add(AuditEntry(actor_id=by.id, action="setting", entity="setting", entity_id=REQUIRED_ROLES_KEY,
                               field="value", before=",".join(before), after=",".join(after)))  # fmt: skip


# --- enrolment ----------------------------------------------------------------------------------


def begin_enrolment(user: User) -> str:
    """The secret the user is enrolling with: kept across reloads until confirmed. Commits when new."""
    if user.has_totp:
        raise AuthError("两步验证已经启用。")
    if user.totp_secret:
        return user.totp_secret
    with unit_of_work():
        user.totp_secret = totp.new_secret()
        user.totp_last_step = None
    return user.totp_secret


def confirm_enrolment(user: User, code: str) -> list[str]:
    """Turn the second factor on once the app shows the right code; returns the recovery codes (shown
    once, stored hashed). Commits."""
    if user.has_totp:
        raise AuthError("两步验证已经启用。")
    if not user.totp_secret:
        raise AuthError("请先扫描二维码。")
    step = totp.matching_step(user.totp_secret, code, time.time(), None)
    if step is None:
        raise AuthError("验证码不正确。请核对手机上的时间，输入验证器应用当前显示的 6 位数字。")
    with unit_of_work():
        user.totp_enabled_at = utcnow()
        user.totp_last_step = step
        codes = _replace_recovery_codes(user)
        _audit(user, "2fa_enrol", by=user, before="off", after="on")
    return codes


# --- the second login step ----------------------------------------------------------------------


def complete_login(user: User, code: str, *, user_agent: str = "", address: str = "") -> str | None:
    """The second login step: a code from the app or an unused recovery code. On success the user's
    failures are cleared and a session starts (its key is returned); a wrong code is a failed login
    for the throttle and gives None. Commits."""
    with unit_of_work() as s:
        proof = _check_code(user, code)
        if proof is None:
            _record_failure(user, address)
            return None
        s.execute(delete(LoginAttempt).where(LoginAttempt.username == user.username.lower()))
        if proof == "recovery":
            _audit(user, "2fa_recovery_used", by=user, detail={"left": _codes_left(user)})
        key = add_session(user, user_agent=user_agent, address=address)
    return key


# --- the user's own changes -----------------------------------------------------------------------


def disable(user: User, *, code: str = "", password: str = "", address: str = "") -> None:
    """Turn the user's second factor off, proven by a current code or the password. Commits."""
    if not user.has_totp:
        raise AuthError("两步验证没有启用。")
    if user.role_enum in required_roles():
        raise AuthError(
            f"管理员要求{user.role_enum.label}使用两步验证，不能关闭。换了手机请联系管理员重置，或用恢复码登录后重新设置。"
        )
    _prove(user, code=code, password=password, address=address)
    with unit_of_work():
        _clear(user)
        _audit(user, "2fa_disable", by=user, before="on", after="off")


def regenerate_recovery_codes(
    user: User, *, code: str = "", password: str = "", address: str = ""
) -> list[str]:
    """New recovery codes replace all the old ones (used or not), proven by a code or the password. Commits."""
    if not user.has_totp:
        raise AuthError("两步验证没有启用。")
    _prove(user, code=code, password=password, address=address)
    with unit_of_work():
        codes = _replace_recovery_codes(user)
        _audit(user, "2fa_recovery_new", by=user, detail={"count": len(codes)})
    return codes


def reset(user: User, *, by: User | None) -> None:
    """An admin (or the operator, `helpdesk reset-2fa`: by=None) removes a user's second factor (lost
    phone): the user enrols again if their role requires it. Commits."""
    had = "on" if user.has_totp else ("enrolling" if user.totp_secret else "off")
    with unit_of_work():
        _clear(user)
        _audit(user, "2fa_reset", by=by, before=had, after="off", detail=None if by else {"via": "cli"})


def recovery_codes_left(user: User) -> int:
    return _codes_left(user)


# --- helpers (flush only) -------------------------------------------------------------------------


def _check_code(user: User, code: str) -> Proof | None:
    """Which proof `code` is, using it up (its time step, or the recovery code); None when wrong."""
    if not user.has_totp or not user.totp_secret:
        return None
    if totp.looks_like_totp(code):
        step = totp.matching_step(user.totp_secret, code, time.time(), user.totp_last_step)
        if step is None:
            return None
        # compare-and-set: of two requests with the same code, only one moves the step forward
        won = session.execute(
            update(User)
            .where(User.id == user.id, (User.totp_last_step.is_(None)) | (User.totp_last_step < step))
            .values(totp_last_step=step)
            .execution_options(synchronize_session=False)
        ).rowcount
        if won != 1:
            return None
        user.totp_last_step = step
        return "totp"
    if not code.strip():
        return None
    used = session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == totp.recovery_code_hash(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    return "recovery" if used == 1 else None


def _prove(user: User, *, code: str, password: str, address: str) -> None:
    """Refuse unless `code` or `password` proves it is the user; a failure counts for the throttle."""
    if is_throttled(user.username, address):
        raise AuthError(THROTTLED)
    with unit_of_work():
        ok = (bool(password) and user.check_password(password)) or (bool(code) and _check_code(user, code))
        if not ok:
            _record_failure(user, address)
    if not ok:
        raise AuthError("验证码或密码不正确。")


def _record_failure(user: User, address: str) -> None:
    session.add(LoginAttempt(username=user.username.lower()[:80], address=address[:64]))


def _replace_recovery_codes(user: User) -> list[str]:
    codes = totp.new_recovery_codes()
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    session.add_all(RecoveryCode(user_id=user.id, code_hash=totp.recovery_code_hash(c)) for c in codes)
    return codes


def _codes_left(user: User) -> int:
    return (
        session.scalar(
            select(func.count()).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        )
        or 0
    )


def _clear(user: User) -> None:
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))


def _audit(user: User, action: str, *, by: User | None, before: str | None = None, after: str | None = None,
           detail: dict[str, int | str] | None = None) -> None:  # fmt: skip
    session.add(AuditEntry(actor_id=by.id if by else None, action=action, entity="user", entity_id=str(user.id),
                           field="two_factor", before=before, after=after, detail=detail))  # fmt: skip
