"""Shared fixtures: an app on a fresh, migrated database (SQLite and PostgreSQL), users, logins.

Each database test runs twice, once per engine (`db_kind` param). A migrated template is built once
per session per engine and copied for each test (file copy / CREATE DATABASE ... TEMPLATE), so every
test starts from the real schema made by Alembic, not from create_all().
"""

from __future__ import annotations

import re
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from helpdesk import bootstrap, create_app, db
from helpdesk.auth import services as auth_services
from helpdesk.auth.models import Role, User

pytest_plugins = ["tests.servers"]

PASSWORD = "correct-horse-42"
TEMPLATE_DB = "helpdesk_template"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # tests marked sqlite_only (browser flows, slow end-to-end) run on SQLite only: drop their
    # PostgreSQL variant at collection instead of skipping it, so a skip always means trouble
    keep, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgres = bool(callspec and callspec.params.get("db_kind") == "postgres")
        if on_postgres and item.get_closest_marker("sqlite_only"):
            dropped.append(item)
            continue
        if on_postgres:
            item.add_marker(pytest.mark.postgres)
        keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: run the database fixture on SQLite only")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    db.configure(f"sqlite:///{path}")
    bootstrap.init_database()
    db.engine().dispose()
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres_server: Any) -> str:
    postgres_server.drop_database(TEMPLATE_DB)
    postgres_server.create_database(TEMPLATE_DB)
    db.configure(postgres_server.url(TEMPLATE_DB))
    bootstrap.init_database()
    db.engine().dispose()
    return TEMPLATE_DB


@pytest.fixture(params=["sqlite", "postgres"])
def db_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def database_url(db_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if db_kind == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "helpdesk.sqlite3"
        shutil.copyfile(template, target)
        yield f"sqlite:///{target}"
        return
    server = request.getfixturevalue("postgres_server")
    request.getfixturevalue("postgres_template")
    name = "t_" + re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:40] + "_" + uuid.uuid4().hex[:8]
    with server.connect(autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DB}"')
    try:
        yield server.url(name)
    finally:
        db.session.remove()
        if db._engine is not None:
            db._engine.dispose()
        server.drop_database(name)


@pytest.fixture
def app_overrides() -> dict[str, object]:
    """Extra HELPDESK_* settings for the `app` fixture; override in a test module to change them."""
    return {}


@pytest.fixture
def app(database_url: str, tmp_path: Path, app_overrides: dict[str, object]) -> Iterator[Flask]:
    settings = {
        "HELPDESK_DATABASE_URL": database_url,
        "HELPDESK_INSTANCE_DIR": str(tmp_path / "instance"),
        "HELPDESK_SECRET_KEY": "test-secret-" + uuid.uuid4().hex,
        "HELPDESK_IMAP_HOST": "",
        "HELPDESK_SMTP_HOST": "",
        **app_overrides,
    }
    app = create_app(overrides=settings)
    app.config.update(TESTING=True)
    with app.app_context():
        yield app
        db.session.remove()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def calendar_ahead(app: Flask) -> list[int]:
    """The official schedule covers the next 30 days, whatever today is: from Beijing's 2 December the
    next year is needed, and the package may not know it yet (readiness says so, rightly)."""
    from helpdesk.core import health
    from helpdesk.db import session, unit_of_work, utcnow
    from helpdesk.sla.models import CalendarYear

    today = utcnow().astimezone(app.config["HELPDESK"].timezone).date()
    added = []
    with unit_of_work():
        for year in health.years_needed(today):
            if session.get(CalendarYear, year) is None:
                session.add(CalendarYear(year=year, status="official", source="test: the next year"))
                added.append(year)
    return added


def make_user(username: str, role: Role, **kwargs: Any) -> User:
    return auth_services.create_user(username, PASSWORD, role, email=f"{username}@helpdesk.test", **kwargs)


@pytest.fixture
def users(app: Flask) -> dict[str, User]:
    return {
        "agent": make_user("agent1", Role.AGENT, display_name="王客服"),
        "supervisor": make_user("super1", Role.SUPERVISOR, display_name="李主管"),
        "admin": make_user("admin1", Role.ADMIN, display_name="赵管理"),
    }


def login(client: FlaskClient, username: str, password: str = PASSWORD) -> Any:
    """Log in through the real form (CSRF is checked: the token is read from the page)."""
    page = client.get("/login").get_data(as_text=True)
    data = {"username": username, "password": password}
    if 'name="csrf_token"' in page:  # absent only when a test switched CSRF off
        data["csrf_token"] = csrf_token_from(page)
    return client.post("/login", data=data)


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    assert match, "page has no CSRF token"
    return match.group(1)


def page_csrf(client: FlaskClient, path: str = "/") -> str:
    return csrf_token_from(client.get(path).get_data(as_text=True))


@pytest.fixture
def agent_client(app: Flask, users: dict[str, User]) -> FlaskClient:
    c = app.test_client()
    assert login(c, "agent1").status_code == 302
    return c


@pytest.fixture
def supervisor_client(app: Flask, users: dict[str, User]) -> FlaskClient:
    c = app.test_client()
    assert login(c, "super1").status_code == 302
    return c


@pytest.fixture
def admin_client(app: Flask, users: dict[str, User]) -> FlaskClient:
    c = app.test_client()
    assert login(c, "admin1").status_code == 302
    return c


class LiveServer:
    """The app served by werkzeug on 127.0.0.1 in a thread, for the browser tests."""

    def __init__(self, app: Flask) -> None:
        from werkzeug.serving import make_server

        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(app: Flask) -> Iterator[LiveServer]:
    """Serve `app` over real HTTP (SQLite-only tests: mark them @pytest.mark.sqlite_only)."""
    server = LiveServer(app)
    try:
        yield server
    finally:
        server.stop()


def browser_login(page: Any, live: LiveServer, username: str, password: str = PASSWORD) -> None:
    """Log in through the real login form with the keyboard, as a person would."""
    page.goto(live.url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/login" not in url)


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot under artifacts/screenshots/ and return its path."""
    target = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots" / f"{name}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target), full_page=True)
    return target
