"""The dashboard's figures, by stage: now.py (the live panel), report.py (the period report over the
stored SLA clocks), periods.py (periods and statistics). This module names them for the views and
exports."""

from __future__ import annotations

from helpdesk.dashboard.now import (
    AGE_BUCKETS,
    AGE_LABELS,
    TYPES,
    NowPanel,
    latest_at_position,
    missing_calendar_years,
    now_panel,
)
from helpdesk.dashboard.periods import TZ, Period, median, period_for, quantile
from helpdesk.dashboard.report import Breach, Report, Resolution, Stats, period_report, resolutions_in
from helpdesk.tickets.models import STATUS_LABELS

__all__ = [
    "AGE_BUCKETS",
    "AGE_LABELS",
    "STATUS_LABELS",
    "TYPES",
    "TZ",
    "Breach",
    "NowPanel",
    "Period",
    "Report",
    "Resolution",
    "Stats",
    "latest_at_position",
    "median",
    "missing_calendar_years",
    "now_panel",
    "period_for",
    "period_report",
    "quantile",
    "resolutions_in",
]
