"""SLA clocks rebuilt from a ticket's timeline, for the dashboard's figures (pure: no Flask, no database).

A ticket has one clock per request: clock 1 starts at `received_at` (the IMAP INTERNALDATE); each reopen
(an `sla_restarted` event) starts the next. A clock *stops* at the first status change from an open
status (new/open/waiting) to a closed one (resolved/rejected/merged). Between, `sla_paused` and
`sla_resumed` events suspend it. The due time of a clock is the one the SLA engine held:

* at the start, the `due_at` in the `created` / `sla_restarted` event (computed with the policy when the
  event lacks it); at a resume, the `due_at` in the `sla_resumed` event (or resume + minutes left);
  a `type` change while running recomputes it as `helpdesk.sla.clock` does;
* for the ticket's current clock, the stored `tickets.due_at` wins while the clock runs or once it
  stopped running: it includes recomputations (calendar or policy edits) that write no event.

Figures derived from a stopped clock (`ClockTrace`):

* **met** (resolved within budget): `stop <= due`; when it stopped while paused (closed while waiting),
  `paused_since <= due` with the due in force before that pause.
* **handling minutes**: business minutes from the clock's start to its stop, minus the business minutes
  it spent paused (the final pause of a clock closed while waiting counts as paused, not handling).
  Same calendar (the policy's business hours) and the same `business_minutes_between` as the engine.
* **paused minutes**: business minutes spent paused (the engine's own `paused_minutes` where recorded).

Usage::

    trace = replay(ticket_facts, events, calendars, now)   # -> list[ClockTrace], one per clock
    [c for c in trace if c.stopped and c.stop_status == "resolved"]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

from helpdesk.sla.calendar import WorkCalendar

OPEN = frozenset({"new", "open", "waiting"})
CLOSED = frozenset({"resolved", "rejected", "merged"})
#: closings that count as a handled request (a merge only marks a duplicate)
HANDLED = frozenset({"resolved", "rejected"})
#: event kinds the replay reads; everything else on the timeline is irrelevant to the clock
CLOCK_EVENT_KINDS = ("created", "status", "sla_paused", "sla_resumed", "sla_restarted", "type", "assigned")

#: a resume with less business time left than this is named as a breach reason (half a working day)
SHORT_REMAINDER_MINUTES = 240


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


def breach_reasons(c: ClockTrace, calendars: Calendars) -> list[str]:
    """Why a breached clock was late, in Chinese, from what its timeline shows (most telling first)."""
    reasons: list[str] = []
    due = c.breach_due
    if due is None:
        return reasons
    if c.assignee_at(due) is None:
        reasons.append("到期时仍未分配客服")
    elif c.first_assigned_at is not None and c.initial_due is not None:
        cal, _ = calendars(c.type)
        budget = cal.business_minutes_between(c.start, c.initial_due)
        used = cal.business_minutes_between(c.start, c.first_assigned_at) - _paused_before(
            c, c.first_assigned_at
        )
        if budget > 0 and used * 2 > budget:
            reasons.append("分配较晚（时限过半才分配）")
    if c.paused_after_due:
        reasons.append("等待企业补充前已超时")
    short = [left for _, left in c.resumes if left < SHORT_REMAINDER_MINUTES]
    if short:
        reasons.append(f"企业补充材料后剩余时限不足 {SHORT_REMAINDER_MINUTES // 60} 小时")
    if c.no > 1:
        reasons.append(f"企业回复后重新打开（第 {c.no} 次计时）")
    if c.type_changed:
        reasons.append("办理中变更过工单类型")
    if not reasons:
        reasons.append("办理超时")
    return reasons


def _paused_before(c: ClockTrace, moment: datetime) -> int:
    # completed pauses only: a pause still open at `moment` (assigned while waiting) is rare and ignored
    return sum(minutes for _, resumed, minutes in c.pauses if resumed <= moment)


def quantile(values: list[int], q: float) -> float | None:
    """Nearest-rank quantile: the smallest value with at least q of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    permille = round(q * 1000)
    rank = -(-permille * len(ordered) // 1000)  # ceil(q * n), in integers so that 0.9 * 10 is exactly 9
    return float(ordered[min(max(rank, 1), len(ordered)) - 1])


def median(values: list[int]) -> float | None:
    """The middle value (mean of the two middle ones for an even count)."""
    if not values:
        return None
    ordered = sorted(values)
    n = len(ordered)
    mid = n // 2
    return float(ordered[mid]) if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2
