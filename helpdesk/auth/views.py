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
        login_user(user, remember=bool(form.remember.data))
        return redirect(local_path(request.args.get("next")) or url_for("tickets.queue"))
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout() -> Any:
    logout_user()
    flash("您已退出登录。", "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def password() -> Any:
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            services.change_password(current_user, form.old.data or "", form.new.data or "")
        except services.AuthError as exc:
            flash(str(exc), "error")
            return render_template("auth/password.html", form=form), 400
        login_user(current_user)  # the token changed: keep this session, end the others
        flash("密码已修改。其他设备上的登录已失效。", "success")
        return redirect(url_for("tickets.queue"))
    return render_template("auth/password.html", form=form)
