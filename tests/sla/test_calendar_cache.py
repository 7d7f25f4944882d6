"""The stored calendar's state is asked once per transaction (sla/clock.py `_stored_state`), and any
calendar or policy edit, committed or not, is seen by the next lookup."""

from __future__ import annotations

from datetime import date, time

from sqlalchemy import event, update

from helpdesk.db import engine, session
from helpdesk.sla import clock, service
from helpdesk.sla.models import CalendarDay, SlaPolicy

TUESDAY = date(2026, 3, 10)


def count_statements() -> list[str]:
    seen: list[str] = []
    event.listen(engine(), "before_cursor_execute", lambda _c, _cur, sql, *_: seen.append(sql))
    return seen


def test_one_transaction_asks_once_and_an_uncommitted_edit_is_seen(app):
    assert clock.calendar().is_working_day(TUESDAY)
    clock.policy_for("change")
    seen = count_statements()
    for _ in range(5):
        clock.calendar()
        clock.policy_for("change")
    assert seen == []  # the same transaction: nothing asked again
    session.add(CalendarDay(day=TUESDAY, kind="off", name="台风停工"))  # not flushed, not committed
    assert not clock.calendar().is_working_day(TUESDAY)
    session.rollback()
    assert clock.calendar().is_working_day(TUESDAY)


def test_a_committed_edit_and_a_bulk_statement_are_seen(app, users):
    assert clock.calendar().is_working_day(TUESDAY)
    service.set_day(TUESDAY, "off", name="台风停工", reason="市政府通知", by=users["supervisor"])
    assert not clock.calendar().is_working_day(TUESDAY)
    session.execute(update(CalendarDay).where(CalendarDay.day == TUESDAY).values(kind="work", name=""))
    assert clock.calendar().is_working_day(TUESDAY)
    session.commit()


def test_a_policy_edit_is_seen_in_the_same_transaction(app):
    before = clock.policy_for("change")
    row = session.get(SlaPolicy, "change")
    if row is None:
        row = SlaPolicy(ticket_type="change", mode="working_days", days=2, business_start="09:00")
        session.add(row)
        session.flush()
        assert clock.policy_for("change").days == 2
    row.days = 5
    row.business_start = "08:30"
    after = clock.policy_for("change")
    assert (after.days, after.start) == (5, time(8, 30)) != (before.days, before.start)
    session.rollback()
