"""sla_clocks: the SLA clock becomes a record (one row per ticket and clock number), backfilled

Revision ID: d5b2f8a41c07
Revises: c3a1e7d20b11
Create Date: 2026-12-01 15:00:00+00:00

- creates sla_clocks, owned by helpdesk/sla (outcomes stored when they happen);
- backfills one row per clock of every ticket: the earlier clocks and the outcome of a stopped clock
  from the ticket's event log through a frozen copy of the dashboard's replay (dashboard/clocks.py as
  of revision c3a1e7d20b11, which goes away), the current clock's running state from the ticket's
  columns (the engine's own figures, including recomputations that wrote no event);
- drops the ticket's clock columns except the due_at / warn_at copies and sla_clock_no.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any, NamedTuple

import sqlalchemy as sa
from alembic import op

import helpdesk.db
from helpdesk.sla.calendar import WorkCalendar

revision: str = "d5b2f8a41c07"
down_revision: str | None = "c3a1e7d20b11"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 2000
MOVED = (
    "sla_policy",
    "sla_started_at",
    "sla_budget_minutes",
    "sla_paused_at",
    "sla_resumed_at",
    "sla_remaining_minutes",
    "sla_paused_minutes",
    "sla_provisional",
    "sla_calendar_version",
    "sla_explanation",
    "warned_at",
    "breached_at",
)


def upgrade() -> None:
    dt = helpdesk.db.UTCDateTime(timezone=True)
    op.create_table(
        "sla_clocks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("clock_no", sa.Integer(), nullable=False),
        sa.Column("ticket_type", sa.String(length=20), nullable=False),
        sa.Column("policy", sa.String(length=30), nullable=False),
        sa.Column("started_at", dt, nullable=False),
        sa.Column("due_at", dt, nullable=True),
        sa.Column("warn_at", dt, nullable=True),
        sa.Column("budget_minutes", sa.Integer(), nullable=True),
        sa.Column("paused_at", dt, nullable=True),
        sa.Column("resumed_at", dt, nullable=True),
        sa.Column("remaining_minutes", sa.Integer(), nullable=True),
        sa.Column("paused_minutes", sa.Integer(), nullable=False),
        sa.Column("provisional", sa.Boolean(), nullable=False),
        sa.Column("calendar_version", sa.String(length=64), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("stopped_at", dt, nullable=True),
        sa.Column("stop_status", sa.String(length=20), nullable=True),
        sa.Column("stopped_by_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=10), nullable=True),
        sa.Column("handling_minutes", sa.Integer(), nullable=True),
        sa.Column("warned_at", dt, nullable=True),
        sa.Column("breached_at", dt, nullable=True),
        sa.Column("paused_after_due", sa.Boolean(), nullable=False),
        sa.Column("shortest_resume_minutes", sa.Integer(), nullable=True),
        sa.Column("type_changed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_sla_clocks_ticket_id_tickets"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["stopped_by_id"], ["users.id"], name=op.f("fk_sla_clocks_stopped_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_clocks")),
        sa.UniqueConstraint("ticket_id", "clock_no", name=op.f("uq_sla_clocks_ticket_id_clock_no")),
    )
    op.create_index("ix_sla_clocks_stopped_at", "sla_clocks", ["stopped_at"], unique=False)
    waiting = "warned_at IS NULL AND stopped_at IS NULL"
    op.create_index(
        "ix_sla_clocks_warn_due",
        "sla_clocks",
        ["warn_at"],
        unique=False,
        postgresql_where=sa.text(waiting),
        sqlite_where=sa.text(waiting),
    )
    unbreached = "breached_at IS NULL AND stopped_at IS NULL"
    op.create_index(
        "ix_sla_clocks_breach_due",
        "sla_clocks",
        ["due_at"],
        unique=False,
        postgresql_where=sa.text(unbreached),
        sqlite_where=sa.text(unbreached),
    )
    backfill(op.get_bind())
    for name in MOVED:
        op.drop_column("tickets", name)


def downgrade() -> None:
    raise NotImplementedError("sla_clocks cannot be folded back into the tickets' columns")


# ------------------------------------------------------------------------------------------ backfill

_TICKETS = sa.table(
    "tickets",
    *(sa.column(n) for n in ("id", "type", "status", "assignee_id", "sla_clock_no", "sla_policy")),
    *(
        sa.column(n, helpdesk.db.UTCDateTime())
        for n in ("received_at", "due_at", "warn_at", "sla_started_at")
    ),
    *(
        sa.column(n, helpdesk.db.UTCDateTime())
        for n in ("sla_paused_at", "sla_resumed_at", "warned_at", "breached_at")
    ),
    *(sa.column(n) for n in ("sla_budget_minutes", "sla_remaining_minutes", "sla_paused_minutes")),
    *(sa.column(n) for n in ("sla_provisional", "sla_calendar_version", "sla_explanation")),
)
_EVENTS = sa.table(
    "ticket_events",
    sa.column("id"),
    sa.column("ticket_id"),
    sa.column("kind"),
    sa.column("old_value"),
    sa.column("new_value"),
    sa.column("actor_id"),
    sa.column("at", helpdesk.db.UTCDateTime()),
    sa.column("detail", sa.JSON()),
)
_CLOCKS = sa.table(
    "sla_clocks",
    *(
        sa.column(n)
        for n in (
            "ticket_id", "clock_no", "ticket_type", "policy", "budget_minutes", "remaining_minutes",
            "paused_minutes", "provisional", "calendar_version", "explanation", "stop_status",
            "stopped_by_id", "outcome", "handling_minutes", "paused_after_due", "shortest_resume_minutes",
            "type_changed",
        )
    ),
    *(
        sa.column(n, helpdesk.db.UTCDateTime())
        for n in ("started_at", "due_at", "warn_at", "paused_at", "resumed_at", "stopped_at", "warned_at", "breached_at")
    ),
)  # fmt: skip


class _Day(NamedTuple):
    day: Any
    kind: str
    name: str


def stored_calendars(conn: sa.Connection) -> "Calendars":
    """The replay's calendars (per ticket type: the stored calendar with the policy's hours, and the policy)."""
    days = conn.execute(sa.text("SELECT day, kind, name FROM calendar_days")).all()
    known = [r[0] for r in conn.execute(sa.text("SELECT year FROM calendar_years WHERE status = 'official'"))]
    policies = {
        r[0]: r[1:]
        for r in conn.execute(
            sa.text("SELECT ticket_type, mode, days, business_start, business_end FROM sla_policies")
        )
    }
    rows = [_Day(d if not isinstance(d, str) else datetime.fromisoformat(d).date(), k, n) for d, k, n in days]
    by_hours: dict[tuple[time, time], WorkCalendar] = {}
    cache: dict[str, tuple[WorkCalendar, PolicyFacts]] = {}

    def hm(text: str | None, default: time) -> time:
        if not text:
            return default
        h, m = text.split(":")
        return time(int(h), int(m))

    def calendars(ticket_type: str) -> tuple[WorkCalendar, "PolicyFacts"]:
        found = cache.get(ticket_type)
        if found is None:
            mode, n_days, start, end = policies.get(ticket_type, ("working_days", 2, "09:00", "17:00"))
            hours = (hm(start, time(9)), hm(end, time(17)))
            cal = by_hours.get(hours)
            if cal is None:
                cal = by_hours[hours] = WorkCalendar.from_rows(
                    rows, known_years=known, hours=hours, tz="Asia/Shanghai"
                )
            found = cache[ticket_type] = (cal, PolicyFacts(mode or "working_days", n_days or 2))
        return found

    return calendars


def replay_all(conn: sa.Connection, now: datetime) -> Iterable[tuple[Any, list["ClockTrace"]]]:
    """Every ticket with a clock (its old columns) and its clocks as the frozen replay finds them."""
    calendars = stored_calendars(conn)
    t = _TICKETS.c
    e = _EVENTS.c
    last = 0
    while True:
        tickets = conn.execute(
            sa.select(_TICKETS).where(t.id > last, t.sla_started_at.is_not(None)).order_by(t.id).limit(_BATCH)
        ).all()
        if not tickets:
            return
        last = tickets[-1].id
        events: dict[int, list[EventFacts]] = {}
        stmt = (
            sa.select(e.ticket_id, e.kind, e.old_value, e.new_value, e.actor_id, e.at, e.detail)
            .where(e.ticket_id.in_([r.id for r in tickets]), e.kind.in_(CLOCK_EVENT_KINDS))
            .order_by(e.ticket_id, e.at, e.id)
        )
        for tid, kind, old, new, actor, at, detail in conn.execute(stmt):
            detail = detail or {}
            minutes = detail.get("remaining_minutes", detail.get("paused_minutes"))
            due = detail.get("due_at")
            events.setdefault(tid, []).append(
                EventFacts(tid, kind, old, new, actor, at, due if isinstance(due, str) else None, minutes)
            )
        for r in tickets:
            facts = TicketFacts(
                r.id, r.type, r.status, r.received_at, r.sla_clock_no, r.due_at, r.assignee_id
            )
            yield r, replay(facts, events.get(r.id, ()), calendars, now)


def clock_rows(ticket: Any, trace: list["ClockTrace"]) -> list[dict[str, Any]]:
    """The sla_clocks rows of one ticket: stopped clocks from the replay, the current one from its columns."""
    rows = []
    for c in trace:
        current = c.no == ticket.sla_clock_no
        running = current and c.stop is None
        rows.append(
            {
                "ticket_id": ticket.id,
                "clock_no": c.no,
                "ticket_type": ticket.type if current else c.type,
                "policy": ticket.sla_policy or "working_days",
                "started_at": ticket.sla_started_at if current else c.start,
                "due_at": (ticket.due_at if ticket.sla_paused_at is None else c.due_before_pause)
                if running
                else c.breach_due,
                "warn_at": ticket.warn_at if running else None,
                "budget_minutes": ticket.sla_budget_minutes if current else None,
                "paused_at": ticket.sla_paused_at if running else c.paused_since,
                "resumed_at": ticket.sla_resumed_at if current else (c.resumes[-1][0] if c.resumes else None),
                "remaining_minutes": ticket.sla_remaining_minutes if current else None,
                "paused_minutes": (ticket.sla_paused_minutes or 0) if running else c.total_paused_minutes,
                "provisional": bool(ticket.sla_provisional) if current else False,
                "calendar_version": (ticket.sla_calendar_version or "") if current else "",
                "explanation": (ticket.sla_explanation or "") if current else "",
                "stopped_at": c.stop,
                "stop_status": c.stop_status,
                "stopped_by_id": c.stop_actor_id,
                "outcome": None if c.stop is None else "met" if c.met else "breached",
                "handling_minutes": c.handling_minutes,
                "warned_at": ticket.warned_at if current else None,
                "breached_at": ticket.breached_at if current else None,
                "paused_after_due": c.paused_after_due,
                "shortest_resume_minutes": min((left for _, left in c.resumes), default=None),
                "type_changed": c.type_changed,
            }
        )
    return rows


def backfill(conn: sa.Connection) -> None:
    now = datetime.now(UTC)
    batch: list[dict[str, Any]] = []
    for ticket, trace in replay_all(conn, now):
        batch += clock_rows(ticket, trace)
        if len(batch) >= _BATCH:
            conn.execute(sa.insert(_CLOCKS), batch)
            batch = []
    if batch:
        conn.execute(sa.insert(_CLOCKS), batch)


# ------------------------------------------------------------------------- the frozen replay (c3a1e7d20b11)
# A copy of helpdesk/dashboard/clocks.py at the previous head, unchanged but for its docstring: the
# backfill must read the history exactly as the dashboard did, whatever the code base does later.

OPEN = frozenset({"new", "open", "waiting"})
CLOSED = frozenset({"resolved", "rejected", "merged"})
#: closings that count as a handled request (a merge only marks a duplicate)
HANDLED = frozenset({"resolved", "rejected"})
#: event kinds the replay reads; everything else on the timeline is irrelevant to the clock
CLOCK_EVENT_KINDS = ("created", "status", "sla_paused", "sla_resumed", "sla_restarted", "type", "assigned")


class PolicyFacts(NamedTuple):
    """What the replay needs of an SLA policy (mirrors helpdesk.sla.clock.Policy)."""

    mode: str  #: working_days / business_hours
    days: int


#: ticket type -> (its calendar with the policy's business hours, its policy)
Calendars = Callable[[str], tuple[WorkCalendar, PolicyFacts]]


class TicketFacts(NamedTuple):
    id: int
    type: str
    status: str
    received_at: datetime
    sla_clock_no: int
    due_at: datetime | None
    assignee_id: int | None


class EventFacts(NamedTuple):
    """One timeline row; the detail values are pre-extracted (None when absent)."""

    ticket_id: int
    kind: str
    old_value: str | None
    new_value: str | None
    actor_id: int | None
    at: datetime
    detail_due_at: str | None  #: ISO datetime from detail.due_at
    detail_minutes: int | None  #: detail.remaining_minutes (pause) or detail.paused_minutes (resume)


@dataclass(slots=True)
class ClockTrace:
    """One SLA clock of a ticket as replayed: when it ran, paused, stopped, and against which due time."""

    ticket_id: int
    no: int
    type: str
    start: datetime
    due: datetime | None = None  #: the due in force at the stop (or now, while running); None while paused
    stop: datetime | None = None
    stop_status: str | None = None
    stop_actor_id: int | None = None
    paused_since: datetime | None = None  #: start of the pause in progress (at stop: closed while waiting)
    due_before_pause: datetime | None = None  #: the due in force when the current / final pause began
    paused_minutes: int = 0  #: business minutes paused (completed pauses; see total_paused_minutes)
    final_pause_minutes: int = 0  #: the pause that was in progress at the stop
    handling_minutes: int | None = None  #: set when stopped
    initial_due: datetime | None = None  #: due at the start (the whole budget)
    first_assigned_at: datetime | None = None  #: first assignment to a person while this clock ran
    assignee_at_start: int | None = None
    assignments: list[tuple[datetime, int | None]] = field(default_factory=list)
    resumes: list[tuple[datetime, int]] = field(default_factory=list)  #: (resumed at, minutes left)
    pauses: list[tuple[datetime, datetime, int]] = field(default_factory=list)  #: (from, to, minutes)
    paused_after_due: bool = False
    type_changed: bool = False
    reopened: bool = False  #: a later clock exists
    #: stopped within its due time (see `verdict`); None while not stopped or without a due
    met: bool | None = None

    @property
    def stopped(self) -> bool:
        return self.stop is not None

    @property
    def paused_at_stop(self) -> bool:
        return self.stop is not None and self.paused_since is not None

    @property
    def running(self) -> bool:
        return self.stop is None and self.paused_since is None

    @property
    def total_paused_minutes(self) -> int:
        return self.paused_minutes + self.final_pause_minutes

    @property
    def effective_stop(self) -> datetime | None:
        """When the clock last ran: the stop, or the start of the pause it was closed in."""
        if self.stop is None:
            return None
        return self.paused_since or self.stop

    @property
    def breach_due(self) -> datetime | None:
        """The due that the met / breached verdict is taken against."""
        if self.paused_since is not None:
            return self.due_before_pause
        return self.due

    def breached(self, now: datetime) -> bool:
        """Past due: stopped late, paused after the due, or running past it at `now`."""
        due = self.breach_due
        if due is None:
            return False
        if self.stop is not None:
            return self.effective_stop > due
        if self.paused_since is not None:
            return self.paused_since > due
        return now > due

    def assignee_at(self, moment: datetime) -> int | None:
        """The assignee at `moment` according to this clock's assignment events."""
        who = self.assignee_at_start
        for at, user_id in self.assignments:
            if at > moment:
                break
            who = user_id
        return who


def parse_due(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def deadline(calendars: Calendars, ticket_type: str, start: datetime) -> datetime:
    """The engine's due time for a clock that starts at `start` (as helpdesk.sla.clock._compute)."""
    cal, policy = calendars(ticket_type)
    if policy.mode == "business_hours":
        due = cal.due_by_business_hours(start, policy.days)
    else:
        due = cal.due_by_working_days(start, policy.days)
    return due.due_at.astimezone(UTC)


def _user(value: str | None) -> int | None:
    if value in (None, "", "None"):
        return None
    try:
        return int(value)
    except ValueError:
        return None


def replay(
    ticket: TicketFacts, events: Iterable[EventFacts], calendars: Calendars, now: datetime
) -> list[ClockTrace]:
    """The ticket's clocks, oldest first, from its events (sorted by time, then id)."""
    events = list(events)
    ticket_type = ticket.type
    for ev in events:  # the type the ticket had before its first type change
        if ev.kind == "type" and ev.old_value:
            ticket_type = ev.old_value
            break
    # without any assignment event (history imported or seeded by hand) the current assignee is all we know
    assignee = None if any(ev.kind == "assigned" for ev in events) else ticket.assignee_id
    cur = _new(ticket.id, 1, ticket_type, ticket.received_at, assignee)
    clocks = [cur]
    resumed_at: datetime | None = None
    remaining = 0

    def ensure_due() -> datetime:
        if cur.due is None:
            cur.due = deadline(calendars, cur.type, cur.start)
        if cur.initial_due is None:
            cur.initial_due = cur.due
        return cur.due

    for ev in events:
        kind = ev.kind
        if kind == "created":
            due = parse_due(ev.detail_due_at)
            if cur.no == 1 and due is not None and not cur.resumes:
                cur.due = cur.initial_due = due
        elif kind == "sla_restarted":
            if cur.stop is None and cur.start == ev.at:
                pass  # the status event at the same moment already started it
            else:
                if cur.stop is None:  # a restart without a stop: close the old clock here
                    _stop(cur, ev.at, "resolved", None, calendars)
                cur = _new(ticket.id, cur.no + 1, ticket_type, ev.at, assignee)
                clocks.append(cur)
                resumed_at, remaining = None, 0
            due = parse_due(ev.detail_due_at)
            if due is not None:
                cur.due = cur.initial_due = due
            ensure_due()
        elif cur.stop is not None:
            if kind == "status" and ev.old_value in CLOSED and ev.new_value in OPEN:
                # a reopen: the engine writes sla_restarted at the same moment; start here in case it is absent
                cur = _new(ticket.id, cur.no + 1, ticket_type, ev.at, assignee)
                clocks.append(cur)
                resumed_at, remaining = None, 0
            elif kind == "assigned":
                assignee = _user(ev.new_value)
            elif kind == "type" and ev.new_value:
                ticket_type = ev.new_value
        elif kind == "sla_paused":
            if cur.paused_since is None:
                due = ensure_due()
                cur.due_before_pause = due
                cur.paused_since = ev.at
                cal, _ = calendars(cur.type)
                remaining = (
                    ev.detail_minutes
                    if ev.detail_minutes is not None
                    else max(0, cal.business_minutes_between(ev.at, due))
                )
                cur.paused_after_due = cur.paused_after_due or ev.at > due
                cur.due = None
        elif kind == "sla_resumed":
            if cur.paused_since is not None:
                cal, _ = calendars(cur.type)
                paused = (
                    ev.detail_minutes
                    if ev.detail_minutes is not None
                    else max(0, cal.business_minutes_between(cur.paused_since, ev.at))
                )
                cur.paused_minutes += paused
                cur.pauses.append((cur.paused_since, ev.at, paused))
                cur.paused_since = None
                resumed_at = ev.at
                cur.due = parse_due(ev.detail_due_at) or cal.add_business_minutes(
                    ev.at, remaining
                ).astimezone(UTC)
                cur.resumes.append((ev.at, remaining))
        elif kind == "type":
            if ev.new_value and ev.new_value != ticket_type:
                ticket_type = ev.new_value
                cur.type = ticket_type
                cur.type_changed = True
                if cur.paused_since is None:  # helpdesk.sla.clock.recompute on a running clock
                    if resumed_at is not None:
                        cal, _ = calendars(cur.type)
                        cur.due = cal.add_business_minutes(resumed_at, remaining).astimezone(UTC)
                    else:
                        cur.due = deadline(calendars, cur.type, cur.start)
        elif kind == "assigned":
            assignee = _user(ev.new_value)
            cur.assignments.append((ev.at, assignee))
            if assignee is not None and cur.first_assigned_at is None:
                cur.first_assigned_at = ev.at
        elif kind == "status" and ev.new_value in CLOSED and ev.old_value not in CLOSED:
            ensure_due()
            _stop(cur, ev.at, ev.new_value, ev.actor_id, calendars)

    current = clocks[-1]
    if ticket.due_at is not None and current.paused_since is None and current.no == ticket.sla_clock_no:
        current.due = ticket.due_at  # the engine's stored due includes recomputations without events
    for c in clocks:
        if c.due is None and c.paused_since is None:
            c.due = deadline(calendars, c.type, c.start)
        if c.initial_due is None:
            c.initial_due = c.due
        if c.stop is not None and c.handling_minutes is None:
            _stop(c, c.stop, c.stop_status or "resolved", c.stop_actor_id, calendars)
        _verdict(c)
    for c in clocks[:-1]:
        c.reopened = True
    return clocks


def _verdict(c: ClockTrace) -> None:
    due = c.breach_due
    c.met = None if c.stop is None or due is None else c.effective_stop <= due


def _new(ticket_id: int, no: int, ticket_type: str, start: datetime, assignee: int | None) -> ClockTrace:
    return ClockTrace(ticket_id, no, ticket_type, start, assignee_at_start=assignee)


def _stop(cur: ClockTrace, at: datetime, status: str, actor: int | None, calendars: Calendars) -> None:
    cal, _ = calendars(cur.type)
    cur.stop, cur.stop_status, cur.stop_actor_id = at, status, actor
    if cur.paused_since is not None:
        cur.final_pause_minutes = max(0, cal.business_minutes_between(cur.paused_since, at))
    end = cur.paused_since or at
    cur.handling_minutes = max(0, cal.business_minutes_between(cur.start, end) - cur.paused_minutes)
