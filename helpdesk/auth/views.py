"""Login, logout and the user's own password."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from helpdesk.auth import services
from helpdesk.auth.forms import LoginForm, PasswordForm
from helpdesk.extensions import login_manager
from helpdesk.params import local_path

bp = Blueprint("auth", __name__)


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
        services.start_session(user, user_agent=_user_agent(), address=_client_address())
        login_user(user, remember=bool(form.remember.data))
        return redirect(local_path(request.args.get("next")) or url_for("tickets.queue"))
    return render_template("auth/login.html", form=form)


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
