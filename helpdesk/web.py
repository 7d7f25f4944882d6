"""Web plumbing shared by every blueprint: login by default, role checks, error pages, filters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, Response, abort, current_app, g, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, OperationalError

from helpdesk import db, params
from helpdesk.auth.models import Role
from helpdesk.core import ops_web
from helpdesk.params import IdConverter

F = TypeVar("F", bound=Callable[..., Any])

#: endpoints that anonymous visitors may reach; everything else requires login
PUBLIC_ENDPOINTS = {"auth.login", "static", "favicon", "ops.healthz", "ops.readyz", "ops.metrics"}

WEEKDAYS = "一二三四五六日"

#: previews of attachments are same-origin frames, so the pages may be framed by this site only
FRAME_ANCESTORS = "frame-ancestors 'self'"
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    f"frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; {FRAME_ANCESTORS}"
)

#: navigation entries: (endpoint, label, lowest role that sees it); missing endpoints are left out
NAV = (
    ("tickets.new_ticket", "登记来电", Role.AGENT),
    ("tickets.notifications", "通知", Role.AGENT),
    ("records.search", "企业档案", Role.AGENT),
    ("dashboard.index", "SLA 看板", Role.SUPERVISOR),
    ("tickets.approvals", "注销审批", Role.SUPERVISOR),
    ("sla.calendar", "工作日历", Role.SUPERVISOR),
    ("tickets.macros", "回复模板", Role.AGENT),  # agents keep their personal ones
    ("settings.page", "设置", Role.SUPERVISOR),
    ("records.import_page", "档案导入", Role.ADMIN),
    ("admin.mail", "邮箱状态", Role.ADMIN),
    ("admin.users", "用户管理", Role.ADMIN),
)

#: endpoint -> a count shown next to its nav label (e.g. the approvals waiting), registered by the
#: feature that owns the endpoint so that web imports no feature; 0 shows no count
NAV_COUNTS: dict[str, Callable[[], int]] = {}


def requires(role: Role) -> Callable[[F], F]:
    """Allow the view only to users whose role is at least `role` (admin > supervisor > agent)."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
            if not current_user.has_role(role):
                abort(403)
            return view(*args, **kwargs)

        wrapper.required_role = role  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def _require_login() -> Any:
    # A test or CLI may hold one app context across several requests, and Flask then reuses its `g`:
    # start every request with an empty `g` so no user or CSRF token leaks from the previous one.
    for key in list(vars(g)):
        delattr(g, key)
    if params.has_nul(request):
        abort(400, "提交的内容含有空字符（\\0），无法保存。请删除这些字符后重新提交。")
    if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None:
        return None
    if request.blueprint == "api":  # the JSON API authenticates by token, not by cookie
        return None
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
    return None


def local(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt.astimezone(current_app.config["HELPDESK"].timezone)


def fmt_dt(dt: datetime | None, with_weekday: bool = False) -> str:
    value = local(dt)
    if value is None:
        return "—"
    text = value.strftime("%Y-%m-%d %H:%M")
    return f"{text}（周{WEEKDAYS[value.weekday()]}）" if with_weekday else text


def fmt_size(n: int | None) -> str:
    if n is None:
        return "—"
    for unit in ("B", "KB", "MB"):
        if n < 1024 or unit == "MB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def init_app(app: Flask) -> None:
    # before any blueprint adds its rules: every <int:...> in a route is then strict (see params.py)
    app.url_map.converters["int"] = IdConverter
    ops_web.init_hooks(app)  # request id, request log line, latency, DEFERRED reads for GET on SQLite
    app.before_request(_require_login)
    app.jinja_env.filters["dt"] = fmt_dt
    app.jinja_env.filters["size"] = fmt_size
    app.jinja_env.globals["Role"] = Role

    def nav_links(role: Role | None) -> list[tuple[str, str, Role]]:
        if role is None:
            return []
        links = []
        for endpoint, label, lowest in NAV:
            if endpoint not in app.view_functions or role.rank < lowest.rank:
                continue
            count = NAV_COUNTS[endpoint]() if endpoint in NAV_COUNTS else 0
            links.append((endpoint, f"{label}（{count}）" if count else label, lowest))
        return links

    app.jinja_env.globals["nav_links"] = nav_links

    @app.get("/favicon.ico")
    def favicon() -> Any:  # browsers ask for it before reading the page's <link rel="icon">
        return redirect(url_for("static", filename="favicon.svg"), 301)

    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {"nav_role": current_user.role_enum if current_user.is_authenticated else None}

    @app.after_request
    def _security_headers(response: Any) -> Any:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")  # for browsers without CSP level 2
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy", CSP)
        # a view may set its own policy (attachments: sandbox); framing is refused on every one of them
        policy = response.headers["Content-Security-Policy"]
        if "frame-ancestors" not in policy:
            response.headers["Content-Security-Policy"] = f"{policy}; {FRAME_ANCESTORS}"
        return response

    for code, title, text in (
        (400, "请求有误", "提交的内容不完整或格式不对。请返回上一页检查后再试。"),
        (403, "没有权限", "您的角色不能访问这个页面或执行这个操作。如需权限，请联系管理员。"),
        (404, "页面不存在", "您要找的页面或工单不存在，可能已被合并或地址有误。"),
        (405, "操作方式不对", "这个地址不支持这种操作。请从页面上的按钮进入。"),
        (409, "数据已被他人修改", "这条记录在您打开之后被别人修改过。请重新加载页面，核对后再保存。"),
        (413, "文件太大", "上传的文件超过了大小限制。"),
        (
            500,
            "系统出错",
            "服务器处理时出错，您的操作没有完成，数据未被改动。请稍后再试；若反复出现，请联系管理员。",
        ),
    ):
        app.register_error_handler(code, _error_page(code, title, text))

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError) -> Any:
        return render_template(
            "error.html",
            code=400,
            title="页面已过期",
            text="表单的安全校验未通过（页面可能已过期或在别处退出了登录）。请刷新页面后重新提交。",
        ), 400

    app.register_error_handler(OperationalError, _database_unavailable)
    app.register_error_handler(InterfaceError, _database_unavailable)


def _database_unavailable(exc: Exception) -> Any:
    """The database is down or restarting: 503 with a Chinese page that itself needs no database.

    The layout would ask the database again (the user, the navigation counts, the banner), so the page is
    rendered from the template alone; the pool's pre-ping reconnects on a later request by itself.
    """
    current_app.logger.warning("database unavailable: %s", type(getattr(exc, "orig", exc)).__name__)
    try:
        db.session.rollback()  # a broken transaction must not fail the request's teardown as well
    except Exception:  # noqa: BLE001 - the connection is gone; removing the session is enough
        db.session.remove()
    title = "数据库暂时不可用"
    text = "数据库暂时无法连接，您的操作没有完成，数据未被改动。请稍后再试。"
    headers = {"Retry-After": "15"}
    if request.accept_mimetypes.best == "application/json" or request.blueprint == "api":
        return {"error": title, "message": text}, 503, headers
    reading = request.method in ("GET", "HEAD")  # a form is never sent again by itself: back to the queue
    html = current_app.jinja_env.get_template("errors/database.html").render(
        static_url=url_for("static", filename="app.css"),
        retry_url=request.full_path.rstrip("?") if reading else "/",
        refresh=reading,
    )
    return Response(html, 503, headers=headers, mimetype="text/html")


def _error_page(code: int, title: str, text: str) -> Callable[[Exception], Any]:
    def handler(exc: Exception) -> Any:
        if request.accept_mimetypes.best == "application/json" or request.blueprint == "api":
            return {"error": title, "message": getattr(exc, "description", None) or text}, code
        detail = getattr(exc, "description", None)
        shown = detail if code in (400, 409) and isinstance(detail, str) and _is_chinese(detail) else text
        return render_template("error.html", code=code, title=title, text=shown), code

    return handler


def _is_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)
