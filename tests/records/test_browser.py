"""In Chromium: an agent resolves a change, an unbind, a cancel (approved by a supervisor) and a recovery."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from helpdesk.core.models import Setting
from helpdesk.db import session
from helpdesk.mail.models import OutboundMail
from helpdesk.records.models import Enterprise, PlatformAccount
from helpdesk.tickets.models import Ticket
from tests.conftest import browser_login, screenshot
from tests.records.factories import make_enterprise, make_ticket, make_uscc

pytestmark = [pytest.mark.sqlite_only, pytest.mark.browser]


def _flash(page) -> str:
    return page.locator(".flashes").inner_text()


def test_each_resolution_end_to_end_in_the_browser(live_server, browser, page, users):
    ent = make_enterprise(accounts=("zxkt_hengda", "hengda2", "hengda3"))
    session.add(Setting(key="require_second_approval", value=True))
    new_uscc = make_uscc()
    ids = {
        "change": make_ticket("change", enterprise=ent, company_name=ent.name, old_value=ent.uscc, new_value=new_uscc,
                              subject="变更说明").id,
        "unbind": make_ticket("unbind", enterprise=ent, company_name=ent.name, target_accounts=["zxkt_hengda"],
                              account_names=["zxkt_hengda", "hengda2", "hengda3"], account_count=3).id,
        "cancel": make_ticket("cancel", enterprise=ent, company_name=ent.name, target_accounts=["hengda3"],
                              subject="注销说明").id,
        "recovery": make_ticket("recovery", enterprise=ent, company_name=ent.name, subject="找回账号").id,
    }  # fmt: skip
    ent_id = ent.id
    session.commit()
    session.remove()

    browser_login(page, live_server, "agent1")
    page.on("dialog", lambda dialog: dialog.accept())
    for action in ("change", "unbind", "recovery"):
        page.goto(f"{live_server.url}/tickets/{ids[action]}")
        if action == "change":
            assert page.locator("#findings").get_by_text("按来函内容可以办理变更").count() == 1
            screenshot(page, "records-panel-change")
        page.locator(f'form[data-action="{action}"] button[type=submit]').first.click()
        page.wait_for_load_state()
        # the preview: the reply it will send, then the confirmation that applies it
        assert page.locator("textarea#reply").input_value().strip(), action
        with page.expect_navigation():  # the click only starts the POST; wait for its redirect
            page.get_by_test_id("confirm-resolution").click()
        assert "已办结" in _flash(page), (action, _flash(page))

    page.goto(f"{live_server.url}/tickets/{ids['cancel']}")
    page.locator('form[data-action="cancel"] button[type=submit]').first.click()
    page.wait_for_load_state()
    with page.expect_navigation():  # the click only starts the POST; wait for its redirect
        page.get_by_test_id("confirm-resolution").click()
    assert "需要主管审批" in _flash(page)

    supervisor = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN").new_page()
    browser_login(supervisor, live_server, "super1")
    supervisor.on("dialog", lambda dialog: dialog.accept())
    supervisor.goto(f"{live_server.url}/records/approvals")
    supervisor.get_by_role("button", name="批准并注销").click()
    supervisor.wait_for_load_state()
    assert "已批准并办结" in _flash(supervisor)

    page.goto(f"{live_server.url}/records/enterprises/{ent_id}")
    text = page.locator("main").inner_text()
    assert new_uscc in text and "已注销" in text
    screenshot(page, "records-enterprise")

    session.expire_all()
    assert {session.get(Ticket, i).status for i in ids.values()} == {"resolved"}
    assert session.get(Enterprise, ent_id).uscc == new_uscc
    accounts = {a.account_name: (a.status, a.app_bound) for a in session.scalars(select(PlatformAccount))}
    assert accounts == {
        "zxkt_hengda": ("active", False),
        "hengda2": ("active", False),
        "hengda3": ("cancelled", False),
    }
    assert len(session.scalars(select(OutboundMail).where(OutboundMail.kind == "resolution")).all()) == 4
