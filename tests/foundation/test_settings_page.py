"""The settings page: supervisors see and change what is theirs; admins see the mailbox too; agents
are refused; no password reaches the page."""

from __future__ import annotations

import pytest


@pytest.fixture
def app_overrides() -> dict[str, object]:
    return {"HELPDESK_IMAP_USER": "zxzj@ec.com.cn", "HELPDESK_IMAP_PASSWORD": "imap-secret-pw"}


def test_agents_are_refused(agent_client):
    assert agent_client.get("/settings/").status_code == 403
    assert agent_client.post("/records/settings/second-approval", data={"value": "1"}).status_code in (
        400,
        403,
    )


def test_supervisors_see_approval_and_sla_but_not_the_mailbox(supervisor_client):
    page = supervisor_client.get("/settings/").get_data(as_text=True)
    assert "注销审批" in page and "SLA 时限" in page and "2 个工作日" in page
    assert "导出变更记录" in page
    assert "zxzj@ec.com.cn" not in page.split("发件地址")[0] and "收件账号" not in page
    assert 'href="/settings/"' in page  # in the navigation


def test_admins_see_the_mailbox_without_its_password(admin_client):
    page = admin_client.get("/settings/").get_data(as_text=True)
    assert "收件账号" in page and "zxzj@ec.com.cn" in page
    assert "imap-secret-pw" not in page
