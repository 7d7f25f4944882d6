"""The dashboard's "now" panel: live SQL aggregates over the open tickets and their current clocks.

Definitions (days in Asia/Shanghai; business time with the ticket type's SLA calendar):

  * open by status and type: open tickets (new, open, waiting), by their current status and type.
  * due today: running clocks (new / open) with `now <= due_at <` the next local midnight.
  * due within 4 business hours: running clocks with `due_at >= now` and at most 240 business minutes
    between now and `due_at`.
  * breached, not resolved: running clocks with `due_at < now`, and waiting tickets whose clock had run
    out before the pause (the clock's `breached_at` set, or no business time left at the pause); past
    due = business time from `due_at` to now.
  * unassigned: open tickets without an assignee; the oldest by `received_at`.
  * ageing: business time since the current clock started, paused time included, in business days of
    the policy's hours: [0, 1), [1, 2), [2, 3), >= 3.
  * mail: each mailbox's last successful poll and last error; the outbox's unsent mails
    (`sent_at IS NULL AND NOT failed`) and permanently failed ones.
  * calendar: a warning when this year, or from 1 November next year, has no official schedule.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, case, func, literal, select

from helpdesk.auth.models import User
from helpdesk.dashboard.figures import ID_LINK_LIMIT, Figures
from helpdesk.dashboard.periods import TZ
from helpdesk.db import session
from helpdesk.mail.models import Mailbox, OutboundMail
from helpdesk.sla import clock as sla_clock
from helpdesk.sla.calendar import WorkCalendar
from helpdesk.sla.models import CalendarYear, SlaClock
from helpdesk.tickets import queries as queue
from helpdesk.tickets.models import OPEN_STATUSES, TYPE_LABELS, Ticket
from helpdesk.tickets.queue_filters import paused_breach_condition

TYPES = tuple(TYPE_LABELS)
RUNNING = ("new", "open")
AGE_BUCKETS = ("0-1", "1-2", "2-3", ">3")
AGE_LABELS = ("0–1 个工作日", "1–2 个工作日", "2–3 个工作日", "3 个工作日以上")
BREACH_ROWS = 15

#: each open ticket with its current clock (outer: a ticket may have none yet)
WITH_CLOCK = (SlaClock.ticket_id == Ticket.id) & (SlaClock.clock_no == Ticket.sla_clock_no)


def calendar_groups(cals: sla_clock.TypeCalendars) -> list[tuple[WorkCalendar, tuple[str, ...]]]:
    """The known types grouped by calendar (types whose policies share business hours)."""
    by_cal: dict[int, tuple[WorkCalendar, list[str]]] = {}
    for t in TYPES:
        cal = cals(t)
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


def _queue_conditions(filters: dict[str, str], ck: queue.Clock) -> list[Any]:
    """The queue's own WHERE clauses for these query parameters: a figure and its link can never disagree."""
    return queue.filter_conditions(queue.QueueQuery.from_args(filters), None, ck)  # type: ignore[arg-type]


def _age_bucket_expr(cals: sla_clock.TypeCalendars, now: datetime) -> Any:
    """SQL CASE giving the ageing bucket (0..3) of an open ticket, from business-day thresholds per calendar."""
    started = func.coalesce(SlaClock.started_at, Ticket.received_at)
    whens = []
    for k in (3, 2, 1):
        for cal, types in calendar_groups(cals):
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
    cals = sla_clock.TypeCalendars()
    ck = queue.Clock(now=now, tz=TZ, calendars=cals)
    figs = Figures()
    is_open = Ticket.status.in_(OPEN_STATUSES)
    all_open = ",".join(OPEN_STATUSES)
    bucket = _age_bucket_expr(cals, now)
    sums = [_sum_if(*_queue_conditions(filters, ck)) for _, filters in QUEUE_FIGURES]
    sums.append(_sum_if(paused_breach_condition()))
    sums += [_sum_if(bucket == k) for k in range(4)]
    by_status_type: dict[tuple[str, str], int] = {}
    totals = [0] * len(sums)
    for status, ttype, n, *counts in session.execute(
        select(Ticket.status, Ticket.type, func.count(), *sums)
        .outerjoin(SlaClock, WITH_CLOCK)
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
            "now.breached_paused",
            session.scalars(select(Ticket.id).where(paused_breach_condition())),
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
        .where(*_queue_conditions({"view": "breached"}, ck))  # the queue's 已超时: paused breaches included
        .order_by(Ticket.due_at.is_(None), Ticket.due_at, Ticket.id)
        .limit(BREACH_ROWS)
    ).all()
    breached_rows = []
    for r in rows:
        past = None
        if r.due_at is not None and r.status in RUNNING:
            cal = cals(r.type)
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
        cal = cals(oldest.type)
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
        for tid, k in session.execute(
            select(Ticket.id, bucket).outerjoin(SlaClock, WITH_CLOCK).where(is_open, bucket.in_(small))
        ):
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
