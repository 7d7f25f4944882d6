"""China's official holiday schedule from the `chinesecalendar` package, as rows to store.

The package (import name `chinese_calendar`) knows the State Council schedules of 2004 to its last
release year and raises NotImplementedError beyond; it is updated once the next year's schedule is
published (usually in November). Only the exceptions to Monday-Friday are returned: weekdays off and
make-up weekend workdays (调休). Ordinary weekends, including those inside a holiday, are implied.
"""

from __future__ import annotations

import chinese_calendar
from chinese_calendar.constants import holidays as _package_days_off
from chinese_calendar.constants import workdays as _package_workdays

from helpdesk.sla.calendar import CalendarDayRow, WorkCalendar

__all__ = ["HOLIDAY_NAMES_ZH", "official_calendar", "package_years", "seed_days"]

#: the package's English holiday names (values of chinese_calendar.Holiday) in Chinese
HOLIDAY_NAMES_ZH = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利纪念日",
}


def package_years() -> tuple[int, int]:
    """(first, last) year whose official schedule the installed package knows."""
    years = [d.year for d in _package_days_off]
    return min(years), max(years)


def seed_days(first_year: int, last_year: int) -> list[CalendarDayRow]:
    """Weekday days off ('off') and make-up weekend workdays ('work') of the years, in date order."""
    known = package_years()
    if first_year > last_year or first_year < known[0] or last_year > known[1]:
        raise ValueError(
            f"years {first_year}-{last_year}: chinesecalendar {chinese_calendar.__version__} "
            f"knows {known[0]}-{known[1]} only"
        )
    # the package's own tables (what get_holiday_detail reads), walked once: calling get_holiday_detail
    # per day costs ~50 us, as it recomputes the supported range each time
    rows = [
        CalendarDayRow(d, "off", _chinese_name(name))
        for d, name in _package_days_off.items()
        if first_year <= d.year <= last_year and d.weekday() < 5
    ]
    rows += [
        CalendarDayRow(d, "work", _chinese_name(name))
        for d, name in _package_workdays.items()
        if first_year <= d.year <= last_year and d.weekday() >= 5
    ]
    return sorted(rows, key=lambda r: r.day)


def official_calendar(first_year: int | None = None, last_year: int | None = None, **kwargs) -> WorkCalendar:
    """A WorkCalendar of the package's years (all by default); kwargs go to WorkCalendar (hours, tz)."""
    first, last = package_years()
    first, last = first_year or first, last_year or last
    return WorkCalendar.from_rows(seed_days(first, last), known_years=range(first, last + 1), **kwargs)


def _chinese_name(name: str | None) -> str | None:
    if name is None:
        return None
    if name in HOLIDAY_NAMES_ZH:
        return HOLIDAY_NAMES_ZH[name]
    try:  # a holiday added by a newer package release: its own (short) Chinese name
        return chinese_calendar.Holiday(name).chinese
    except ValueError:
        return name
