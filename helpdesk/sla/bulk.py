"""Fresh clocks recomputed in SQL: the per-day business-minute offsets of a policy, and the statement that
turns them into every fresh clock's new figures (pure: no Flask, no session; clock.py runs it).

A fresh clock on a "working days" policy is a little arithmetic on its position in the day of receipt
(`clock.Counter.fresh`): the deadline and the provisional flag depend only on that day; the warning is
the opening of the k-th working day after it plus an offset; the explanation is "收到 <minute>" and a
text that depends only on the day and on whether the receipt was before, inside or after business
hours. So one row per (ticket type, day of receipt) holds all of it, computed here by the Counter itself,
and one INSERT ... SELECT joins the clocks to those rows and computes the rest in integer microseconds,
exactly as the Counter does (the warning's rounding too: Python rounds half to even). The figures land
in the same temporary table as the Python-computed ones, and clock.py writes them the same way.

Only days whose UTC offset holds all day (and on every working day a warning can reach) take part; a
policy with any other day, or counted in business hours, stays on the per-clock path.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from helpdesk.sla.clock import Counter

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PREFIX = "收到 {:%Y-%m-%d %H:%M}"  #: how Counter.explanation's text begins (checked per day)
#: the per-day table (one row per ticket type and day of receipt)
DAYS_TABLE = "sla_recompute_days"
DAY_COLUMNS = (
    ("ticket_type", "text"), ("day_start", "bigint"), ("day_end", "bigint"), ("open_us", "bigint"),
    ("working", "integer"), ("due", "timestamptz"), ("provisional", "boolean"), ("rest_before", "text"),
    ("rest_during", "text"), ("rest_after", "text"), ("offset_us", "bigint"), ("openings", "text"),
    ("day_us", "bigint"), ("n_days", "integer"), ("ratio", "float8"), ("mode", "text"), ("version", "text"),
    ("day_no", "bigint"), ("day_id", "integer"),
)  # fmt: skip
DAY_US = 86_400_000_000


def _us(at: datetime) -> int:
    """Microseconds since the epoch (exact: integer arithmetic on the timedelta)."""
    delta = at - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def day_rows(counter: Counter, ticket_type: str, first: date, last: date) -> list[tuple] | None:
    """The per-day rows of one ticket type for receipts from `first` to `last` (local days), or None when
    this policy cannot be computed in SQL (business hours, or a day whose UTC offset changes)."""
    if not counter.working_days or not 0 <= counter.policy.warn_ratio <= 1:
        return None
    rows = []
    d = first
    while d <= last:
        row = _day_row(counter, ticket_type, d)
        if row is None:
            return None
        rows.append(row)
        d += timedelta(days=1)
    return rows


def numbered(days: list[tuple]) -> tuple[int, list[tuple]] | None:
    """The day rows with their number (days since the earliest local midnight) and a row id, and that midnight: a
    clock finds its day by equality, ((started - base) / one day), not by a range (a nested loop). None
    when some day does not start a whole number of days after the base (then no SQL path)."""
    if not days:
        return None
    base = min(row[1] for row in days)
    if any((row[1] - base) % DAY_US for row in days):
        return None
    return base, [(*row, (row[1] - base) // DAY_US, i) for i, row in enumerate(days)]


def _day_row(counter: Counter, ticket_type: str, d: date) -> tuple | None:
    policy, tz = counter.policy, counter.tz
    midnight = datetime.combine(d, time(0), tzinfo=tz)
    next_midnight = datetime.combine(d + timedelta(days=1), time(0), tzinfo=tz)
    opening = datetime.combine(d, policy.start, tzinfo=tz)
    closing = datetime.combine(d, policy.end, tzinfo=tz)
    offset = midnight.utcoffset()
    if offset is None or any(t.utcoffset() != offset for t in (opening, closing, next_midnight)):
        return None
    day_start, day_end = _us(midnight), _us(next_midnight)
    if day_end - day_start != DAY_US:
        return None
    working, due, provisional = counter._days.get(d) or counter._day(d)
    openings = []
    for k in range(policy.days + 1):
        _local, utc = counter._opening(d, k)
        if utc is None:
            return None
        openings.append(_us(utc))
    # the explanation's text after "收到 <minute>": one for receipts before opening, inside, after closing
    rests = []
    for moment in (midnight, opening, closing):
        fresh = counter.fresh(moment.astimezone(UTC))
        text = counter.explanation(fresh)
        prefix = PREFIX.format(moment)
        if not text.startswith(prefix):
            return None
        rests.append(text[len(prefix) :])
    if policy.start == time(0):  # no receipt is before opening: the first text is never used
        rests[0] = rests[1]
    return (
        ticket_type, day_start, day_end, openings[0], int(working), due, provisional, *rests,
        int(offset.total_seconds()) * 1_000_000, json.dumps(openings), counter.day_us, policy.days,
        policy.warn_ratio, policy.mode, counter.cal.version,
    )  # fmt: skip


class Dialect:
    """The few expressions that differ between SQLite (times as UTC text) and PostgreSQL (timestamptz)."""

    def __init__(self, name: str) -> None:
        self.sqlite = name == "sqlite"

    def us(self, column: str) -> str:
        """A stored time as integer microseconds since the epoch."""
        if self.sqlite:  # "YYYY-MM-DD HH:MM:SS.ffffff", microseconds always written
            return (
                f"(CAST(strftime('%s', substr({column}, 1, 19)) AS INTEGER) * 1000000 "
                f"+ CAST(substr({column}, 21, 6) AS INTEGER))"
            )
        return f"CAST(extract(epoch FROM {column}) * 1000000 AS bigint)"

    def time(self, us: str) -> str:
        """Microseconds since the epoch as a stored time."""
        if self.sqlite:
            return (
                f"(strftime('%Y-%m-%d %H:%M:%S', ({us}) / 1000000, 'unixepoch') || '.' "
                f"|| printf('%06d', ({us}) % 1000000))"
            )
        return f"(timestamptz 'epoch' + ({us}) * interval '1 microsecond')"

    def minute_text(self, us: str) -> str:
        """Microseconds since the epoch (already shifted to local time) as "YYYY-MM-DD HH:MM"."""
        if self.sqlite:
            return f"strftime('%Y-%m-%d %H:%M', ({us}) / 1000000, 'unixepoch')"
        return f"to_char((timestamptz 'epoch' + ({us}) * interval '1 microsecond') AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')"

    def floor(self, real: str) -> str:
        """floor() of a non-negative real, as an integer."""
        return f"CAST({real} AS INTEGER)" if self.sqlite else f"CAST(floor({real}) AS bigint)"

    def opening(self, k: str) -> str:
        """The k-th entry (0-based) of the day's JSON list of openings."""
        if self.sqlite:
            return f"json_extract(dd.openings, '$[' || ({k}) || ']')"
        return f"CAST((CAST(dd.openings AS jsonb) ->> CAST({k} AS integer)) AS bigint)"

    def distinct(self, a: str, b: str) -> str:
        return f"{a} IS NOT {b}" if self.sqlite else f"{a} IS DISTINCT FROM {b}"


def fresh_rewrites_sql(dialect_name: str, rewrites_table: str, where: str) -> str:
    """INSERT INTO the rewrites table the new figures of every fresh clock matching `where` (SQL on
    sla_clocks AS c) whose figures change; `moved` says whether its due_at changed. Parameter
    :day_base: the base of `numbered`."""
    q = Dialect(dialect_name)
    started = q.us("c.started_at")
    # level 1 (materialized: a flattened subquery would repeat the time parsing in every use of its
    # result): each clock's start in microseconds and the numbers of its day of receipt
    level1 = (
        f"SELECT c.id, d.day_id, {started} AS s_us, d.open_us, d.working, d.day_us, d.n_days, d.ratio "
        f"FROM sla_clocks AS c JOIN {DAYS_TABLE} AS d ON d.ticket_type = c.ticket_type "
        f"AND d.day_no = ({started} - :day_base) / {DAY_US} WHERE {where}"
    )
    # level 2: xr = the position in that day's business hours, x clamped to it, total = the budget (us)
    xr = "(l1.s_us - l1.open_us)"
    x = f"(CASE WHEN {xr} <= 0 THEN 0 WHEN {xr} >= l1.day_us THEN l1.day_us ELSE {xr} END)"
    level2 = (
        f"SELECT l1.*, {xr} AS xr, {x} AS x, "
        f"(CASE WHEN l1.working = 1 THEN l1.day_us - {x} ELSE 0 END) + l1.n_days * l1.day_us AS total "
        f"FROM l1"
    )
    # level 3: used = round(total * ratio), half to even as Python's round()
    p = "(l2.total * l2.ratio)"
    f = q.floor(p)
    level3 = (
        f"SELECT l2.*, {f} + (CASE WHEN {p} - {f} > 0.5 THEN 1 "
        f"WHEN {p} - {f} = 0.5 AND {f} % 2 = 1 THEN 1 ELSE 0 END) AS used "
        f"FROM ({level2}) AS l2"
    )
    # level 4: the rest counted on the working days after the day of receipt (then its day k, offset)
    level4 = (
        "SELECT l3.*, l3.used - (CASE WHEN l3.working = 1 THEN l3.day_us - l3.x ELSE 0 END) AS rest "
        f"FROM ({level3}) AS l3"
    )
    k = "((q.rest + q.day_us - 1) / q.day_us)"
    warn_us = (
        "(CASE WHEN q.used = 0 THEN q.s_us "
        "WHEN q.working = 1 AND q.x + q.used <= q.day_us THEN q.open_us + q.x + q.used "
        f"ELSE {q.opening(k)} + q.rest - ({k} - 1) * q.day_us END)"
    )
    # level 5 (materialized, numbers only): the warning in microseconds, from the day's openings
    level5 = (
        f"SELECT q.id, q.day_id, q.s_us, q.xr, q.day_us, q.total, {warn_us} AS warn_us "
        f"FROM ({level4}) AS q JOIN {DAYS_TABLE} AS dd ON dd.day_id = q.day_id"
    )
    explanation = (
        f"'收到 ' || {q.minute_text('w.s_us + dd.offset_us')} || "
        "(CASE WHEN w.xr < 0 THEN dd.rest_before WHEN w.xr < w.day_us THEN dd.rest_during ELSE dd.rest_after END)"
    )
    # level 6: the new figures beside the stored ones (the day's texts and the clock row by primary key)
    level6 = (
        f"SELECT c.id, c.ticket_id, c.clock_no, c.explanation AS read_explanation, dd.due AS due_at, "
        f"{q.time('w.warn_us')} AS warn_at, w.total / 60000000 AS budget_minutes, c.remaining_minutes, "
        f"dd.provisional, {explanation} AS explanation, dd.mode AS policy, dd.version AS calendar_version, "
        "c.due_at AS old_due, c.warn_at AS old_warn, c.budget_minutes AS old_budget, "
        "c.provisional AS old_provisional, c.policy AS old_policy "
        f"FROM w JOIN {DAYS_TABLE} AS dd ON dd.day_id = w.day_id JOIN sla_clocks AS c ON c.id = w.id"
    )
    changed = " OR ".join(
        q.distinct(f"n.{old}", f"n.{new}")
        for old, new in (
            ("old_due", "due_at"),
            ("old_warn", "warn_at"),
            ("old_budget", "budget_minutes"),
            ("old_provisional", "provisional"),
            ("read_explanation", "explanation"),
            ("old_policy", "policy"),
        )  # fmt: skip
    )
    columns = (
        "id, ticket_id, clock_no, read_explanation, due_at, warn_at, budget_minutes, remaining_minutes, "
        "provisional, explanation, policy, calendar_version, moved, running"
    )
    moved = q.distinct("n.old_due", "n.due_at")
    return (
        f"WITH l1 AS MATERIALIZED ({level1}), w AS MATERIALIZED ({level5}) "
        f"INSERT INTO {rewrites_table} ({columns}) "
        f"SELECT n.id, n.ticket_id, n.clock_no, n.read_explanation, n.due_at, n.warn_at, n.budget_minutes, "
        f"n.remaining_minutes, n.provisional, n.explanation, n.policy, n.calendar_version, {moved}, "
        f"{'1' if q.sqlite else 'true'} FROM ({level6}) AS n WHERE {changed}"
    )
