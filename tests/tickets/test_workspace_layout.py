"""The ticket workspace at 1366x768 in a real Chromium: the letter preview, the read fields and the one
fitting action button lie inside the viewport without scrolling, for a .docx, a PDF and a scanned letter.

Screenshots land in artifacts/screenshots/ (ticket-docx.png, ticket-pdf.png, ticket-scan.png,
ticket-docx-1920.png, approvals.png). The app runs in a werkzeug thread on SQLite; the test thread
ends its database work before the browser starts (see tests/tickets/test_browser.py).
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest

from helpdesk.core.models import Setting
from helpdesk.db import session
from helpdesk.records.keys import name_key
from helpdesk.records.models import Enterprise, PlatformAccount
from helpdesk.tickets import intake, resolve
from helpdesk.tickets.models import Ticket
from tests.conftest import browser_login, screenshot
from tests.letters.make_letters import ADDRESSEE, docx_bytes, text_image, text_pdf

pytestmark = [pytest.mark.sqlite_only, pytest.mark.browser]

COMPANY = "苏州恒达贸易有限公司"
USCC = "91110108551385082Q"
VIEWPORT_H = 768

CANCEL_LINES = [
    "注销说明",
    ADDRESSEE,
    f"{COMPANY}在商务部业务系统统一平台存在2个账号，账号信息分别是hengda1、zxkt_hengda2，由于账号重复原因，"
    "现申请注销zxkt_hengda2，账号注销后对企业之前申报项目无影响。",
    f"统一社会信用代码：{USCC}",
    "特此说明！",
    f"{COMPANY}（盖章）",
    "2026年11月20日",
]
UNBIND_LINES = [line.replace("注销", "解绑") for line in CANCEL_LINES]


def _enterprise() -> None:
    ent = Enterprise(name=COMPANY, name_key=name_key(COMPANY), uscc=USCC, org_code=USCC[8:17],
                     contact_email="contact@hengda.cn")  # fmt: skip
    session.add(ent)
    session.flush()
    session.add_all([
        PlatformAccount(enterprise_id=ent.id, account_name="hengda1", app_bound=True),
        PlatformAccount(enterprise_id=ent.id, account_name="zxkt_hengda2"),
    ])  # fmt: skip
    session.commit()


def _mail(subject: str, name: str, data: bytes, maintype: str, subtype: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "王经理 <contact@hengda.cn>"
    msg["To"] = "zxzj@ec.com.cn"
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="hengda.cn")
    msg.set_content("您好，附件是我司的说明，请查收。")
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return bytes(msg)


def _letters() -> dict[str, int]:
    docx = docx_bytes(CANCEL_LINES, seal=True)
    pdf = text_pdf([UNBIND_LINES])
    scan = text_image(CANCEL_LINES, fmt="JPEG", red_seal=True)
    ids = {}
    for key, subject, name, data, mime in (
        ("docx", "注销说明", "注销说明.docx", docx,
         ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document")),
        ("pdf", "解绑说明", "解绑说明.pdf", pdf, ("application", "pdf")),
        ("scan", "注销说明（扫描件）", "scan001.jpg", scan, ("image", "jpeg")),
    ):  # fmt: skip
        result = intake.import_eml(_mail(subject, name, data, *mime))
        ids[key] = result.ticket_id
    return ids


def _box(page: Any, selector: str) -> dict[str, float]:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not rendered"
    return box


def _assert_in_viewport(page: Any, selector: str, *, height: int = VIEWPORT_H, whole: bool = True) -> None:
    box = _box(page, selector)
    bottom = box["y"] + (box["height"] if whole else min(box["height"], 200))
    assert box["y"] >= 0 and bottom <= height, f"{selector} at y {box['y']:.0f}-{bottom:.0f}"


def _assert_main_task_fits(page: Any, height: int = VIEWPORT_H) -> None:
    # the page itself does not scroll: everything for the main task is on the first screen
    assert page.evaluate("window.scrollY") == 0
    assert page.evaluate("document.documentElement.scrollHeight") <= height + 1
    _assert_in_viewport(page, "#pane-letter .doc", height=height, whole=False)
    for row in range(page.locator("#fields .field-row").count()):
        _assert_in_viewport(page, f"#fields .field-row >> nth={row}", height=height)
    _assert_in_viewport(page, "#action [data-key=apply]", height=height)


def _wait_for_pages(page: Any) -> None:
    page.wait_for_function(
        "Array.from(document.querySelectorAll('.letter-pane .page img')).slice(0, 2)"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )


def test_the_main_task_fits_1366x768_for_docx_pdf_and_scan_letters(live_server, browser, page, users):
    _enterprise()
    ids = _letters()
    session.remove()
    browser_login(page, live_server, "agent1")

    page.goto(f"{live_server.url}/tickets/{ids['docx']}")
    # the .docx itself, rendered on the server as HTML: its text, no download needed
    assert "zxkt_hengda2" in page.locator("#pane-letter .docx").inner_text()
    _assert_main_task_fits(page)
    # a focused field lights up its evidence in the letter
    page.focus("#field-company_name")
    highlighted = page.locator("#pane-letter .ev-hl")
    assert highlighted.count() >= 1 and COMPANY in highlighted.first.inner_text()
    page.locator("body").click(position={"x": 5, "y": 5})
    screenshot(page, "ticket-docx")

    page.goto(f"{live_server.url}/tickets/{ids['pdf']}")
    _wait_for_pages(page)
    assert page.locator("#pane-letter .page img").count() == 1
    _assert_main_task_fits(page)
    page.hover("#fields .field-row[data-field=target_accounts]")
    assert page.locator("#pane-letter .page.ev-hl").count() == 1
    # a text PDF: the evidence's own words light up on the page image, through its text layer
    words = page.locator("#pane-letter .textlayer span.ev-hl")
    assert words.count() >= 1 and "zxkt" in "".join(words.all_text_contents()).replace(" ", "")
    screenshot(page, "ticket-pdf")

    page.goto(f"{live_server.url}/tickets/{ids['scan']}")
    _wait_for_pages(page)
    _assert_main_task_fits(page)
    screenshot(page, "ticket-scan")

    # the rest is one key away: 2 the conversation, 3 the timeline, 1 back to the letter
    page.keyboard.press("2")
    assert page.locator("#pane-conversation").is_visible() and not page.locator("#pane-letter").is_visible()
    screenshot(page, "ticket-conversation")
    page.keyboard.press("3")
    assert page.locator("#timeline").is_visible()
    page.keyboard.press("r")
    assert page.evaluate("document.activeElement.id") == "reply-body"
    page.keyboard.press("Escape")
    # a note sent from the conversation tab comes back on that tab
    page.keyboard.press("m")
    page.keyboard.type("已电话核实账号")
    with page.expect_navigation():
        page.click(".note-form button[type=submit]")
    assert (
        page.locator("#pane-conversation").is_visible()
        and "已电话核实账号" in page.locator(".conversation").inner_text()
    )
    page.keyboard.press("1")
    assert page.locator("#pane-letter").is_visible()
    page.keyboard.press("?")
    assert "来信预览 / 往来邮件 / 时间线" in page.locator(".kbd-help").inner_text()

    wide = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    try:
        big = wide.new_page()
        browser_login(big, live_server, "agent1")
        big.goto(f"{live_server.url}/tickets/{ids['docx']}")
        _assert_main_task_fits(big, height=1080)
        # readable: the letter pane gets about half the screen, not a strip
        assert _box(big, "#pane-letter")["width"] > 800
        screenshot(big, "ticket-docx-1920")
    finally:
        wide.close()


def test_approvals_show_the_company_the_letter_and_its_checks(live_server, page, users):
    _enterprise()
    ids = _letters()
    session.add(Setting(key="require_second_approval", value=True))
    session.commit()
    ticket = session.get(Ticket, ids["docx"])
    ticket.enterprise_id = session.query(Enterprise.id).scalar()
    session.commit()
    outcome = resolve.apply_resolution(session.get(Ticket, ids["docx"]), "cancel", {"account": "zxkt_hengda2"},
                                       by=users["agent"], override_reason="营业执照已由企业当面提交")  # fmt: skip
    assert outcome.status == "pending"
    session.remove()
    browser_login(page, live_server, "super1")
    page.goto(f"{live_server.url}/records/approvals")
    row = page.locator("tr[data-approval]").first
    text = row.inner_text()
    assert COMPANY in text and "zxkt_hengda2" in text
    assert "营业执照已由企业当面提交" in text and "营业执照" in text and "公章" in text
    assert "注销审批（1）" in page.locator("header.top nav").inner_text()
    screenshot(page, "approvals")
