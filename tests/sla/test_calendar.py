"""The SLA calendar on the real 2025 and 2026 schedules from the chinesecalendar package.

Expected values are counted by hand from the State Council notices, which the package encodes:

2025  元旦 01-01 (Wed) | 春节 01-28..02-04, work Sun 01-26, Sat 02-08 | 清明 04-04..06 | 劳动节 05-01..05,
      work Sun 04-27 | 端午 05-31..06-02 | 国庆节、中秋节 10-01..08, work Sun 09-28, Sat 10-11
2026  元旦 01-01..03, work Sun 01-04 | 春节 02-15..23, work Sat 02-14, Sat 02-28 | 清明 04-04..06 |
      劳动节 05-01..05, work Sat 05-09 | 端午 06-19..21 | 中秋 09-25..27 | 国庆 10-01..07, work Sun 09-20, Sat 10-10
"""

from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpdesk.sla.calendar import CalendarDayRow, Deadline, WorkCalendar, year_summary
from helpdesk.sla.seed import official_calendar, package_years, seed_days

SH = ZoneInfo("Asia/Shanghai")
CAL = official_calendar()  # 2004..2026 from the package
SMALL = official_calendar(2025, 2026, span=(2025, 2026))  # cheap to copy in property tests


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SH)


def due(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), time(17), tzinfo=SH)


# -- seeding --------------------------------------------------------------------------------------


def test_package_knows_2004_to_2026():
    assert package_years() == (2004, 2026)


@pytest.mark.parametrize(("year", "days_off", "makeup_days"), [(2025, 18, 5), (2026, 19, 6)])
def test_year_summary_matches_the_official_schedule(year, days_off, makeup_days):
    assert year_summary(seed_days(year, year), year) == (days_off, makeup_days)
    assert year_summary(CAL, year) == (days_off, makeup_days)


def test_seed_2026_rows_are_the_state_council_notice():
    rows = {(r.day.isoformat(), r.kind): r.name for r in seed_days(2026, 2026)}
    off = {
        "元旦": ["01-01", "01-02"],
        "春节": ["02-16", "02-17", "02-18", "02-19", "02-20", "02-23"],
        "清明节": ["04-06"],
        "劳动节": ["05-01", "05-04", "05-05"],
        "端午节": ["06-19"],
        "中秋节": ["09-25"],
        "国庆节": ["10-01", "10-02", "10-05", "10-06", "10-07"],
    }
    work = {"元旦": ["01-04"], "春节": ["02-14", "02-28"], "劳动节": ["05-09"], "国庆节": ["09-20", "10-10"]}
    expected = {(f"2026-{d}", "off"): name for name, days in off.items() for d in days}
    expected |= {(f"2026-{d}", "work"): name for name, days in work.items() for d in days}
    assert rows == expected


def test_seed_agrees_with_the_package_public_api():
    rows = {r.day: r.kind for r in seed_days(2025, 2026)}
    d = date(2025, 1, 1)
    while d.year <= 2026:
        on_holiday, _ = chinese_calendar.get_holiday_detail(d)
        expected = (
            "off"
            if on_holiday and d.weekday() < 5
            else "work"
            if not on_holiday and d.weekday() >= 5
            else None
        )
        assert rows.get(d) == expected, d
        assert CAL.is_working_day(d) == chinese_calendar.is_workday(d), d
        d += timedelta(days=1)


def test_seed_names_every_holiday_in_chinese():
    names = {r.name for r in seed_days(2004, 2026)}
    assert names == {"元旦", "春节", "清明节", "劳动节", "端午节", "中秋节", "国庆节", "抗战胜利纪念日"}


def test_seed_refuses_years_the_package_does_not_know():
    with pytest.raises(ValueError, match="2004-2026"):
        seed_days(2026, 2027)


def test_year_summary_of_rows_counts_only_real_exceptions():
    rows = [
        CalendarDayRow(date(2026, 10, 1), "off", "国庆节"),
        CalendarDayRow(date(2026, 10, 3), "off"),  # a Saturday: implied, not counted
        CalendarDayRow(date(2026, 10, 10), "work"),
        CalendarDayRow(date(2027, 1, 1), "off"),
    ]
    assert year_summary(rows, 2026) == (1, 1)


# -- working-days policy ----------------------------------------------------------------------------

WORKING_DAYS = [
    # received (Asia/Shanghai)   due at 17:00   why
    ("2026-09-30 18:42", "2026-10-09", "the issue's example: 国庆 10-01..07, 10-08 and 10-09 count"),
    ("2026-09-18 10:00", "2026-09-21", "Sat 09-19 off, Sun 09-20 is 调休 and counts as day 1"),
    ("2026-09-19 10:00", "2026-09-21", "received on a Saturday off: Sun 09-20, Mon 09-21"),
    (
        "2026-09-20 08:00",
        "2026-09-22",
        "received before hours on the 调休 Sunday: that day still not counted",
    ),
    ("2026-09-29 08:30", "2026-10-08", "day 1 Wed 09-30, day 2 the first day after 国庆"),
    ("2026-10-01 02:00", "2026-10-09", "received during 国庆"),
    ("2026-10-09 10:00", "2026-10-12", "Sat 10-10 is 调休: day 1"),
    ("2026-03-10 02:00", "2026-03-12", "02:00 on a working day: that day is not counted"),
    ("2026-03-10 09:00", "2026-03-12", "at opening"),
    ("2026-03-10 16:59", "2026-03-12", "just before closing"),
    ("2026-03-10 17:00", "2026-03-12", "at closing"),
    ("2026-03-13 12:00", "2026-03-17", "Friday: over an ordinary weekend"),
    ("2026-03-14 10:00", "2026-03-17", "an ordinary Saturday: the next two working days"),
    ("2026-03-15 23:59", "2026-03-17", "an ordinary Sunday night"),
    ("2025-12-30 18:00", "2026-01-04", "across New Year: Wed 12-31, then the 调休 Sunday 01-04"),
    ("2025-12-31 16:00", "2026-01-05", "across New Year: 元旦 01-01..03, Sun 01-04, Mon 01-05"),
    ("2026-01-01 10:00", "2026-01-05", "received on 元旦"),
    ("2026-02-13 10:00", "2026-02-24", "春节: Sat 02-14 调休, then 02-15..23 off"),
    ("2026-02-14 20:00", "2026-02-25", "after hours on the 调休 Saturday"),
    ("2026-02-18 11:00", "2026-02-25", "received during 春节"),
    ("2026-02-26 10:00", "2026-02-28", "Fri 02-27, then the 调休 Saturday 02-28"),
    ("2026-04-03 12:00", "2026-04-08", "清明 04-04..06"),
    ("2026-04-30 09:00", "2026-05-07", "劳动节 05-01..05"),
    ("2026-05-08 10:00", "2026-05-11", "Sat 05-09 调休"),
    ("2026-06-18 16:59", "2026-06-23", "端午 06-19..21"),
    ("2026-09-24 10:00", "2026-09-29", "中秋 09-25..27"),
    ("2024-12-31 15:00", "2025-01-03", "across New Year: 元旦 2025 is Wed 01-01"),
    ("2025-01-01 10:00", "2025-01-03", "received on 元旦 2025"),
    ("2025-01-24 16:00", "2025-01-27", "Sun 01-26 调休 is day 1"),
    (
        "2025-01-26 10:00",
        "2025-02-05",
        "received on the 调休 Sunday: Mon 01-27, then after 春节 01-28..02-04",
    ),
    ("2025-01-27 18:00", "2025-02-06", "the eve of 春节, after hours"),
    ("2025-02-07 12:00", "2025-02-10", "Sat 02-08 调休"),
    ("2025-04-03 10:00", "2025-04-08", "清明 04-04..06"),
    ("2025-04-25 17:30", "2025-04-28", "Sun 04-27 调休"),
    ("2025-04-30 08:00", "2025-05-07", "劳动节 05-01..05"),
    ("2025-05-30 10:00", "2025-06-04", "端午 05-31..06-02"),
    ("2025-09-26 10:00", "2025-09-29", "Sun 09-28 调休"),
    ("2025-09-30 10:00", "2025-10-10", "国庆节、中秋节 10-01..08"),
    ("2025-10-06 09:30", "2025-10-10", "received on 中秋"),
    ("2025-10-09 10:00", "2025-10-11", "Sat 10-11 调休 is day 2"),
]


@pytest.mark.parametrize(("received", "expected", "why"), WORKING_DAYS, ids=[w[0] for w in WORKING_DAYS])
def test_due_by_working_days(received, expected, why):
    deadline = CAL.due_by_working_days(local(received), 2)
    assert (deadline.due_at, deadline.provisional, deadline.policy) == (
        due(expected),
        False,
        "working_days",
    ), why


@pytest.mark.parametrize(
    ("received", "n", "expected"),
    [
        ("2026-09-30 18:42", 1, "2026-10-08"),
        ("2026-09-30 18:42", 3, "2026-10-10"),
        ("2026-02-13 10:00", 5, "2026-02-27"),
        ("2025-01-01 00:00", 248, "2025-12-31"),  # 2025 has 365 - 104 - 18 + 5 = 248 working days
        ("2025-01-01 00:00", 250, "2026-01-05"),  # 249th: the 调休 Sunday 2026-01-04
    ],
)
def test_due_by_other_numbers_of_working_days(received, n, expected):
    assert CAL.due_by_working_days(local(received), n).due_at == due(expected)


def test_2025_has_248_working_days():
    assert sum(CAL.is_working_day(date(2025, 1, 1) + timedelta(days=k)) for k in range(365)) == 248


def test_any_time_zone_in_calendar_time_zone_out():
    received = datetime(2026, 9, 30, 10, 42, tzinfo=UTC)  # 18:42 in Shanghai
    deadline = CAL.due_by_working_days(received)
    assert deadline.due_at == due("2026-10-09")
    assert deadline.due_at.tzinfo is SH and deadline.received_at.tzinfo is SH
    # 23:30 UTC on Friday is already Saturday in Shanghai
    assert CAL.due_by_working_days(datetime(2026, 3, 13, 23, 30, tzinfo=UTC)).due_at == due("2026-03-17")


def test_naive_datetimes_are_refused():
    naive = datetime(2026, 3, 10, 10, 0)
    for call in (
        lambda: CAL.due_by_working_days(naive),
        lambda: CAL.due_by_business_hours(naive),
        lambda: CAL.add_business_minutes(naive, 10),
        lambda: CAL.business_minutes_between(naive, local("2026-03-10 10:00")),
    ):
        with pytest.raises(ValueError, match="naive"):
            call()


def test_n_must_be_positive():
    with pytest.raises(ValueError):
        CAL.due_by_working_days(local("2026-03-10 10:00"), 0)
    with pytest.raises(ValueError):
        CAL.due_by_business_hours(local("2026-03-10 10:00"), 0)


# -- explanations -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "explanation"),
    [
        (
            "2026-09-30 18:42",
            "收到 2026-09-30 18:42（周三，下班后）；不计当日；第1个工作日 2026-10-08（国庆节后首个工作日），"
            "第2个工作日 2026-10-09；截止 2026-10-09 17:00",
        ),
        (
            "2026-09-18 10:00",
            "收到 2026-09-18 10:00（周五，工作时间内）；不计当日；第1个工作日 2026-09-20（周日，调休上班），"
            "第2个工作日 2026-09-21；截止 2026-09-21 17:00",
        ),
        (
            "2026-09-20 08:00",
            "收到 2026-09-20 08:00（周日，调休上班，上班前）；不计当日；第1个工作日 2026-09-21，"
            "第2个工作日 2026-09-22；截止 2026-09-22 17:00",
        ),
        (
            "2026-10-03 10:00",  # a weekend inside the holiday is named after it
            "收到 2026-10-03 10:00（周六，节假日：国庆节）；不计当日；第1个工作日 2026-10-08（国庆节后首个工作日），"
            "第2个工作日 2026-10-09；截止 2026-10-09 17:00",
        ),
        (
            "2026-03-14 10:00",
            "收到 2026-03-14 10:00（周六，休息日）；不计当日；第1个工作日 2026-03-16，第2个工作日 2026-03-17；"
            "截止 2026-03-17 17:00",
        ),
        (
            "2025-09-30 10:00",
            "收到 2025-09-30 10:00（周二，工作时间内）；不计当日；第1个工作日 2025-10-09（国庆节、中秋节后首个工作日），"
            "第2个工作日 2025-10-10；截止 2025-10-10 17:00",
        ),
    ],
)
def test_working_days_explanation(received, explanation):
    assert CAL.due_by_working_days(local(received)).explanation == explanation


def test_long_explanations_skip_the_middle_days():
    text = CAL.due_by_working_days(local("2026-03-10 10:00"), 10).explanation
    assert "第2个工作日 2026-03-12，……，第10个工作日 2026-03-24；截止 2026-03-24 17:00" in text


def test_business_hours_explanation():
    assert CAL.due_by_business_hours(local("2026-09-30 15:30")).explanation == (
        "收到 2026-09-30 15:30（周三，工作时间内）；按工作时间计 2 个工作日共 16 小时（工作日 09:00-17:00）；"
        "起算 2026-09-30 15:30；截止 2026-10-09 15:30"
    )
    assert "起算 2026-10-08 09:00" in CAL.due_by_business_hours(local("2026-10-02 12:00")).explanation


def test_holiday_names():
    assert CAL.holiday_name(date(2026, 10, 1)) == "国庆节"
    assert CAL.holiday_name(date(2026, 10, 4)) == "国庆节"  # a Sunday inside the holiday
    assert CAL.holiday_name(date(2025, 10, 6)) == "中秋节"
    assert CAL.holiday_name(date(2025, 10, 4)) == "国庆节、中秋节"
    assert CAL.holiday_name(date(2026, 9, 20)) == "国庆节"  # the 调休 Sunday, labelled by the package
    assert CAL.holiday_name(date(2026, 3, 14)) is None
    assert CAL.holiday_name(date(2026, 3, 16)) is None


# -- provisional years ----------------------------------------------------------------------------------


def test_year_without_schedule_is_monday_to_friday_and_provisional():
    # 2027-01-01 will surely be 元旦, but until the schedule is known it is a working day
    deadline = CAL.due_by_working_days(local("2026-12-30 18:42"))
    assert (deadline.due_at, deadline.provisional) == (due("2027-01-01"), True)
    assert "2027年尚无官方节假日安排，按周一至周五推算，截止时间为暂定" in deadline.explanation
    assert CAL.due_by_working_days(local("2027-10-01 10:00")).due_at == due("2027-10-05")
    assert CAL.due_by_business_hours(local("2027-03-01 10:00")).provisional
    assert not CAL.due_by_working_days(local("2026-12-28 10:00")).provisional
    assert CAL.missing_years(2025, 2028) == [2027, 2028]
    assert CAL.is_known_year(2026) and not CAL.is_known_year(2027)


def test_dates_beyond_the_table_extend_it():
    assert CAL.due_by_working_days(local("2040-06-01 10:00")).due_at == due("2040-06-05")  # a Friday
    assert CAL.due_by_working_days(local("1990-06-01 10:00")).due_at == due("1990-06-05")
    assert CAL.due_by_working_days(local("2026-01-05 10:00"), 5000).due_at.year == 2045
    start = local("2026-01-05 09:00")
    later = CAL.add_business_minutes(start, 480 * 5000)
    assert CAL.business_minutes_between(start, later) == 480 * 5000
    assert CAL.business_minutes_between(later, start) == -480 * 5000
    assert CAL.add_business_minutes(local("2005-01-04 10:00"), -480 * 300).year == 2003


# -- business-hours policy ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "expected"),
    [
        ("2026-03-09 10:00", "2026-03-11 10:00"),
        ("2026-03-09 08:00", "2026-03-10 17:00"),  # budget starts at opening, ends at a closing
        ("2026-03-09 18:00", "2026-03-11 17:00"),
        ("2026-03-14 10:00", "2026-03-17 17:00"),  # Saturday: Monday and Tuesday
        ("2026-09-30 15:30", "2026-10-09 15:30"),  # 90 min, 国庆, 480 on 10-08, 390 on 10-09
        ("2026-09-18 12:00", "2026-09-21 12:00"),  # 300 min Friday, the 调休 Sunday, 180 Monday
        ("2025-12-31 13:00", "2026-01-05 13:00"),  # across New Year via the 调休 Sunday 01-04
        ("2026-02-13 16:00", "2026-02-24 16:00"),  # 春节: 60, Sat 02-14 480, then 420 on 02-24
        ("2026-10-05 11:11", "2026-10-09 17:00"),  # received during 国庆
    ],
)
def test_due_by_business_hours(received, expected):
    deadline = CAL.due_by_business_hours(local(received))
    assert (deadline.due_at, deadline.provisional, deadline.policy) == (
        local(expected),
        False,
        "business_hours",
    )


# -- business minutes and pauses -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "minutes"),
    [
        ("2026-09-30 16:00", "2026-10-09 17:00", 60 + 480 + 480),
        ("2025-12-31 16:00", "2026-01-05 10:00", 60 + 480 + 60),
        ("2026-10-01 10:00", "2026-10-07 15:00", 0),  # inside a holiday
        ("2026-03-10 17:00", "2026-03-11 09:00", 0),  # overnight
        ("2026-03-10 10:00", "2026-03-10 10:00", 0),
        ("2026-03-10 10:00", "2026-03-10 10:30", 30),
        ("2026-03-10 10:30", "2026-03-10 10:00", -30),
        ("2026-03-10 10:00:00", "2026-03-10 10:00:59", 0),  # whole minutes, truncated
        ("2026-03-10 10:00:59", "2026-03-10 10:00:00", 0),
        ("2026-10-09 17:00", "2026-10-12 10:00", 480 + 60),  # over the 调休 Saturday 10-10
    ],
)
def test_business_minutes_between(a, b, minutes):
    assert CAL.business_minutes_between(local(a), local(b)) == minutes


@pytest.mark.parametrize(
    ("start", "minutes", "expected"),
    [
        ("2026-10-09 10:00", 1020, "2026-10-12 11:00"),  # 420 Fri, 480 on the 调休 Saturday, 120 Monday
        ("2026-02-24 09:30", 660, "2026-02-25 12:30"),
        ("2026-03-09 19:30", 120, "2026-03-10 11:00"),  # resume after hours
        ("2026-10-03 12:00", 30, "2026-10-08 09:30"),  # resume during a holiday
        ("2026-03-09 09:00", 480, "2026-03-09 17:00"),  # a full day ends at closing, not next opening
        ("2026-03-09 10:00", 0, "2026-03-09 10:00"),
        ("2026-03-09 20:00", 0, "2026-03-09 20:00"),  # zero keeps the moment itself
        ("2026-10-08 10:00", -120, "2026-09-30 16:00"),  # backwards over 国庆
        ("2026-03-09 10:00", -60, "2026-03-06 17:00"),  # backwards: the earliest moment, a closing
    ],
)
def test_add_business_minutes(start, minutes, expected):
    assert CAL.add_business_minutes(local(start), minutes) == local(expected)


def test_pause_over_spring_festival_carries_the_remaining_time():
    deadline = CAL.due_by_working_days(local("2026-02-11 10:00"))  # day 1 Thu 02-12, day 2 Fri 02-13
    assert deadline.due_at == due("2026-02-13")
    remaining = CAL.business_minutes_between(local("2026-02-12 14:00"), deadline.due_at)  # pause
    assert remaining == 180 + 480
    resumed = CAL.add_business_minutes(local("2026-02-24 09:30"), remaining)  # resume after 春节
    assert resumed == local("2026-02-25 12:30")


def test_pause_over_national_day_resumed_after_hours():
    deadline = CAL.due_by_working_days(local("2026-09-29 10:00"))
    assert deadline.due_at == due("2026-10-08")
    remaining = CAL.business_minutes_between(local("2026-09-30 16:00"), deadline.due_at)
    assert remaining == 60 + 480
    assert CAL.add_business_minutes(local("2026-10-09 18:30"), remaining) == local("2026-10-12 10:00")


def test_paused_after_the_deadline_keeps_it_overdue():
    remaining = CAL.business_minutes_between(local("2026-10-12 10:00"), due("2026-10-09"))
    assert remaining == -(480 + 60)
    assert CAL.add_business_minutes(local("2026-10-12 10:00"), remaining) == due("2026-10-09")
    assert CAL.business_seconds_left(local("2026-10-09 18:00"), due("2026-10-09")) == 0


def test_time_left_and_warning_point():
    now, due_at = local("2026-09-30 16:00"), due("2026-10-08")
    assert CAL.business_minutes_left(now, due_at) == 540
    assert CAL.business_seconds_left(now, due_at) == 540 * 60
    # budget from receipt 09-29 10:00: 420 + 480 + 480 = 1380 min; 75% = 1035 = 420 + 480 + 135
    assert CAL.business_point(local("2026-09-29 10:00"), due_at, 0.75) == local("2026-10-08 11:15")


def test_seconds_are_exact():
    start = local("2026-03-10 16:59:30.250000")
    end = CAL.add_business_seconds(start, 45)
    assert end == local("2026-03-11 09:00:15.250000")
    assert CAL.business_seconds_between(start, end) == 45


# -- days and versions ---------------------------------------------------------------------------------------


def test_working_day_helpers():
    assert CAL.is_working_day(date(2026, 9, 20)) and not CAL.is_working_day(date(2026, 10, 7))
    assert CAL.next_working_day(date(2026, 9, 30)) == date(2026, 10, 8)
    assert CAL.next_working_day(date(2026, 9, 18)) == date(2026, 9, 20)
    assert CAL.working_day_after(date(2026, 2, 13), 2) == date(2026, 2, 24)


def test_version_changes_with_the_days_and_hours_only():
    assert CAL.version == official_calendar().version and len(CAL.version) == 16
    assert CAL.replace(labels={}).version == CAL.version
    assert CAL.replace(days_off=CAL.days_off | {date(2026, 12, 31)}).version != CAL.version
    assert CAL.replace(hours=(time(8, 30), time(17, 30))).version != CAL.version
    assert CAL.due_by_working_days(local("2026-03-10 10:00")).calendar_version == CAL.version


def test_redundant_days_change_nothing():
    redundant = SMALL.replace(
        days_off=SMALL.days_off | {date(2026, 10, 3)}, makeup_workdays={date(2026, 10, 8)}
    )
    assert redundant.days_off == SMALL.days_off and redundant.makeup_workdays == frozenset()
    assert not redundant.is_working_day(date(2026, 10, 3)) and redundant.is_working_day(date(2026, 10, 8))


def test_invalid_hours_are_refused():
    with pytest.raises(ValueError, match="opening before closing"):
        WorkCalendar(hours=(time(17), time(9)))


def test_deadline_is_a_frozen_value():
    deadline = CAL.due_by_working_days(local("2026-09-30 18:42"))
    assert deadline == Deadline(due("2026-10-09"), False, "working_days", local("2026-09-30 18:42"), 2, CAL)
    with pytest.raises(AttributeError):
        deadline.due_at = due("2026-10-10")


# the style guide's named calendar: a European time zone with daylight saving time
NINE_TO_FIVE = WorkCalendar(
    tz="Europe/Paris",
    days_off={date(2025, 12, 25), date(2025, 12, 26)},
    known_years={2025},
    span=(2025, 2026),
)


@pytest.mark.parametrize(
    ("start", "minutes", "expected"),
    [
        ("2025-03-07 16:30", 60, "2025-03-10 09:30"),  # Friday evening -> Monday morning
        ("2025-12-24 16:00", 120, "2025-12-29 10:00"),  # across the holidays and a weekend
        ("2025-03-28 16:00", 120, "2025-03-31 10:00"),  # over the switch to summer time
    ],
)
def test_nine_to_five_in_paris(start, minutes, expected):
    paris = ZoneInfo("Europe/Paris")
    result = NINE_TO_FIVE.add_business_minutes(datetime.fromisoformat(start).replace(tzinfo=paris), minutes)
    assert result == datetime.fromisoformat(expected).replace(tzinfo=paris)
    assert result.utcoffset() == (timedelta(hours=2) if "03-31" in expected else timedelta(hours=1))


# -- properties --------------------------------------------------------------------------------------------

ZONES = st.sampled_from([SH, UTC, ZoneInfo("America/New_York"), timezone(timedelta(hours=14))])
RECEIPTS = st.datetimes(min_value=datetime(2024, 12, 1), max_value=datetime(2027, 1, 31), timezones=ZONES)
WORKDAYS_2025_2026 = st.dates(date(2025, 1, 1), date(2026, 12, 31)).filter(lambda d: d.weekday() < 5)
QUICK = settings(max_examples=80, deadline=None)


@QUICK
@given(RECEIPTS, st.integers(1, 10))
def test_deadline_is_never_before_receipt(received, n):
    assert CAL.due_by_working_days(received, n).due_at > received
    assert CAL.due_by_business_hours(received, n).due_at > received


@QUICK
@given(RECEIPTS, st.integers(1, 10))
def test_deadline_is_inside_business_hours_of_a_working_day(received, n):
    by_days = CAL.due_by_working_days(received, n).due_at
    assert by_days.tzinfo is SH and by_days.time() == time(17) and CAL.is_working_day(by_days.date())
    by_hours = CAL.due_by_business_hours(received, n).due_at
    assert (
        by_hours.tzinfo is SH
        and time(9) < by_hours.time() <= time(17)
        and CAL.is_working_day(by_hours.date())
    )
    assert by_hours <= by_days  # a whole day of business time never ends after the n-th closing


@QUICK
@given(
    st.datetimes(min_value=datetime(2025, 1, 2), max_value=datetime(2026, 12, 15), timezones=ZONES),
    WORKDAYS_2025_2026,
    st.integers(1, 5),
)
def test_adding_a_day_off_never_makes_a_deadline_earlier(received, day, n):
    more_off = SMALL.replace(days_off=SMALL.days_off | {day})
    for policy in ("due_by_working_days", "due_by_business_hours"):
        assert getattr(more_off, policy)(received, n).due_at >= getattr(SMALL, policy)(received, n).due_at


@QUICK
@given(RECEIPTS, st.integers(-20_000, 20_000))
def test_add_and_between_are_inverse(start, minutes):
    end = CAL.add_business_minutes(start, minutes)
    assert CAL.business_minutes_between(start, end) == minutes
    if minutes > 0:
        assert end > start
    elif minutes < 0:
        assert end < start
    else:
        assert end == start


@QUICK
@given(
    RECEIPTS.map(lambda d: d.replace(second=0, microsecond=0)),
    st.dates(date(2025, 1, 1), date(2026, 12, 31)).filter(CAL.is_working_day),
    st.integers(1, 480),
)
def test_between_then_add_lands_on_a_business_moment(start, day, minute):
    target = datetime.combine(day, time(9), tzinfo=SH) + timedelta(minutes=minute)  # in (09:00, 17:00]
    assert CAL.add_business_minutes(start, CAL.business_minutes_between(start, target)) == target


@QUICK
@given(RECEIPTS, RECEIPTS)
def test_between_is_antisymmetric_and_monotonic(a, b):
    assert CAL.business_minutes_between(a, b) == -CAL.business_minutes_between(b, a)
    if a <= b:
        assert CAL.business_seconds_between(a, b) >= 0
