"""The `helpdesk` command: Flask's CLI group bound to create_app, plus our operator commands."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from helpdesk import create_app
from helpdesk.config import ConfigError


@click.group(cls=FlaskGroup, create_app=lambda: create_app(), add_version_option=False)
def helpdesk() -> None:
    """外贸发展专项资金客服工单 (helpdesk) — operator commands."""


@helpdesk.command("init-db")
@with_appcontext
def init_db() -> None:
    """Create or upgrade the database schema and seed reference data (safe to run twice)."""
    from helpdesk import bootstrap

    before, after, seeded = bootstrap.init_database()
    url = current_app.config["HELPDESK"].database_url
    shown = url.split("@")[-1] if "@" in url else url
    if before == after:
        click.echo(f"数据库已是最新版本（{after}），未做改动：{shown}")
    else:
        click.echo(f"数据库已升级：{before or '空'} -> {after}：{shown}")
    for line in seeded:
        click.echo(f"  {line}")


@helpdesk.command("create-user")
@click.argument("username")
@click.option(
    "--role", type=click.Choice(["agent", "supervisor", "admin"]), default="agent", show_default=True
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--name", "display_name", default="", help="Display name.")
@click.option("--email", default="")
@with_appcontext
def create_user_command(
    username: str, role: str, password_stdin: bool, display_name: str, email: str
) -> None:
    """Create a user; the password is prompted for (or read with --password-stdin)."""
    from helpdesk.auth import services
    from helpdesk.auth.models import Role

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("密码", hide_input=True, confirmation_prompt="再次输入密码")
    try:
        services.create_user(username, password, Role(role), display_name=display_name, email=email)
    except services.AuthError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"已创建用户 {username}（{Role(role).label}）。")


@helpdesk.command("reset-2fa")
@click.argument("username")
@with_appcontext
def reset_two_factor_command(username: str) -> None:
    """Remove a user's second factor (lost phone, no recovery code, no other admin). Audited."""
    from sqlalchemy import select

    from helpdesk.auth import two_factor
    from helpdesk.auth.models import User
    from helpdesk.db import session

    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise click.ClickException(f"用户 {username} 不存在。")
    two_factor.reset(user, by=None)
    click.echo(f"已重置 {username} 的两步验证：下次登录只需密码（如其角色要求，须重新设置）。")


@helpdesk.command("worker")
@with_appcontext
def worker() -> None:
    """Run the background jobs (mail poll, outbox, SLA warnings, OCR) until interrupted."""
    from helpdesk import scheduler
    from helpdesk.core import logs

    logs.configure(str(current_app.config["HELPDESK"]["HELPDESK_LOG_FORMAT"]))
    click.echo(
        "后台任务已启动：收信、发信、SLA 提醒、OCR。按 Ctrl+C 或发送 SIGTERM 停止（当前步骤做完再退出）。"
    )
    sys.exit(scheduler.run_worker(current_app._get_current_object()))  # type: ignore[attr-defined]


@helpdesk.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@click.option("--no-serve", is_flag=True, help="Create the demo data and exit (for tests).")
@with_appcontext
def demo(host: str, port: int, no_serve: bool) -> None:
    """Start a complete demo on SQLite: demo users, records, sample letters and the jobs in-process."""
    from helpdesk import demo as demo_module

    demo_module.run(current_app._get_current_object(), host=host, port=port, serve=not no_serve)  # type: ignore[attr-defined]


def register_feature_commands(group: click.Group) -> None:
    from helpdesk import commands

    for command in commands.all_commands():
        group.add_command(command)


register_feature_commands(helpdesk)


def main() -> None:
    try:
        helpdesk.main(prog_name="helpdesk")
    except ConfigError as exc:
        click.echo(f"配置错误：{exc}", err=True)
        sys.exit(2)
