"""Every number on the dashboard with the exact set of tickets behind it, for drill-down links.

A figure is either expressible with the queue's filters (`view`, `status`, `type`, `assignee`, `sla`,
`due`, `received_from`, `received_to`) or carries the ticket ids it counts; the view layer turns it into
a queue URL (`ids=` for up to ID_LINK_LIMIT tickets) or, above that, into the dashboard's own list page,
so that a link never needs a URL longer than proxies accept.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

#: most ids put in one queue URL (about 3 KB of query string; gunicorn refuses request lines over 4 KB)
ID_LINK_LIMIT = 300


class Figure:
    """A number, and either the queue filters that list its tickets or the tickets' ids."""

    __slots__ = ("value", "filters", "_raw", "_ids")

    def __init__(self, value: int, filters: dict[str, Any] | None = None, ids: Iterable[int] | None = None):
        self.value = value
        self.filters = filters  #: queue query parameters that select exactly these tickets
        self._raw = None if ids is None else list(ids)
        self._ids: list[int] | None = None

    @property
    def ids(self) -> list[int] | None:
        """The tickets, sorted and unique (sorted only when asked: big figures link to the drill page)."""
        if self._ids is None and self._raw is not None:
            self._ids = sorted(set(self._raw))
        return self._ids

    def few_ids(self, limit: int) -> bool:
        """Known ids, at most `limit` of them (cheap for big figures)."""
        return self._raw is not None and (len(self._raw) <= limit or len(self.ids or ()) <= limit)


@dataclass
class Figures:
    """Figures by key ('now.due_today', 'report.resolved', 'report.type.change.met', ...)."""

    items: dict[str, Figure] = field(default_factory=dict)

    def by_filters(self, key: str, value: int, **filters: Any) -> int:
        self.items[key] = Figure(value, filters={k: v for k, v in filters.items() if v not in (None, "")})
        return value

    def by_ids(self, key: str, ids: Iterable[int], value: int | None = None) -> int:
        """A figure counting these tickets (or `value` things, e.g. resolutions or mails, on them)."""
        fig = Figure(0, ids=ids)
        fig.value = len(fig.ids or ()) if value is None else value
        self.items[key] = fig
        return fig.value

    def count_only(self, key: str, value: int) -> int:
        """A figure whose tickets are fetched when its drill page asks (the now panel's big ones)."""
        self.items[key] = Figure(value)
        return value

    def get(self, key: str) -> Figure | None:
        return self.items.get(key)

    def value(self, key: str) -> int:
        fig = self.items.get(key)
        return fig.value if fig else 0
