"""Login (with its second step), logout, the user's own password, sessions and second factor."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask import session as cookie_session
from flask_login import current_user, login_required, login_user, logout_user

from helpdesk.auth import services, totp, two_factor
from helpdesk.auth.forms import CodeForm, DisableTwoFactorForm, LoginForm, PasswordForm, RenewCodesForm
from helpdesk.auth.models import User
from helpdesk.db import session
from helpdesk.extensions import login_manager
from helpdesk.params import local_path
from helpdesk.web import PUBLIC_ENDPOINTS

bp = Blueprint("auth", __name__)

#: the second step and the enrolment it may force are reached between the password and the login
PUBLIC_ENDPOINTS.update({"auth.login_code", "auth.login_enrol", "auth.login_cancel"})
#: what a logged-in user whose role requires a second factor may open before enrolling
WHILE_ENROLLING = {"auth.two_factor", "auth.two_factor_enrol", "auth.logout", "static"}

#: the half-logged-in state (password right, second step not done) in the signed cookie: it is not
#: a login (Flask-Login knows nothing of it, no remember-me cookie), and it expires
PENDING_KEY = "two_factor_pending"
PENDING_SECONDS = 600


@login_manager.user_loader
def _load_user(cookie_id: str) -> Any:
    return services.load_user(cookie_id)


def _client_address() -> str:
    # behind gunicorn without a proxy, remote_addr is the client; ProxyFix is the operator's choice
    return request.remote_addr or "unknown"


def _user_agent() -> str:
    return request.user_agent.string or ""


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for("tickets.queue"))
    form = LoginForm()
    if form.validate_on_submit():
        username = form.username.data or ""
        if services.is_throttled(username, _client_address()):
            flash("登录失败次数过多，已暂时锁定。请 15 分钟后再试，或联系管理员。", "error")
            return render_template("auth/login.html", form=form), 429
        user = services.authenticate(username, form.password.data or "", _client_address())
        if user is None:
            flash("用户名或密码不正确（已停用的账号也无法登录）。", "error")
            return render_template("auth/login.html", form=form), 401
        remember, after = bool(form.remember.data), local_path(request.args.get("next")) or ""
        if user.has_totp or two_factor.must_enrol(user):
            _begin_pending(user, remember=remember, after=after)
            return redirect(url_for("auth.login_code" if user.has_totp else "auth.login_enrol"))
        cookie_session.pop(PENDING_KEY, None)  # another account's half-done login in this browser
        services.start_session(user, user_agent=_user_agent(), address=_client_address())
        login_user(user, remember=remember)
        return redirect(after or url_for("tickets.queue"))
    return render_template("auth/login.html", form=form)


def _pending_check(user: User) -> str:
    # a password change or a reset of the second factor meanwhile voids the half-done login (an
    # unconfirmed secret does not: the forced enrolment makes one during the half-done login)
    factor = user.totp_secret if user.has_totp else ""
    return services.hash_token(f"{user.id}|{user.password_hash}|{factor}")[:32]


def _begin_pending(user: User, *, remember: bool, after: str) -> None:
    cookie_session[PENDING_KEY] = {
        "user": user.id,
        "check": _pending_check(user),
        "at": int(time.time()),
        "remember": remember,
        "next": after,
    }


def _pending() -> tuple[User, dict[str, Any]] | None:
    """The user who gave the right password in this browser a moment ago, with what the login asked for."""
    state = cookie_session.get(PENDING_KEY)
    if not isinstance(state, dict) or not isinstance(state.get("user"), int):
        return None
    fresh = isinstance(state.get("at"), int) and 0 <= time.time() - state["at"] <= PENDING_SECONDS
    user = session.get(User, state["user"]) if fresh else None
    if user is None or not user.active or state.get("check") != _pending_check(user):
        cookie_session.pop(PENDING_KEY, None)
        return None
    return user, state


def _finish_login(user: User, state: dict[str, Any]) -> None:
    """The second step is done: only now does Flask-Login (and its remember-me cookie) hear of it."""
    cookie_session.pop(PENDING_KEY, None)
    login_user(user, remember=bool(state.get("remember")))


def _after_login(state: dict[str, Any]) -> str:
    return local_path(state.get("next") or None) or url_for("tickets.queue")


@bp.route("/login/2fa", methods=["GET", "POST"])
def login_code() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for("tickets.queue"))
    pending = _pending()
    if pending is None:
        flash("请先输入用户名和密码（两步验证须在 10 分钟内完成）。", "warning")
        return redirect(url_for("auth.login"))
    user, state = pending
    if not user.has_totp:
        return redirect(url_for("auth.login_enrol"))
    form = CodeForm()
    if form.validate_on_submit():
        if services.is_throttled(user.username, _client_address()):
            flash(two_factor.THROTTLED, "error")
            return render_template("auth/login_code.html", form=form), 429
        key = two_factor.complete_login(
            user, form.code.data or "", user_agent=_user_agent(), address=_client_address()
        )
        if key is None:
            flash(
                "验证码不正确（或已用过）。请输入验证器应用当前显示的 6 位数字，或一个未用过的恢复码。",
                "error",
            )
            return render_template("auth/login_code.html", form=form), 401
        _finish_login(user, state)
        if not totp.looks_like_totp(form.code.data or ""):
            left = two_factor.recovery_codes_left(user)
            flash(
                f"您用恢复码登录了，还剩 {left} 个未用的恢复码。如手机已丢失，请尽快在“两步验证”页面重新设置。",
                "warning",
            )
        return redirect(_after_login(state))
    return render_template("auth/login_code.html", form=form)


@bp.post("/login/2fa/cancel")
def login_cancel() -> Any:
    cookie_session.pop(PENDING_KEY, None)
    return redirect(url_for("tickets.queue" if current_user.is_authenticated else "auth.login"))


@bp.route("/login/2fa/enrol", methods=["GET", "POST"])
def login_enrol() -> Any:
    """Enrolment forced right after the password step: the role requires a second factor."""
    if current_user.is_authenticated:
        return redirect(url_for("tickets.queue"))
    pending = _pending()
    if pending is None:
        flash("请先输入用户名和密码（设置须在 10 分钟内完成）。", "warning")
        return redirect(url_for("auth.login"))
    user, state = pending
    if not two_factor.must_enrol(user):
        return redirect(url_for("auth.login_code" if user.has_totp else "auth.login"))
    form = CodeForm()
    codes = _confirm(user, form) if form.validate_on_submit() else None
    if codes is None:
        status = 400 if form.is_submitted() else 200
        return render_template("auth/two_factor_enrol.html", form=form, forced=True, **_qr(user)), status
    services.start_session(user, user_agent=_user_agent(), address=_client_address())
    _finish_login(user, state)
    return render_template("auth/recovery_codes.html", codes=codes, after=_after_login(state))


def _confirm(user: User, form: CodeForm) -> list[str] | None:
    try:
        return two_factor.confirm_enrolment(user, form.code.data or "")
    except services.AuthError as exc:
        flash(str(exc), "error")
        return None


def _qr(user: User) -> dict[str, str]:
    secret = two_factor.begin_enrolment(user)
    return {"qr": totp.qr_svg(totp.provisioning_uri(secret, user.username)), "secret": totp.grouped(secret)}


@bp.before_app_request
def _enrol_first() -> Any:
    """A logged-in user whose role now requires a second factor sets it up before anything else."""
    if (
        request.blueprint == "api"
        or request.endpoint in WHILE_ENROLLING
        or request.endpoint in PUBLIC_ENDPOINTS
    ):
        return None  # API tokens are not cookie logins: the requirement is about the browser login
    if request.endpoint is None or not current_user.is_authenticated or current_user.has_totp:
        return None
    if two_factor.must_enrol(current_user):
        return redirect(url_for("auth.two_factor_enrol"))
    return None


@bp.post("/logout")
@login_required
def logout() -> Any:
    services.end_session(current_user, current_user.session_key)  # every copy of the cookies ends
    logout_user()
    flash("您已退出登录。", "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def password() -> Any:
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            services.change_password(
                current_user,
                form.old.data or "",
                form.new.data or "",
                user_agent=_user_agent(),
                address=_client_address(),
            )
        except services.AuthError as exc:
            flash(str(exc), "error")
            return render_template("auth/password.html", form=form), 400
        login_user(current_user)  # the cookie now names the new session; the others are gone
        flash("密码已修改。所有其他设备上的登录和 API 令牌已失效。", "success")
        return redirect(url_for("tickets.queue"))
    return render_template("auth/password.html", form=form)


@bp.get("/account/sessions")
@login_required
def sessions() -> Any:
    return render_template(
        "auth/sessions.html",
        sessions=services.sessions_of(current_user),
        current_id=services.current_session_id(current_user),
    )


@bp.post("/account/sessions/<int:session_id>/end")
@login_required
def end_session(session_id: int) -> Any:
    if session_id == services.current_session_id(current_user):
        flash("这是您当前的登录。要结束它，请点“退出登录”。", "error")
    elif services.end_other_session(current_user, session_id):
        flash("已结束这个登录：那台设备需要重新登录。", "success")
    else:
        flash("这个登录已经结束了（或不属于您）。", "info")
    return redirect(url_for("auth.sessions"))


@bp.get("/account/2fa", endpoint="two_factor")
@login_required
def two_factor_page() -> Any:
    user = current_user
    return render_template(
        "auth/two_factor.html",
        enabled=user.has_totp,
        required=user.role_enum in two_factor.required_roles(),
        codes_left=two_factor.recovery_codes_left(user) if user.has_totp else 0,
        off_form=DisableTwoFactorForm(),
        new_form=RenewCodesForm(),
    )


@bp.route("/account/2fa/enrol", methods=["GET", "POST"])
@login_required
def two_factor_enrol() -> Any:
    if current_user.has_totp:
        flash("两步验证已经启用。", "info")
        return redirect(url_for("auth.two_factor"))
    form = CodeForm()
    codes = _confirm(current_user, form) if form.validate_on_submit() else None
    if codes is None:
        status = 400 if form.is_submitted() else 200
        forced = two_factor.must_enrol(current_user)
        return render_template(
            "auth/two_factor_enrol.html", form=form, forced=forced, **_qr(current_user)
        ), status
    return render_template("auth/recovery_codes.html", codes=codes, after=url_for("auth.two_factor"))


@bp.post("/account/2fa/disable")
@login_required
def two_factor_disable() -> Any:
    form = DisableTwoFactorForm()
    if not form.validate_on_submit():
        return _proof_refused(form)
    try:
        two_factor.disable(
            current_user,
            code=form.off_code.data or "",
            password=form.off_password.data or "",
            address=_client_address(),
        )
    except services.AuthError as exc:
        flash(str(exc), "error")
    else:
        flash("已关闭两步验证：登录只需密码。恢复码已作废。", "success")
    return redirect(url_for("auth.two_factor"))


@bp.post("/account/2fa/recovery-codes")
@login_required
def two_factor_recovery() -> Any:
    form = RenewCodesForm()
    if not form.validate_on_submit():
        return _proof_refused(form)
    try:
        codes = two_factor.regenerate_recovery_codes(
            current_user,
            code=form.new_code.data or "",
            password=form.new_password.data or "",
            address=_client_address(),
        )
    except services.AuthError as exc:
        flash(str(exc), "error")
        return redirect(url_for("auth.two_factor"))
    return render_template("auth/recovery_codes.html", codes=codes, after=url_for("auth.two_factor"))


def _proof_refused(form: DisableTwoFactorForm | RenewCodesForm) -> Any:
    for errors in form.errors.values():
        for error in errors:
            flash(str(error), "error")
    return redirect(url_for("auth.two_factor"))
