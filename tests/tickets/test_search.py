"""The queue's search (helpdesk/tickets/search.py) on both databases: the words of the body, a note,
the enterprise's name and accounts, short names, and the index following later changes."""

from __future__ import annotations

from datetime import timedelta

from werkzeug.datastructures import MultiDict

from helpdesk.db import session
from helpdesk.tickets import queries, queue_filters, resolve, search, services
from helpdesk.tickets.queries import QueueQuery
from tests.records.factories import make_enterprise
from tests.tickets.conftest import NOW, SHANGHAI
from tests.tickets.factories import make_ticket


def found(user, **args) -> list[int]:
    query = QueueQuery.from_args(MultiDict(args))
    return [t.id for t in queries.queue_page(query, user, queries.new_clock(SHANGHAI, NOW)).tickets]


def test_finds_a_word_of_the_body(app, users):
    hit = make_ticket(subject="变更说明", body="您好，我司海关编码登记有误，烦请更正为新的登记信息。")
    make_ticket(subject="变更说明", body="您好，附件是变更说明。")
    assert found(users["agent"], q="海关编码") == [hit.id]
    assert found(users["agent"], q="海关编码 更正") == [hit.id]  # every word, anywhere
    assert found(users["agent"], q="海关编码 无此词") == []


def test_finds_an_attachment_name_and_letter_evidence(app, users):
    hit = make_ticket(subject="解绑说明")
    other = make_ticket(subject="解绑说明")
    services.add_note(other, "无关的备注", by=users["agent"])
    from helpdesk.tickets.models import Attachment

    session.add(
        Attachment(ticket_id=hit.id, sha256="0" * 64, stored_name="x", original_name="营业执照扫描件2026.pdf")
    )
    session.commit()
    assert found(users["agent"], q="营业执照扫描件") == [hit.id]
    # the change letter's evidence (tests/tickets/factories.CHANGE_LETTER) is searchable too
    assert hit.id in found(users["agent"], q="zxkt_bjsl01")


def test_a_note_added_later_is_found(app, users):
    ticket = make_ticket(subject="咨询")
    make_ticket(subject="咨询")
    assert found(users["agent"], q="回访记录甲") == []
    services.add_note(ticket, "已电话回访记录甲，企业确认", by=users["agent"])
    assert found(users["agent"], q="回访记录甲") == [ticket.id]
    # a reply is indexed as well
    services.reply(ticket, "请补充营业执照扁平件", by=users["agent"])
    assert found(users["agent"], q="扁平件") == [ticket.id]


def test_enterprise_name_and_accounts_also_when_linked_later(app, users):
    ent = make_enterprise("宁波远航进出口有限公司", accounts=("ningbo_yh01", "ningbo_yh02"))
    session.commit()
    ticket = make_ticket(type="inquiry", subject="咨询账号", letter=None, fields={})
    make_ticket(type="inquiry", subject="咨询账号", letter=None, fields={})
    agent = users["agent"]
    assert found(agent, q="远航进出口") == []
    resolve.link_enterprise(ticket, ent, by=agent)
    assert found(agent, q="远航进出口") == [ticket.id]
    assert found(agent, q="ningbo_yh02") == [ticket.id]
    assert found(agent, q=ent.uscc.lower()) == [ticket.id]
    assert found(agent, q=ent.uscc[2:12].lower()) == [ticket.id]  # a part of the code
    assert found(agent, q=ent.org_code.lower()) == [ticket.id]  # 组织机构代码
    assert found(agent, q="ningbo_yh") == [ticket.id]  # a part of an account name (no code scan)
    assert found(agent, q="远航") == [ticket.id]  # two characters: served from the records and search_text
    # the enterprise filter takes a name (or a part of it), not an internal number
    assert found(agent, enterprise="远航进出口") == [ticket.id]
    assert found(agent, enterprise="没有这家公司") == []


def test_two_character_and_one_character_names(app, users):
    ticket = make_ticket(subject="找回账号", type="recovery", letter=None, fields={"contact": "周敏"})
    make_ticket(subject="找回账号", type="recovery", letter=None, fields={"contact": "吴昊"})
    agent = users["agent"]
    assert found(agent, q="周敏") == [ticket.id]
    assert found(agent, q="周") == [ticket.id]
    assert found(agent, q="周敏 找回账号") == [ticket.id]


def test_common_words_are_filtered_row_by_row_with_the_same_result(app, users, monkeypatch):
    a = make_ticket(subject="变更说明 甲", body="请审核我司的变更说明")
    b = make_ticket(subject="变更说明 乙", body="请审核我司的变更说明")
    make_ticket(subject="咨询", body="其他问题")
    # running tickets of both statuses, due at different times: the row-by-row page reads each status
    # in its own ordered range and merges them (queue_pages._running_rows), in the same order
    early = make_ticket(
        subject="变更说明 丙", body="请审核", status="open", received_at=NOW - timedelta(days=3)
    )
    late = make_ticket(
        subject="变更说明 丁", body="请审核", status="open", received_at=NOW - timedelta(minutes=5)
    )
    agent = users["agent"]
    by_index = found(agent, q="请审核")
    monkeypatch.setattr(queue_filters, "SEARCH_CAP", 1)  # more matches than the cap: row by row
    assert found(agent, q="请审核") == by_index
    assert sorted(by_index) == sorted([a.id, b.id, early.id, late.id])
    assert by_index.index(early.id) < by_index.index(late.id)  # most urgent first
    monkeypatch.setattr(queue_filters, "SEARCH_CAP", 0)
    assert found(agent, q="审") == []  # one character, not in the narrow column: no match


def test_message_text_is_capped_at_64_kb(app, users):
    early = "开头的词语"
    late = "结尾的词语"
    ticket = make_ticket(subject="长邮件", body=early + "。" * (search.MESSAGE_BYTES // 3) + late)
    assert found(users["agent"], q=early) == [ticket.id]
    assert found(users["agent"], q=late) == []


def test_ticket_number_and_snippet(app, users):
    ticket = make_ticket(subject="变更说明", body="附件为<b>盖章</b>的变更说明，谢谢")
    assert found(users["agent"], q=f"ZXZJ#{ticket.id}") == [ticket.id]
    doc = search.documents([ticket.id])[ticket.id]
    parts = search.snippet(doc, ["盖章"])
    assert ("盖章", True) in parts
    assert "<b>" in "".join(text for text, _ in parts)  # raw here; the template escapes it


def test_queue_page_marks_hits_and_escapes(app, users, agent_client):
    make_ticket(subject="变更说明 <script>x</script>", body="内容含有 独特词甲乙 的邮件")
    html = agent_client.get("/?q=独特词甲乙").get_data(as_text=True)
    assert "<mark>独特词甲乙</mark>" in html
    assert "<script>x</script>" not in html


def test_short_names_follow_a_field_correction(app, users):
    """A word of one or two Chinese characters is read from ticket_search_grams, which follows
    tickets.search_text in the same transaction (the session listener)."""
    ticket = make_ticket(subject="找回账号", type="recovery", letter=None, fields={"contact": "周敏"})
    agent = users["agent"]
    assert found(agent, q="郑") == []
    services.update_fields(ticket, {"contact": "郑爽"}, by=agent)
    assert found(agent, q="郑爽") == [ticket.id]
    assert found(agent, q="郑") == [ticket.id]
    assert found(agent, q="周敏") == []  # the old name's pieces are gone
    assert sorted(search.grams_of("周敏 Li 变更")) == sorted(["周", "敏", "周敏", "变", "更", "变更"])
    # a short ASCII word is not a piece: it is looked for in search_text itself
    assert found(agent, q="zh") == [ticket.id]  # the sender zhang@example.com


def test_a_common_word_shows_a_capped_total(app, users, agent_client, monkeypatch):
    """More matches than the cap in the index for a one-word search: the total says "1+ 张" (here with
    caps of 1; 1000+ on a real desk) without counting row by row, and the rows are still listed."""
    from helpdesk.tickets import queue_pages

    tickets = [make_ticket(subject=f"变更说明 {n}", body="请审核我司的变更说明") for n in range(3)]
    make_ticket(subject="咨询", body="其他问题")
    monkeypatch.setattr(queue_filters, "SEARCH_CAP", 1)
    monkeypatch.setattr(queue_pages, "COUNT_CAP", 1)
    monkeypatch.setattr(queries, "COUNT_CAP", 1)
    html = agent_client.get("/?q=请审核").get_data(as_text=True)
    assert "共 1+ 张" in html
    assert all(f"/tickets/{t.id}" in html for t in tickets)
    # with another filter the total is counted (here: none of them is assigned, so 我的待办 holds none)
    html = agent_client.get("/?q=请审核&view=mine").get_data(as_text=True)
    assert "共 0 张" in html
    # two common words: their intersection is counted, not assumed
    monkeypatch.setattr(queue_pages, "COUNT_CAP", 10)
    monkeypatch.setattr(queries, "COUNT_CAP", 10)
    html = agent_client.get("/?q=请审核 变更说明").get_data(as_text=True)
    assert "共 3 张" in html
