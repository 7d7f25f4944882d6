"""The queue: filters the dashboard links with, the urgency order, keyset pages, text search."""

from __future__ import annotations

from werkzeug.datastructures import MultiDict

from helpdesk.tickets import queries
from helpdesk.tickets.queries import QueueQuery
from tests.tickets.conftest import NOW, SHANGHAI


def run(user, **args) -> list[str]:
    query = QueueQuery.from_args(MultiDict(args))
    page = queries.queue_page(query, user, queries.new_clock(SHANGHAI, NOW))
    return [t.subject for t in page.tickets]


def names(sample, *keys) -> list[str]:
    return [sample[k].subject for k in keys]


def test_default_order_is_breached_then_time_left_then_paused_then_closed(sample, users):
    assert run(users["agent"]) == names(sample, "breached", "soon", "ok", "mine", "waiting", "resolved")


def test_views(sample, users):
    agent = users["agent"]
    assert run(agent, view="mine") == names(sample, "mine")
    assert run(agent, view="unassigned") == names(sample, "breached", "soon", "ok")
    assert run(agent, view="due_soon") == names(sample, "soon")
    assert run(agent, view="breached") == names(sample, "breached")
    assert run(agent, view="waiting") == names(sample, "waiting")
    assert len(run(agent, view="all")) == 6


def test_status_type_and_assignee_filters(sample, users):
    agent = users["agent"]
    assert run(agent, status="resolved") == names(sample, "resolved")
    assert run(agent, status="new,waiting", type="change") == names(sample, "breached", "waiting")
    assert run(agent, type="unbind") == names(sample, "soon")
    assert run(agent, assignee=str(agent.id)) == names(sample, "mine")
    assert "咨询 我的" not in run(agent, assignee="none")
    assert run(agent, assignee="me") == names(sample, "mine")


def test_sla_and_due_filters(sample, users):
    agent = users["agent"]
    assert run(agent, sla="breached") == names(sample, "breached")
    assert run(agent, sla="warn") == names(sample, "soon")
    assert run(agent, sla="ok") == names(sample, "ok", "mine")  # same due time: by number
    assert run(agent, sla="paused") == names(sample, "waiting")
    assert run(agent, sla="stopped") == names(sample, "resolved")
    assert run(agent, due="4h") == names(sample, "soon")
    assert run(agent, due="today") == names(sample, "soon")


def test_received_range_is_in_local_days_inclusive(sample, users):
    agent = users["agent"]
    assert run(agent, received_from="2026-03-10", received_to="2026-03-10") == names(
        sample, "ok", "mine", "waiting"
    )
    assert run(agent, received_to="2026-03-06") == names(sample, "breached", "resolved")


def test_ids_and_text_search(sample, users):
    agent = users["agent"]
    ids = f"{sample['ok'].id},{sample['soon'].id}"
    assert run(agent, ids=ids) == names(sample, "soon", "ok")
    assert run(agent, q="li@corp.cn") == names(sample, "soon")
    assert run(agent, q="北京示例 91110108551385082q") == names(sample, "breached", "waiting")
    assert run(agent, q=f"ZXZJ#{sample['ok'].id}") == names(sample, "ok")
    assert run(agent, q="100%_none") == []


def test_bad_parameters_are_reported_not_fatal(sample, users):
    query = QueueQuery.from_args(MultiDict({"view": "nope", "sla": "x", "received_from": "2026-13-01"}))
    assert query.view == "all" and query.sla == "" and query.received_from is None
    assert len(query.problems) == 3


def test_keyset_pages_cover_every_ticket_once(sample, users):
    agent = users["agent"]
    ck = queries.new_clock(SHANGHAI, NOW)
    seen: list[int] = []
    query = QueueQuery()
    while True:
        page = queries.queue_page(query, agent, ck, limit=2)
        seen += [t.id for t in page.tickets]
        if not page.next_cursor:
            break
        query = QueueQuery(after=page.next_cursor)
    assert seen == [t.id for t in queries.queue_page(QueueQuery(), agent, ck, limit=50).tickets]
    assert len(seen) == len(set(seen)) == 6


def test_counts_per_view(sample, users):
    counts = queries.view_counts(users["agent"], queries.new_clock(SHANGHAI, NOW))
    assert counts == {"all": 6, "mine": 1, "unassigned": 3, "due_soon": 1, "breached": 1, "waiting": 1}


def test_time_left_and_state(sample, users):
    ck = queries.new_clock(SHANGHAI, NOW)
    assert ck.state(sample["breached"]) == "breached" and ck.minutes_left(sample["breached"]) < 0
    assert ck.state(sample["soon"]) == "warn" and ck.minutes_left(sample["soon"]) == 180
    assert ck.state(sample["ok"]) == "ok" and ck.minutes_left(sample["ok"]) == 11 * 60
    assert ck.state(sample["waiting"]) == "paused"
    assert ck.state(sample["resolved"]) == "stopped" and ck.minutes_left(sample["resolved"]) is None


def test_likely_duplicates_same_sender_and_type(app, users):
    from tests.tickets.factories import make_ticket

    first = make_ticket(type="change", sender="dup@corp.cn")
    second = make_ticket(type="change", sender="dup@corp.cn")
    make_ticket(type="unbind", sender="dup@corp.cn")
    assert [t.id for t in queries.likely_duplicates(second)] == [first.id]


def test_saved_query_keeps_only_queue_keys():
    assert queries.normalise_saved_query("?view=mine&after=0~1~2&evil=1&q=x") == "view=mine&q=x"


def test_conditions_without_a_user_match_no_personal_list(sample):
    ck = queries.new_clock(SHANGHAI, NOW)
    for args in ({"view": "mine"}, {"assignee": "me"}):
        conds = queries.filter_conditions(QueueQuery.from_args(args), None, ck)
        assert queries.capped_count(conds) == 0
    assert (
        queries.capped_count(queries.filter_conditions(QueueQuery.from_args({"sla": "breached"}), None, ck))
        == 1
    )


def test_a_ticket_paused_after_its_deadline_stays_in_breached(sample, users):
    from helpdesk.db import session
    from helpdesk.tickets import services
    from helpdesk.tickets.models import Ticket, TicketStatus

    late = sample["breached"]
    # the agent asks the enterprise for material on a ticket already past its deadline
    services.set_status(session.get(Ticket, late.id), TicketStatus.WAITING, by=users["agent"])
    session.expire_all()
    assert session.get(Ticket, late.id).due_at is None  # paused: the ticket's copy is cleared
    agent = users["agent"]
    assert run(agent, view="breached") == names(sample, "breached")
    assert run(agent, sla="breached") == names(sample, "breached")
    assert names(sample, "breached")[0] in run(agent, view="waiting")
    assert set(run(agent, sla="paused")) == set(names(sample, "breached", "waiting"))
