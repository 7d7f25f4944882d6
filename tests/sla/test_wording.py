"""Business time said in working days and hours."""

import pytest

from helpdesk.sla.wording import working_time
from helpdesk.tickets.views.common import fmt_time_left


@pytest.mark.parametrize(
    ("minutes", "text"),
    [
        (0, "0 分"),
        (12, "12 分"),
        (60, "1 小时"),
        (330, "5 小时 30 分"),
        (480, "1 个工作日"),
        (660, "1 个工作日 3 小时"),
        (366 * 60 + 35, "45 个工作日 6 小时"),  # the "超时 366 小时 35 分" the issue saw
        (-700, "1 个工作日 3 小时"),
    ],
)
def test_working_time(minutes, text):
    assert working_time(minutes) == text


def test_a_longer_business_day_counts_its_own_days():
    assert working_time(600, day_minutes=600) == "1 个工作日"


def test_queue_cell_says_late_in_working_days():
    assert fmt_time_left(-(3 * 480 + 125), "breached") == "已超时 3 个工作日 2 小时"
    assert fmt_time_left(700, "ok") == "剩 1 个工作日 3 小时"
    assert fmt_time_left(None, "stopped") == "—"


def test_a_ticket_paused_after_its_deadline_still_reads_as_late():
    assert fmt_time_left(0, "paused") == "已超时（暂停中）"
    assert fmt_time_left(125, "paused") == "暂停（剩 2 小时 5 分）"
