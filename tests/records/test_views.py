"""Records pages: render for the right roles, the panel's forms post to working endpoints."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from helpdesk.core.models import Setting
from helpdesk.db import session
from helpdesk.mail.models import OutboundMail
from helpdesk.records.models import AuditEntry, Enterprise, PendingApproval, PlatformAccount
from helpdesk.tickets.models import Ticket
from tests.conftest import page_csrf
from tests.records.factories import make_enterprise, make_ticket, make_uscc


@pytest.fixture
def acme(app):
    ent = make_enterprise(accounts=("zxkt_hengda", "hengda2"),
                          projects=(("2026年境外展会项目", "苏州恒达贸易有限公司", "苏州市"),))  # fmt: skip
    session.commit()
    return ent


def _unbind_ticket(ent: Enterprise) -> Ticket:
    t = make_ticket("unbind", enterprise=ent, company_name=ent.name, account_names=["zxkt_hengda", "hengda2"],
                    account_count=2, target_accounts=["hengda"])  # fmt: skip
    session.commit()
    return t


def test_search_and_enterprise_page_for_an_agent(agent_client, acme):
    page = agent_client.get("/records/?q=恒达贸易")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "苏州恒达贸易有限公司" in html and "名称相近" in html
    # a code or an account goes straight to the enterprise page
    assert (
        agent_client.get(f"/records/?q={acme.uscc}")
        .headers["Location"]
        .endswith(f"/records/enterprises/{acme.id}")
    )
    page = agent_client.get(f"/records/enterprises/{acme.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    for text in (acme.uscc, "zxkt_hengda", "已绑定", "2026年境外展会项目", "未公示", "变更记录"):
        assert text in html, text
    assert agent_client.get("/records/enterprises/999999").status_code == 404


def test_admin_pages_are_forbidden_to_agents_and_supervisors(agent_client, supervisor_client, app, users):
    for client in (agent_client, supervisor_client):
        assert client.get("/records/import").status_code == 403
    # supervisors export the changes (the platform team asks them); agents do not
    assert agent_client.get("/records/export").status_code == 403
    assert agent_client.get("/records/export/download?since=2026-01-01").status_code == 403
    assert supervisor_client.get("/records/export").status_code == 200
    assert supervisor_client.get("/records/export/download?since=2026-01-01&format=csv").status_code == 200
    assert agent_client.get("/records/approvals").status_code == 403
    assert supervisor_client.get("/records/approvals").status_code == 200


def test_ticket_page_shows_the_panel_and_unbind_applies(agent_client, acme):
    ticket = _unbind_ticket(acme)
    html = agent_client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "与档案核对" in html and 'data-action="unbind"' in html and 'data-key="apply"' in html
    assert f'name="version" value="{ticket.version}"' in html
    token = page_csrf(agent_client, f"/tickets/{ticket.id}")
    form = {"csrf_token": token, "action": "unbind", "account": "hengda", "version": ticket.version}
    response = agent_client.post(f"/records/tickets/{ticket.id}/resolve", data=form)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/tickets/{ticket.id}")
    session.expire_all()
    assert session.get(Ticket, ticket.id).status == "resolved"
    assert (
        session.scalar(select(PlatformAccount.app_bound).where(PlatformAccount.account_name == "zxkt_hengda"))
        is False
    )
    # the double click: same form again
    again = agent_client.post(f"/records/tickets/{ticket.id}/resolve", data=form, follow_redirects=True)
    assert "没有重复办理" in again.get_data(as_text=True)
    assert len(session.scalars(select(OutboundMail)).all()) == 1


def test_a_refused_precondition_is_flashed(agent_client, acme):
    ticket = _unbind_ticket(acme)
    token = page_csrf(agent_client, f"/tickets/{ticket.id}")
    response = agent_client.post(f"/records/tickets/{ticket.id}/resolve", follow_redirects=True, data={
        "csrf_token": token, "action": "unbind", "account": "hengda2", "version": ticket.version})  # fmt: skip
    assert "不能办理" in response.get_data(as_text=True)
    assert session.get(Ticket, ticket.id).status == "open"


def test_posting_without_csrf_is_refused(agent_client, acme):
    ticket = _unbind_ticket(acme)
    response = agent_client.post(
        f"/records/tickets/{ticket.id}/resolve", data={"action": "unbind", "account": "hengda"}
    )
    assert response.status_code == 400


def test_linking_a_candidate_from_the_panel(agent_client, acme):
    ticket = make_ticket("unbind", enterprise=None, company_name="苏州市恒达贸易有限公司")
    session.commit()
    html = agent_client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "可能的企业" in html and f'name="enterprise_id" value="{acme.id}"' in html
    token = page_csrf(agent_client, f"/tickets/{ticket.id}")
    response = agent_client.post(f"/records/tickets/{ticket.id}/link",
                                 data={"csrf_token": token, "enterprise_id": acme.id, "version": ticket.version})  # fmt: skip
    assert response.status_code == 302
    session.expire_all()
    assert session.get(Ticket, ticket.id).enterprise_id == acme.id


def test_change_form_is_prefilled_and_applies(agent_client, acme):
    new = make_uscc()
    ticket = make_ticket("change", enterprise=acme, company_name=acme.name, old_value=acme.uscc, new_value=new,
                         subject="变更说明")  # fmt: skip
    session.commit()
    html = agent_client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert f'name="new_uscc" value="{new}"' in html and f'name="old_uscc" value="{acme.uscc}"' in html
    token = page_csrf(agent_client, f"/tickets/{ticket.id}")
    agent_client.post(f"/records/tickets/{ticket.id}/resolve", data={
        "csrf_token": token, "action": "change", "new_uscc": new, "old_uscc": acme.uscc, "company_name": acme.name,
        "version": ticket.version})  # fmt: skip
    session.expire_all()
    assert session.get(Enterprise, acme.id).uscc == new
    assert (
        agent_client.get(f"/records/enterprises/{acme.id}").get_data(as_text=True).count(new) >= 2
    )  # codes + audit


def test_cancel_with_approval_through_the_pages(agent_client, supervisor_client, acme):
    session.add(Setting(key="require_second_approval", value=True))
    ticket = make_ticket("cancel", enterprise=acme, company_name=acme.name, target_accounts=["hengda2"])
    session.commit()
    token = page_csrf(agent_client, f"/tickets/{ticket.id}")
    agent_client.post(f"/records/tickets/{ticket.id}/resolve", data={
        "csrf_token": token, "action": "cancel", "account": "hengda2", "version": ticket.version})  # fmt: skip
    html = agent_client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "等待审批中" in html
    pending = session.scalars(select(PendingApproval)).one()
    page = supervisor_client.get("/records/approvals").get_data(as_text=True)
    assert "hengda2" in page and "批准并注销" in page
    token = page_csrf(supervisor_client, "/records/approvals")
    response = supervisor_client.post(f"/records/approvals/{pending.id}/approve", data={"csrf_token": token})
    assert response.status_code == 302
    session.expire_all()
    assert session.get(Ticket, ticket.id).status == "resolved"
    assert (
        session.scalar(select(PlatformAccount.status).where(PlatformAccount.account_name == "hengda2"))
        == "cancelled"
    )
    token = page_csrf(agent_client, f"/records/enterprises/{acme.id}")
    assert (
        agent_client.post(f"/records/approvals/{pending.id}/approve", data={"csrf_token": token}).status_code
        == 403
    )


def test_import_upload_and_report(admin_client, app):
    uscc = make_uscc()
    good = f"企业名称,统一社会信用代码\n苏州恒达贸易有限公司,{uscc}\n".encode("gb18030")
    bad = "企业名称,统一社会信用代码\n坏公司,123\n".encode()
    assert "档案导入" in admin_client.get("/records/import").get_data(as_text=True)
    token = page_csrf(admin_client, "/records/import")
    response = admin_client.post("/records/import", content_type="multipart/form-data", data={
        "csrf_token": token, "files": [(io.BytesIO(good), "企业.csv"), (io.BytesIO(bad), "坏.csv")]})  # fmt: skip
    html = response.get_data(as_text=True)
    assert (
        response.status_code == 422 and "坏.csv" in html and "应为 18 位" in html and "未导入任何数据" in html
    )
    assert session.scalar(select(Enterprise)) is None
    response = admin_client.post("/records/import", content_type="multipart/form-data", data={
        "csrf_token": token, "skip_invalid": "1", "files": [(io.BytesIO(good), "企业.csv"), (io.BytesIO(bad), "坏.csv")]})  # fmt: skip
    assert response.status_code == 200 and session.scalar(select(Enterprise)).uscc == uscc


def test_second_approval_setting_toggle_is_audited(supervisor_client, app):
    token = page_csrf(supervisor_client, "/settings/")
    response = supervisor_client.post(
        "/records/settings/second-approval", data={"csrf_token": token, "value": "1"}
    )
    assert response.headers["Location"].endswith("/settings/")
    assert session.get(Setting, "require_second_approval").value is True
    assert "已开启" in supervisor_client.get("/settings/").get_data(as_text=True)
    assert session.scalars(select(AuditEntry).where(AuditEntry.action == "setting")).one().after == "True"


def test_export_downloads_csv_and_xlsx(admin_client, acme, users):
    ticket = _unbind_ticket(acme)
    from helpdesk.tickets import resolve

    resolve.apply_resolution(ticket, "unbind", {"account": "hengda"}, by=users["agent"])
    assert "导出变更记录" in admin_client.get("/records/export").get_data(as_text=True)
    csv_response = admin_client.get("/records/export/download?since=2000-01-01&format=csv")
    assert (
        csv_response.status_code == 200 and "filename*=UTF-8''" in csv_response.headers["Content-Disposition"]
    )
    text = csv_response.data.decode("utf-8-sig")
    assert (
        text.splitlines()[0].startswith("办理时间,工单号,操作") and "zxkt_hengda" in text and "解绑" in text
    )
    xlsx = admin_client.get("/records/export/download?since=2000-01-01&format=xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    assert sheet["A1"].value == "办理时间" and sheet["C2"].value == "解绑"
    assert sheet["A2"].is_date and sheet.column_dimensions["D"].width > 20
    assert admin_client.get("/records/export/download?since=nonsense").status_code == 400


def test_next_must_be_a_local_path(agent_client, acme):
    ticket = _unbind_ticket(acme)
    token = page_csrf(agent_client, f"/tickets/{ticket.id}")
    for evil in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = agent_client.post(f"/records/tickets/{ticket.id}/link",
                                     data={"csrf_token": token, "enterprise_id": acme.id, "next": evil})  # fmt: skip
        assert response.headers["Location"].endswith(f"/tickets/{ticket.id}"), evil
