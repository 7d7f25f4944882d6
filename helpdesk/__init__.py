"""helpdesk: the letters desk of the 外贸发展专项资金（中小）网络管理应用 support team."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from flask import Flask

from helpdesk.config import Settings, load_settings


def create_app(overrides: Mapping[str, object] | None = None, *, settings: Settings | None = None) -> Flask:
    """Create the web application; `overrides` replace HELPDESK_* environment values (tests)."""
    from helpdesk import db, web
    from helpdesk.auth import views as auth_views
    from helpdesk.extensions import csrf, login_manager

    settings = settings or load_settings(overrides=overrides)
    app = Flask(__name__, instance_path=str(settings.instance_dir))
    app.config.update(
        HELPDESK=settings,
        SECRET_KEY=settings["HELPDESK_SECRET_KEY"],
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(settings["HELPDESK_SECURE_COOKIES"]),
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=bool(settings["HELPDESK_SECURE_COOKIES"]),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session: agents keep pages open all day
        MAX_CONTENT_LENGTH=64 * 1024 * 1024,
        JSON_AS_ASCII=False,
    )
    db.configure(settings.database_url)
    login_manager.init_app(app)
    csrf.init_app(app)
    web.init_app(app)
    app.register_blueprint(auth_views.bp)
    for blueprint in _feature_blueprints():
        app.register_blueprint(blueprint)
    app.teardown_appcontext(lambda _exc: db.session.remove())
    proxies = int(settings["HELPDESK_TRUSTED_PROXIES"])  # type: ignore[call-overload]
    if proxies:
        # behind nginx every request comes from 127.0.0.1: the login throttle per address, the
        # session list and /metrics' loopback check need the client's address from X-Forwarded-For
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)  # type: ignore[method-assign]
    return app


def _feature_blueprints() -> list:
    from helpdesk.admin import settings_page
    from helpdesk.admin import views as admin_views
    from helpdesk.core import ops_web
    from helpdesk.dashboard import views as dashboard_views
    from helpdesk.extensions import csrf
    from helpdesk.records import views as records_views
    from helpdesk.sla import views as sla_views
    from helpdesk.tickets import api as ticket_api
    from helpdesk.tickets import views as ticket_views

    csrf.exempt(ticket_api.bp)  # token-authenticated, no cookies: CSRF does not apply
    return [
        ticket_views.bp,
        admin_views.bp,
        settings_page.bp,
        records_views.bp,
        sla_views.bp,
        dashboard_views.bp,
        ticket_api.bp,
        ops_web.bp,
    ]
