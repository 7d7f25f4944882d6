"""The reply box: drafts, personal and shared canned replies, attachments on replies (both databases),
and a reply with attachments through the real SMTP server."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from email import message_from_bytes, policy

import docx
import pytest
from sqlalchemy import func, select

from helpdesk.auth.models import Role
from helpdesk.db import session, utcnow
from helpdesk.mail import outbox
from helpdesk.mail.models import OutboundMail
from helpdesk.mail.parse import parse_mail
from helpdesk.tickets import drafts, queries, reply_files, services
from helpdesk.tickets.models import Attachment, Macro, Message, ReplyDraft
from tests.conftest import login, make_user, page_csrf
from tests.tickets.factories import make_ticket

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def text(response) -> str:
    return response.get_data(as_text=True)


def post(client, path: str, data: dict, page: str = "/", **kw):
    return client.post(path, data={"csrf_token": page_csrf(client, page), **data}, **kw)


def save_draft(client, ticket_id: int, body: str, page: str = "/"):
    token = page_csrf(client, page)
    return client.post(f"/tickets/{ticket_id}/draft", json={"body": body}, headers={"X-CSRFToken": token})


# ------------------------------------------------------------------------------------------ drafts


def test_draft_is_saved_restored_and_deleted_when_the_reply_is_sent(agent_client, users):
    ticket = make_ticket()
    response = save_draft(agent_client, ticket.id, "您好，关于贵公司的变更说明")
    assert response.status_code == 200 and response.get_json()["saved"] is True
    assert save_draft(agent_client, ticket.id, "您好，关于贵公司的变更说明，已核对").status_code == 200
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(ReplyDraft)) == 1  # one row, updated
    page = text(agent_client.get(f"/tickets/{ticket.id}"))
    assert re.search(r'<textarea id="reply-body"[^>]*>您好，关于贵公司的变更说明，已核对</textarea>', page)
    opened_at = re.search(r'data-opened-at="([^"]+)"', page).group(1)
    assert "已恢复" in page

    response = post(
        agent_client,
        f"/tickets/{ticket.id}/reply",
        {"body": "您好，关于贵公司的变更说明，已核对。", "version": ticket.version},
        page=f"/tickets/{ticket.id}",
    )
    assert response.status_code == 302
    session.expire_all()
    assert drafts.draft_for(ticket.id, users["agent"].id) is None
    page = text(agent_client.get(f"/tickets/{ticket.id}"))
    assert re.search(r'<textarea id="reply-body"[^>]*></textarea>', page)

    # a save still on its way from the page the reply was sent from must not bring the draft back
    token = page_csrf(agent_client, "/")
    late = agent_client.post(
        f"/tickets/{ticket.id}/draft",
        json={"body": "您好，关于贵公司的变更说明，已核对。", "since": opened_at},
        headers={"X-CSRFToken": token},
    )
    assert late.status_code == 409
    session.expire_all()
    assert drafts.draft_for(ticket.id, users["agent"].id) is None
    # from the page opened after the reply, typing is kept again
    fresh_since = re.search(r'data-opened-at="([^"]+)"', page).group(1)
    again = agent_client.post(
        f"/tickets/{ticket.id}/draft",
        json={"body": "补充一句", "since": fresh_since},
        headers={"X-CSRFToken": token},
    )
    assert again.status_code == 200
    session.expire_all()
    assert drafts.draft_for(ticket.id, users["agent"].id).body == "补充一句"


def test_drafts_are_per_user_and_colleagues_see_who_is_replying(agent_client, supervisor_client, users):
    ticket = make_ticket()
    save_draft(agent_client, ticket.id, "王客服写的")
    page = text(supervisor_client.get(f"/tickets/{ticket.id}"))
    assert "王客服写的" not in page  # a colleague's draft is theirs
    assert "王客服 正在回复" in page
    assert "正在回复" in text(supervisor_client.get(f"/tickets/{ticket.id}/presence"))
    assert "正在回复" not in text(agent_client.get(f"/tickets/{ticket.id}/presence"))  # not about oneself

    # an old draft is no longer "replying now"; an emptied one is gone
    row = drafts.draft_for(ticket.id, users["agent"].id)
    row.updated_at = utcnow() - drafts.REPLYING_FRESH - timedelta(seconds=5)
    session.commit()
    assert "正在回复" not in text(supervisor_client.get(f"/tickets/{ticket.id}/presence"))
    assert save_draft(agent_client, ticket.id, "   ").get_json()["empty"] is True
    session.expire_all()
    assert drafts.draft_for(ticket.id, users["agent"].id) is None


def test_draft_needs_login_and_csrf(app, agent_client, users):
    ticket = make_ticket()
    anonymous = app.test_client()
    token = page_csrf(anonymous, "/login")  # a valid token, but no login
    response = anonymous.post(
        f"/tickets/{ticket.id}/draft", json={"body": "x"}, headers={"X-CSRFToken": token}
    )
    assert response.status_code in (302, 401)
    assert agent_client.post(f"/tickets/{ticket.id}/draft", json={"body": "x"}).status_code == 400  # no token
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(ReplyDraft)) == 0
    # the form way (what the page sends with sendBeacon as it closes) works with the token
    assert post(agent_client, f"/tickets/{ticket.id}/draft", {"body": "关页面前"}).status_code == 200
    session.expire_all()
    assert drafts.draft_for(ticket.id, users["agent"].id).body == "关页面前"


# ------------------------------------------------------------------------------------------ macros


def test_personal_macros_are_seen_and_edited_only_by_their_owner(app, agent_client, supervisor_client, users):
    make_user("agent2", Role.AGENT, display_name="刘客服")
    other = app.test_client()
    assert login(other, "agent2").status_code == 302

    assert agent_client.get("/macros").status_code == 200  # agents have a page now
    response = post(
        agent_client,
        "/macros/new",
        {
            "key": "",
            "title": "我的问候",
            "category": "",
            "action": "",
            "body": "{company}：您好！我是王客服。",
        },
        page="/macros/new",
    )
    assert response.status_code == 302
    mine = session.scalar(select(Macro).where(Macro.title == "我的问候"))
    assert mine.owner_id == users["agent"].id and mine.key.startswith("my-")

    assert "我的问候" in text(agent_client.get("/macros"))
    assert "我的问候" not in text(other.get("/macros"))
    assert "我的问候" not in text(supervisor_client.get("/macros"))
    ticket = make_ticket()
    assert "我是王客服" in text(agent_client.get(f"/tickets/{ticket.id}"))  # offered in the owner's box
    assert "我是王客服" not in text(other.get(f"/tickets/{ticket.id}"))

    # another user cannot open, edit or delete it (404: it does not exist for them)
    assert other.get(f"/macros/{mine.id}").status_code == 404
    assert post(other, f"/macros/{mine.id}", {"title": "改", "body": "改", "action": ""}).status_code == 404
    assert post(supervisor_client, f"/macros/{mine.id}/delete", {}).status_code == 404
    session.expire_all()
    assert session.get(Macro, mine.id).body == "{company}：您好！我是王客服。"

    # the owner edits and deletes it
    post(
        agent_client,
        f"/macros/{mine.id}",
        {"key": mine.key, "title": "我的问候", "category": "", "action": "", "body": "改过的问候"},
        page=f"/macros/{mine.id}",
    )
    session.expire_all()
    assert session.get(Macro, mine.id).body == "改过的问候"
    assert post(agent_client, f"/macros/{mine.id}/delete", {}).status_code == 302
    session.expire_all()
    assert session.get(Macro, mine.id) is None


def test_shared_macros_are_edited_by_supervisors_and_used_by_agents(
    agent_client, supervisor_client, admin_client
):
    response = post(
        supervisor_client,
        "/macros/new?scope=shared",
        {"key": "thanks", "title": "感谢来信", "category": "其他", "action": "", "body": "感谢来信。"},
        page="/macros/new?scope=shared",
    )
    assert response.status_code == 302
    shared = session.scalar(select(Macro).where(Macro.key == "thanks"))
    assert shared.owner_id is None
    page = text(agent_client.get("/macros"))
    assert "感谢来信" in page and "新建共用模板" not in page
    assert f'href="/macros/{shared.id}"' not in page  # listed, not editable
    assert agent_client.get(f"/macros/{shared.id}").status_code == 403
    assert post(agent_client, f"/macros/{shared.id}/delete", {}).status_code == 403
    # an agent's "new" is always personal, whatever the form says
    post(
        agent_client,
        "/macros/new?scope=shared",
        {"key": "sneaky", "title": "冒充共用", "category": "", "action": "", "body": "x", "scope": "shared"},
        page="/macros/new",
    )
    assert session.scalar(select(Macro).where(Macro.key == "sneaky")).owner_id is not None
    # admins are supervisors too
    post(
        admin_client,
        f"/macros/{shared.id}",
        {"key": "thanks", "title": "感谢来信", "category": "其他", "action": "", "body": "管理员改过"},
        page=f"/macros/{shared.id}",
    )
    session.expire_all()
    assert session.get(Macro, shared.id).body == "管理员改过"
    assert "管理员改过" in text(agent_client.get(f"/tickets/{make_ticket().id}"))


def test_macro_service_enforces_ownership(users):
    agent, supervisor = users["agent"], users["supervisor"]
    mine = services.save_macro(
        None, key="", title="我的", body="正文", category="", action="", by=agent, personal=True
    )
    shared = services.save_macro(
        None, key="s1", title="共用", body="正文", category="", action="", by=supervisor
    )
    assert {m.title for m in queries.macros(agent)} >= {"我的", "共用"}
    assert "我的" not in {m.title for m in queries.macros(supervisor)}
    assert "我的" not in {m.title for m in queries.macros()}  # no user: the shared ones only
    with pytest.raises(services.TicketError):
        services.save_macro(mine, key=mine.key, title="改", body="改", category="", action="", by=supervisor)
    with pytest.raises(services.TicketError):
        services.save_macro(shared, key="s1", title="改", body="改", category="", action="", by=agent)
    with pytest.raises(services.TicketError):
        services.delete_macro(mine, by=supervisor)
    session.expire_all()
    assert session.get(Macro, mine.id).title == "我的" and session.get(Macro, shared.id).title == "共用"
    services.delete_macro(session.get(Macro, mine.id), by=agent)
    assert session.get(Macro, mine.id) is None


def test_macro_forms_need_csrf(agent_client, users):
    response = agent_client.post("/macros/new", data={"title": "无令牌", "body": "x", "action": ""})
    assert response.status_code == 400
    assert session.scalar(select(Macro).where(Macro.title == "无令牌")) is None


# ------------------------------------------------------------------------------------- attachments


def test_reply_with_template_and_upload_stores_and_queues_the_files(app, agent_client, users):
    ticket = make_ticket(type="unbind")
    page = text(agent_client.get(f"/tickets/{ticket.id}"))
    assert 'enctype="multipart/form-data"' in page and "解绑说明（模板）.docx" in page
    response = post(
        agent_client,
        f"/tickets/{ticket.id}/reply",
        {
            "body": "请按附件模板填写解绑说明。",
            "version": ticket.version,
            "template": "unbind",
            "files": (io.BytesIO(PDF), "C:\\Users\\wang\\营业执照 示例<1>.pdf"),
        },
        page=f"/tickets/{ticket.id}",
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    session.expire_all()
    row = session.scalar(select(OutboundMail).where(OutboundMail.kind == "reply"))
    names = [a["name"] for a in row.attachments]
    assert names == ["解绑说明（模板）.docx", "营业执照 示例_1_.pdf"]  # path and reserved characters gone
    assert row.attachments[1]["content_type"] == "application/pdf"
    message = session.scalar(select(Message).where(Message.outbound_mail_id == row.id))
    stored = session.scalars(select(Attachment).where(Attachment.message_id == message.id)).all()
    assert sorted(a.original_name for a in stored) == sorted(names)
    assert (app.config["HELPDESK"].attachments_dir / row.attachments[1]["stored_name"]).read_bytes() == PDF
    # shown on the conversation, under our reply
    page = text(agent_client.get(f"/tickets/{ticket.id}"))
    article = page[page.index(f'id="message-{message.id}"') :]
    assert "营业执照 示例_1_.pdf" in article[: article.index("</article>")]
    pdf = next(a for a in stored if a.original_name.endswith(".pdf"))
    download = agent_client.get(f"/tickets/{ticket.id}/attachments/{pdf.id}/download")
    assert download.status_code == 200 and download.data == PDF
    assert "发送回复邮件，附件：解绑说明（模板）.docx、营业执照 示例_1_.pdf" in page  # the timeline says so


@pytest.mark.parametrize("app_overrides", [{"HELPDESK_REPLY_MAX_FILES": "2", "HELPDESK_REPLY_MAX_MB": "1"}])
def test_reply_files_over_the_limits_are_refused_and_the_text_is_kept(agent_client, users, app_overrides):
    ticket = make_ticket()
    response = post(
        agent_client,
        f"/tickets/{ticket.id}/reply",
        {
            "body": "请查收附件。",
            "version": ticket.version,
            "template": ["change", "unbind", "cancel"],
        },
        page=f"/tickets/{ticket.id}",
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "最多带 2 个附件" in text(response)
    big = (io.BytesIO(b"%PDF-1.4\n" + b"0" * (1024 * 1024 + 10)), "big.pdf")
    response = post(
        agent_client,
        f"/tickets/{ticket.id}/reply",
        {"body": "请查收附件。", "version": ticket.version, "files": big},
        page=f"/tickets/{ticket.id}",
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "超过每封回复 1 MB 的上限" in text(response)
    session.expire_all()
    assert (
        session.scalar(select(func.count()).select_from(OutboundMail).where(OutboundMail.kind == "reply"))
        == 0
    )
    assert drafts.draft_for(ticket.id, users["agent"].id).body == "请查收附件。"  # nothing typed is lost


def test_safe_filename_keeps_chinese_and_the_extension():
    assert reply_files.safe_filename("../../etc/passwd") == "passwd"
    assert reply_files.safe_filename("a\x00b\r\nc.docx") == "a b c.docx"
    assert reply_files.safe_filename("...") == "附件"
    long = "很长的名字" * 40 + ".pdf"
    assert reply_files.safe_filename(long).endswith(".pdf") and len(reply_files.safe_filename(long)) <= 120
    with pytest.raises(reply_files.ReplyFileError):
        reply_files.template_files(["nonsense"])


# ------------------------------------------------------------------------------------------- SMTP


def test_reply_with_a_template_and_an_upload_arrives_with_both_files(app, agent_client, users, smtp):
    ticket = make_ticket(type="cancel")
    post(
        agent_client,
        f"/tickets/{ticket.id}/reply",
        {
            "body": "请填写附件中的注销说明并加盖公章。",
            "version": ticket.version,
            "template": "cancel",
            "files": (io.BytesIO(PDF), "补充说明.pdf"),
        },
        page=f"/tickets/{ticket.id}",
        content_type="multipart/form-data",
    )
    settings = outbox.SmtpSettings(
        host=smtp.host,
        port=smtp.port,
        security="none",
        sender="zxzj@ec.com.cn",
        attachments_dir=str(app.config["HELPDESK"].attachments_dir),
    )
    assert outbox.send_pending(settings) >= 1
    mails = [m for m in smtp.wait_for(1) if "注销说明" in m.message.get_body(("plain",)).get_content()]
    assert len(mails) == 1
    raw = mails[0].data
    # the Chinese names travel encoded (RFC 2231), in Content-Disposition and in Content-Type alike
    # (a long one split into RFC 2231 continuations: filename*0*=utf-8''...; filename*1*=...)
    assert re.search(rb"filename\*(0\*)?=utf-8''%E6%B3%A8%E9%94%80", raw)
    assert re.search(rb"\bname\*(0\*)?=utf-8''%E8%A1%A5%E5%85%85", raw)
    assert "注销".encode() not in raw  # no raw 8-bit header anywhere
    received = message_from_bytes(raw, policy=policy.default)
    files = {part.get_filename(): part.get_content() for part in received.iter_attachments()}
    assert set(files) == {"注销说明（模板）.docx", "补充说明.pdf"}
    assert files["补充说明.pdf"] == PDF
    letter = docx.Document(io.BytesIO(files["注销说明（模板）.docx"]))
    text_of_letter = "\n".join(p.text for p in letter.paragraphs)
    assert "注销说明" in text_of_letter and "现申请注销" in text_of_letter
    # our own parser (how an enterprise's client reads it) gets the same names back
    parsed = parse_mail(raw)
    assert sorted(a.filename for a in parsed.attachments) == sorted(files)
    session.expire_all()
    assert session.scalar(select(OutboundMail).where(OutboundMail.kind == "reply")).sent_at is not None


def test_a_missing_attachment_file_keeps_the_mail_waiting(app, agent_client, users, smtp):
    ticket = make_ticket()
    post(
        agent_client,
        f"/tickets/{ticket.id}/reply",
        {"body": "请查收。", "version": ticket.version, "template": "change"},
        page=f"/tickets/{ticket.id}",
        content_type="multipart/form-data",
    )
    row = session.scalar(select(OutboundMail).where(OutboundMail.kind == "reply"))
    (app.config["HELPDESK"].attachments_dir / row.attachments[0]["stored_name"]).unlink()
    settings = outbox.SmtpSettings(
        host=smtp.host,
        port=smtp.port,
        security="none",
        attachments_dir=str(app.config["HELPDESK"].attachments_dir),
    )
    outbox.send_pending(settings)
    session.expire_all()
    row = session.get(OutboundMail, row.id)
    assert row.sent_at is None and not row.failed and "暂时无法读取" in row.last_error
