"""Report periods (local weeks and months, or custom dates) and the small statistics of the dashboard."""

from __future__ import annotations

import calendar as pycalendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from helpdesk.sla import clock as sla_clock

TZ = ZoneInfo(sla_clock.DEFAULT_TZ)


@dataclass(frozen=True)
class Period:
    key: str  #: 30d / week / last_week / month / last_month / custom
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
            "30d": "近 30 天",
            "week": "本周",
            "last_week": "上周",
            "month": "本月",
            "last_month": "上月",
            "custom": "自定义",
        }
        return f"{names.get(self.key, '')} {self.first:%Y-%m-%d} 至 {self.last:%Y-%m-%d}"


MAX_PERIOD_DAYS = 366
#: the dashboard's default: a rolling window, so that on the 1st of a month the report is not an empty
#: month whose 按时办结率 100% contradicts the breaches in the now panel
DEFAULT_PERIOD = "30d"


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
    if key == "30d":
        return Period(key, today - timedelta(days=29), today)
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
