"""An agent's day in a real Chromium: next, read the letter, request material, the reply arrives, resolve.

The app runs in a werkzeug thread on SQLite. SQLite transactions here begin IMMEDIATE (they take the
write lock), so the test thread ends every database read with a rollback: an open read would block
the server's writes.
"""

from __future__ import annotations

import re
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest
from sqlalchemy import select

from helpdesk.db import session, session_factory, utcnow
from helpdesk.mail.imap import ImapSettings
from helpdesk.mail.outbox import SmtpSettings, send_pending
from helpdesk.tickets import intake
from helpdesk.tickets.models import Ticket
from tests.conftest import browser_login, make_user, screenshot
from tests.tickets.factories import make_ticket

pytestmark = [pytest.mark.sqlite_only, pytest.mark.browser]

COMPANY = "北京示例科技有限公司"
LETTER = f"""变更说明

外贸发展专项资金（中小）网络管理应用项目组：
    {COMPANY}在商务部业务系统统一平台账号 zxkt_bjsl01，由于统一社会信用代码填写错误原因，现申请更改商务部业务系统统一平台外贸发展专项资金（中小）网络管理应用统一社会信用代码，由 91110108MA01ABCD12 变更为 91110108551385082Q，变更后对企业之前申报项目无影响。

特此说明！

{COMPANY}
2026年11月20日
"""


def snapshot(ticket_id: int) -> dict[str, Any]:
    """The ticket's row as plain values, read in a short session of its own (closed before returning)."""
    with session_factory() as own:
        t = own.get(Ticket, ticket_id)
        return {
            "status": t.status,
            "type": t.type,
            "assignee_id": t.assignee_id,
            "paused": t.clock.paused_at is not None,
            "version": t.version,
        }


def change_letter_mail() -> bytes:
    msg = EmailMessage()
    msg["From"] = "张三 <zhang@example.com>"
    msg["To"] = "zxzj@ec.com.cn"
    msg["Subject"] = "变更说明（统一社会信用代码）"
    msg["Message-ID"] = make_msgid(domain="example.com")
    msg.set_content(LETTER)
    return bytes(msg)


def make_enterprise() -> None:
    from helpdesk.records.keys import name_key
    from helpdesk.records.models import Enterprise, PlatformAccount

    # registered with the wrong code that the letter asks to correct
    enterprise = Enterprise(
        name=COMPANY,
        name_key=name_key(COMPANY),
        uscc="91110108MA01ABCD12",
        org_code="MA01ABCD1",
        contact_email="zhang@example.com",
    )
    session.add(enterprise)
    session.flush()
    session.add_all(
        [
            PlatformAccount(enterprise_id=enterprise.id, account_name="zxkt_bjsl01", app_bound=True),
            PlatformAccount(enterprise_id=enterprise.id, account_name="bjsl02"),
        ]
    )
    session.commit()


def test_agent_works_a_change_letter_end_to_end(live_server, page, users, smtp, imap):
    make_enterprise()
    now = utcnow()
    for days, kind, subject, status, assignee in (
        (6, "inquiry", "请问资质显示未公示是什么原因", "open", users["supervisor"].id),
        (2, "unbind", "解绑说明（上海某贸易有限公司）", "new", None),
        (1, "recovery", "找回账号", "waiting", None),
        (12, "cancel", "注销说明", "resolved", users["supervisor"].id),
    ):
        make_ticket(
            type=kind,
            subject=subject,
            sender=f"{kind}@corp.cn",
            received_at=now - timedelta(days=days),
            status=status,
            assignee_id=assignee,
        )
    users["agent"].ticket_types = "change"
    agent_id = users["agent"].id
    session.commit()
    result = intake.import_eml(change_letter_mail(), received_at=utcnow())
    ticket_id = result.ticket_id
    session.remove()  # from here on the test thread reads only through snapshot()
    assert result.outcome == "created"

    browser_login(page, live_server, "agent1")
    page.goto(live_server.url + "/?view=all")  # an agent lands on 我的待办 (empty here)
    assert page.locator("table.queue tbody tr[data-href]").count() == 5
    screenshot(page, "queue")

    # "n": the most urgent unassigned change ticket becomes the agent's
    page.keyboard.press("n")
    page.wait_for_url(re.compile(rf"/tickets/{ticket_id}$"))
    assert snapshot(ticket_id)["assignee_id"] == agent_id
    assert page.locator("#field-company_name").input_value() == COMPANY
    assert "依据：邮件正文" in page.locator("#fields").inner_text()
    failing = page.locator('#findings li[data-status="fail"]')
    assert failing.count() >= 1 and "缺少盖章" in failing.first.inner_text()
    assert COMPANY in page.locator("#records").inner_text()  # the records panel beside the letter
    page.keyboard.press("?")
    assert page.locator(".kbd-help.open").is_visible()
    page.keyboard.press("Escape")
    screenshot(page, "ticket")

    # request material with a macro: one step, the clock pauses
    page.keyboard.press("r")
    assert page.evaluate("document.activeElement.id") == "reply-body"
    page.keyboard.press("Escape")
    page.select_option("#macro", "request_stamped_letter")
    body = page.locator("#reply-body").input_value()
    assert body.startswith(f"{COMPANY}：") and f"ZXZJ#{ticket_id}" in body and "加盖公司公章" in body
    page.click("button[name=request_material]")
    page.wait_for_load_state()
    assert "SLA 计时暂停" in page.locator(".flashes").inner_text()
    assert page.locator("[data-sla]").get_attribute("data-sla") == "paused"
    assert snapshot(ticket_id)["status"] == "waiting"

    # the outbox job sends it; the SMTP server receives the request (after the acknowledgement)
    send_pending(SmtpSettings(host=smtp.host, port=smtp.port, security="none"))
    session.remove()
    received = smtp.wait_for(2)
    request = next(m for m in received if "加盖公司公章" in m.message.get_body(("plain",)).get_content())
    assert f"[ZXZJ#{ticket_id}]" in request.subject and request.rcpt_tos == ["zhang@example.com"]

    # the enterprise answers through IMAP: the ticket reopens and the clock runs again
    answer = EmailMessage()
    answer["From"] = "张三 <zhang@example.com>"
    answer["To"] = "zxzj@ec.com.cn"
    answer["Subject"] = "回复：" + request.subject
    answer["Message-ID"] = make_msgid(domain="example.com")
    answer["In-Reply-To"] = request.message["Message-ID"]
    answer["References"] = request.message["Message-ID"]
    answer.set_content("您好，盖章的变更说明已附上。")
    answer.add_attachment(
        b"%PDF-1.4\n%%EOF\n", maintype="application", subtype="pdf", filename="变更说明（盖章）.pdf"
    )
    imap.append(bytes(answer))
    from helpdesk.tickets.poll import poll_once

    report = poll_once(
        ImapSettings(imap.host, imap.port, imap.user, imap.password, security="none"), use_lease=False
    )
    session.remove()
    assert report.threaded == 1, report.summary()
    assert snapshot(ticket_id)["status"] == "open" and not snapshot(ticket_id)["paused"]
    page.reload()
    assert page.locator("[data-sla]").get_attribute("data-sla") in ("ok", "warn")
    assert "盖章的变更说明已附上" in page.locator(".conversation").inner_text()
    assert "变更说明（盖章）.pdf" in page.locator(".conversation").inner_text()

    # the seal hint cannot judge this PDF, and an unknown seal blocks the change: the agent looks
    # at the attachment and confirms the seal (a correction on the timeline)
    page.select_option("#field-seal", "seal")
    with page.expect_navigation():
        page.get_by_role("button", name="保存字段修改").click()
    assert "客服已确认来函加盖公章" in page.locator("#findings").inner_text()
    # apply the resolution from the records panel: "a" focuses its primary action
    assert "企业档案" in page.locator("#records").inner_text()
    page.keyboard.press("a")
    assert page.evaluate("document.activeElement.dataset.key") == "apply"
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    # the preview shows the reply it will send (editable); nothing blocks a stamped, valid change
    assert "91110108551385082Q" in page.locator("textarea#reply").input_value()
    assert page.locator("#blockers").count() == 0, page.locator("#blockers").inner_text()
    with page.expect_navigation():  # the click only starts the POST; wait for its redirect
        page.get_by_test_id("confirm-resolution").click()
    assert "已办结" in page.locator(".flashes").inner_text()
    with session_factory() as own:
        from helpdesk.records.models import Enterprise

        assert own.scalar(select(Enterprise.uscc).where(Enterprise.name == COMPANY)) == "91110108551385082Q"
    assert snapshot(ticket_id)["status"] == "resolved"


def test_two_agents_pressing_next_at_once_get_different_tickets(live_server, browser, users):
    make_user("agent2", users["agent"].role_enum, display_name="赵客服")
    expected = sorted([make_ticket(subject="甲").id, make_ticket(subject="乙").id])
    session.remove()
    pages = []
    for name in ("agent1", "agent2"):
        context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
        page = context.new_page()
        browser_login(page, live_server, name)
        page.goto(live_server.url + "/")
        pages.append(page)
    try:
        for page in pages:  # both requests leave before either answer arrives
            page.keyboard.press("n")
        for page in pages:
            page.wait_for_url(re.compile(r"/tickets/\d+$"))
        got = [int(page.url.rsplit("/", 1)[1]) for page in pages]
        assert sorted(got) == expected
        assert snapshot(got[0])["assignee_id"] != snapshot(got[1])["assignee_id"]
    finally:
        for page in pages:
            page.context.close()


def test_saving_a_stale_ticket_shows_the_conflict(live_server, browser, page, users):
    ticket_id = make_ticket().id
    session.remove()
    browser_login(page, live_server, "agent1")
    page.goto(f"{live_server.url}/tickets/{ticket_id}")

    other = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    try:
        sup = other.new_page()
        browser_login(sup, live_server, "super1")
        sup.goto(f"{live_server.url}/tickets/{ticket_id}")
        sup.keyboard.press("4")  # the tab with SLA and the other actions
        sup.select_option("#type", "unbind")
        sup.click("#actions form:has(#type) button[type=submit]")
        sup.wait_for_load_state()
    finally:
        other.close()
    assert snapshot(ticket_id)["type"] == "unbind"

    page.keyboard.press("2")  # the conversation tab, with the reply box
    page.fill("#reply-body", "您好，已收到您的变更说明。")
    page.click(".reply-form button.primary")
    page.wait_for_load_state()
    assert "已被他人修改" in page.locator("main").inner_text()
    assert page.locator("#typed").input_value() == "您好，已收到您的变更说明。"
    page.click("[data-key=reload]")
    page.wait_for_url(re.compile(rf"/tickets/{ticket_id}$"))
    assert "解绑" in page.locator(".ticket-head").inner_text()
    assert snapshot(ticket_id)["status"] == "new"  # the stale reply was not applied


def test_queue_keyboard_moves_and_opens(live_server, page, users):
    first, second = make_ticket(subject="第一张").id, make_ticket(subject="第二张").id
    session.remove()
    browser_login(page, live_server, "agent1")
    page.goto(live_server.url + "/?view=all")  # neither is the agent's: 我的待办 is empty
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    assert page.locator("tr.selected").get_attribute("data-href") == f"/tickets/{first}"
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/tickets/{second}$"))
    page.keyboard.press("m")
    assert page.evaluate("document.activeElement.id") == "note-body"
    page.keyboard.type("已电话联系")
    page.keyboard.press("Escape")
    page.keyboard.press("g")
    page.wait_for_url(live_server.url + "/")
