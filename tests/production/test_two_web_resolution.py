"""Two agents apply the same resolution at the same moment, each through another gunicorn process.

One PostgreSQL database, two web processes (no shared memory: only the database can keep them from
doing it twice). The two posts leave a barrier together; the records change, the audit entry, the
ticket's resolution and the reply mail happen once, and the agent who lost is told the ticket was
already resolved, and by whom.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from helpdesk import create_app
from helpdesk.auth.models import Role
from helpdesk.db import session
from helpdesk.mail.models import OutboundMail
from helpdesk.records.models import AuditEntry, PlatformAccount
from helpdesk.tickets.models import Ticket, TicketEvent
from tests.conftest import PASSWORD, make_user
from tests.production.conftest import (
    WebClient,
    csrf_token,
    process_env,
    start_gunicorn,
    tail,
    wait_for_no_processes,
)
from tests.records.factories import make_enterprise, make_ticket

pytestmark = pytest.mark.postgres

ROUNDS = 3  # three tickets, each raced once: more chances for the two posts to really overlap


def _count(model: Any, *where: Any) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def post_at_once(
    barrier: threading.Barrier, client: WebClient, path: str, form: dict[str, str], replies: list[Any], i: int
) -> None:
    barrier.wait(10)  # both posts leave together, each to its own web process
    started = time.monotonic()
    reply = client.post(path, form)
    replies[i] = (started, time.monotonic(), reply)


def flashes(html: str) -> list[tuple[str, str]]:
    """The flash messages of a page: (category, text)."""
    return [(c, unescape(m)) for c, m in re.findall(r'<p class="flash ([a-z]+)">(.*?)</p>', html, re.S)]


def test_the_same_resolution_from_two_web_processes_is_applied_once(pg_database: str, tmp_path: Path) -> None:
    env = process_env(pg_database, tmp_path / "instance", "two-web-" + uuid.uuid4().hex)
    app = create_app(
        overrides={k: v for k, v in env.items() if k.startswith("HELPDESK_") and k != "HELPDESK_TEST_MARK"}
    )
    with app.app_context():
        make_user("agent1", Role.AGENT, display_name="王客服")
        make_user("agent2", Role.AGENT, display_name="张客服")
        tickets = []
        for n in range(ROUNDS):
            ent = make_enterprise(
                f"苏州恒达{n}号贸易有限公司",
                accounts=(f"zxkt_hengda{n}", f"hengda{n}b"),
                contact_email=f"c{n}@hengda.cn",
            )
            ticket = make_ticket(
                "unbind",
                enterprise=ent,
                company_name=ent.name,
                account_names=[f"zxkt_hengda{n}", f"hengda{n}b"],
                account_count=2,
                target_accounts=[f"hengda{n}"],
                requester=f"c{n}@hengda.cn",
            )
            tickets.append((ticket.id, ticket.version, f"hengda{n}", f"zxkt_hengda{n}"))
        session.commit()

    webs = [start_gunicorn(env, tmp_path / f"web{n}.log") for n in range(2)]
    try:
        clients = [WebClient(webs[0].url), WebClient(webs[1].url)]
        clients[0].login("agent1", PASSWORD)
        clients[1].login("agent2", PASSWORD)
        outcomes: list[tuple[str, str]] = []
        for ticket_id, version, account, bound_account in tickets:
            forms = []
            for client in clients:
                page = client.get(f"/tickets/{ticket_id}")
                assert page.status == 200, page.body[:300]
                assert f'name="version" value="{version}"' in page.body
                forms.append(
                    {
                        "csrf_token": csrf_token(page.body),
                        "action": "unbind",
                        "account": account,
                        "version": str(version),
                    }
                )
            barrier = threading.Barrier(2)
            replies: list[Any] = [None, None]
            path = f"/records/tickets/{ticket_id}/resolve"
            threads = [
                threading.Thread(target=post_at_once, args=(barrier, clients[i], path, forms[i], replies, i))
                for i in range(2)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert all(r is not None for r in replies), "a post hung"
            (start0, end0, _), (start1, end1, _) = replies
            assert start0 < end1 and start1 < end0  # the two posts were in flight at the same time
            replies = [r for _s, _e, r in replies]
            # both end on the ticket page (the view redirects back with a flash message)
            assert all(r.status == 200 and r.url.endswith(f"/tickets/{ticket_id}") for r in replies), [
                (r.status, r.url) for r in replies
            ]
            told = [flashes(r.body) for r in replies]
            won = [i for i, f in enumerate(told) if any(c == "success" and "已办结" in m for c, m in f)]
            lost = [i for i, f in enumerate(told) if any(c == "error" and "没有重复办理" in m for c, m in f)]
            assert len(won) == 1 and len(lost) == 1, told
            winner = ("王客服", "张客服")[won[0]]
            assert any(f"{winner}于" in m for _c, m in told[lost[0]]), told  # and who resolved it
            outcomes.append((f"ticket {ticket_id}", f"web{won[0]} applied, web{lost[0]} told"))

            with app.app_context():
                assert session.get(Ticket, ticket_id).status == "resolved"
                assert (
                    _count(
                        TicketEvent,
                        TicketEvent.ticket_id == ticket_id,
                        TicketEvent.kind == "status",
                        TicketEvent.new_value == "resolved",
                    )
                    == 1
                )
                assert (
                    _count(OutboundMail, OutboundMail.ticket_id == ticket_id) == 1
                )  # one reply to the enterprise
                assert (
                    _count(AuditEntry, AuditEntry.ticket_id == ticket_id, AuditEntry.field == "app_bound")
                    == 1
                )
                unbound = session.scalar(
                    select(PlatformAccount.app_bound).where(PlatformAccount.account_name == bound_account)
                )
                assert unbound is False
                session.rollback()
    finally:
        for web in webs:
            web.stop()
    logs = "\n".join(tail(w.log) for w in webs)
    assert "Traceback" not in logs, logs
    assert wait_for_no_processes(env["HELPDESK_TEST_MARK"]) == []
