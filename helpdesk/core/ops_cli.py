"""`helpdesk check`: the readiness checks of /readyz, for an operator (exit 1 when not ready)."""

from __future__ import annotations

import json
import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from helpdesk import db
from helpdesk.core import health


@click.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print the same JSON as /readyz.")
@with_appcontext
def check(as_json: bool) -> None:
    """Check the database, migrations, mailbox, outbox, calendar and worker; exit 1 when not ready."""
    with db.reads():
        report = health.readiness(current_app.config["HELPDESK"], db.utcnow())
        db.end_reads()
    if as_json:
        click.echo(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
    else:
        for item in report.checks:
            click.echo(f"{'正常' if item.ok else '异常'}  {item.name:<10} {item.detail}")
        click.echo("就绪" if report.ready else "未就绪")
    sys.exit(0 if report.ready else 1)


COMMANDS = [check]
