"""The queue's filters: the query string as a QueueQuery, the time a page looks at (Clock), and the
SQL conditions of views, filters and SLA states."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, exists, false, or_
from sqlalchemy.orm import aliased

from helpdesk.auth.models import User
from helpdesk.db import utcnow
from helpdesk.params import parse_id
from helpdesk.sla import clock
from helpdesk.sla.models import SlaClock
from helpdesk.tickets import search
from helpdesk.tickets.models import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    STATUS_LABELS,
    TYPE_LABELS,
    Ticket,
    TicketStatus,
)

SEARCH_CAP = 2000  #: a text search with more matches than this is filtered in the ordered scan instead
DUE_SOON_MINUTES = 4 * 60  #: "即将超时": due within 4 business hours
RUNNING = ("new", "open")

VIEWS = {
    "all": "全部",
    "mine": "我的待办",
    "unassigned": "未分配",
    "due_soon": "即将超时",
    "breached": "已超时",
    "waiting": "待企业补充",
}
SLA_STATES = {"ok": "正常", "warn": "预警", "breached": "已超时", "paused": "暂停", "stopped": "已停止"}
DUE_FILTERS = {"today": "今天到期", "4h": "4 个工作小时内到期"}
#: query-string keys the queue understands (everything else is ignored, also in saved filters)
QUERY_KEYS = (
    "view",
    "status",
    "type",
    "assignee",
    "enterprise",
    "sla",
    "due",
    "received_from",
    "received_to",
    "q",
    "ids",
)


class QueryError(ValueError):
    """A query-string value the queue cannot use (Chinese message)."""


@dataclass(frozen=True)
class QueueQuery:
    """The queue's filters, parsed from the query string (the dashboard links here with the same keys)."""

    view: str = "all"
    statuses: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    assignee: str = ""  #: "", "none", "me" or a user id
    enterprise: str = ""  #: a name (part of it), a code or an account: helpdesk.tickets.search
    sla: str = ""
    due: str = ""
    received_from: date | None = None
    received_to: date | None = None
    q: str = ""
    ids: tuple[int, ...] = ()
    after: str = ""  #: keyset cursor
    page: int = 1  #: the page number the cursor leads to (for the pager's "第 n 页"; not a filter)
    default_view: str = field(default="all", compare=False)  #: the list shown without `view=`
    problems: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_args(cls, args: Mapping[str, Any], default_view: str = "all") -> QueueQuery:
        """Parse request.args (or any mapping with getlist); unknown or bad values are dropped and reported.

        `default_view`: the list without `view=` (agents land on 我的待办, supervisors on 全部)."""
        problems: list[str] = []

        def values(key: str) -> list[str]:
            raw = args.getlist(key) if hasattr(args, "getlist") else [args.get(key) or ""]
            out: list[str] = []
            for item in raw:
                out.extend(v.strip() for v in str(item or "").split(",") if v.strip())
            return out

        def one(key: str) -> str:
            found = values(key)
            return found[0] if found else ""

        # a search or an id list looks through every ticket unless a list is named
        view = one("view") or ("all" if (args.get("q") or "").strip() or one("ids") else default_view)
        if view not in VIEWS:
            problems.append(f"未知的列表“{view}”，已显示{VIEWS[default_view]}。")
            view = default_view
        statuses = tuple(s for s in values("status") if s in STATUS_LABELS)
        types = tuple(t for t in values("type") if t in TYPE_LABELS)
        assignee = one("assignee")
        if assignee and assignee not in ("none", "me") and parse_id(assignee) is None:
            problems.append("处理人参数无效，已忽略。")
            assignee = ""
        enterprise = " ".join((args.get("enterprise") or "").split())[:100]
        sla = one("sla")
        if sla and sla not in SLA_STATES:
            problems.append("SLA 状态参数无效，已忽略。")
            sla = ""
        due = one("due")
        if due and due not in DUE_FILTERS:
            problems.append("到期参数无效，已忽略。")
            due = ""
        ids: list[int] = []
        for raw in values("ids"):
            ticket_id = parse_id(re.sub(r"^(?:zxzj)?#?", "", raw.lower()))
            if ticket_id is not None:
                ids.append(ticket_id)
        return cls(
            view=view,
            statuses=statuses,
            types=types,
            assignee=assignee,
            enterprise=enterprise,
            sla=sla,
            due=due,
            received_from=_date(one("received_from"), problems),
            received_to=_date(one("received_to"), problems),
            q=(args.get("q") or "").strip()[:200],
            ids=tuple(ids[:500]),
            after=(args.get("after") or "").strip(),
            page=min(parse_id(args.get("p") or "") or 1, 100_000) if args.get("after") else 1,
            default_view=default_view,
            problems=tuple(problems),
        )

    def params(self, **changes: Any) -> dict[str, str]:
        """The query string of this query (with changes), for links: only non-default keys."""
        q = replace(self, **changes) if changes else self
        out = {
            "view": q.view if q.view != q.default_view else "",
            "status": ",".join(q.statuses),
            "type": ",".join(q.types),
            "assignee": q.assignee,
            "enterprise": q.enterprise,
            "sla": q.sla,
            "due": q.due,
            "received_from": q.received_from.isoformat() if q.received_from else "",
            "received_to": q.received_to.isoformat() if q.received_to else "",
            "q": q.q,
            "ids": ",".join(map(str, q.ids)),
            "after": q.after,
            "p": str(q.page) if q.after and q.page > 1 else "",
        }
        return {k: v for k, v in out.items() if v}

    def query_string(self, **changes: Any) -> str:
        return urlencode(self.params(**changes))

    @property
    def is_filtered(self) -> bool:
        return bool(self.params(view=self.default_view, after=""))


def _date(raw: str, problems: list[str]) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        problems.append(f"日期“{raw}”格式不对（应为 YYYY-MM-DD），已忽略。")
        return None


def normalise_saved_query(raw: str) -> str:
    """Keep only the queue's own keys of a saved query string (no cursor)."""
    from urllib.parse import parse_qsl

    pairs = [(k, v) for k, v in parse_qsl(raw.lstrip("?"), keep_blank_values=False) if k in QUERY_KEYS]
    return urlencode(pairs)[:2000]


# ------------------------------------------------------------------------------------ conditions


@dataclass
class Clock:
    """Per-request SLA helper: the types' calendars (sla.clock.TypeCalendars), computed once."""

    now: datetime
    tz: ZoneInfo
    calendars: clock.TypeCalendars = field(default_factory=clock.TypeCalendars)
    _text: dict[str, tuple[list[int] | None, Any]] = field(default_factory=dict)
    _enterprises: dict[str, list[int]] = field(default_factory=dict)
    _due_soon: dict[str, datetime] | None = None

    def calendar(self, ticket_type: str) -> Any:
        return self.calendars(ticket_type)

    def text_matches(self, q: str) -> list[int] | None:
        """Ids of the tickets matching every word of `q`; None when more than SEARCH_CAP match.

        One lookup in the search index (helpdesk.tickets.search); the queue then reads only these ids. A
        common word (more matches) is instead tested row by row in the ordered scan, which meets a page of
        matches early. Cached for the request.
        """
        return self._search(q)[0]

    def _search(self, q: str) -> tuple[list[int] | None, Any]:
        key = " ".join(search.words_of(q))
        if key not in self._text:
            self._text[key] = search.matching_ids(q, SEARCH_CAP)
        return self._text[key]

    def search_words(self, q: str) -> Any:
        """The query's words with the enterprises they name (looked up once per request)."""
        return self._search(q)[1]

    def enterprises_named(self, name: str) -> list[int]:
        if name not in self._enterprises:
            self._enterprises[name] = search.enterprises_named(name)
        return self._enterprises[name]

    def due_soon_limit(self, ticket_type: str) -> datetime:
        """The instant DUE_SOON_MINUTES business minutes from now, under this type's business hours."""
        return self.calendar(ticket_type).add_business_minutes(self.now, DUE_SOON_MINUTES).astimezone(UTC)

    def due_soon_limits(self) -> dict[str, datetime]:
        if self._due_soon is None:
            self._due_soon = {t: self.due_soon_limit(t) for t in TYPE_LABELS}
        return self._due_soon

    def minutes_left(self, ticket: Ticket) -> int | None:
        """Business minutes left (negative when breached), the stored remainder while paused, None if stopped."""
        if ticket.status in CLOSED_STATUSES:
            return None
        if ticket.status == TicketStatus.WAITING.value:
            return ticket.clock.remaining_minutes if ticket.clock is not None else None
        if ticket.due_at is None:
            return None
        return self.calendar(ticket.type).business_minutes_between(self.now, ticket.due_at)

    def state(self, ticket: Ticket) -> str:
        """ok / warn / breached / paused / stopped, as sla.clock names them."""
        return clock.state(
            stopped=ticket.status in CLOSED_STATUSES,
            paused=ticket.status == TicketStatus.WAITING.value,
            due_at=ticket.due_at,
            warn_at=ticket.warn_at,
            now=self.now,
        )


def new_clock(tz: ZoneInfo, now: datetime | None = None) -> Clock:
    return Clock(now=now or utcnow(), tz=tz)


def running_condition(st: Any = Ticket.status) -> ColumnElement[bool]:
    return and_(st.in_(RUNNING), Ticket.due_at.is_not(None))


def paused_breach_condition(st: Any = Ticket.status) -> ColumnElement[bool]:
    """Waiting tickets whose current clock had run out before the pause: a breach that the pause must not
    hide (it stays in 已超时; its deadline is kept on the clock, the ticket's own copy is cleared)."""
    current = aliased(SlaClock)  # its own alias: the statement may join sla_clocks already (dashboard)
    return and_(
        st == TicketStatus.WAITING.value,
        exists().where(
            current.ticket_id == Ticket.id,
            current.clock_no == Ticket.sla_clock_no,
            or_(current.breached_at.is_not(None), current.remaining_minutes <= 0),
        ),
    )


def breached_condition(st: Any, ck: Clock) -> ColumnElement[bool]:
    """已超时: running past due, or paused after the deadline had passed."""
    return or_(and_(running_condition(st), Ticket.due_at <= ck.now), paused_breach_condition(st))


def status_column(query: QueueQuery, ck: Clock) -> Any:
    """Ticket.status, or an unindexable copy of it (`status || ''`) when the query names its few tickets
    by id (an id list, a selective text search): the planner then looks the ids up by primary key
    instead of scanning a status range of the queue index (SQLite took 80 ms for 232 ids that way)."""
    by_ids = bool(query.ids) or (bool(query.q) and ck.text_matches(query.q) is not None)
    return Ticket.status + "" if by_ids else Ticket.status


def _due_before(ck: Clock, limits: Mapping[str, datetime]) -> ColumnElement[bool]:
    """due_at <= the per-type limit (types with the same limit share one clause)."""
    by_limit: dict[datetime, list[str]] = {}
    for ticket_type, limit in limits.items():
        by_limit.setdefault(limit, []).append(ticket_type)
    if len(by_limit) == 1:
        return Ticket.due_at <= next(iter(by_limit))
    return or_(*(and_(Ticket.type.in_(types), Ticket.due_at <= limit) for limit, types in by_limit.items()))


def due_soon_condition(ck: Clock, st: Any = Ticket.status) -> ColumnElement[bool]:
    limits = ck.due_soon_limits()
    return and_(running_condition(st), Ticket.due_at > ck.now, _due_before(ck, limits))


def _end_of_today(ck: Clock) -> datetime:
    local = ck.now.astimezone(ck.tz).date() + timedelta(days=1)
    return datetime.combine(local, time(0), ck.tz).astimezone(UTC)


def _local_day_start(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tz).astimezone(UTC)


def text_condition(q: str, ck: Clock | None = None) -> ColumnElement[bool]:
    """Every word of `q` in the ticket's words, tested row by row (helpdesk.tickets.search); a ticket
    number (ZXZJ#12, #12, 12) also matches by id."""
    return search.condition(q, per_row=True, prepared=ck.search_words(q) if ck is not None else None)


#: statuses each list, SLA state and bucket can hold: a query whose statuses miss a bucket skips it
VIEW_STATUSES = {
    "all": set(STATUS_LABELS), "mine": set(OPEN_STATUSES), "unassigned": set(RUNNING), "due_soon": set(RUNNING),
    "breached": set(RUNNING) | {"waiting"}, "waiting": {"waiting"},
}  # fmt: skip
SLA_STATUSES = {"ok": set(RUNNING), "warn": set(RUNNING), "breached": set(RUNNING) | {"waiting"}, "paused": {"waiting"},
                "stopped": set(CLOSED_STATUSES)}  # fmt: skip
BUCKET_STATUSES = {0: set(RUNNING), 1: set(OPEN_STATUSES), 2: set(CLOSED_STATUSES)}


def status_scope(query: QueueQuery) -> set[str]:
    """The statuses a ticket of this query can have (empty: the filters contradict each other)."""
    scope = set(VIEW_STATUSES[query.view])
    if query.statuses:
        scope &= set(query.statuses)
    if query.sla:
        scope &= SLA_STATUSES[query.sla]
    if query.due:
        scope &= set(RUNNING)
    return scope


def filter_conditions(query: QueueQuery, user: User | None, ck: Clock) -> list[ColumnElement[bool]]:
    """WHERE clauses for everything but the buckets' order and cursor ("mine"/"me" match nothing without a user)."""
    conds: list[ColumnElement[bool]] = []
    view = query.view
    me = user.id if user is not None else None
    st = status_column(query, ck)
    if view == "mine":
        conds += [Ticket.assignee_id == me if me is not None else false(), st.in_(OPEN_STATUSES)]
    elif view == "unassigned":
        conds += [Ticket.assignee_id.is_(None), st.in_(RUNNING)]
    elif view == "due_soon":
        conds.append(due_soon_condition(ck, st))
    elif view == "breached":
        conds.append(breached_condition(st, ck))
    elif view == "waiting":
        conds.append(st == TicketStatus.WAITING.value)
    if query.statuses:
        conds.append(st.in_(query.statuses))
    if query.types:
        conds.append(Ticket.type.in_(query.types))
    if query.assignee == "none":
        conds.append(Ticket.assignee_id.is_(None))
    elif query.assignee == "me":
        conds.append(Ticket.assignee_id == me if me is not None else false())
    elif query.assignee:
        conds.append(Ticket.assignee_id == int(query.assignee))
    if query.enterprise:
        named = ck.enterprises_named(query.enterprise)
        conds.append(Ticket.enterprise_id.in_(named) if named else false())
    if query.sla == "ok":
        conds += [
            running_condition(st),
            Ticket.due_at > ck.now,
            or_(Ticket.warn_at.is_(None), Ticket.warn_at > ck.now),
        ]
    elif query.sla == "warn":
        conds += [running_condition(st), Ticket.due_at > ck.now, Ticket.warn_at <= ck.now]
    elif query.sla == "breached":
        conds.append(breached_condition(st, ck))
    elif query.sla == "paused":
        conds.append(st == TicketStatus.WAITING.value)
    elif query.sla == "stopped":
        conds.append(st.in_(CLOSED_STATUSES))
    if query.due == "4h":
        conds.append(due_soon_condition(ck, st))
    elif query.due == "today":
        conds += [running_condition(st), Ticket.due_at > ck.now, Ticket.due_at < _end_of_today(ck)]
    if query.received_from:
        conds.append(Ticket.received_at >= _local_day_start(query.received_from, ck.tz))
    if query.received_to:
        conds.append(Ticket.received_at < _local_day_start(query.received_to + timedelta(days=1), ck.tz))
    if query.ids:
        conds.append(Ticket.id.in_(query.ids))
    if query.q:
        matched = ck.text_matches(query.q)
        conds.append(
            text_condition(query.q, ck) if matched is None else Ticket.id.in_(matched) if matched else false()
        )
    return conds
