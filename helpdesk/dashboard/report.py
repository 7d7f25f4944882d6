"""The dashboard's period report: plain reads of the stored SLA clocks (sla_clocks), never a replay.

Definitions (period = [first day 00:00, last day + 1 00:00) local; business time with the ticket
type's SLA calendar):

  * received: tickets whose `received_at` is in the period.
  * resolved: clocks stopped in the period by 已办结 or 已驳回 (a ticket reopened and resolved twice
    counts twice; merges are not handled requests).
  * met / compliance: resolved clocks whose stored outcome is met (stopped by their due time, or
    closed while waiting after pausing before it) / resolved clocks.
  * handling time: the clock's stored handling minutes (start to stop minus paused business time);
    the median (middle value) and p90 (nearest rank: the smallest value >= 90 % of them).
  * paused: the business time those clocks spent waiting on the enterprise, reported apart.
  * reopen rate: resolved clocks followed by a new clock (the ticket reopened) / resolved clocks.
  * breaches: resolved clocks that missed their due, plus open clocks whose due fell in the period and
    has passed (running past it, or paused after it); each with the reasons it shows (`breach_reasons`).
  * by type: the ticket's current type. By agent: whoever resolved it (stored at the stop), else the
    ticket's assignee; received tickets by their current assignee.
"""

from __future__ import annotations

import gc
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, DateTime, Integer, and_, any_, bindparam, cast, func, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import ARRAY

from helpdesk.auth.models import Role, User
from helpdesk.dashboard.figures import Figures
from helpdesk.dashboard.now import TYPES
from helpdesk.dashboard.periods import TZ, Period, median, quantile
from helpdesk.db import session
from helpdesk.sla import clock as sla_clock
from helpdesk.sla.models import SlaClock
from helpdesk.tickets.models import OPEN_STATUSES, TYPE_LABELS, Ticket, TicketEvent

#: closings that count as a handled request (a merge only marks a duplicate)
HANDLED = ("resolved", "rejected")
#: a resume with less business time left than this is named as a breach reason (half a working day)
SHORT_REMAINDER_MINUTES = 240
CHUNK = 900  # ids per IN (...) list

# the bulk reads use the tables' Core columns: rows come back as plain tuples, without the ORM's per-row work
T = Ticket.__table__.c
C = SlaClock.__table__.c
E = TicketEvent.__table__.c


def _rows(stmt: Any) -> list[Any]:
    """All rows of a Core statement, fetched at once below the ORM layer."""
    return session.connection().execute(stmt).all()


def _postgres() -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _ts(column: Any) -> Any:
    """A timestamp column read as the driver gives it: psycopg's aware datetimes need no per-row conversion."""
    return type_coerce(column, DateTime(timezone=True)) if _postgres() else column


def _id_conditions(column: Any, ids: Sequence[int]) -> list[Any]:
    """`column IN ids` as few statements: one array parameter on PostgreSQL, chunks of ids elsewhere."""
    if not ids:
        return []
    if _postgres():
        return [column == any_(bindparam("ids", list(ids), type_=ARRAY(Integer), unique=True))]
    return [column.in_(ids[i : i + CHUNK]) for i in range(0, len(ids), CHUNK)]


@dataclass(slots=True)
class StoppedClock:
    """The facts of one stored clock that the breach list shows and explains."""

    ticket_id: int
    no: int
    type: str  #: the type whose policy the clock followed
    start: datetime
    breach_due: datetime | None  #: the due the verdict is taken against
    stop: datetime | None
    paused_since: datetime | None
    budget_minutes: int
    paused_after_due: bool
    shortest_resume_minutes: int | None
    type_changed: bool

    @property
    def effective_stop(self) -> datetime | None:
        """When the clock last ran: the pause it was closed in, else the stop."""
        return self.paused_since or self.stop


@dataclass(slots=True)
class Resolution:
    """A clock stopped in the period by 已办结 / 已驳回: the figures the report takes from it."""

    ticket_id: int
    no: int  #: which clock of the ticket (1, 2 after a reopen, ...)
    ticket_type: str  #: the ticket's current type
    agent_id: int | None  #: who resolved it (stored at the stop), else the ticket's assignee
    start: datetime
    stop: datetime
    stop_status: str
    due: datetime | None
    met: bool
    handling_minutes: int
    paused_minutes: int
    reopened: bool


@dataclass
class Breach:
    clock: StoppedClock
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
        return median(self.handling)

    @property
    def p90_minutes(self) -> float | None:
        return quantile(self.handling, 0.9)

    @property
    def paused_total(self) -> int:
        return sum(self.paused)

    @property
    def paused_median(self) -> float | None:
        return median(self.paused)


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


def resolutions_in(
    period_start: datetime, period_end: datetime, *, ticket_type: str | None = None
) -> list[Resolution]:
    """The handled stops in [start, end): one indexed read of the stored clocks (ix_sla_clocks_stopped_at)."""
    stmt = (
        select(
            C.ticket_id,
            C.clock_no,
            T.type,
            func.coalesce(C.stopped_by_id, T.assignee_id),
            _ts(C.started_at),
            _ts(C.stopped_at),
            C.stop_status,
            _ts(C.due_at),
            C.outcome == sla_clock.MET,
            func.coalesce(C.handling_minutes, 0),
            C.paused_minutes,
            C.clock_no < T.sla_clock_no,
        )
        .select_from(SlaClock.__table__.join(Ticket.__table__, T.id == C.ticket_id))
        .where(C.stopped_at >= period_start, C.stopped_at < period_end, C.stop_status.in_(HANDLED))
    )
    if ticket_type:
        stmt = stmt.where(T.type == ticket_type)
    return [
        Resolution(
            tid, no, ttype, agent, start, stop, status, due, bool(met), handling, paused or 0, bool(reopened)
        )
        for tid, no, ttype, agent, start, stop, status, due, met, handling, paused, reopened in _rows(stmt)
    ]


def _clock_facts(
    keys: Iterable[tuple[int, int]],
) -> dict[tuple[int, int], tuple[StoppedClock, int | None, str, str]]:
    """(clock, ticket's assignee, ticket's current type, subject) of these (ticket, clock no) pairs."""
    wanted = set(keys)
    out: dict[tuple[int, int], tuple[StoppedClock, int | None, str, str]] = {}
    cols = (
        C.ticket_id, C.clock_no, C.ticket_type, _ts(C.started_at), _ts(C.due_at), _ts(C.stopped_at),
        _ts(C.paused_at), C.budget_minutes, C.paused_after_due, C.shortest_resume_minutes, C.type_changed,
        T.assignee_id, T.type, T.subject,
    )  # fmt: skip
    join = SlaClock.__table__.join(Ticket.__table__, T.id == C.ticket_id)
    for cond in _id_conditions(C.ticket_id, sorted({tid for tid, _ in wanted})):
        for r in _rows(select(*cols).select_from(join).where(cond)):
            if (r[0], r[1]) in wanted:
                clock = StoppedClock(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7] or 0, r[8], r[9], r[10])
                out[(r[0], r[1])] = (clock, r[11], r[12], r[13])
    return out


def _open_breaches(period: Period, now: datetime, ticket_type: str | None) -> list[tuple[int, int]]:
    """(ticket, clock) of the open clocks whose due in the period has passed: running past it, or paused after it."""
    stmt = select(C.ticket_id, C.clock_no).where(
        C.stopped_at.is_(None),
        C.due_at >= period.start,
        C.due_at < period.end,
        or_(
            and_(C.paused_at.is_(None), C.due_at < now),
            and_(C.paused_at.is_not(None), C.paused_at > C.due_at),
        ),
    )
    if ticket_type:
        stmt = stmt.join(Ticket.__table__, T.id == C.ticket_id).where(T.type == ticket_type)
    return [(tid, no) for tid, no in _rows(stmt)]


@dataclass(slots=True)
class _Timeline:
    """What the breach reasons read of a ticket's timeline: its assignments and completed pauses."""

    assignments: list[tuple[datetime, int | None]] = field(default_factory=list)
    resumes: list[tuple[datetime, int]] = field(default_factory=list)  #: (resumed at, minutes paused)


def _timelines(ids: Sequence[int]) -> dict[int, _Timeline]:
    """The assignment and resume events of these (few) tickets, in time order."""
    out: dict[int, _Timeline] = defaultdict(_Timeline)
    cols = (E.ticket_id, E.kind, E.new_value, _ts(E.at), E.detail["paused_minutes"].as_integer())
    for cond in _id_conditions(E.ticket_id, sorted(set(ids))):
        stmt = (
            select(*cols)
            .where(cond, E.kind.in_(("assigned", "sla_resumed")))
            .order_by(E.ticket_id, E.at, E.id)
        )
        for tid, kind, value, at, minutes in _rows(stmt):
            if kind == "assigned":
                out[tid].assignments.append((at, _user(value)))
            else:
                out[tid].resumes.append((at, minutes or 0))
    return out


def _user(value: str | None) -> int | None:
    if value in (None, "", "None"):
        return None
    try:
        return int(value)
    except ValueError:
        return None


def breach_reasons(
    c: StoppedClock, timeline: _Timeline, assignee_now: int | None, cals: sla_clock.TypeCalendars
) -> list[str]:
    """Why a breached clock was late, in Chinese, from its stored facts and its assignments (most telling first)."""
    reasons: list[str] = []
    due = c.breach_due
    if due is None:
        return reasons
    # the assignee at the due: the last assignment before it (the ticket's assignee when none is recorded)
    who = None if timeline.assignments else assignee_now
    first_assigned = None
    for at, user_id in timeline.assignments:
        if at <= due:
            who = user_id
        if (
            first_assigned is None
            and user_id is not None
            and at >= c.start
            and (c.stop is None or at <= c.stop)
        ):
            first_assigned = at
    if who is None:
        reasons.append("到期时仍未分配客服")
    elif first_assigned is not None and c.budget_minutes > 0:
        cal = cals(c.type)
        paused = sum(m for at, m in timeline.resumes if c.start <= at <= first_assigned)
        used = cal.business_minutes_between(c.start, first_assigned) - paused
        if used * 2 > c.budget_minutes:
            reasons.append("分配较晚（时限过半才分配）")
    if c.paused_after_due:
        reasons.append("等待企业补充前已超时")
    if c.shortest_resume_minutes is not None and c.shortest_resume_minutes < SHORT_REMAINDER_MINUTES:
        reasons.append(f"企业补充材料后剩余时限不足 {SHORT_REMAINDER_MINUTES // 60} 小时")
    if c.no > 1:
        reasons.append(f"企业回复后重新打开（第 {c.no} 次计时）")
    if c.type_changed:
        reasons.append("办理中变更过工单类型")
    if not reasons:
        reasons.append("办理超时")
    return reasons


def period_report(
    period: Period, now: datetime, *, ticket_type: str | None = None, agent_id: int | None = None
) -> Report:
    """Every figure of the period, optionally for one ticket type and / or one agent."""
    with _collector_paused():
        return _period_report(period, now, ticket_type=ticket_type, agent_id=agent_id)


def _period_report(period: Period, now: datetime, *, ticket_type: str | None, agent_id: int | None) -> Report:
    cals = sla_clock.TypeCalendars()
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

    all_resolutions = resolutions_in(period.start, period.end, ticket_type=ttype)
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

    # breaches: resolved late in the period, and open clocks whose due time in the period has passed
    late = {(r.ticket_id, r.no): r for r in resolutions if not r.met}
    open_keys = [k for k in _open_breaches(period, now, ttype) if k not in late]
    facts = _clock_facts([*late, *open_keys])
    timelines = _timelines([tid for tid, _ in facts])
    breaches: list[Breach] = []
    for key, (c, assignee, type_now, subject) in facts.items():
        res = late.get(key)
        if res is not None:
            agent, ticket_type_now, over_end, still_open = (
                res.agent_id,
                res.ticket_type,
                c.effective_stop,
                False,
            )
        else:
            if agent_id and assignee != agent_id:
                continue
            agent, ticket_type_now, over_end, still_open = assignee, type_now, c.paused_since or now, True
        breaches.append(
            Breach(
                clock=c,
                ticket_type=ticket_type_now,
                subject=subject,
                agent_id=agent,
                agent=users.get(agent, "未分配") if agent else "未分配",
                over_minutes=max(0, cals(c.type).business_minutes_between(c.breach_due, over_end)),
                reasons=breach_reasons(c, timelines[c.ticket_id], assignee, cals),
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
