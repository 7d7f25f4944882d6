"""Personal-data retention on both databases: the dry run only reports, the run removes the material
of tickets closed before the cutoff and nothing else, keeps the timeline, the audit trail and the
record changes, shows the removal on the ticket page, and degrades downloads and re-reading."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from helpdesk.cli import helpdesk as helpdesk_group
from helpdesk.db import session, utcnow
from helpdesk.mail.models import InboundMail
from helpdesk.records.models import AuditEntry, PlatformAccount
from helpdesk.tickets import intake, resolve, retention, services
from helpdesk.tickets.models import Attachment, Message, RetentionRemoval, Ticket, TicketEvent, TicketStatus
from tests.conftest import login
from tests.intake.conftest import make_mail
from tests.records.factories import make_enterprise
from tests.records.factories import make_ticket as make_record_ticket

DAYS = 30
LICENCE = b"%PDF-1.4\n% stamped business licence of the old ticket\n" + bytes(range(256)) * 4
SHARED = b"PK\x03\x04 the same letter file, sent with two tickets" * 10
RECENT_ONLY = b"GIF89a a scan only the recent ticket has" * 10


@pytest.fixture
def app_overrides() -> dict[str, object]:
    return {"HELPDESK_RETENTION_DAYS": str(DAYS)}


def _ticket_from_mail(subject: str, sender: str, attachments: list[tuple[str, str, bytes]]) -> Ticket:
    result = intake.import_eml(make_mail(subject=subject, body=f"{subject}：请处理。联系人手机 13800000000", sender=sender,
                                         attachments=attachments))  # fmt: skip
    assert result.outcome == "created"
    ticket = session.get(Ticket, result.ticket_id)
    assert ticket is not None
    return ticket


def _closed_at(ticket: Ticket, when: Any, by: Any) -> None:
    services.set_status(ticket, TicketStatus.RESOLVED, by=by)
    session.execute(update(Ticket).where(Ticket.id == ticket.id).values(resolved_at=when))
    session.commit()
    session.expire_all()


@pytest.fixture
def desk(app, users) -> dict[str, Any]:
    """Tickets closed 90 and 5 days ago, an old one still open, and an old resolution with records."""
    agent = users["agent"]
    old = _ticket_from_mail(
        "注销说明",
        "wang@hengda.cn",
        [("营业执照.pdf", "application/pdf", LICENCE), ("说明.zip", "application/zip", SHARED)],
    )
    recent = _ticket_from_mail(
        "解绑说明",
        "li@corp.cn",
        [("说明.zip", "application/zip", SHARED), ("扫描.gif", "image/gif", RECENT_ONLY)],
    )
    still_open = _ticket_from_mail("变更说明", "zhao@corp.cn", [("扫描.gif", "image/gif", RECENT_ONLY)])
    _closed_at(old, utcnow() - timedelta(days=90), agent)
    _closed_at(recent, utcnow() - timedelta(days=5), agent)
    session.execute(
        update(Ticket).where(Ticket.id == still_open.id).values(received_at=utcnow() - timedelta(days=200))
    )
    session.commit()

    ent = make_enterprise(accounts=("zxkt_hengda", "hengda2"))
    unbind = make_record_ticket(
        "unbind", enterprise=ent, company_name=ent.name, target_accounts=["zxkt_hengda"]
    )
    session.commit()
    resolve.apply_resolution(unbind, "unbind", {"account": "zxkt_hengda"}, by=agent)
    session.execute(
        update(Ticket).where(Ticket.id == unbind.id).values(resolved_at=utcnow() - timedelta(days=60))
    )
    ids = {"old": old.id, "recent": recent.id, "open": still_open.id, "resolution": unbind.id}
    session.commit()
    session.expire_all()
    return ids


def _material(ticket_id: int, attachments_dir: Path) -> dict[str, Any]:
    session.expire_all()
    raws = session.scalars(select(InboundMail.raw).where(InboundMail.ticket_id == ticket_id)).all()
    atts = session.scalars(
        select(Attachment).where(Attachment.ticket_id == ticket_id).order_by(Attachment.id)
    ).all()
    bodies = session.scalars(
        select(Message.body_text).where(Message.ticket_id == ticket_id).order_by(Message.id)
    ).all()
    return {
        "raws": list(raws),
        "attachments": [(a.sha256, a.data, a.removed_at) for a in atts],
        "files": {a.stored_name: (attachments_dir / a.stored_name).exists() for a in atts if a.stored_name},
        "bodies": list(bodies),
    }


def _counts() -> dict[str, int]:
    session.expire_all()
    return {
        "events": session.scalar(select(func.count()).select_from(TicketEvent)) or 0,
        "audit": session.scalar(select(func.count()).select_from(AuditEntry)) or 0,
        "removals": session.scalar(select(func.count()).select_from(RetentionRemoval)) or 0,
    }


def _dir(app) -> Path:
    return Path(app.config["HELPDESK"].attachments_dir)


def test_dry_run_reports_and_deletes_nothing(app, desk):
    before = {k: _material(v, _dir(app)) for k, v in desk.items()}
    counts = _counts()
    result = app.test_cli_runner().invoke(helpdesk_group, ["retention", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "将删除 2 张工单" in result.output  # the old ticket and the old resolution
    assert (
        "营业执照扫描件：1 项" in result.output
        and "原始邮件" in result.output
        and "演练模式" in result.output
    )
    assert {k: _material(v, _dir(app)) for k, v in desk.items()} == before
    assert _counts() == counts
    assert all(before["old"]["files"].values())


def test_run_removes_only_what_is_older_and_keeps_the_trail(app, desk, client):
    dir_ = _dir(app)
    before = {k: _material(v, dir_) for k, v in desk.items()}
    counts = _counts()
    bound_before = session.scalar(
        select(PlatformAccount.app_bound).where(PlatformAccount.account_name == "zxkt_hengda")
    )

    result = app.test_cli_runner().invoke(helpdesk_group, ["retention"])
    assert result.exit_code == 0, result.output
    assert "已删除 2 张工单" in result.output

    old = _material(desk["old"], dir_)
    assert old["raws"] and all(raw == b"" for raw in old["raws"])
    assert all(data is None and removed is not None for _sha, data, removed in old["attachments"])
    licence_name = next(a.stored_name for a in session.scalars(select(Attachment).where(Attachment.ticket_id == desk["old"]))
                        if a.original_name == "营业执照.pdf")  # fmt: skip
    assert not (dir_ / licence_name).exists()  # its only keeper went
    shared = [n for n in before["recent"]["files"] if n in before["old"]["files"]]
    assert shared and all((dir_ / n).exists() for n in shared)  # the recent ticket still keeps it
    inbound_bodies = session.scalars(
        select(Message.body_text).where(Message.ticket_id == desk["old"], Message.kind == "inbound")
    ).all()
    assert inbound_bodies and all(
        "已按个人信息保留期限删除" in b and "13800000000" not in b for b in inbound_bodies
    )

    # tickets closed recently and open ones keep everything
    assert _material(desk["recent"], dir_) == before["recent"]
    assert _material(desk["open"], dir_) == before["open"]

    kinds = {
        r.kind: r
        for r in session.scalars(select(RetentionRemoval).where(RetentionRemoval.ticket_id == desk["old"]))
    }
    assert set(kinds) == {"raw_mail", "attachment", "licence_scan", "mail_body"}
    assert kinds["licence_scan"].items == 1 and kinds["licence_scan"].bytes == len(LICENCE)
    assert kinds["raw_mail"].policy_days == DAYS

    # the timeline and the audit trail stay (one event more: the removal), the record change stays
    after = _counts()
    assert after["audit"] == counts["audit"] > 0
    assert after["events"] == counts["events"] + 2  # one retention event per ticket that lost material
    assert (
        session.scalar(select(PlatformAccount.app_bound).where(PlatformAccount.account_name == "zxkt_hengda"))
        is bound_before
        is False
    )
    resolution_kinds = set(
        session.scalars(select(RetentionRemoval.kind).where(RetentionRemoval.ticket_id == desk["resolution"]))
    )
    assert resolution_kinds == {"mail_body"}

    # a second run (or a second worker) finds nothing left and records nothing
    again = app.test_cli_runner().invoke(helpdesk_group, ["retention"])
    assert again.exit_code == 0 and "没有可删除的内容" in again.output
    assert _counts() == after

    # the pages still work and say what happened
    login(client, "agent1")
    page = client.get(f"/tickets/{desk['old']}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "个人信息已按保留期限删除" in html and 'data-removed="licence_scan"' in html
    assert "data-removed-attachment" in html
    att = session.scalars(select(Attachment).where(Attachment.ticket_id == desk["old"])).first()
    for how in ("download", "inline"):
        gone = client.get(f"/tickets/{desk['old']}/attachments/{att.id}/{how}")
        assert gone.status_code == 410 and "保留期限" in gone.get_data(as_text=True)
    assert client.get(f"/tickets/{desk['recent']}").status_code == 200
    assert "个人信息已按保留期限删除" not in client.get(f"/tickets/{desk['recent']}").get_data(as_text=True)
    assert client.get("/").status_code == 200  # the queue
    supervisor = app.test_client()
    login(supervisor, "super1")
    assert supervisor.get("/dashboard/").status_code == 200


def test_removed_raw_mail_is_skipped_by_reprocessing(app, desk):
    retention.run(DAYS, _dir(app))
    row = session.scalars(select(InboundMail).where(InboundMail.ticket_id == desk["old"])).first()
    # as if it had failed before it was removed: the retry job must not ingest the emptied bytes
    session.execute(update(InboundMail).where(InboundMail.id == row.id).values(status="failed"))
    session.commit()
    # reprocess-mail / the retry job: the emptied mail is settled with a message, never made a ticket
    [result] = [r for r in intake.ingest_pending() if r.inbound_id == row.id]
    assert result.outcome == "removed" and "保留期限" in result.detail
    session.expire_all()
    assert session.get(InboundMail, row.id).status == "ignored"
    assert session.scalar(select(func.count()).select_from(Ticket)) == 4  # no fallback ticket made of b""
    assert intake.ingest_pending() == []  # settled: not retried again


def test_two_workers_at_once_remove_once(app, desk):
    reports: list[Any] = []

    def worker() -> None:
        with app.app_context():
            try:
                reports.append(retention.run(DAYS, _dir(app)))
            finally:
                session.remove()

    session.rollback()  # on SQLite a transaction of this thread would hold the write lock
    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(reports) == 2
    assert sorted(len(r.tickets) for r in reports) in ([0, 2], [1, 1])  # each ticket removed by one of them
    rows = session.execute(select(RetentionRemoval.ticket_id, RetentionRemoval.kind)).all()
    assert len(rows) == len(set(rows)) == 5  # 4 kinds on the old ticket, bodies on the resolution


def test_off_by_default_removes_nothing(app, desk):
    report = retention.run(0, _dir(app))
    assert report.tickets == [] and "不删除" in report.lines()[0]
    assert _counts()["removals"] == 0
