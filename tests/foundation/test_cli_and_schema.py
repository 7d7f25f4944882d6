"""The `helpdesk` command and the schema: init-db twice, create-user, bad config, migrations on both DBs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, inspect, select

from helpdesk import db, migrate
from helpdesk.auth.models import User
from helpdesk.cli import helpdesk as helpdesk_group
from helpdesk.db import session


def run_cli(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from helpdesk.cli import main; main()", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


@pytest.mark.sqlite_only
def test_init_db_twice_on_a_new_instance_then_create_user(tmp_path, db_kind):
    env = {"HELPDESK_INSTANCE_DIR": str(tmp_path)}
    first = run_cli("init-db", env=env)
    assert first.returncode == 0, first.stderr
    assert "数据库已升级：空 ->" in first.stdout and "工作日历" in first.stdout
    second = run_cli("init-db", env=env)
    assert second.returncode == 0 and "数据库已是最新版本" in second.stdout
    assert "工作日历" not in second.stdout  # nothing seeded twice
    made = run_cli(
        "create-user", "wang", "--role", "supervisor", "--password-stdin", env=env, stdin="s3cret-pass-9\n"
    )
    assert made.returncode == 0 and "已创建用户 wang" in made.stdout
    again = run_cli("create-user", "wang", "--password-stdin", env=env, stdin="s3cret-pass-9\n")
    assert again.returncode != 0 and "已存在" in again.stderr
    short = run_cli("create-user", "li", "--password-stdin", env=env, stdin="123\n")
    assert short.returncode != 0 and "至少" in short.stderr


@pytest.mark.sqlite_only
def test_bad_config_fails_at_start_naming_the_variable(tmp_path, db_kind):
    result = run_cli("routes", env={"HELPDESK_INSTANCE_DIR": str(tmp_path), "HELPDESK_SMTP_PORT": "smtp"})
    assert result.returncode == 2
    assert "HELPDESK_SMTP_PORT" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.sqlite_only
def test_routes_command_is_flasks(tmp_path, db_kind):
    result = run_cli("routes", env={"HELPDESK_INSTANCE_DIR": str(tmp_path)})
    assert result.returncode == 0 and "auth.login" in result.stdout


def test_migrations_build_the_schema_the_models_describe(database_url):
    engine = db.configure(database_url)
    # the template was already upgraded by bootstrap: it is at head and has no drift
    assert migrate.current_revision(engine) == migrate.head_revision()
    assert migrate.pending_changes(engine) == []
    assert migrate.upgrade(engine)[0] == migrate.head_revision()  # a second upgrade changes nothing
    engine.dispose()


def test_upgrade_from_empty_to_head(db_kind, tmp_path, request):
    if db_kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = db.configure(url)
    assert inspect(engine).get_table_names() == []
    before, after = migrate.upgrade(engine)
    assert before is None and after == migrate.head_revision()
    assert {"tickets", "users", "enterprises", "outbound_mails", "calendar_days"} <= set(
        inspect(engine).get_table_names()
    )
    assert migrate.pending_changes(engine) == []
    engine.dispose()


def test_init_db_refuses_a_foreign_database(db_kind, tmp_path, request):
    url = (
        f"sqlite:///{tmp_path / 'foreign.sqlite3'}"
        if db_kind == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    with create_engine(url).begin() as conn:
        conn.exec_driver_sql("CREATE TABLE customers (id integer primary key)")
    engine = db.configure(url)
    with pytest.raises(RuntimeError, match="不是由 helpdesk 创建的"):
        migrate.upgrade(engine)
    assert inspect(engine).get_table_names() == ["customers"]
    engine.dispose()


@pytest.mark.sqlite_only
def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path, db_kind):
    engine = db.configure(f"sqlite:///{tmp_path / 'wal.sqlite3'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_create_user_command_in_process(app):
    password = "another-pass-7"
    result = app.test_cli_runner().invoke(
        helpdesk_group, ["create-user", "zhao", "--role", "admin", "--password-stdin"], input=password + "\n"
    )
    assert result.exit_code == 0, result.output
    user = session.scalar(select(User).where(User.username == "zhao"))
    assert user is not None and user.role == "admin" and user.check_password(password)
