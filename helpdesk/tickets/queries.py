"""The agent workspace's read-only queries, by stage: queue_filters.py (the query string, the clock a
page looks at, the SQL conditions), queue_pages.py (keyset pages and tab counts), ticket_page.py (the
ticket page's data and presence). This module names them for the views, the API and the dashboard."""

from __future__ import annotations

from helpdesk.auth.models import User
from helpdesk.tickets import queue_pages
from helpdesk.tickets.queue_filters import (
    BUCKET_STATUSES,
    DUE_FILTERS,
    DUE_SOON_MINUTES,
    QUERY_KEYS,
    RUNNING,
    SEARCH_CAP,
    SLA_STATES,
    SLA_STATUSES,
    VIEW_STATUSES,
    VIEWS,
    Clock,
    QueryError,
    QueueQuery,
    due_soon_condition,
    filter_conditions,
    new_clock,
    normalise_saved_query,
    running_condition,
    status_column,
    status_scope,
    text_condition,
)
from helpdesk.tickets.queue_pages import (
    COUNT_CAP,
    LIST_COLUMNS,
    PAGE_SIZE,
    TOTAL_CAP,
    QueuePage,
    capped_count,
    cursor_for,
    held_open,
    light,
    open_count,
    parse_cursor,
    queue_counts,
    view_counts,
)
from helpdesk.tickets.ticket_page import (
    PRESENCE_FRESH,
    PRESENCE_PREFIX,
    active_users,
    likely_duplicates,
    macros,
    merged_from,
    notifications,
    presence_range,
    saved_filters,
    ticket_by_number,
    unread_count,
    users_by_id,
    viewers,
)


def queue_page(query: QueueQuery, user: User, ck: Clock, limit: int | None = None) -> QueuePage:
    """One page of the queue (queue_pages.queue_page); without `limit`, this module's PAGE_SIZE."""
    # PAGE_SIZE is read here, at the call, so that setting queries.PAGE_SIZE still sets the page size
    return queue_pages.queue_page(query, user, ck, limit or PAGE_SIZE)


__all__ = [
    "BUCKET_STATUSES",
    "COUNT_CAP",
    "Clock",
    "DUE_FILTERS",
    "DUE_SOON_MINUTES",
    "LIST_COLUMNS",
    "PAGE_SIZE",
    "PRESENCE_FRESH",
    "PRESENCE_PREFIX",
    "QUERY_KEYS",
    "QueryError",
    "QueuePage",
    "QueueQuery",
    "RUNNING",
    "SEARCH_CAP",
    "SLA_STATES",
    "SLA_STATUSES",
    "TOTAL_CAP",
    "VIEWS",
    "VIEW_STATUSES",
    "active_users",
    "capped_count",
    "cursor_for",
    "due_soon_condition",
    "filter_conditions",
    "held_open",
    "light",
    "likely_duplicates",
    "macros",
    "merged_from",
    "new_clock",
    "normalise_saved_query",
    "notifications",
    "open_count",
    "parse_cursor",
    "presence_range",
    "queue_counts",
    "queue_page",
    "running_condition",
    "saved_filters",
    "status_column",
    "status_scope",
    "text_condition",
    "ticket_by_number",
    "unread_count",
    "users_by_id",
    "view_counts",
    "viewers",
]
