"""The demo's content is made through the real pipeline and covers every letter type."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from helpdesk import demo
from helpdesk.auth.models import User
from helpdesk.db import session
from helpdesk.letters import codes
from helpdesk.mail.models import InboundMail, OutboundMail
from helpdesk.records.models import Enterprise
from helpdesk.tickets.models import Ticket


@pytest.mark.sqlite_only
def test_demo_populates_users_records_letters_and_history(app):
    notes = demo.populate(app, history_days=10)
    assert len(notes) == 4 and "经真实流程生成工单 5 张" in notes[2]
    assert {u.username for u in session.scalars(select(User))} == {"agent", "agent2", "supervisor", "admin"}
    assert all(codes.is_valid_uscc(e.uscc) for e in session.scalars(select(Enterprise)))
    ingested = session.scalars(select(InboundMail)).all()
    assert len(ingested) == 5 and all(m.status == "ingested" for m in ingested)
    sample = session.scalars(select(Ticket).where(Ticket.id.in_([m.ticket_id for m in ingested]))).all()
    assert sorted(t.type for t in sample) == ["cancel", "change", "inquiry", "recovery", "unbind"]
    assert all(t.due_at is not None and t.clock.explanation for t in sample)
    linked = {t.type: t.enterprise_id for t in sample}
    assert linked["change"] and linked["unbind"] and linked["cancel"]
    acks = session.scalar(select(func.count()).select_from(OutboundMail).where(OutboundMail.kind == "ack"))
    assert acks == 5
    assert session.scalar(select(func.count()).select_from(Ticket)) > 5 + 10  # history on top
