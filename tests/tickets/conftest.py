"""Fixtures of the ticket tests: a fixed "now" in a normal working week and a small set of tickets."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from helpdesk.db import session
from helpdesk.tickets.models import Ticket
from tests.tickets.factories import make_ticket

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: Wednesday 2026-03-11 14:00 in Beijing: Mon 03-09 and Tue 03-10 are working days
NOW = datetime(2026, 3, 11, 14, 0, tzinfo=SHANGHAI)


def local(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 3, day, hour, 0, tzinfo=SHANGHAI)


@pytest.fixture
def sample(app, users) -> dict[str, Ticket]:
    """Six tickets around NOW: breached, due soon (warn), ok, waiting, resolved, and one of the agent's."""
    agent = users["agent"]
    tickets = {
        "breached": make_ticket(
            type="change", subject="变更说明 已超时", received_at=local(6)
        ),  # due Tue 17:00
        "soon": make_ticket(
            type="unbind", subject="解绑说明 快到期", received_at=local(9), sender="li@corp.cn"
        ),
        "ok": make_ticket(type="cancel", subject="注销说明 正常", received_at=local(10)),  # due Thu 17:00
        "waiting": make_ticket(
            type="change", subject="等待补充", received_at=local(10, 11), status="waiting"
        ),
        "resolved": make_ticket(
            type="recovery", subject="找回账号 已办结", received_at=local(2), status="resolved"
        ),
        "mine": make_ticket(
            type="inquiry", subject="咨询 我的", received_at=local(10, 9), assignee_id=agent.id, status="open"
        ),
    }
    session.expire_all()
    return tickets
