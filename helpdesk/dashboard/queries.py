"""The dashboard's figures: the "now" panel (SQL aggregates) and the period report (SLA clocks).

Definitions (all times in Asia/Shanghai for days and weeks; business time with the ticket type's
SLA calendar, as helpdesk.sla.clock computes it):

Now panel (open = new, open, waiting)
  * open by status and type: open tickets, counted by their current status and type.
  * due today: running clocks (new / open) with `now <= due_at <` the next local midnight.
  * due within 4 business hours: running clocks with `due_at >= now` and at most 240 business minutes
    between now and `due_at`.
  * breached, not resolved: running clocks with `due_at < now`, and waiting tickets whose clock had run
    out before the pause (`breached_at` set, or no business time left at the pause); past due = business
    time from `due_at` to now.
  * unassigned: open tickets without an assignee; the oldest by `received_at`.
  * ageing: business time since the current clock started (`sla_started_at`, else `received_at`),
    paused time included, in business days of the policy's hours: [0, 1), [1, 2), [2, 3), >= 3.
  * mail: each mailbox's last successful poll and last error; the outbox's unsent mails
    (`sent_at IS NULL AND NOT failed`) and permanently failed ones.
  * calendar: a warning when this year, or from 1 November next year, has no official schedule.

Period report ([first day 00:00, last day + 1 00:00) local)
  * received: tickets whose `received_at` is in the period.
  * resolved: clocks stopped in the period by a status change from an open status to 已办结 or 已驳回
    (a ticket reopened and resolved twice counts twice; merges are not handled requests).
  * met / compliance: resolved clocks that stopped by their due time (see clocks.py) / resolved clocks.
  * handling time: business minutes from the clock's start to its stop minus paused business minutes;
    the median (middle value) and p90 (nearest rank: the smallest value >= 90 % of them).
  * paused: the business time those clocks spent waiting on the enterprise, reported apart.
  * reopen rate: resolved clocks that were followed by a new clock (the enterprise wrote back and the
    ticket reopened) / resolved clocks.
  * breaches: resolved clocks that missed their due, plus open tickets whose due time fell in the period
    and has passed; each with the reasons its timeline shows (clocks.breach_reasons).
  * by type: the ticket's current type. By agent: whoever resolved it (the status event's actor), else
    the ticket's assignee; received tickets by their current assignee.
"""

from __future__ import annotations

import calendar as pycalendar
import gc
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Date,
    DateTime,
    Integer,
    and_,
    any_,
    bindparam,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import ARRAY

from helpdesk.auth.models import Role, User
from helpdesk.dashboard import clocks
from helpdesk.dashboard.clocks import ClockTrace, EventFacts, PolicyFacts, TicketFacts
from helpdesk.dashboard.figures import ID_LINK_LIMIT, Figures
from helpdesk.db import session
from helpdesk.mail.models import Mailbox, OutboundMail
from helpdesk.sla import clock as sla_clock
from helpdesk.sla.calendar import WorkCalendar
from helpdesk.sla.models import CalendarYear, SlaPolicy
from helpdesk.tickets import queries as queue
from helpdesk.tickets.models import OPEN_STATUSES, STATUS_LABELS, TYPE_LABELS, Ticket, TicketEvent

TZ = ZoneInfo(sla_clock.DEFAULT_TZ)
TYPES = tuple(TYPE_LABELS)
RUNNING = ("new", "open")
AGE_BUCKETS = ("0-1", "1-2", "2-3", ">3")
AGE_LABELS = ("0–1 个工作日", "1–2 个工作日", "2–3 个工作日", "3 个工作日以上")
BREACH_ROWS = 15
CHUNK = 900  # ids per IN (...) list


# ------------------------------------------------------------------------------------------- calendars


class Calendars:
    """Per ticket type: the SLA calendar with the policy's business hours, and the policy (cached)."""

    def __init__(self) -> None:
        # held here so that policy_for's session.get finds them in the (weak) identity map: no query per type
        self._policies = session.scalars(select(SlaPolicy)).all()
        self._cache: dict[str, tuple[WorkCalendar, PolicyFacts]] = {}
        self._by_hours: dict[tuple[Any, Any], WorkCalendar] = {}

    def __call__(self, ticket_type: str) -> tuple[WorkCalendar, PolicyFacts]:
        found = self._cache.get(ticket_type)
        if found is None:
            policy = sla_clock.policy_for(ticket_type)
            hours = (policy.start, policy.end)
            cal = self._by_hours.get(hours)
            if cal is None:
                cal = self._by_hours[hours] = sla_clock.calendar_for(policy)
            found = (cal, PolicyFacts(policy.mode, policy.days))
            self._cache[ticket_type] = found
        return found

    def queue_clock(self, now: datetime) -> queue.Clock:
        """The queue's per-request clock at `now`, sharing these calendars."""
        ck = queue.new_clock(TZ, now)
        for t in TYPES:
            ck._calendars[t] = self(t)[0]  # the queue caches calendars per type in this dict
        return ck

    def groups(self) -> list[tuple[WorkCalendar, tuple[str, ...]]]:
        """The known types grouped by calendar (types whose policies share business hours)."""
        by_cal: dict[int, tuple[WorkCalendar, list[str]]] = {}
        for t in TYPES:
            cal, _ = self(t)
            by_cal.setdefault(id(cal), (cal, []))[1].append(t)
        return [(cal, tuple(types)) for cal, types in by_cal.values()]


def day_minutes(cal: WorkCalendar) -> int:
    opening, closing = cal.hours
    return (closing.hour * 60 + closing.minute) - (opening.hour * 60 + opening.minute)


def latest_at_position(cal: WorkCalendar, moment: datetime, minutes: int) -> datetime:
    """The latest moment whose business position is at most that of `moment` plus `minutes` (UTC).

    `x <= this` is exactly `business_minutes_between(moment, x) <= minutes` (to the microsecond): the
    moments after a close of business share its position until the next working day opens.
    """
    earliest = cal.add_business_minutes(moment, minutes).astimezone(cal.tz)
    opening, closing = cal.hours
    d, t = earliest.date(), earliest.time().replace(tzinfo=None)
    if cal.is_working_day(d) and opening < t < closing:
        return earliest.astimezone(UTC)
    nxt = d if cal.is_working_day(d) and t <= opening else cal.next_working_day(d)
    return datetime.combine(nxt, opening, tzinfo=cal.tz).astimezone(UTC)


def local_midnight_after(now: datetime) -> datetime:
    local = now.astimezone(TZ)
    return datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=TZ).astimezone(UTC)


# ------------------------------------------------------------------------------------------- now panel


@dataclass
class BreachedRow:
    id: int
    subject: str
    type: str
    status: str
    assignee: str
    due_at: datetime | None
    past_due_minutes: int | None  #: None while paused


@dataclass
class NowPanel:
    computed_at: datetime
    figures: Figures
    by_status_type: dict[tuple[str, str], int]
    status_totals: dict[str, int]
    type_totals: dict[str, int]
    open_total: int
    due_today: int
    due_4h: int
    breached: int  #: running clocks past due (the queue's 已超时)
    breached_paused: int  #: waiting tickets that were already past due when paused
    breached_rows: list[BreachedRow]
    unassigned: int
    oldest_unassigned: dict[str, Any] | None
    waiting: int
    ageing: list[int]
    mailboxes: list[dict[str, Any]]
    outbox_waiting: int
    outbox_failed: int
    calendar_missing: list[int]
    statuses: Sequence[str] = OPEN_STATUSES
    types: Sequence[str] = TYPES


def _paused_breach_condition() -> Any:
    """Waiting tickets whose clock had run out before the pause (the queue's 已超时 lists running clocks only)."""
    return and_(
        Ticket.status == "waiting",
        or_(Ticket.breached_at.is_not(None), Ticket.sla_remaining_minutes <= 0),
    )


def _queue_conditions(filters: dict[str, str], ck: queue.Clock) -> list[Any]:
    """The queue's own WHERE clauses for these query parameters: a figure and its link can never disagree."""
    return queue.filter_conditions(queue.QueueQuery.from_args(filters), None, ck)  # type: ignore[arg-type]


def _age_bucket_expr(cals: Calendars, now: datetime) -> Any:
    """SQL CASE giving the ageing bucket (0..3) of an open ticket, from business-day thresholds per calendar."""
    started = func.coalesce(Ticket.sla_started_at, Ticket.received_at)
    whens = []
    for k in (3, 2, 1):
        for cal, types in cals.groups():
            limit = latest_at_position(cal, now, -k * day_minutes(cal))
            whens.append((and_(Ticket.type.in_(types), started <= limit), literal(k)))
    return case(*whens, else_=literal(0))


def _sum_if(*conds: Any) -> Any:
    return func.coalesce(func.sum(case((and_(*conds), 1), else_=0)), 0)


#: the now panel's figures counted by the queue's own conditions: key -> queue parameters
QUEUE_FIGURES = (
    ("now.due_today", {"due": "today"}),
    ("now.due_4h", {"view": "due_soon"}),
    ("now.breached", {"view": "breached"}),
    ("now.unassigned", {"view": "unassigned"}),
    ("now.waiting", {"view": "waiting"}),
)


def now_panel(now: datetime, *, want_ids: str | None = None) -> NowPanel:
    """The live figures; `want_ids` ('now.age.2', ...) fetches that figure's ids even when there are many.

    One grouped scan of the open tickets counts them by status and type together with every figure
    below (each figure a SUM(CASE ...) of the queue's own conditions); the rest are small lookups.
    """
    cals = Calendars()
    ck = cals.queue_clock(now)
    figs = Figures()
    is_open = Ticket.status.in_(OPEN_STATUSES)
    all_open = ",".join(OPEN_STATUSES)
    bucket = _age_bucket_expr(cals, now)
    sums = [_sum_if(*_queue_conditions(filters, ck)) for _, filters in QUEUE_FIGURES]
    sums.append(_sum_if(_paused_breach_condition()))
    sums += [_sum_if(bucket == k) for k in range(4)]
    by_status_type: dict[tuple[str, str], int] = {}
    totals = [0] * len(sums)
    for status, ttype, n, *counts in session.execute(
        select(Ticket.status, Ticket.type, func.count(), *sums)
        .where(is_open)
        .group_by(Ticket.status, Ticket.type)
    ):
        by_status_type[(status, ttype)] = n
        totals = [a + int(b) for a, b in zip(totals, counts, strict=True)]
    status_totals: Counter[str] = Counter()
    type_totals: Counter[str] = Counter()
    for (status, ttype), n in by_status_type.items():
        status_totals[status] += n
        type_totals[ttype] += n
        figs.by_filters(f"now.open.{status}.{ttype}", n, status=status, type=ttype)
    for status in OPEN_STATUSES:
        figs.by_filters(f"now.open.{status}", status_totals[status], status=status)
    for t in TYPES:
        figs.by_filters(f"now.open.type.{t}", type_totals[t], status=all_open, type=t)
    open_total = sum(status_totals.values())
    figs.by_filters("now.open.total", open_total, status=all_open)
    for (key, filters), n in zip(QUEUE_FIGURES, totals, strict=False):
        figs.by_filters(key, n, **filters)
    breached_paused = totals[len(QUEUE_FIGURES)]
    ageing = totals[len(QUEUE_FIGURES) + 1 :]
    if 0 < breached_paused <= ID_LINK_LIMIT or want_ids == "now.breached_paused":
        figs.by_ids(
            "now.breached_paused", session.scalars(select(Ticket.id).where(_paused_breach_condition()))
        )
    else:
        figs.count_only("now.breached_paused", breached_paused)

    rows = session.execute(
        select(
            Ticket.id,
            Ticket.subject,
            Ticket.type,
            Ticket.status,
            Ticket.due_at,
            User.display_name,
            User.username,
        )
        .outerjoin(User, User.id == Ticket.assignee_id)
        .where(or_(and_(*_queue_conditions({"view": "breached"}, ck)), _paused_breach_condition()))
        .order_by(Ticket.due_at.is_(None), Ticket.due_at, Ticket.id)
        .limit(BREACH_ROWS)
    ).all()
    breached_rows = []
    for r in rows:
        past = None
        if r.due_at is not None and r.status in RUNNING:
            cal, _ = cals(r.type)
            past = cal.business_minutes_between(r.due_at, now)
        name = r.display_name or r.username or ""
        breached_rows.append(BreachedRow(r.id, r.subject, r.type, r.status, name, r.due_at, past))

    oldest = session.execute(
        select(Ticket.id, Ticket.subject, Ticket.type, Ticket.received_at)
        .where(*_queue_conditions({"view": "unassigned"}, ck))
        .order_by(Ticket.received_at, Ticket.id)
        .limit(1)
    ).first()
    oldest_unassigned = None
    if oldest is not None:
        cal, _ = cals(oldest.type)
        oldest_unassigned = {
            "id": oldest.id,
            "subject": oldest.subject,
            "type": oldest.type,
            "received_at": oldest.received_at,
            "age_minutes": cal.business_minutes_between(oldest.received_at, now),
        }

    # ageing has no queue filter (business days): ids for small buckets, the drill page for big ones
    small = [k for k in range(4) if 0 < ageing[k] <= ID_LINK_LIMIT or want_ids == f"now.age.{k}"]
    age_ids: dict[int, list[int]] = defaultdict(list)
    if small:
        for tid, k in session.execute(select(Ticket.id, bucket).where(is_open, bucket.in_(small))):
            age_ids[int(k)].append(tid)
    for k in range(4):
        if k in small or not ageing[k]:
            figs.by_ids(f"now.age.{k}", age_ids.get(k, ()))
        else:
            figs.count_only(f"now.age.{k}", ageing[k])

    mailboxes = [
        {
            "name": m.name,
            "last_poll_at": m.last_poll_at,
            "last_success_at": m.last_success_at,
            "last_error": m.last_error,
            "failing": bool(m.last_error)
            and (
                m.last_success_at is None
                or (m.last_poll_at is not None and m.last_poll_at > m.last_success_at)
            ),
        }
        for m in session.scalars(select(Mailbox).order_by(Mailbox.name))
    ]
    pending = and_(OutboundMail.sent_at.is_(None), OutboundMail.failed.is_(False))
    failed = OutboundMail.failed.is_(True)
    outbox_waiting, outbox_failed = session.execute(
        select(_sum_if(pending), _sum_if(failed))
        .select_from(OutboundMail)
        .where(OutboundMail.sent_at.is_(None))
    ).one()
    for key, cond, n in (
        ("now.mail.waiting", pending, outbox_waiting),
        ("now.mail.failed", failed, outbox_failed),
    ):
        # the figure counts mails; its link lists the tickets they belong to
        if n <= ID_LINK_LIMIT or want_ids == key:
            ticket_ids = session.scalars(
                select(OutboundMail.ticket_id).where(cond, OutboundMail.ticket_id.is_not(None)).distinct()
            )
            figs.by_ids(key, ticket_ids, value=n)
        else:
            figs.count_only(key, n)

    return NowPanel(
        computed_at=now,
        figures=figs,
        by_status_type=by_status_type,
        status_totals=dict(status_totals),
        type_totals=dict(type_totals),
        open_total=open_total,
        due_today=figs.value("now.due_today"),
        due_4h=figs.value("now.due_4h"),
        breached=figs.value("now.breached"),
        breached_paused=breached_paused,
        breached_rows=breached_rows,
        unassigned=figs.value("now.unassigned"),
        oldest_unassigned=oldest_unassigned,
        waiting=figs.value("now.waiting"),
        ageing=ageing,
        mailboxes=mailboxes,
        outbox_waiting=outbox_waiting,
        outbox_failed=outbox_failed,
        calendar_missing=missing_calendar_years(now),
    )


def missing_calendar_years(now: datetime) -> list[int]:
    """Years without an official schedule that matter now: this year, and next year from 1 November."""
    today = now.astimezone(TZ).date()
    needed = [today.year] + ([today.year + 1] if today.month >= 11 else [])
    known = set(
        session.scalars(
            select(CalendarYear.year).where(CalendarYear.year.in_(needed), CalendarYear.status == "official")
        )
    )
    return [y for y in needed if y not in known]


# ------------------------------------------------------------------------------------------- periods


@dataclass(frozen=True)
class Period:
    key: str  #: week / last_week / month / last_month / custom
    first: date
    last: date  #: inclusive

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(0), tzinfo=TZ).astimezone(UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(0), tzinfo=TZ).astimezone(UTC)

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]

    @property
    def label(self) -> str:
        names = {
            "week": "本周",
            "last_week": "上周",
            "month": "本月",
            "last_month": "上月",
            "custom": "自定义",
        }
        return f"{names.get(self.key, '')} {self.first:%Y-%m-%d} 至 {self.last:%Y-%m-%d}"


MAX_PERIOD_DAYS = 366


def period_for(key: str, today: date, first: str | None = None, last: str | None = None) -> Period:
    """The period named by `key` around `today`; 'custom' takes YYYY-MM-DD bounds (inclusive)."""
    if key == "custom":
        try:
            a, b = date.fromisoformat(first or ""), date.fromisoformat(last or "")
        except ValueError:
            return period_for("month", today)
        if b < a:
            a, b = b, a
        b = min(b, a + timedelta(days=MAX_PERIOD_DAYS - 1))
        return Period("custom", a, b)
    if key in ("week", "last_week"):
        monday = (
            today
            - timedelta(days=today.weekday())
            - (timedelta(days=7) if key == "last_week" else timedelta())
        )
        return Period(key, monday, monday + timedelta(days=6))
    if key == "last_month":
        last_day = today.replace(day=1) - timedelta(days=1)
        return Period(key, last_day.replace(day=1), last_day)
    first_day = today.replace(day=1)
    return Period(
        "month", first_day, first_day.replace(day=pycalendar.monthrange(today.year, today.month)[1])
    )


# ------------------------------------------------------------------------------------------- clocks from the db


# the bulk reads use the tables' Core columns: rows come back as plain tuples, without the ORM's per-row work
T = Ticket.__table__.c
E = TicketEvent.__table__.c


def _rows(stmt: Any) -> list[Any]:
    """All rows of a Core statement, fetched at once below the ORM layer (the bulk reads' fast path)."""
    return session.connection().execute(stmt).all()


def _postgres() -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _ts(column: Any) -> Any:
    """A timestamp column read as the driver gives it: psycopg's aware datetimes need no per-row conversion."""
    return type_coerce(column, DateTime(timezone=True)) if _postgres() else column


def _event_columns() -> list[Any]:
    minutes = func.coalesce(
        E.detail["remaining_minutes"].as_integer(), E.detail["paused_minutes"].as_integer()
    )
    return [
        E.ticket_id,
        E.kind,
        E.old_value,
        E.new_value,
        E.actor_id,
        _ts(E.at),
        E.detail["due_at"].as_string(),
        minutes,
    ]


def _id_conditions(column: Any, ids: Sequence[int]) -> list[Any]:
    """`column IN ids` as few statements: one array parameter on PostgreSQL, chunks of ids elsewhere."""
    if not ids:
        return []
    if _postgres():
        return [column == any_(bindparam("ids", list(ids), type_=ARRAY(Integer), unique=True))]
    return [column.in_(ids[i : i + CHUNK]) for i in range(0, len(ids), CHUNK)]


def _ticket_facts(ids: Sequence[int]) -> dict[int, TicketFacts]:
    facts: dict[int, TicketFacts] = {}
    cols = (T.id, T.type, T.status, _ts(T.received_at), T.sla_clock_no, _ts(T.due_at), T.assignee_id)
    for cond in _id_conditions(T.id, ids):
        for r in _rows(select(*cols).where(cond)):
            facts[r[0]] = TicketFacts(*r)
    return facts


def replay_tickets(
    ids: Iterable[int], cals: Calendars, now: datetime
) -> dict[int, tuple[TicketFacts, list[ClockTrace]]]:
    """Every clock of these tickets, rebuilt from their events, with the ticket's facts."""
    ids = sorted(set(ids))
    facts = _ticket_facts(ids)
    events: dict[int, list[EventFacts]] = defaultdict(list)
    cols = _event_columns()
    for cond in _id_conditions(E.ticket_id, ids):
        stmt = (
            select(*cols).where(cond, E.kind.in_(clocks.CLOCK_EVENT_KINDS)).order_by(E.ticket_id, E.at, E.id)
        )
        for r in _rows(stmt):
            events[r[0]].append(EventFacts._make(r))
    return {
        tid: (facts[tid], clocks.replay(facts[tid], events.get(tid, ()), cals, now))
        for tid in ids
        if tid in facts
    }


def _subjects(ids: Iterable[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for cond in _id_conditions(T.id, sorted(set(ids))):
        out.update((tid, subject) for tid, subject in _rows(select(T.id, T.subject).where(cond)))
    return out


@dataclass(slots=True)
class Resolution:
    """A clock stopped in the period by 已办结 / 已驳回: the figures the report takes from it."""

    ticket_id: int
    no: int  #: which clock of the ticket (1, 2 after a reopen, ...)
    ticket_type: str  #: the ticket's current type
    agent_id: int | None  #: who resolved it (the status event's actor), else the ticket's assignee
    start: datetime
    stop: datetime
    stop_status: str
    due: datetime | None
    met: bool
    handling_minutes: int
    paused_minutes: int
    reopened: bool

    @classmethod
    def of(cls, c: ClockTrace, ticket_type: str, agent_id: int | None) -> Resolution:
        return cls(
            c.ticket_id,
            c.no,
            ticket_type,
            agent_id,
            c.start,
            c.stop,
            c.stop_status or "",
            c.breach_due,
            bool(c.met),
            c.handling_minutes or 0,
            c.total_paused_minutes,
            c.reopened,
        )


def resolutions_in(
    period_start: datetime,
    period_end: datetime,
    cals: Calendars,
    now: datetime,
    *,
    ticket_type: str | None = None,
    tier_one: bool = True,
    also_replay: Iterable[int] = (),
) -> tuple[list[Resolution], dict[int, tuple[TicketFacts, list[ClockTrace]]]]:
    """The handled stops in [start, end), and the replayed clocks of the tickets that needed a replay.

    The stops are the status events from an open status to 已办结 / 已驳回. A ticket still on its first
    clock that stopped while running is described exactly by its columns, as `clocks.replay` would
    find it: start = received_at, due = tickets.due_at (the engine's), paused = sla_paused_minutes (the
    sum of its sla_resumed events), not reopened. Reopened tickets and tickets closed while waiting are
    replayed from their events, and so are the late ones (the breach list needs their timelines) and
    `also_replay`. `tier_one=False` replays them all (the tests compare both ways).
    """
    e, t = E, T
    stmt = (
        select(
            e.ticket_id,
            _ts(e.at),
            e.old_value,
            e.new_value,
            e.actor_id,
            t.type,
            t.status,
            _ts(t.received_at),
            t.sla_clock_no,
            _ts(t.due_at),
            t.assignee_id,
            t.sla_paused_minutes,
        )
        .select_from(TicketEvent.__table__.join(Ticket.__table__, t.id == e.ticket_id))
        .where(
            e.kind == "status",
            e.at >= period_start,
            e.at < period_end,
            e.new_value.in_(clocks.HANDLED),
            e.old_value.in_(OPEN_STATUSES),
        )
    )
    if ticket_type:
        stmt = stmt.where(t.type == ticket_type)
    out: list[Resolution] = []
    replay_ids: set[int] = set(also_replay)
    from_events: set[int] = set()
    between = {ty: cals(ty)[0].business_minutes_between for ty in TYPES}
    new = Resolution
    # the hot loop of the month report: one business-time difference per resolution, nothing else
    for (
        tid,
        at,
        old,
        status_to,
        actor,
        ttype,
        status,
        received,
        clock_no,
        due,
        assignee,
        paused,
    ) in _rows(stmt):
        if tier_one and clock_no == 1 and old != "waiting" and status in clocks.HANDLED and due is not None:
            minutes = between.get(ttype) or cals(ttype)[0].business_minutes_between
            paused = paused or 0
            handling = minutes(received, at) - paused
            met = at <= due
            out.append(
                new(
                    tid,
                    1,
                    ttype,
                    actor if actor is not None else assignee,
                    received,
                    at,
                    status_to,
                    due,
                    met,
                    max(0, handling),
                    paused,
                    False,
                )
            )
            if not met:
                replay_ids.add(tid)
        else:
            from_events.add(tid)
    traces = replay_tickets(replay_ids | from_events, cals, now)
    for tid in from_events:
        facts, trace = traces[tid]
        for c in trace:
            if c.stop is not None and c.stop_status in clocks.HANDLED and period_start <= c.stop < period_end:
                agent = c.stop_actor_id if c.stop_actor_id is not None else facts.assignee_id
                out.append(Resolution.of(c, facts.type, agent))
    return out, traces


# ------------------------------------------------------------------------------------------- report


@dataclass
class Breach:
    clock: ClockTrace
    ticket_type: str
    subject: str
    agent_id: int | None
    agent: str
    over_minutes: int  #: business minutes past due (to the stop, or to now while open)
    reasons: list[str]
    still_open: bool


@dataclass
class Stats:
    """Figures of one group of resolutions (all, one type or one agent)."""

    resolved: int = 0
    met: int = 0
    reopened: int = 0
    handling: list[int] = field(default_factory=list)
    paused: list[int] = field(default_factory=list)  #: paused minutes of the clocks that paused

    @classmethod
    def of(cls, items: Sequence[Resolution]) -> Stats:
        return cls(
            resolved=len(items),
            met=len([r for r in items if r.met]),
            reopened=len([r for r in items if r.reopened]),
            handling=[r.handling_minutes for r in items],
            paused=[r.paused_minutes for r in items if r.paused_minutes],
        )

    @property
    def compliance(self) -> float | None:
        return self.met / self.resolved if self.resolved else None

    @property
    def reopen_rate(self) -> float | None:
        return self.reopened / self.resolved if self.resolved else None

    @property
    def median_minutes(self) -> float | None:
        return clocks.median(self.handling)

    @property
    def p90_minutes(self) -> float | None:
        return clocks.quantile(self.handling, 0.9)

    @property
    def paused_total(self) -> int:
        return sum(self.paused)

    @property
    def paused_median(self) -> float | None:
        return clocks.median(self.paused)


@dataclass
class AgentRow:
    id: int | None
    name: str
    open_assigned: int
    stats: Stats


@dataclass
class Report:
    period: Period
    computed_at: datetime
    ticket_type: str | None
    agent_id: int | None
    figures: Figures
    received: int
    total: Stats
    by_type: dict[str, Stats]
    by_type_received: dict[str, int]
    by_agent_received: dict[int | None, int]
    resolutions: list[Resolution]
    breaches: list[Breach]
    breach_reasons: list[tuple[str, int]]
    agents: list[AgentRow]
    daily: list[tuple[date, int, int]]  #: (day, received, resolved)
    weekly: list[tuple[date, int, int]]  #: (monday, resolved, met)
    breaches_by_type: dict[str, int]
    users: dict[int, str]


def _user_names() -> dict[int, str]:
    return {u.id: u.name for u in session.scalars(select(User))}


def _local_day(column: Any, period: Period) -> Any:
    if _postgres():
        return cast(func.timezone(str(TZ), column), Date())
    # SQLite stores naive UTC: shift by the zone's offset at the period start (Asia/Shanghai has no DST)
    offset = period.start.astimezone(TZ).utcoffset() or timedelta()
    return func.date(column, f"{int(offset.total_seconds()) // 60:+d} minutes")


def _received(period: Period, ticket_type: str | None) -> list[tuple[str, int | None, date, int]]:
    """(type, current assignee, local day, count) of the tickets received in the period: one scan."""
    day = _local_day(T.received_at, period)
    stmt = select(T.type, T.assignee_id, day, func.count()).where(
        T.received_at >= period.start, T.received_at < period.end
    )
    if ticket_type:
        stmt = stmt.where(T.type == ticket_type)
    return [
        (ttype, assignee, d if isinstance(d, date) else date.fromisoformat(str(d)[:10]), n)
        for ttype, assignee, d, n in _rows(stmt.group_by(T.type, T.assignee_id, day))
    ]


def _open_breach_candidates(period: Period, now: datetime, ticket_type: str | None) -> list[int]:
    """Open tickets whose due time in the period has passed (running), or that paused after their due."""
    upper = min(period.end, now)
    stmt = select(T.id).where(
        or_(
            and_(Ticket.status.in_(RUNNING), Ticket.due_at >= period.start, Ticket.due_at < upper),
            _paused_breach_condition(),
        )
    )
    if ticket_type:
        stmt = stmt.where(Ticket.type == ticket_type)
    return list(session.scalars(stmt))


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a report builds its tens of thousands of small acyclic objects:
    each full collection would walk them all again (measured: a quarter of the month report's time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def period_report(
    period: Period,
    now: datetime,
    *,
    ticket_type: str | None = None,
    agent_id: int | None = None,
    tier_one: bool = True,
) -> Report:
    """Every figure of the period, optionally for one ticket type and / or one agent."""
    with _collector_paused():
        return _period_report(period, now, ticket_type=ticket_type, agent_id=agent_id, tier_one=tier_one)


def _period_report(
    period: Period, now: datetime, *, ticket_type: str | None, agent_id: int | None, tier_one: bool
) -> Report:
    cals = Calendars()
    figs = Figures()
    users = _user_names()
    ttype = ticket_type if ticket_type in TYPE_LABELS else None
    period_filters = {
        "view": "all",
        "received_from": period.first.isoformat(),
        "received_to": period.last.isoformat(),
    }

    received_rows = _received(period, ttype)
    by_type_received: dict[str, int] = {}
    by_agent_received: dict[int | None, int] = defaultdict(int)
    received_days: dict[date, int] = defaultdict(int)
    for rtype, assignee, day, n in received_rows:
        by_agent_received[assignee] += n
        if agent_id and assignee != agent_id:
            continue
        by_type_received[rtype] = by_type_received.get(rtype, 0) + n
        received_days[day] += n
    received = sum(by_type_received.values())
    figs.by_filters("report.received", received, **period_filters, type=ttype, assignee=agent_id)
    for t in TYPES:
        figs.by_filters(
            f"report.type.{t}.received",
            by_type_received.get(t, 0),
            **period_filters,
            type=t,
            assignee=agent_id,
        )

    open_ids = _open_breach_candidates(period, now, ttype)
    all_resolutions, traces = resolutions_in(
        period.start, period.end, cals, now, ticket_type=ttype, tier_one=tier_one, also_replay=open_ids
    )
    resolutions = [r for r in all_resolutions if not agent_id or r.agent_id == agent_id]
    total = Stats.of(resolutions)
    of_type: dict[str, list[Resolution]] = {t: [] for t in TYPES}
    for r in resolutions:
        of_type.setdefault(r.ticket_type, []).append(r)
    by_type = {t: Stats.of(items) for t, items in of_type.items()}
    of_agent: dict[int | None, list[Resolution]] = defaultdict(list)
    for r in all_resolutions:
        of_agent[r.agent_id].append(r)
    by_agent = {a: Stats.of(items) for a, items in of_agent.items()}
    # each figure counts resolutions (a ticket resolved twice counts twice) and links to their tickets
    for prefix, items in [("report", resolutions)] + [(f"report.type.{t}", v) for t, v in of_type.items()]:
        for suffix, chosen in (
            ("resolved", items),
            ("met", [r for r in items if r.met]),
            ("missed", [r for r in items if not r.met]),
            ("reopened", [r for r in items if r.reopened]),
            ("paused", [r for r in items if r.paused_minutes]),
        ):
            figs.by_ids(f"{prefix}.{suffix}", [r.ticket_id for r in chosen], value=len(chosen))
    for a, items in of_agent.items():
        figs.by_ids(f"people.{a or 'none'}.resolved", [r.ticket_id for r in items], value=len(items))

    # breaches: resolved late in the period, and open tickets whose due time in the period has passed
    late = [r for r in resolutions if not r.met]
    late_keys = {(r.ticket_id, r.no): r for r in late}
    open_set = set(open_ids)
    late_ids = {r.ticket_id for r in late}
    traces = {tid: v for tid, v in traces.items() if tid in open_set or tid in late_ids}
    subjects = _subjects(traces)
    breaches: list[Breach] = []
    for tid, (facts, trace) in traces.items():
        for c in trace:
            res = late_keys.get((tid, c.no))
            if res is not None:
                c.reopened = res.reopened
                agent, type_now, over_end, still_open = res.agent_id, res.ticket_type, c.effective_stop, False
            elif c is trace[-1] and tid in open_set and c.stop is None and c.breached(now):
                if not period.start <= c.breach_due < period.end:
                    continue
                if agent_id and facts.assignee_id != agent_id:
                    continue
                agent, type_now, over_end, still_open = (
                    facts.assignee_id,
                    facts.type,
                    c.paused_since or now,
                    True,
                )
            else:
                continue
            cal, _ = cals(c.type)
            breaches.append(
                Breach(
                    clock=c,
                    ticket_type=type_now,
                    subject=subjects.get(tid, ""),
                    agent_id=agent,
                    agent=users.get(agent, "未分配") if agent else "未分配",
                    over_minutes=max(0, cal.business_minutes_between(c.breach_due, over_end)),
                    reasons=clocks.breach_reasons(c, cals),
                    still_open=still_open,
                )
            )
    breaches.sort(key=lambda b: (b.clock.breach_due, b.clock.ticket_id, b.clock.no))
    reason_counts = Counter(reason.split("（")[0] for b in breaches for reason in b.reasons)
    breaches_by_type = Counter(b.ticket_type for b in breaches)
    figs.by_ids("report.breaches", [b.clock.ticket_id for b in breaches], value=len(breaches))
    still_open = [b.clock.ticket_id for b in breaches if b.still_open]
    figs.by_ids("report.breaches.open", still_open, value=len(still_open))
    for t in TYPES:
        of_t = [b.clock.ticket_id for b in breaches if b.ticket_type == t]
        figs.by_ids(f"report.type.{t}.breaches", of_t, value=len(of_t))
    for reason in reason_counts:
        with_reason = [
            b.clock.ticket_id for b in breaches if any(x.split("（")[0] == reason for x in b.reasons)
        ]
        figs.by_ids(f"report.reason.{reason}", with_reason, value=len(with_reason))

    # people: open assigned now, received in the period (current assignee), resolutions by who resolved them
    open_assigned = dict(
        session.execute(
            select(Ticket.assignee_id, func.count())
            .where(Ticket.status.in_(OPEN_STATUSES), Ticket.assignee_id.is_not(None))
            .group_by(Ticket.assignee_id)
        ).all()
    )
    staff = {u.id: u for u in session.scalars(select(User).where(User.active.is_(True)))}
    agent_ids = (
        {uid for uid, u in staff.items() if u.role == Role.AGENT.value}
        | set(open_assigned)
        | {a for a in by_agent if a is not None}
    )
    agents = [
        AgentRow(uid, users.get(uid, str(uid)), open_assigned.get(uid, 0), by_agent.get(uid) or Stats())
        for uid in agent_ids
    ]
    agents.sort(key=lambda a: (-a.open_assigned, a.name))
    for a in agents:
        figs.by_filters(
            f"people.{a.id}.received",
            by_agent_received.get(a.id, 0),
            **period_filters,
            type=ttype,
            assignee=a.id,
        )
        figs.by_filters(f"people.{a.id}.open", a.open_assigned, status=",".join(OPEN_STATUSES), assignee=a.id)

    resolved_days: Counter[date] = Counter()
    met_days: Counter[date] = Counter()
    for r in resolutions:
        d = r.stop.astimezone(TZ).date()
        resolved_days[d] += 1
        met_days[d] += r.met
    daily = [(d, received_days.get(d, 0), resolved_days.get(d, 0)) for d in period.days]
    weeks: dict[date, list[int]] = {}
    for d in period.days:
        weeks.setdefault(d - timedelta(days=d.weekday()), [0, 0])
    for d, n in resolved_days.items():
        w = weeks.setdefault(d - timedelta(days=d.weekday()), [0, 0])
        w[0] += n
        w[1] += met_days[d]
    weekly = [(monday, v[0], v[1]) for monday, v in sorted(weeks.items())]

    return Report(
        period=period,
        computed_at=now,
        ticket_type=ttype,
        agent_id=agent_id,
        figures=figs,
        received=received,
        total=total,
        by_type=by_type,
        by_type_received=by_type_received,
        by_agent_received=dict(by_agent_received),
        resolutions=resolutions,
        breaches=breaches,
        breach_reasons=reason_counts.most_common(),
        agents=agents,
        daily=daily,
        weekly=weekly,
        breaches_by_type=dict(breaches_by_type),
        users=users,
    )


__all__ = [
    "AGE_BUCKETS",
    "AGE_LABELS",
    "STATUS_LABELS",
    "Calendars",
    "NowPanel",
    "Period",
    "Report",
    "now_panel",
    "period_for",
    "period_report",
    "replay_tickets",
    "resolutions_in",
]
