"""sla.bulk's per-day rows (pure): which policies and days the SQL path takes, and what a row holds."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time

from helpdesk.sla import bulk, clock
from helpdesk.sla.calendar import WorkCalendar


def counter(mode: str = "working_days", tz: str = "Asia/Shanghai", ratio: float = 0.75) -> clock.Counter:
    cal = WorkCalendar.from_rows([], known_years=[2026], hours=(time(9), time(17)), tz=tz)
    return clock.Counter(clock.Policy("change", mode, 2, time(9), time(17), ratio), cal)


def test_a_row_holds_the_counters_figures_of_its_day():
    c = counter()
    (row,) = bulk.day_rows(c, "change", date(2026, 9, 22), date(2026, 9, 22))
    values = dict(zip([name for name, _kind in bulk.DAY_COLUMNS], row, strict=False))
    received = datetime(2026, 9, 22, 10, 30, tzinfo=c.tz).astimezone(UTC)
    fresh = c.fresh(received)
    assert values["due"] == fresh.due_at
    assert values["working"] == 1 and values["provisional"] is False
    assert values["open_us"] == bulk._us(datetime(2026, 9, 22, 1, 0, tzinfo=UTC))  # 09:00 Beijing
    assert json.loads(values["openings"])[1] == bulk._us(datetime(2026, 9, 23, 1, 0, tzinfo=UTC))
    assert "收到 2026-09-22 10:30" + values["rest_during"] == c.explanation(fresh)


def test_business_hours_a_warning_past_the_deadline_and_a_clock_change_stay_per_clock():
    assert bulk.day_rows(counter("business_hours"), "change", date(2026, 9, 22), date(2026, 9, 22)) is None
    assert bulk.day_rows(counter(ratio=1.5), "change", date(2026, 9, 22), date(2026, 9, 22)) is None
    berlin = counter(tz="Europe/Berlin")
    assert bulk.day_rows(berlin, "change", date(2026, 3, 24), date(2026, 3, 26)) is not None
    # 2026-03-29: Berlin's clocks go forward (a 23-hour day); a range holding it is not taken
    assert bulk.day_rows(berlin, "change", date(2026, 3, 27), date(2026, 3, 31)) is None


def test_day_rows_number_on_one_grid_or_not_at_all():
    c = counter()
    rows = bulk.day_rows(c, "change", date(2026, 9, 21), date(2026, 9, 23))
    base, numbered = bulk.numbered(rows)
    assert base == rows[0][1] and [r[-2] for r in numbered] == [0, 1, 2]
    assert [r[-1] for r in numbered] == [0, 1, 2]  # the row ids
    shifted = (rows[0][0], rows[0][1] + 3_600_000_000, *rows[0][2:])  # a day starting an hour off the grid
    assert bulk.numbered([*rows, shifted]) is None
    assert bulk.numbered([]) is None
