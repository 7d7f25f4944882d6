"""Business time in the words agents use: working days and hours, not a pile of hours.

A working day is the policy's business day (8 hours for 09:00-17:00), so "超时 366 小时" reads as
"45 个工作日 6 小时" — the unit the two-working-day promise is made in. Pure: no Flask, no database.
"""

from __future__ import annotations

DEFAULT_DAY_MINUTES = 8 * 60  # 09:00-17:00, the default policy


def working_time(minutes: int, day_minutes: int = DEFAULT_DAY_MINUTES) -> str:
    """ "1 个工作日 3 小时", "5 小时 30 分", "12 分"; minutes are dropped once whole days are counted."""
    minutes = abs(int(minutes))
    days, rest = divmod(minutes, max(day_minutes, 1))
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} 个工作日 {hours} 小时" if hours else f"{days} 个工作日"
    if hours:
        return f"{hours} 小时 {mins} 分" if mins else f"{hours} 小时"
    return f"{mins} 分"
