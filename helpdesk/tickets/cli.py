"""Operator commands for mail intake and tickets: poll-mail, import-eml, reprocess-mail, tickets list."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from helpdesk.db import session
from helpdesk.mail.models import InboundMail
from helpdesk.tickets import intake, poll
from helpdesk.tickets.models import OPEN_STATUSES, Attachment, Ticket


class Progress:
    """A bar on a terminal (stderr), plain lines otherwise, so logs and pipes stay readable."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None
        self.shown = 0

    def __call__(self, done: int, total: int) -> None:
        if not sys.stderr.isatty():
            click.echo(f"{self.label}：{done}/{total}", err=True)
            return
        if self.bar is None:
            self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr, show_pos=True)
            self.bar.__enter__()
        self.bar.update(done - self.shown)
        self.shown = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@click.command("poll-mail")
@click.option("--once", is_flag=True, help="Run one pass and exit (the worker polls on an interval).")
@with_appcontext
def poll_mail(once: bool) -> None:
    """Fetch new mail from the IMAP folder and turn it into tickets."""
    if not once:
        raise click.UsageError("持续收信请运行 `helpdesk worker`；单次收信请加 --once。")
    progress = Progress("收取邮件")
    try:
        report = poll.poll_once(progress=progress)
    finally:
        progress.close()
    click.echo(report.summary())
    if report.errors:
        raise SystemExit(1)


@click.command("import-eml")
@click.argument(
    "files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True
)
@with_appcontext
def import_eml(files: tuple[Path, ...]) -> None:
    """Feed saved .eml files through the same pipeline as IMAP mail."""
    for path in files:
        result = intake.import_eml(path.read_bytes())
        shown = f"工单 ZXZJ#{result.ticket_id}" if result.ticket_id else "无工单"
        labels = {
            "created": "新建",
            "threaded": "归入已有工单",
            "duplicate": "重复（已导入过）",
            "failed": "解析失败，已建咨询工单",
            "elsewhere": "另一个进程正在处理",
        }
        click.echo(
            f"{path}: {labels.get(result.outcome, result.outcome)} -> {shown}{('：' + result.detail) if result.detail else ''}"
        )


@click.command("reprocess-mail")
@with_appcontext
def reprocess_mail() -> None:
    """Retry stored mail whose ingestion failed (and any stored but not yet ingested)."""
    progress = Progress("重新处理邮件")
    try:
        results = intake.ingest_pending(progress=progress)
    finally:
        progress.close()
    if not results:
        click.echo("没有待重新处理的邮件。")
    for r in results:
        click.echo(
            f"邮件 #{r.inbound_id}: {r.outcome} -> {('ZXZJ#' + str(r.ticket_id)) if r.ticket_id else '-'} {r.detail}"
        )


@click.group("tickets")
def tickets_group() -> None:
    """Ticket commands for scripts."""


@tickets_group.command("list")
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="text", show_default=True)
@click.option("--open", "only_open", is_flag=True, help="Only open tickets.")
@click.option("--limit", default=1000, show_default=True)
@with_appcontext
def list_tickets(fmt: str, only_open: bool, limit: int) -> None:
    """List tickets (number, type, status, requester, subject, enterprise, received_at, due_at, attachments)."""
    stmt = select(Ticket).order_by(Ticket.id).limit(limit)
    if only_open:
        stmt = stmt.where(Ticket.status.in_(OPEN_STATUSES))
    rows = []
    for t in session.scalars(stmt):
        names = session.scalars(select(Attachment.original_name).where(Attachment.ticket_id == t.id)).all()
        rows.append(
            {
                "number": t.number,
                "id": t.id,
                "type": t.type,
                "status": t.status,
                "requester": t.requester_email,
                "subject": t.subject,
                "enterprise_id": t.enterprise_id,
                "received_at": t.received_at.isoformat(),
                "due_at": t.due_at.isoformat() if t.due_at else None,
                "attachments": list(names),
            }
        )
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        for r in rows:
            click.echo(f"{r['number']}\t{r['type']}\t{r['status']}\t{r['requester']}\t{r['subject']}")


@click.command("mail-status")
@with_appcontext
def mail_status() -> None:
    """Print each mailbox's reconciliation: on the server vs ingested vs failed."""
    from helpdesk.mail.models import Mailbox

    boxes = session.scalars(select(Mailbox)).all()
    if not boxes:
        click.echo("尚未收取过任何邮箱。")
    for box in boxes:
        r = poll.reconciliation(box)
        click.echo(
            f"{box.name}: 服务器 {r['server']} 封；已入库 {r['ingested']}；失败 {r['failed']}；待处理 {r['waiting']}；"
            f"上次成功 {box.last_success_at}；上次错误 {box.last_error or '无'}"
        )
    stuck = session.scalars(select(InboundMail).where(InboundMail.status == "failed")).all()
    for row in stuck:
        click.echo(f"  失败 #{row.id} {row.message_key}: {row.error}")


COMMANDS: list[click.Command] = [poll_mail, import_eml, reprocess_mail, tickets_group, mail_status]
