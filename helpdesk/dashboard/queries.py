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
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, cast, func, literal, or_, select

from helpdesk.auth.models import Role, User
from helpdesk.dashboard import clocks
from helpdesk.dashboard.clocks import ClockTrace, EventFacts, PolicyFacts, TicketFacts
from helpdesk.dashboard.figures import ID_LINK_LIMIT, Figures
from helpdesk.db import session
from helpdesk.mail.models import Mailbox, OutboundMail
from helpdesk.sla import clock as sla_clock
from helpdesk.sla.calendar import WorkCalendar
from helpdesk.sla.models import CalendarYear
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
        self._cache: dict[str, tuple[WorkCalendar, PolicyFacts]] = {}

    def __call__(self, ticket_type: str) -> tuple[WorkCalendar, PolicyFacts]:
        found = self._cache.get(ticket_type)
        if found is None:
            policy = sla_clock.policy_for(ticket_type)
            found = (sla_clock.calendar_for(policy), PolicyFacts(policy.mode, policy.days))
            self._cache[ticket_type] = found
        return found

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


def _queue_count(filters: dict[str, str], ck: queue.Clock) -> int:
    return (
        session.scalar(select(func.count()).select_from(Ticket).where(*_queue_conditions(filters, ck))) or 0
    )


def _age_bucket_expr(cals: Calendars, now: datetime) -> Any:
    """SQL CASE giving the ageing bucket (0..3) of an open ticket, from business-day thresholds per calendar."""
    started = func.coalesce(Ticket.sla_started_at, Ticket.received_at)
    whens = []
    for k in (3, 2, 1):
        for cal, types in cals.groups():
            limit = latest_at_position(cal, now, -k * day_minutes(cal))
            whens.append((and_(Ticket.type.in_(types), started <= limit), literal(k)))
    return case(*whens, else_=literal(0))


def now_panel(now: datetime, *, want_ids: str | None = None) -> NowPanel:
    """The live figures; `want_ids` ('now.age.2', ...) fetches that figure's ids even when there are many."""
    cals = Calendars()
    ck = queue.new_clock(TZ, now)
    figs = Figures()
    is_open = Ticket.status.in_(OPEN_STATUSES)
    all_open = ",".join(OPEN_STATUSES)

    by_status_type: dict[tuple[str, str], int] = {}
    for status, ttype, n in session.execute(
        select(Ticket.status, Ticket.type, func.count()).where(is_open).group_by(Ticket.status, Ticket.type)
    ):
        by_status_type[(status, ttype)] = n
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

    # due today, due soon, breached, unassigned, waiting: counted with the queue's own conditions
    for key, filters in (
        ("now.due_today", {"due": "today"}),
        ("now.due_4h", {"view": "due_soon"}),
        ("now.breached", {"view": "breached"}),
        ("now.unassigned", {"view": "unassigned"}),
        ("now.waiting", {"view": "waiting"}),
    ):
        figs.by_filters(key, _queue_count(filters, ck), **filters)
    paused_breached = list(session.scalars(select(Ticket.id).where(_paused_breach_condition())))
    figs.by_ids("now.breached_paused", paused_breached)

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
    bucket = _age_bucket_expr(cals, now)
    ageing = [0, 0, 0, 0]
    for k, n in session.execute(select(bucket, func.count()).where(is_open).group_by(bucket)):
        ageing[int(k)] = n
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
    outbox_waiting = session.scalar(select(func.count()).select_from(OutboundMail).where(pending)) or 0
    outbox_failed = session.scalar(select(func.count()).select_from(OutboundMail).where(failed)) or 0
    for key, cond, n in (
        ("now.mail.waiting", pending, outbox_waiting),
        ("now.mail.failed", failed, outbox_failed),
    ):
        # the figure counts mails; its link lists the tickets they belong to
        if n <= ID_LINK_LIMIT or want_ids == key:
            ticket_ids = session.scalars(
                select(OutboundMail.ticket_id).where(cond, OutboundMail.ticket_id.is_not(None)).distinct()
            )
            figs.by_ids(key, ticket_ids)
            figs.items[key].value = n
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
        breached_paused=len(paused_breached),
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


def _event_columns() -> list[Any]:
    minutes = func.coalesce(
        TicketEvent.detail["remaining_minutes"].as_integer(),
        TicketEvent.detail["paused_minutes"].as_integer(),
    )
    return [
        TicketEvent.ticket_id,
        TicketEvent.kind,
        TicketEvent.old_value,
        TicketEvent.new_value,
        TicketEvent.actor_id,
        TicketEvent.at,
        TicketEvent.detail["due_at"].as_string(),
        minutes,
    ]


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for i in range(0, len(ids), CHUNK):
        yield ids[i : i + CHUNK]


def _ticket_facts(ids: Sequence[int]) -> dict[int, TicketFacts]:
    facts: dict[int, TicketFacts] = {}
    for part in _chunks(ids):
        for r in session.execute(
            select(
                Ticket.id,
                Ticket.type,
                Ticket.status,
                Ticket.received_at,
                Ticket.sla_clock_no,
                Ticket.due_at,
                Ticket.assignee_id,
            ).where(Ticket.id.in_(part))
        ):
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
    for part in _chunks(ids):
        for r in session.execute(
            select(*cols)
            .where(TicketEvent.ticket_id.in_(part), TicketEvent.kind.in_(clocks.CLOCK_EVENT_KINDS))
            .order_by(TicketEvent.ticket_id, TicketEvent.at, TicketEvent.id)
        ):
            events[r[0]].append(EventFacts(*r))
    return {
        tid: (facts[tid], clocks.replay(facts[tid], events.get(tid, ()), cals, now))
        for tid in ids
        if tid in facts
    }


def _subjects(ids: Iterable[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for part in _chunks(sorted(set(ids))):
        out.update(
            session.execute(select(Ticket.id, Ticket.subject).where(Ticket.id.in_(part))).tuples().all()
        )
    return out


@dataclass(slots=True)
class Resolution:
    """A clock stopped in the period by 已办结 / 已驳回, with what the report needs of its ticket."""

    clock: ClockTrace
    ticket_type: str  #: the ticket's current type
    agent_id: int | None


def resolutions_in(
    period_start: datetime,
    period_end: datetime,
    cals: Calendars,
    now: datetime,
    *,
    ticket_type: str | None = None,
    tier_one: bool = True,
) -> list[Resolution]:
    """The handled stops in [start, end): from stored clock columns where they suffice, else from events.

    A ticket whose only clock stopped while running is described exactly by its columns (start =
    received_at, stop = the status event, due = tickets.due_at, paused = sla_paused_minutes); reopened
    tickets and tickets closed while waiting are replayed from their events. `tier_one=False` replays all.
    """
    e, t = TicketEvent, Ticket
    stmt = (
        select(
            e.ticket_id,
            e.at,
            e.old_value,
            e.new_value,
            e.actor_id,
            t.type,
            t.status,
            t.received_at,
            t.sla_clock_no,
            t.due_at,
            t.assignee_id,
            t.sla_paused_minutes,
        )
        .join(t, t.id == e.ticket_id)
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
    replay_ids: set[int] = set()
    for r in session.execute(stmt):
        (tid, at, old, new, actor, ttype, status, received, clock_no, due_at, assignee, paused) = r
        if tier_one and clock_no == 1 and old != "waiting" and status in clocks.HANDLED:
            facts = TicketFacts(tid, ttype, status, received, clock_no, due_at, assignee)
            c = clocks.from_columns(
                facts,
                start=received,
                stop=at,
                stop_status=new,
                stop_actor_id=actor,
                paused_minutes=paused or 0,
                calendars=cals,
            )
            out.append(Resolution(c, ttype, actor if actor is not None else assignee))
        else:
            replay_ids.add(tid)
    for facts, trace in replay_tickets(replay_ids, cals, now).values():
        for c in trace:
            if c.stop is not None and c.stop_status in clocks.HANDLED and period_start <= c.stop < period_end:
                agent = c.stop_actor_id if c.stop_actor_id is not None else facts.assignee_id
                out.append(Resolution(c, facts.type, agent))
    out.sort(key=lambda res: (res.clock.stop, res.clock.ticket_id))
    return out


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

    def add(self, c: ClockTrace) -> None:
        self.resolved += 1
        self.met += bool(c.met)
        self.reopened += c.reopened
        self.handling.append(c.handling_minutes or 0)
        if c.total_paused_minutes:
            self.paused.append(c.total_paused_minutes)


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


def _received_by_day(period: Period, ticket_type: str | None, agent_id: int | None) -> dict[date, int]:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        day = cast(func.timezone(str(TZ), Ticket.received_at), sa_date())
    else:  # SQLite stores naive UTC: shift by the zone's offset at the period start (Asia/Shanghai: fixed)
        offset = period.start.astimezone(TZ).utcoffset() or timedelta()
        day = func.date(Ticket.received_at, f"{int(offset.total_seconds()) // 60:+d} minutes")
    stmt = select(day, func.count()).where(
        Ticket.received_at >= period.start, Ticket.received_at < period.end
    )
    if ticket_type:
        stmt = stmt.where(Ticket.type == ticket_type)
    if agent_id:
        stmt = stmt.where(Ticket.assignee_id == agent_id)
    out: dict[date, int] = {}
    for d, n in session.execute(stmt.group_by(day)):
        out[d if isinstance(d, date) else date.fromisoformat(str(d)[:10])] = n
    return out


def sa_date() -> Any:
    from sqlalchemy import Date

    return Date()


def _open_breach_candidates(period: Period, now: datetime, ticket_type: str | None) -> list[int]:
    """Open tickets whose due time in the period has passed (running), or that paused after their due."""
    upper = min(period.end, now)
    stmt = select(Ticket.id).where(
        or_(
            and_(Ticket.status.in_(RUNNING), Ticket.due_at >= period.start, Ticket.due_at < upper),
            _paused_breach_condition(),
        )
    )
    if ticket_type:
        stmt = stmt.where(Ticket.type == ticket_type)
    return list(session.scalars(stmt))


def period_report(
    period: Period,
    now: datetime,
    *,
    ticket_type: str | None = None,
    agent_id: int | None = None,
    tier_one: bool = True,
) -> Report:
    """Every figure of the period, optionally for one ticket type and / or one agent."""
    cals = Calendars()
    figs = Figures()
    users = _user_names()
    ttype = ticket_type if ticket_type in TYPE_LABELS else None
    period_filters = {
        "view": "all",
        "received_from": period.first.isoformat(),
        "received_to": period.last.isoformat(),
    }

    received_q = select(Ticket.type, func.count()).where(
        Ticket.received_at >= period.start, Ticket.received_at < period.end
    )
    if ttype:
        received_q = received_q.where(Ticket.type == ttype)
    if agent_id:
        received_q = received_q.where(Ticket.assignee_id == agent_id)
    by_type_received = {t: n for t, n in session.execute(received_q.group_by(Ticket.type))}
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

    all_resolutions = resolutions_in(
        period.start, period.end, cals, now, ticket_type=ttype, tier_one=tier_one
    )
    resolutions = [r for r in all_resolutions if not agent_id or r.agent_id == agent_id]
    total = Stats()
    by_type: dict[str, Stats] = {t: Stats() for t in TYPES}
    by_agent: dict[int | None, Stats] = defaultdict(Stats)
    groups: dict[str, list[Resolution]] = defaultdict(list)
    for res in resolutions:
        total.add(res.clock)
        by_type.setdefault(res.ticket_type, Stats()).add(res.clock)
        for prefix in ("report", f"report.type.{res.ticket_type}"):
            groups[f"{prefix}.resolved"].append(res)
            groups[f"{prefix}.{'met' if res.clock.met else 'missed'}"].append(res)
            if res.clock.reopened:
                groups[f"{prefix}.reopened"].append(res)
            if res.clock.total_paused_minutes:
                groups[f"{prefix}.paused"].append(res)
    for res in all_resolutions:
        by_agent[res.agent_id].add(res.clock)
        groups[f"people.{res.agent_id or 'none'}.resolved"].append(res)
    for key, items in groups.items():
        figs.by_ids(key, (r.clock.ticket_id for r in items))

    # breaches: resolved late in the period, and open tickets whose due time in the period has passed
    late = [r for r in resolutions if not r.clock.met]
    late_ids = {r.clock.ticket_id for r in late}
    open_ids = _open_breach_candidates(period, now, ttype)
    traces = replay_tickets(late_ids | set(open_ids), cals, now)
    subjects = _subjects(traces)
    open_set = set(open_ids)
    breaches: list[Breach] = []
    late_keys = {(r.clock.ticket_id, r.clock.no): r for r in late}
    for tid, (facts, trace) in traces.items():
        for c in trace:
            res = late_keys.get((tid, c.no))
            if res is not None:
                c.reopened = res.clock.reopened
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
    figs.by_ids("report.breaches", (b.clock.ticket_id for b in breaches))
    figs.by_ids("report.breaches.open", (b.clock.ticket_id for b in breaches if b.still_open))
    for t in TYPES:
        figs.by_ids(f"report.type.{t}.breaches", (b.clock.ticket_id for b in breaches if b.ticket_type == t))
    for reason in reason_counts:
        figs.by_ids(
            f"report.reason.{reason}",
            (b.clock.ticket_id for b in breaches if any(x.split("（")[0] == reason for x in b.reasons)),
        )

    # people: open assigned now, received in the period (current assignee), resolutions by who resolved them
    received_by_agent = select(Ticket.assignee_id, func.count()).where(
        Ticket.received_at >= period.start, Ticket.received_at < period.end
    )
    if ttype:
        received_by_agent = received_by_agent.where(Ticket.type == ttype)
    by_agent_received = dict(session.execute(received_by_agent.group_by(Ticket.assignee_id)).tuples().all())
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
        AgentRow(uid, users.get(uid, str(uid)), open_assigned.get(uid, 0), by_agent.get(uid, Stats()))
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

    received_days = _received_by_day(period, ttype, agent_id)
    resolved_days = Counter(r.clock.stop.astimezone(TZ).date() for r in resolutions)
    daily = [(d, received_days.get(d, 0), resolved_days.get(d, 0)) for d in period.days]
    weeks: dict[date, list[int]] = {}
    for d in period.days:
        weeks.setdefault(d - timedelta(days=d.weekday()), [0, 0])
    for r in resolutions:
        d = r.clock.stop.astimezone(TZ).date()
        w = weeks.setdefault(d - timedelta(days=d.weekday()), [0, 0])
        w[0] += 1
        w[1] += bool(r.clock.met)
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
        by_agent_received=by_agent_received,
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
