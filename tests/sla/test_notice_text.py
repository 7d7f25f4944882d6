"""The State Council notice's own prose imports to the same days as chinesecalendar knows."""

from __future__ import annotations

from datetime import date

import pytest
from chinese_calendar import constants

from helpdesk.sla.edits import parse_notice
from helpdesk.sla.notice_text import NoticeTextError, days_in, parse_notice_text

# 国办发明电〔2024〕12号, as published on gov.cn (title and body, pasted as a supervisor would).
NOTICE_2025 = """国务院办公厅关于2025年部分节假日安排的通知
一、元旦：1月1日（周三）放假1天，不调休。
二、春节：1月28日（农历除夕、周二）至2月4日（农历正月初七、周二）放假调休，共8天。1月26日（周日）、2月8日（周六）上班。
三、清明节：4月4日（周五）至6日（周日）放假，共3天。
四、劳动节：5月1日（周四）至5日（周一）放假调休，共5天。4月27日（周日）上班。
五、端午节：5月31日（周六）至6月2日（周一）放假，共3天。
六、国庆节、中秋节：10月1日（周三）至8日（周三）放假调休，共8天。9月28日（周日）、10月11日（周六）上班。
节假日期间，各地区、各部门要妥善安排好值班和安全、保卫、疫情防控等工作。"""

# 国办发明电〔2025〕7号, pasted on one line without its title (as copied from a news page).
NOTICE_2026 = (
    "一、元旦：1月1日（周四）至3日（周六）放假调休，共3天。1月4日（周日）上班。"
    "二、春节：2月15日（农历腊月二十八、周日）至23日（农历正月初七、周一）放假调休，共9天。2月14日（周六）、2月28日（周六）上班。"
    "三、清明节：4月4日（周六）至6日（周一）放假，共3天。"
    "四、劳动节：5月1日（周五）至5日（周二）放假调休，共5天。5月9日（周六）上班。"
    "五、端午节：6月19日（周五）至21日（周日）放假，共3天。"
    "六、中秋节：9月25日（周五）至27日（周日）放假，共3天。"
    "七、国庆节：10月1日（周四）至7日（周三）放假调休，共7天。9月20日（周日）、10月10日（周六）上班。"
)


@pytest.mark.parametrize(("year", "text"), [(2025, NOTICE_2025), (2026, NOTICE_2026)])
def test_notice_text_gives_chinesecalendars_days(year, text):
    parsed = parse_notice_text(text, year)
    assert days_in(parsed.off) == {d for d in constants.holidays if d.year == year}
    assert days_in(parsed.work) == {d for d in constants.workdays if d.year == year}
    # and through the form's own checks, to the counts the import page quotes
    notice = parse_notice(year, list(parsed.off), list(parsed.work))
    assert notice.counts == {2025: (18, 5), 2026: (19, 6)}[year]


def test_holiday_names_follow_their_item():
    parsed = parse_notice_text(NOTICE_2025, 2025)
    assert "2025-10-01:2025-10-08 国庆节、中秋节" in parsed.off
    assert "2025-02-08 春节" in parsed.work
    assert parsed.year == 2025


def test_full_width_digits_and_a_range_across_new_year():
    text = "一、元旦：２０２２年１２月３１日至２０２３年１月２日放假调休，共３天。"
    parsed = parse_notice_text(text, 2023)
    assert parsed.off == ("2023-01-01:2023-01-02 元旦",)
    assert any("不在 2023 年内" in n for n in parsed.notes)


def test_wrong_year_and_no_dates_are_refused_with_a_reason():
    with pytest.raises(NoticeTextError, match="2025 年的通知"):
        parse_notice_text(NOTICE_2025, 2026)
    with pytest.raises(NoticeTextError, match="没有从通知原文里读到放假日期"):
        parse_notice_text("各地区、各部门要妥善安排好值班工作。", 2026)


def test_a_date_that_does_not_exist_is_skipped_not_guessed():
    parsed = parse_notice_text("一、元旦：1月1日放假。二、某节：2月30日放假。", 2027)
    assert days_in(parsed.off) == {date(2027, 1, 1)}
