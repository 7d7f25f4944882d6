"""The queue's pages: keyset pages over three buckets, and the capped counts of the queue's tabs.

The queue is ordered "most urgent first" in three buckets, each read with its own index-friendly
ORDER BY and keyset condition, so a page never costs more than three small indexed queries however
many tickets exist:

    bucket 0  running clock (new/open with a due time)   due_at ASC, id ASC    (breached first)
    bucket 1  paused or without a clock (waiting, ...)    remaining minutes ASC, id ASC
    bucket 2  closed (resolved/rejected/merged)           received_at DESC, id DESC

A cursor "<bucket>~<key>~<id>" names the last row shown; the next page continues after it, then
with the following buckets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, literal, or_, select, tuple_
from sqlalchemy.orm import load_only, selectinload

from helpdesk.auth.models import User
from helpdesk.db import session
from helpdesk.sla.models import SlaClock
from helpdesk.tickets.models import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    Notification,
    Ticket,
    TicketStatus,
)
from helpdesk.tickets.queue_filters import (
    BUCKET_STATUSES,
    RUNNING,
    VIEWS,
    Clock,
    QueueQuery,
    filter_conditions,
    running_condition,
    status_column,
    status_scope,
)

PAGE_SIZE = 50
COUNT_CAP = 1000  #: counts above this show as "1000+": exact counts of 200,000 rows cost too much
TOTAL_CAP = 10_000  #: the pager's total counts this far (index-only), then shows "10000+"


# ------------------------------------------------------------------------------------ buckets


def _remaining_key() -> Any:
    """The current clock's business minutes left at its pause (0 without one), for the waiting bucket."""
    remaining = (
        select(SlaClock.remaining_minutes)
        .where(SlaClock.ticket_id == Ticket.id, SlaClock.clock_no == Ticket.sla_clock_no)
        .scalar_subquery()
    )
    return func.coalesce(remaining, 0)


def _bucket_condition(bucket: int, st: Any = Ticket.status) -> ColumnElement[bool]:
    if bucket == 0:
        return running_condition(st)
    if bucket == 1:
        return or_(st == TicketStatus.WAITING.value, and_(st.in_(RUNNING), Ticket.due_at.is_(None)))
    return st.in_(CLOSED_STATUSES)


def _bucket_order(bucket: int) -> list[Any]:
    if bucket == 0:
        return [Ticket.due_at, Ticket.id]
    if bucket == 1:
        return [_remaining_key(), Ticket.id]
    return [Ticket.received_at.desc(), Ticket.id.desc()]


def _after(bucket: int, key: Any, last_id: int) -> ColumnElement[bool]:
    if bucket == 0:
        return tuple_(Ticket.due_at, Ticket.id) > tuple_(key, last_id)
    if bucket == 1:
        return tuple_(_remaining_key(), Ticket.id) > tuple_(key, last_id)
    return tuple_(Ticket.received_at, Ticket.id) < tuple_(key, last_id)


def _bucket_of(ticket: Ticket) -> int:
    if ticket.status in RUNNING and ticket.due_at is not None:
        return 0
    if ticket.status in OPEN_STATUSES:
        return 1
    return 2


def _micros(dt: datetime) -> int:
    delta = dt.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _from_micros(value: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=value)


def cursor_for(ticket: Ticket) -> str:
    bucket = _bucket_of(ticket)
    if bucket == 0:
        key = _micros(ticket.due_at)  # type: ignore[arg-type]
    elif bucket == 1:
        key = (ticket.clock.remaining_minutes if ticket.clock is not None else None) or 0
    else:
        key = _micros(ticket.received_at)
    return f"{bucket}~{key}~{ticket.id}"


def parse_cursor(cursor: str) -> tuple[int, Any, int] | None:
    match = re.fullmatch(r"([012])~(-?\d{1,20})~(\d{1,12})", cursor or "")
    if not match:
        return None
    bucket, key, last_id = int(match.group(1)), int(match.group(2)), int(match.group(3))
    return bucket, (key if bucket == 1 else _from_micros(key)), last_id


#: what a queue row (and the API's list shape) reads; the rest (the letter: kilobytes of JSON, the
#: search text, the SLA explanation, a dozen timestamps) stays in the database
LIST_COLUMNS = (
    Ticket.id, Ticket.type, Ticket.status, Ticket.subject, Ticket.requester_email, Ticket.requester_name,
    Ticket.enterprise_id, Ticket.assignee_id, Ticket.received_at, Ticket.updated_at, Ticket.due_at,
    Ticket.warn_at, Ticket.sla_clock_no,
    Ticket.fields, Ticket.version,
)  # fmt: skip


def light(stmt: Select[Any]) -> Select[Any]:
    # the current clock of each row in one more query (the waiting rows show its remainder)
    return stmt.options(load_only(*LIST_COLUMNS), selectinload(Ticket.clock))


@dataclass
class QueuePage:
    tickets: list[Ticket]
    next_cursor: str | None


def queue_page(query: QueueQuery, user: User, ck: Clock, limit: int | None = None) -> QueuePage:
    """One page of tickets, most urgent first, continuing after `query.after`."""
    limit = limit or PAGE_SIZE
    scope = status_scope(query)
    conds = filter_conditions(query, user, ck) if scope else []
    st = status_column(query, ck)
    start = parse_cursor(query.after)
    first_bucket = start[0] if start else 0
    rows: list[Ticket] = []
    for bucket in range(first_bucket, 3):
        want = limit + 1 - len(rows)
        if want <= 0:
            break
        if not scope & BUCKET_STATUSES[bucket]:
            continue  # e.g. "已办结" filters never read the open buckets
        after = [_after(bucket, start[1], start[2])] if start and bucket == start[0] else []
        if bucket == 0 and query.q and ck.text_matches(query.q) is None:
            rows.extend(_running_rows(sorted(scope & BUCKET_STATUSES[0]), [*conds, *after], want))
            continue
        if bucket == 2:
            by_ids = st is not Ticket.status  # a few named tickets: read them by id, sort here
            rows.extend(_closed_rows(sorted(scope & BUCKET_STATUSES[2]), [*conds, *after], st, want, by_ids))
            continue
        # late row lookup: pick the page's ids from an index, then read only those wide rows (a
        # letter is kilobytes of JSON)
        ids = select(Ticket.id.label("id")).where(*conds, _bucket_condition(bucket, st), *after)
        page_ids = ids.order_by(*_bucket_order(bucket)).limit(want).subquery()
        stmt = select(Ticket).join(page_ids, page_ids.c.id == Ticket.id).order_by(*_bucket_order(bucket))
        rows.extend(session.scalars(light(stmt)).all())
    has_more = len(rows) > limit
    rows = rows[:limit]
    return QueuePage(rows, cursor_for(rows[-1]) if has_more and rows else None)


def _running_rows(statuses: list[str], conds: list[ColumnElement[bool]], want: int) -> list[Ticket]:
    """Running tickets of a search whose words are common (each row is tested for them), most urgent
    first: one ordered range of ix_tickets_status_due_at per status, each stopping after `want`
    matches, merged here. One IN over the statuses sorts every running ticket before the first test
    (PostgreSQL, 200,000 tickets: 30 ms against 2 ms for a word most tickets hold)."""
    keys: list[Any] = []
    for status in statuses:
        stmt = select(Ticket.id, Ticket.due_at).where(
            *conds, Ticket.status == status, Ticket.due_at.is_not(None)
        )
        keys.extend(session.execute(stmt.order_by(Ticket.due_at, Ticket.id).limit(want)).all())
    keys.sort(key=lambda k: (k.due_at, k.id))
    ids = [k.id for k in keys[:want]]
    if not ids:
        return []
    by_id = {t.id: t for t in session.scalars(light(select(Ticket).where(Ticket.id.in_(ids))))}
    return [by_id[i] for i in ids if i in by_id]


def _closed_rows(
    statuses: list[str], conds: list[ColumnElement[bool]], st: Any, want: int, by_ids: bool = False
) -> list[Ticket]:
    """Closed tickets newest first: one ordered range of ix_tickets_queue (status, received_at, id) per
    status, each stopping after `want` entries, merged here (an IN over the statuses would sort them all).

    `by_ids`: the conditions name at most SEARCH_CAP tickets by id; they are read by primary key without
    an ORDER BY (which would tempt the planner into walking the received_at index past them all)."""
    keys: list[Any] = []
    if by_ids:
        stmt = select(Ticket.id, Ticket.received_at).where(*conds, st.in_(statuses))
        keys.extend(session.execute(stmt).all())
    for status in statuses if not by_ids else ():
        stmt = select(Ticket.id, Ticket.received_at).where(*conds, st == status)
        keys.extend(session.execute(stmt.order_by(*_bucket_order(2)).limit(want)).all())
    keys.sort(key=lambda k: (k.received_at, k.id), reverse=True)
    ids = [k.id for k in keys[:want]]
    if not ids:
        return []
    by_id = {t.id: t for t in session.scalars(light(select(Ticket).where(Ticket.id.in_(ids))))}
    return [by_id[i] for i in ids if i in by_id]


def _capped(conds: Iterable[ColumnElement[bool]], cap: int = COUNT_CAP) -> Any:
    inner = select(Ticket.id).where(*conds).limit(cap + 1).subquery()
    return select(func.count()).select_from(inner).scalar_subquery()


def capped_count(conds: Iterable[ColumnElement[bool]], cap: int = COUNT_CAP) -> int:
    """How many tickets match, counting at most cap + 1 (so "1000+" costs no more than 1001 rows)."""
    return session.scalar(select(_capped(conds, cap))) or 0


def _open_conditions(query: QueueQuery, user: User | None, ck: Clock) -> list[ColumnElement[bool]]:
    if not status_scope(query) & set(OPEN_STATUSES):
        return [false()]
    return [*filter_conditions(query, user, ck), status_column(query, ck).in_(OPEN_STATUSES)]


def view_counts(user: User, ck: Clock) -> dict[str, int]:
    """Ticket count per list (tabs), capped; each count is read from an index alone."""
    return queue_counts(None, user, ck)["views"]


def open_count(query: QueueQuery, user: User, ck: Clock) -> int:
    """How many open tickets (new/open/waiting) match, capped: what an agent's list holds to work on."""
    return capped_count(_open_conditions(query, user, ck))


def queue_counts(query: QueueQuery | None, user: User, ck: Clock) -> dict[str, Any]:
    """Every number the queue page shows, in one statement (each count an index-only subquery).

    {"views": {view: n}, "open": open tickets of `query`, "total": all tickets of `query` (capped at
    TOTAL_CAP; None without a query), "unread": the user's unread notifications}
    """
    columns = [_capped(filter_conditions(QueueQuery(view=view), user, ck)).label(view) for view in VIEWS]
    if query is not None:
        columns.append(_capped(_open_conditions(query, user, ck)).label("open"))
        # the pager's total: every ticket of `query`, counted from the index up to TOTAL_CAP (a text
        # search tests its rows one by one when its words are common: up to COUNT_CAP)
        total_cap = total_cap_for(query)
        if _search_over_cap(query, ck):
            columns.append(literal(total_cap + 1).label("total"))
        else:
            conds = filter_conditions(query, user, ck) if status_scope(query) else [false()]
            columns.append(_capped(conds, total_cap).label("total"))
    unread = (
        select(func.count()).select_from(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .scalar_subquery()
    )  # fmt: skip
    columns.append(unread.label("unread"))
    row = session.execute(select(*columns)).one()._mapping
    return {
        "views": {view: int(row[view]) for view in VIEWS},
        "open": int(row["open"]) if "open" in row else 0,
        "total": int(row["total"]) if "total" in row else None,
        "total_cap": total_cap_for(query) if query is not None else TOTAL_CAP,
        "unread": int(row["unread"]),
    }


def _search_over_cap(query: QueueQuery, ck: Clock) -> bool:
    """A one-word search of every ticket whose word alone fills more than the cap in the index: its
    total is "cap+" without testing rows one by one (the costly part of a common word's page)."""
    if not query.q or replace(query, after="", page=1) != QueueQuery(view="all", q=query.q):
        return False
    return ck.text_matches(query.q) is None and ck.search_words(query.q).over_cap


def total_cap_for(query: QueueQuery) -> int:
    return COUNT_CAP if query.q else TOTAL_CAP


def held_open(user: User, limit: int = 3) -> list[Ticket]:
    """The user's own tickets still being worked (new / open), most urgent first: "下一个" asks before
    giving a second one."""
    stmt = (
        select(Ticket)
        .where(Ticket.assignee_id == user.id, Ticket.status.in_(RUNNING))
        .order_by(Ticket.due_at, Ticket.id)
        .limit(limit)
    )
    return list(session.scalars(light(stmt)).all())
