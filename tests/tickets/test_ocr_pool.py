"""The OCR job over the OCR sandbox's workers: letters read side by side, each stored on its own ticket."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from helpdesk.core import sandbox
from helpdesk.db import session
from helpdesk.letters import ocr
from helpdesk.tickets import intake, ocr_job, reading
from helpdesk.tickets.models import Ticket, TicketEvent
from tests.intake.conftest import make_mail
from tests.letters.make_letters import text_image


def _scanned_cancel_letter(account: str, sender: str) -> int:
    scan = text_image(
        [
            "注销说明",
            "外贸发展专项资金（中小）网络管理应用项目组：",
            f"我司在商务部业务系统统一平台存在2个账号，现申请注销账号{account}。",
            "特此说明！",
            "2026年11月20日",
        ],
        fmt="JPEG",
    )
    mail = make_mail(
        subject="说明", sender=sender, body="见附件。", attachments=[("scan.jpg", "image/jpeg", scan)]
    )
    return intake.import_eml(mail).ticket_id


@pytest.mark.parametrize(
    ("setting", "workers"),
    [(None, min(2, ocr.cores())), ("1", 1), ("64", ocr.cores()), ("many", min(2, ocr.cores()))],
)
def test_workers_and_their_threads_share_the_cores(
    monkeypatch: pytest.MonkeyPatch, setting: str | None, workers: int
) -> None:
    if setting is None:
        monkeypatch.delenv(reading.OCR_WORKERS_ENV, raising=False)
    else:
        monkeypatch.setenv(reading.OCR_WORKERS_ENV, setting)
    assert reading.ocr_workers() == workers
    assert reading.ocr_threads() == max(1, ocr.cores() // workers)


@pytest.mark.ocr
def test_the_ocr_job_reads_letters_side_by_side_in_its_workers(app, monkeypatch: pytest.MonkeyPatch):
    if not ocr.available():
        pytest.skip("no OCR engine")
    if ocr.cores() < 2:
        pytest.skip("one core: one OCR worker")
    monkeypatch.setenv(reading.OCR_WORKERS_ENV, "2")
    sandbox.close_shared()  # a fresh OCR sandbox, made with this setting
    ids = [
        _scanned_cancel_letter("scan_pool_a", "a@corp-pa.example.cn"),
        _scanned_cancel_letter("scan_pool_b", "b@corp-pb.example.cn"),
        _scanned_cancel_letter("scan_pool_c", "c@corp-pc.example.cn"),
    ]
    assert all(session.get(Ticket, i).ocr_pending for i in ids)
    assert ocr_job.run_ocr_pending(limit=2) == 2  # one pass reads two letters
    box = reading.ocr_sandbox()
    assert box.size == 2 and len(set(box.pids())) == 2 and box.tasks_done == 2  # one each
    session.expire_all()
    first, second, third = (session.get(Ticket, i) for i in ids)
    assert [t.ocr_pending for t in (first, second, third)] == [False, False, True]
    assert (first.type, second.type, third.type) == ("cancel", "cancel", "inquiry")
    assert "scan_pool_a" in first.search_text and "scan_pool_b" in second.search_text
    assert ocr_job.run_ocr_pending() == 1  # the one left, on a warm worker
    session.expire_all()
    third = session.get(Ticket, ids[2])
    assert not third.ocr_pending and third.type == "cancel" and "scan_pool_c" in third.search_text
    for ticket_id in ids:
        kinds = session.scalars(select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket_id)).all()
        assert kinds.count("ocr_done") == 1
