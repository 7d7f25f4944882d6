"""`helpdesk` subcommands of the records module: import-records, export-changes."""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

MAX_ERRORS_SHOWN = 200


@click.command("import-records")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--skip-invalid", is_flag=True, help="Import the valid rows and report the invalid ones.")
@with_appcontext
def import_records(files: tuple[Path, ...], skip_invalid: bool) -> None:
    """Import enterprises, accounts, qualifications and projects from the platform's CSV / XLSX exports.

    Kinds are detected from the Chinese column headers (docs/records-import.md). Without
    --skip-invalid a file with any invalid row imports nothing. Exit status 1 when rows were refused.
    """
    from helpdesk.records import importer

    try:
        tables = [t for path in files for t in importer.read_file(path.name, path.read_bytes())]
    except importer.ImportFileError as exc:
        raise click.ClickException(str(exc)) from None
    total = sum(len(t.rows) for t in tables) * 2  # every row is checked, then written
    with click.progressbar(length=total, label="导入档案", file=sys.stderr, show_pos=True) as bar:
        report = importer.import_tables(tables, skip_invalid=skip_invalid, progress=bar.update)
    for line in report.summary():
        click.echo(line)
    for error in report.errors[:MAX_ERRORS_SHOWN]:
        click.echo(error.text(), err=True)
    if len(report.errors) > MAX_ERRORS_SHOWN:
        click.echo(f"……另有 {len(report.errors) - MAX_ERRORS_SHOWN} 处错误未列出。", err=True)
    if report.errors:
        sys.exit(1)


def _date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise click.BadParameter(f"日期应为 YYYY-MM-DD 格式：{value}") from None


@click.command("export-changes")
@click.option("--since", "since_text", required=True, help="First day (YYYY-MM-DD, local time), inclusive.")
@click.option("--until", "until_text", help="Last day (YYYY-MM-DD), inclusive; default: today.")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Output file (default: a dated name in the current directory; '-' for standard output).")  # fmt: skip
@with_appcontext
def export_changes(since_text: str, until_text: str | None, fmt: str, output: Path | None) -> None:
    """Export the applied changes (change / unbind / cancel audit entries) as CSV or XLSX."""
    from helpdesk.records import export

    since, until = _date(since_text), _date(until_text)
    data, name, count = export.export(since, until, fmt, current_app.config["HELPDESK"].timezone)  # type: ignore[arg-type]
    if output is not None and str(output) == "-":
        sys.stdout.buffer.write(data)
        return
    target = output or Path(name)
    target.write_bytes(data)
    click.echo(f"已导出 {count} 条变更记录：{target}")


COMMANDS: list[click.Command] = [import_records, export_changes]
