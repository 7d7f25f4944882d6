"""The workspace pages through the test client: queue, ticket page, actions, conflicts, attachments."""

from __future__ import annotations

import html
import re
import time
from html.parser import HTMLParser
from urllib.parse import unquote

import pytest
from sqlalchemy import select

from helpdesk.db import session
from helpdesk.mail import html as mail_html
from helpdesk.mail import store
from helpdesk.mail.html import sanitize_html
from helpdesk.mail.models import OutboundMail
from helpdesk.tickets.models import Attachment, Macro, Notification, SavedFilter, Ticket, TicketEvent
from tests.conftest import page_csrf
from tests.tickets.factories import make_ticket

MALICIOUS = (
    '<p>请看附件</p><script>alert("x")</script><img src="https://evil.example/t.png" onerror="alert(1)">'
    '<a href="javascript:alert(2)">点这里</a><a href="/tickets/1/claim">内部链接</a>'
    '<div onclick="alert(3)" style="color:red">红字</div><iframe src="https://evil.example"></iframe>'
    '<form action="https://evil.example"><input name="p"></form><a href="https://ok.example/x">正常链接</a>'
)


def text(response) -> str:
    return response.get_data(as_text=True)


def fresh(ticket_id: int) -> Ticket:
    session.expire_all()
    return session.get(Ticket, ticket_id)


def post(client, path: str, data: dict, page: str = "/"):
    return client.post(path, data={"csrf_token": page_csrf(client, page), **data})


class _Srcdocs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.docs: list[str] = []
        self.sandboxes: list[str | None] = []

    def handle_starttag(self, tag, attrs):
        d = dict(attrs)
        if tag == "iframe" and "srcdoc" in d:
            self.docs.append(d["srcdoc"])
            self.sandboxes.append(d.get("sandbox"))


# ---------------------------------------------------------------------------------- queue


def test_queue_lists_rows_with_time_left_and_accepts_every_dashboard_parameter(agent_client, users):
    ticket = make_ticket(subject="变更说明（北京示例）")
    page = text(agent_client.get("/?view=all"))  # an agent lands on 我的待办
    assert ticket.number in page and "北京示例科技有限公司" in page and "剩 " in page
    for query in (
        "view=mine",
        "view=unassigned",
        "view=due_soon",
        "view=breached",
        "view=waiting",
        "view=all",
        "status=new",
        "type=change",
        f"assignee={users['agent'].id}",
        "assignee=none",
        "sla=ok",
        "sla=warn",
        "sla=breached",
        "sla=paused",
        "sla=stopped",
        "due=today",
        "due=4h",
        "received_from=2026-01-01&received_to=2030-12-31",
        "q=北京",
        f"ids={ticket.id},99999",
    ):
        response = agent_client.get(f"/?{query}")
        assert response.status_code == 200, query
    assert ticket.number in text(agent_client.get(f"/?ids={ticket.id}&type=change&q=北京"))
    assert ticket.number not in text(agent_client.get("/?type=unbind"))


def test_queue_pages_with_a_cursor(agent_client, users, monkeypatch):
    from helpdesk.tickets import queries

    for i in range(3):
        make_ticket(subject=f"工单{i}")
    monkeypatch.setattr(queries, "PAGE_SIZE", 2)
    first = text(agent_client.get("/?view=all"))
    link = re.search(r'href="/\?([^"]*after=[^"]+)" rel="next"', first)
    assert link
    second = text(agent_client.get("/?" + html.unescape(link.group(1))))
    assert "回到第一页" in second and second.count('data-href="/tickets/') == 1


def test_bulk_is_for_supervisors(agent_client, supervisor_client, users):
    ids = [make_ticket().id, make_ticket().id]
    assert "bulk-form" in text(supervisor_client.get("/")) and 'name="ids"' in text(
        supervisor_client.get("/")
    )
    assert 'name="ids"' not in text(agent_client.get("/"))
    denied = post(agent_client, "/tickets/bulk", {"action": "status", "status": "resolved", "ids": ids})
    assert denied.status_code == 403
    ok = post(
        supervisor_client,
        "/tickets/bulk",
        {"action": "assign", "assignee": str(users["agent"].id), "status": "open", "ids": ids},
    )
    assert ok.status_code == 302
    assert all(fresh(i).assignee_id == users["agent"].id for i in ids)
    post(
        supervisor_client,
        "/tickets/bulk",
        {"action": "status", "status": "resolved", "assignee": "none", "ids": ids},
    )
    assert all(fresh(i).status == "resolved" for i in ids)


def test_saved_filters_from_the_queue(agent_client, users):
    response = post(agent_client, "/filters", {"name": "我的变更", "query": "view=mine&type=change"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/?view=mine&type=change")
    assert "我的变更" in text(agent_client.get("/"))
    row = session.scalar(select(SavedFilter))
    assert post(agent_client, f"/filters/{row.id}/delete", {}).status_code == 302
    assert session.scalar(select(SavedFilter)) is None


def test_next_redirects_to_the_assigned_ticket(agent_client, users):
    ticket = make_ticket()
    response = post(agent_client, "/tickets/next", {})
    assert response.headers["Location"].endswith(f"/tickets/{ticket.id}")
    assert fresh(ticket.id).assignee_id == users["agent"].id
    # holding an open ticket, "next" asks first and claims only when confirmed
    asked = post(agent_client, "/tickets/next", {})
    assert asked.status_code == 200 and "再领取一张工单" in text(asked) and ticket.number in text(asked)
    other = make_ticket()
    assert fresh(other.id).assignee_id is None
    confirmed = post(agent_client, "/tickets/next", {"confirm": "1"})
    assert confirmed.headers["Location"].endswith(f"/tickets/{other.id}")
    assert fresh(other.id).assignee_id == users["agent"].id
    empty = post(agent_client, "/tickets/next", {"confirm": "1"})
    assert empty.headers["Location"].endswith("/")


def test_claim_from_the_ticket_page(agent_client, users):
    ticket = make_ticket()
    assert 'data-key="claim"' in text(agent_client.get(f"/tickets/{ticket.id}"))
    post(agent_client, f"/tickets/{ticket.id}/claim", {})
    assert fresh(ticket.id).assignee_id == users["agent"].id


# ---------------------------------------------------------------------------------- ticket page


def test_ticket_page_shows_fields_with_evidence_findings_and_clock(agent_client, users):
    ticket = make_ticket()
    page = text(agent_client.get(f"/tickets/{ticket.id}"))
    assert 'value="北京示例科技有限公司"' in page
    assert "依据：附件 变更说明.docx 第 1 页" in page and "可信度" in page
    assert 'data-finding="required_attachments" data-status="fail"' in page
    assert "截止时间" in page and 'data-sla="ok"' in page
    assert "请补充营业执照加盖公章扫描件" in page  # macros offered
    assert "北京示例科技有限公司：" in page  # placeholders filled in the macro bodies
    assert f'data-poll="/tickets/{ticket.id}/presence?v={ticket.version}"' in page


def test_mail_html_renders_inert_in_a_sandboxed_frame(agent_client, users):
    ticket = make_ticket(body_html=sanitize_html(MALICIOUS))  # what intake stores (parse_mail's html)
    page = text(agent_client.get(f"/tickets/{ticket.id}"))
    parser = _Srcdocs()
    parser.feed(page)
    assert len(parser.docs) == 1
    doc = parser.docs[0].lower()
    assert "请看附件" in parser.docs[0] and "正常链接" in parser.docs[0]
    for bad in (
        "<script",
        "alert",
        "onerror",
        "onclick",
        "javascript:",
        "<iframe",
        "<form",
        "evil.example",
        'href="/tickets',
    ):
        assert bad not in doc, bad
    assert 'href="https://ok.example/x"' in doc and "noopener" in doc
    assert "allow-scripts" not in (parser.sandboxes[0] or "")
    assert "<script>alert" not in page  # nor anywhere else on the page


def test_ticket_page_shows_the_stored_html_without_sanitising_again(agent_client, users, monkeypatch):
    stored = sanitize_html("<div>" * 300 + "<p>一段很长的正文</p>" * 60_000)  # ~1.5 MB, sanitised at ingest
    ticket = make_ticket(body_html=stored)

    def no_sanitising(*args, **kwargs):
        raise AssertionError("the page must not sanitise per view")

    monkeypatch.setattr(mail_html.nh3, "clean", no_sanitising)
    started = time.perf_counter()
    response = agent_client.get(f"/tickets/{ticket.id}")
    elapsed = time.perf_counter() - started
    assert response.status_code == 200
    parser = _Srcdocs()
    parser.feed(text(response))
    assert parser.docs[0].count("一段很长的正文") == 60_000
    assert elapsed < 5  # the aim is 1 s; the margin is for a loaded CI machine


def test_long_text_shows_its_first_part_and_links_the_whole(agent_client, users):
    body = "第一行\n" + "长" * 300_000 + "\n最后一行"
    ticket = make_ticket(body=body)
    message = ticket.messages[0]
    page = text(agent_client.get(f"/tickets/{ticket.id}"))
    link = f"/tickets/{ticket.id}/messages/{message.id}/body.txt"
    assert "第一行" in page and "最后一行" not in page and "长" * 1000 in page
    assert "data-body-cut" in page and f'href="{link}"' in page and f"共 {len(body)} 字" in page
    whole = agent_client.get(link)
    assert whole.status_code == 200 and whole.mimetype == "text/plain"
    assert whole.get_data(as_text=True) == body
    assert whole.headers["Content-Disposition"].startswith("attachment;")
    assert "sandbox" in whole.headers["Content-Security-Policy"]
    short = make_ticket(body="短正文")
    assert "data-body-cut" not in text(agent_client.get(f"/tickets/{short.id}"))


def test_message_body_of_another_ticket_is_not_found(agent_client, users):
    first, second = make_ticket(), make_ticket()
    other = second.messages[0]
    assert agent_client.get(f"/tickets/{first.id}/messages/{other.id}/body.txt").status_code == 404
    assert agent_client.get(f"/tickets/{second.id}/messages/{other.id}/body.txt").status_code == 200


def test_queue_shortens_a_long_subject(agent_client, users):
    subject = "关于申请变更企业信息的函" * 100
    make_ticket(subject=subject)
    page = text(agent_client.get("/?view=all"))
    assert subject not in page and subject[:90] in page


def test_request_material_with_a_macro_pauses_the_clock(agent_client, users):
    ticket = make_ticket()
    macro = session.scalar(select(Macro).where(Macro.key == "request_licence"))
    response = post(
        agent_client,
        f"/tickets/{ticket.id}/reply",
        {"version": ticket.version, "macro": macro.key, "body": macro.body, "request_material": "1"},
        page=f"/tickets/{ticket.id}",
    )
    assert response.status_code == 302
    row = fresh(ticket.id)
    assert row.status == "waiting" and row.clock.paused_at is not None
    assert session.scalar(select(OutboundMail).where(OutboundMail.ticket_id == ticket.id)).kind == "request"
    page = text(agent_client.get(f"/tickets/{ticket.id}"))
    assert 'data-sla="paused"' in page and "计时暂停" in page


def test_stale_version_shows_the_conflict_and_saves_nothing(agent_client, supervisor_client, users):
    ticket = make_ticket()
    stale = ticket.version
    post(supervisor_client, f"/tickets/{ticket.id}/type", {"version": stale, "type": "unbind"})
    assert fresh(ticket.id).type == "unbind"
    response = post(
        agent_client,
        f"/tickets/{ticket.id}/reply",
        {"version": stale, "body": "您好，已办理。"},
        page=f"/tickets/{ticket.id}",
    )
    assert response.status_code == 409
    page = text(response)
    assert "已被他人修改" in page and f'href="/tickets/{ticket.id}"' in page and "您好，已办理。" in page
    assert session.scalar(select(OutboundMail).where(OutboundMail.ticket_id == ticket.id)) is None
    for path, data in (
        ("status", {"status": "resolved"}),
        ("type", {"type": "cancel"}),
        ("fields", {"field_company_name": "x"}),
        ("reject", {"reason": "不符合"}),
        ("merge", {"target": str(make_ticket().id)}),
    ):
        assert (
            post(agent_client, f"/tickets/{ticket.id}/{path}", {"version": stale, **data}).status_code == 409
        ), path
    assert fresh(ticket.id).status == "new" and fresh(ticket.id).type == "unbind"


def test_presence_poll_shows_other_viewers_and_a_newer_version(agent_client, supervisor_client, users):
    ticket = make_ticket()
    seen = ticket.version  # (the test client shares this thread's session: read the version now)
    agent_client.get(f"/tickets/{ticket.id}")
    fragment = text(supervisor_client.get(f"/tickets/{ticket.id}/presence?v={seen}"))
    assert "王客服" in fragment and "重新加载" not in fragment
    post(agent_client, f"/tickets/{ticket.id}/status", {"version": seen, "status": "waiting"})
    assert fresh(ticket.id).status == "waiting"
    fragment = text(supervisor_client.get(f"/tickets/{ticket.id}/presence?v={seen}"))
    assert "王客服刚刚修改了这张工单" in fragment and "重新加载" in fragment


def test_fields_form_records_changes(agent_client, users):
    ticket = make_ticket()
    response = post(
        agent_client,
        f"/tickets/{ticket.id}/fields",
        {
            "version": ticket.version,
            "field_company_name": "北京示例科技股份有限公司",
            "field_account_names": "zxkt_a、zxkt_b",
            "field_uscc": "91110108551385082q",
            "field_seal": "seal",
        },
    )
    assert response.status_code == 302
    row = fresh(ticket.id)
    assert row.fields["company_name"] == "北京示例科技股份有限公司"
    assert row.fields["account_names"] == ["zxkt_a", "zxkt_b"] and row.fields["uscc"] == [
        "91110108551385082Q"
    ]
    events = session.scalars(select(TicketEvent.field).where(TicketEvent.kind == "field")).all()
    assert sorted(events) == ["account_names", "company_name", "seal"]
    assert "已人工修改" in text(agent_client.get(f"/tickets/{ticket.id}"))


def test_actions_change_type_reject_merge_assign(agent_client, supervisor_client, users):
    ticket = make_ticket()
    post(agent_client, f"/tickets/{ticket.id}/type", {"version": fresh(ticket.id).version, "type": "unbind"})
    assert fresh(ticket.id).type == "unbind"
    post(
        supervisor_client,
        f"/tickets/{ticket.id}/assign",
        {"version": fresh(ticket.id).version, "assignee": str(users["agent"].id)},
    )
    assert fresh(ticket.id).assignee_id == users["agent"].id
    denied = post(
        agent_client,
        f"/tickets/{ticket.id}/assign",
        {"version": fresh(ticket.id).version, "assignee": str(users["supervisor"].id)},
    )
    assert denied.status_code == 302 and fresh(ticket.id).assignee_id == users["agent"].id
    target = make_ticket()
    response = post(
        agent_client,
        f"/tickets/{ticket.id}/merge",
        {"version": fresh(ticket.id).version, "target": target.number},
    )
    assert response.headers["Location"].endswith(f"/tickets/{target.id}")
    assert fresh(ticket.id).status == "merged"
    assert "合并进来的工单" in text(agent_client.get(f"/tickets/{target.id}"))
    other = make_ticket()
    post(agent_client, f"/tickets/{other.id}/reject", {"version": other.version, "reason": "未加盖公章"})
    assert fresh(other.id).status == "rejected"
    timeline = text(agent_client.get(f"/tickets/{other.id}"))
    assert "状态：待处理 → 已驳回（未加盖公章）" in timeline


def test_likely_duplicates_are_offered_for_merge(agent_client, users):
    first = make_ticket(sender="same@corp.cn")
    second = make_ticket(sender="same@corp.cn")
    page = text(agent_client.get(f"/tickets/{second.id}"))
    assert "可能重复的工单" in page and first.number in page


# ---------------------------------------------------------------------------------- attachments


@pytest.fixture
def with_files(app):
    ticket = make_ticket()
    directory = app.config["HELPDESK"].attachments_dir
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    rows = []
    for data, ctype, name in (
        (pdf, "application/pdf", "营业执照.PDF"),
        (b"\x89PNG\r\n\x1a\n....", "image/png", "章.png"),
        (
            b"PK\x03\x04docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "变更说明.docx",
        ),
        (b"<svg onload=alert(1)>", "image/svg+xml", "x.svg"),
    ):
        digest, stored = store.save(directory, data)
        rows.append(
            Attachment(
                ticket_id=ticket.id,
                message_id=ticket.messages[0].id,
                sha256=digest,
                stored_name=stored,
                original_name=name,
                content_type=ctype,
                size=len(data),
            )
        )
    session.add_all(rows)
    session.commit()
    return ticket, rows


def test_attachments_listed_previewed_and_downloaded_under_our_name(agent_client, with_files):
    ticket, rows = with_files
    page = text(agent_client.get(f"/tickets/{ticket.id}"))
    assert "PDF" in page and "PNG 图片" in page and "Word 文档（docx）" in page
    assert f"/attachments/{rows[0].id}/inline" in page and f"/attachments/{rows[1].id}/inline" in page
    assert f"/attachments/{rows[2].id}/inline" not in page

    inline = agent_client.get(f"/tickets/{ticket.id}/attachments/{rows[0].id}/inline")
    assert inline.status_code == 200 and inline.mimetype == "application/pdf"
    assert inline.headers["Content-Security-Policy"].startswith("sandbox")
    assert inline.headers["Content-Disposition"].startswith("inline;")
    for row in rows[2:]:  # docx and svg: never inline
        assert agent_client.get(f"/tickets/{ticket.id}/attachments/{row.id}/inline").status_code == 404

    download = agent_client.get(f"/tickets/{ticket.id}/attachments/{rows[0].id}/download")
    disposition = download.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f'filename="ZXZJ-{ticket.id}-attachment1.pdf"' in disposition
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == f"ZXZJ-{ticket.id}-附件1.pdf"
    assert download.data.startswith(b"%PDF")
    svg = agent_client.get(f"/tickets/{ticket.id}/attachments/{rows[3].id}/download")
    assert (
        svg.headers["Content-Disposition"].startswith("attachment;")
        and "sandbox" in svg.headers["Content-Security-Policy"]
    )
    assert agent_client.get(f"/tickets/{ticket.id + 1}/attachments/{rows[0].id}/download").status_code == 404


# ---------------------------------------------------------------------------------- notifications, macros, token


def test_notifications_list_count_and_read(agent_client, users):
    ticket = make_ticket()
    session.add_all(
        [
            Notification(
                user_id=users["agent"].id, ticket_id=ticket.id, kind="sla_warn", message="工单即将超时"
            ),
            Notification(
                user_id=users["agent"].id, ticket_id=ticket.id, kind="sla_breach", message="工单已超时"
            ),
            Notification(
                user_id=users["supervisor"].id, ticket_id=ticket.id, kind="sla_breach", message="别人的"
            ),
        ]
    )
    session.commit()
    assert agent_client.get("/notifications/count").get_json() == {"unread": 2}
    page = text(agent_client.get("/notifications"))
    assert "工单即将超时" in page and "别人的" not in page and "2 条未读" in page
    assert "2 条未读通知" in text(agent_client.get("/"))
    post(agent_client, "/notifications/read", {}, page="/notifications")
    assert agent_client.get("/notifications/count").get_json() == {"unread": 0}
    assert 'href="/notifications"' in text(agent_client.get("/"))  # the navigation links to it


def test_macros_editor_is_for_supervisors(agent_client, supervisor_client, users):
    assert "新建共用模板" not in text(agent_client.get("/macros"))  # agents: only their own
    assert "请补充营业执照加盖公章扫描件" in text(supervisor_client.get("/macros"))
    response = post(
        supervisor_client,
        "/macros/new",
        {
            "key": "thanks",
            "title": "感谢来信",
            "category": "其他",
            "action": "",
            "body": "{company}：感谢来信。",
        },
        page="/macros/new",
    )
    assert response.status_code == 302
    macro = session.scalar(select(Macro).where(Macro.key == "thanks"))
    post(
        supervisor_client,
        f"/macros/{macro.id}",
        {"key": "thanks", "title": "感谢", "category": "其他", "action": "request_material", "body": "改过"},
        page=f"/macros/{macro.id}",
    )
    session.expire_all()
    assert session.get(Macro, macro.id).action == "request_material"
    assert post(agent_client, f"/macros/{macro.id}/delete", {}).status_code == 403
    post(supervisor_client, f"/macros/{macro.id}/delete", {})
    assert session.scalar(select(Macro).where(Macro.key == "thanks")) is None


def test_api_token_page_issues_a_token_once(agent_client, users):
    assert "您还没有令牌" in text(agent_client.get("/account/api-token"))
    page = text(post(agent_client, "/account/api-token", {}, page="/account/api-token"))
    token = re.search(r'value="(hd_[^"]+)"', page).group(1)
    response = agent_client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.get_json()["username"] == "agent1"
    assert "您已有一个有效的令牌" in text(agent_client.get("/account/api-token"))


def test_bulk_redirects_only_to_this_site(supervisor_client, users):
    ids = [make_ticket().id]
    for back in ("//evil.example/x", "/\\evil.example", "https://evil.example/"):
        response = post(
            supervisor_client,
            "/tickets/bulk",
            {"action": "status", "status": "open", "assignee": "none", "ids": ids, "back": back},
        )
        assert response.headers["Location"] == "/", back
    response = post(
        supervisor_client,
        "/tickets/bulk",
        {"action": "status", "status": "open", "assignee": "none", "ids": ids, "back": "/?view=waiting"},
    )
    assert response.headers["Location"] == "/?view=waiting"
