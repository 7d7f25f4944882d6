"""Operator commands for the service's data: backup, restore, retention."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from helpdesk import db
from helpdesk.core import backup as backup_module


class TerminalProgress:
    """A bar per step on a terminal (stderr); nothing otherwise, so cron mail and logs stay short."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.what = ""
        self.bar: Any = None
        self.shown = 0

    def __call__(self, done: int, total: int, what: str) -> None:
        if not self.tty or total <= 0:
            return
        if what != self.what or self.bar is None:
            self.close()
            self.what, self.shown = what, 0
            self.bar = click.progressbar(length=total, label=what, file=sys.stderr)
            self.bar.__enter__()
        self.bar.length = max(total, 1)
        self.bar.update(max(done - self.shown, 0))
        self.shown = max(done, self.shown)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _target() -> backup_module.Target:
    settings = current_app.config["HELPDESK"]
    return backup_module.Target(settings.database_url, Path(settings.attachments_dir))


@click.command("backup")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@with_appcontext
def backup(directory: Path) -> None:
    """Back up the database and the attachments into DIRECTORY (new or empty), with a manifest."""
    target = _target()
    progress = TerminalProgress()
    try:
        manifest = backup_module.create(target, directory, progress=progress)
    except backup_module.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        progress.close()
    size = sum(int(e["size"]) for e in manifest["files"])
    click.echo(
        f"已备份 {target.shown}（{manifest['database']}，迁移版本 {manifest['alembic_revision']}）"
        f"和 {len(manifest['files']) - 1} 个附件文件到 {directory.resolve()}，共 {size} 字节。"
    )


@click.command("restore")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--force", is_flag=True, help="Overwrite a target database or attachments folder that is not empty."
)
@with_appcontext
def restore(directory: Path, force: bool) -> None:
    """Restore a backup made by `helpdesk backup` into the configured database and attachments folder."""
    target = _target()
    db.session.remove()
    db.engine().dispose()  # no connection of ours stays open on the database being replaced
    progress = TerminalProgress()
    try:
        manifest = backup_module.restore(target, directory, force=force, progress=progress)
    except backup_module.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        progress.close()
    click.echo(
        f"已从 {directory.resolve()}（{manifest['created_at']}）恢复到 {target.shown}，"
        f"迁移版本 {manifest['alembic_revision']}，附件目录 {target.attachments_dir}。"
        "如代码版本更新，请再运行 helpdesk init-db 升级数据库结构。"
    )


@click.command("retention")
@click.option("--dry-run", is_flag=True, help="Only report what would be removed.")
@with_appcontext
def retention(dry_run: bool) -> None:
    """Remove the personal material of tickets closed longer than HELPDESK_RETENTION_DAYS."""
    from helpdesk.tickets import retention as retention_module

    settings = current_app.config["HELPDESK"]
    days = int(settings["HELPDESK_RETENTION_DAYS"] or 0)
    progress = TerminalProgress()
    try:
        report = retention_module.run(
            days,
            Path(settings.attachments_dir),
            dry_run=dry_run,
            progress=lambda done, total: progress(done, total, "检查工单" if dry_run else "删除个人信息"),
        )
    finally:
        progress.close()
    for line in report.lines():
        click.echo(line)


COMMANDS = [backup, restore, retention]
