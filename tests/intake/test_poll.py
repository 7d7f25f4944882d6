"""The poller against a real Dovecot: never loses a mail, never makes two tickets."""

from __future__ import annotations

import socket
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from helpdesk.db import session
from helpdesk.mail import imap as imap_module
from helpdesk.mail.models import InboundMail, Mailbox
from helpdesk.tickets import poll
from helpdesk.tickets.models import Attachment, Ticket
from tests.intake.conftest import make_mail


def ticket_count() -> int:
    return session.scalar(select(func.count()).select_from(Ticket))


def test_n_mails_make_n_tickets_and_a_second_poll_makes_none(app, imap, imap_settings):
    for i in range(5):
        imap.append(make_mail(subject=f"咨询 {i}", sender=f"user{i}@corp{i}.cn"))
    report = poll.poll_once(imap_settings)
    assert (report.fetched, report.created, report.marked, report.errors) == (5, 5, 5, [])
    assert ticket_count() == 5
    again = poll.poll_once(imap_settings)
    assert (again.fetched, again.created) == (0, 0)
    assert ticket_count() == 5
    imap.append(make_mail(subject="新来的一封", sender="late@corp.cn"))
    third = poll.poll_once(imap_settings)
    assert (third.fetched, third.created) == (1, 1)
    assert session.scalar(select(Ticket.subject).order_by(Ticket.id.desc()).limit(1)) == "新来的一封"


def test_mail_read_elsewhere_is_still_imported_and_flagged_after_commit(app, imap, imap_settings):
    imap.append(make_mail(subject="已读邮件"), flags=[b"\\Seen"])
    imap.append(make_mail(subject="未读邮件"))
    report = poll.poll_once(imap_settings)
    assert report.created == 2
    flags = [m.flags for m in imap.messages()]
    assert all(imap_module.PROCESSED_KEYWORD in f for f in flags)


def test_processed_mail_is_moved_when_a_folder_is_configured(app, imap, imap_settings):
    imap.append(make_mail(subject="移走我"))
    report = poll.poll_once(replace(imap_settings, processed_folder="Processed"))
    assert report.created == 1
    assert imap.message_count("INBOX") == 0
    assert imap.message_count("Processed") == 1


def test_internaldate_starts_the_clock_not_the_date_header(app, imap, imap_settings):
    from datetime import datetime, timedelta, timezone

    arrived = datetime(2026, 9, 30, 18, 42, tzinfo=timezone(timedelta(hours=8)))
    raw = make_mail(subject="国庆前的来信", headers={"Date": "Mon, 01 Jan 2024 00:00:00 +0800"})
    imap.append(raw, msg_time=arrived)
    poll.poll_once(imap_settings)
    ticket = session.scalars(select(Ticket)).one()
    assert ticket.received_at == arrived
    assert ticket.due_at == datetime(2026, 10, 9, 17, 0, tzinfo=timezone(timedelta(hours=8)))


def test_dropped_connection_mid_batch_loses_nothing_and_duplicates_nothing(
    app, imap, imap_settings, monkeypatch
):
    for i in range(6):
        imap.append(make_mail(subject=f"批次 {i}", sender=f"u{i}@c.cn"))
    monkeypatch.setattr(imap_module, "FETCH_BATCH", 2)
    real_fetch = imap_module.ImapSource.fetch

    def fetch_then_drop(self, uids, batch=2):
        for n, message in enumerate(real_fetch(self, uids, batch=2)):
            yield message
            if n == 2:  # the server goes away in the middle of the second batch
                self.client._imap.sock.shutdown(socket.SHUT_RDWR)

    monkeypatch.setattr(imap_module.ImapSource, "fetch", fetch_then_drop)
    first = poll.poll_once(imap_settings)
    assert first.errors, "the dropped connection must be reported"
    assert 1 <= ticket_count() < 6
    assert session.scalars(select(Mailbox)).one().last_error
    monkeypatch.setattr(imap_module.ImapSource, "fetch", real_fetch)
    second = poll.poll_once(imap_settings)
    assert second.errors == []
    assert ticket_count() == 6
    subjects = sorted(session.scalars(select(Ticket.subject)))
    assert subjects == [f"批次 {i}" for i in range(6)]
    assert session.scalars(select(Mailbox)).one().last_error is None


def test_dovecot_down_then_back_every_mail_exactly_once(app, imap, imap_settings):
    for i in range(3):
        imap.append(make_mail(subject=f"停机前 {i}", sender=f"a{i}@c.cn"))
    poll.poll_once(imap_settings)
    imap.stop()
    try:
        down = poll.poll_once(imap_settings)
        assert down.errors and ticket_count() == 3
        box = session.scalars(select(Mailbox)).one()
        assert box.last_error
    finally:
        imap.start()
    imap.append(make_mail(subject="恢复后", sender="b@c.cn"))
    back = poll.poll_once(imap_settings)
    assert back.errors == [] and back.created == 1
    assert ticket_count() == 4
    assert session.scalars(select(Mailbox)).one().last_error is None


def test_crash_after_commit_before_server_flag_makes_no_duplicate(app, imap, imap_settings, monkeypatch):
    imap.append(make_mail(subject="提交后崩溃"))
    calls = []

    def crash(self, uids):
        calls.append(uids)
        raise ConnectionResetError("injected crash between commit and flag")

    monkeypatch.setattr(imap_module.ImapSource, "mark_processed", crash)
    first = poll.poll_once(imap_settings)
    assert first.errors and calls
    assert ticket_count() == 1
    row = session.scalars(select(InboundMail)).one()
    assert row.status == "ingested" and not row.flagged_on_server
    monkeypatch.undo()
    # the message is still unflagged on the server: a fresh scan (last_uid lost) must not duplicate it
    box = session.scalars(select(Mailbox)).one()
    box.last_uid = 0
    session.commit()
    second = poll.poll_once(imap_settings)
    assert second.errors == [] and second.created == 0 and second.marked == 1
    assert ticket_count() == 1
    assert imap_module.PROCESSED_KEYWORD in imap.messages()[0].flags


def test_uidvalidity_change_rescans_without_duplicates(app, imap, imap_settings):
    settings = replace(imap_settings, folder="Letters")
    raws = [make_mail(subject=f"文件夹重建 {i}", sender=f"x{i}@c.cn") for i in range(3)]
    for raw in raws:
        imap.append(raw, folder="Letters")
    assert poll.poll_once(settings).created == 3
    old = session.scalars(select(Mailbox)).one().uidvalidity
    with imap.client() as c:
        c.delete_folder("Letters")
        c.create_folder("Letters")
    for raw in raws:
        imap.append(raw, folder="Letters")
    imap.append(make_mail(subject="重建后新信", sender="y@c.cn"), folder="Letters")
    report = poll.poll_once(settings)
    assert report.uidvalidity_changed
    assert session.scalars(select(Mailbox)).one().uidvalidity != old
    assert (report.fetched, report.created, report.duplicates) == (4, 1, 3)
    assert ticket_count() == 4


def test_two_pollers_at_once_one_skips_on_the_lease(app, imap, imap_settings):
    from helpdesk.core import leases

    imap.append(make_mail())
    with leases.held(f"poll:{imap_settings.mailbox_name}") as other:  # another worker's lock
        assert other is not None
        report = poll.poll_once(imap_settings)
        assert report.skipped and ticket_count() == 0
    assert poll.poll_once(imap_settings).created == 1  # released: the next poll runs


def test_unparseable_mail_becomes_inquiry_with_raw_eml(app, imap, imap_settings, monkeypatch):
    from helpdesk.tickets import intake

    def broken(*args, **kwargs):
        raise RuntimeError("letter reader exploded")

    # the reading runs in sandbox processes that a monkeypatch cannot reach: break the in-process step
    monkeypatch.setattr(intake, "link_enterprise", broken)
    raw = make_mail(subject="会让解析失败的邮件")
    imap.append(raw)
    report = poll.poll_once(imap_settings)
    assert report.failed == 1 and report.marked == 1
    ticket = session.scalars(select(Ticket)).one()
    assert ticket.type == "inquiry"
    eml = session.scalars(select(Attachment).where(Attachment.ticket_id == ticket.id)).one()
    assert eml.original_name == "original.eml"
    assert eml.size == len(session.scalars(select(InboundMail)).one().raw)
    assert any(
        "无法自动解析" in m.body_text and "letter reader exploded" in m.body_text for m in ticket.messages
    )


def test_oversize_attachment_is_a_visible_note_not_a_silent_drop(app, imap, imap_settings, monkeypatch):
    app.config["HELPDESK"].values["HELPDESK_MAX_ATTACHMENT_MB"] = 1
    big = b"%PDF-1.4\n" + b"0" * (2 * 1024 * 1024)
    imap.append(make_mail(subject="大附件", attachments=[("营业执照.pdf", "application/pdf", big)]))
    poll.poll_once(imap_settings)
    att = session.scalars(select(Attachment)).one()
    assert att.problem and "过大" in att.problem and att.stored_name == ""
    assert att.original_name == "营业执照.pdf"


@pytest.mark.parametrize("count", [1])
def test_reconciliation_counts(app, imap, imap_settings, count):
    imap.append(make_mail())
    poll.poll_once(imap_settings)
    figures = poll.reconciliation(session.scalars(select(Mailbox)).one())
    assert figures == {"server": 1, "ingested": 1, "failed": 0, "waiting": 0}
