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


@dataclass(slots=True)
class Figure:
    value: int
    filters: dict[str, Any] | None = None  #: queue query parameters that select exactly these tickets
    ids: list[int] | None = None  #: otherwise, the tickets themselves


@dataclass
class Figures:
    """Figures by key ('now.due_today', 'report.resolved', 'report.type.change.met', ...)."""

    items: dict[str, Figure] = field(default_factory=dict)

    def by_filters(self, key: str, value: int, **filters: Any) -> int:
        self.items[key] = Figure(value, filters={k: v for k, v in filters.items() if v not in (None, "")})
        return value

    def by_ids(self, key: str, ids: Iterable[int]) -> int:
        unique = sorted(set(ids))
        self.items[key] = Figure(len(unique), ids=unique)
        return len(unique)

    def count_only(self, key: str, value: int, ids: Iterable[int] | None = None) -> int:
        """A figure whose ids are fetched lazily (None) or given; value is shown even when ids is None."""
        self.items[key] = Figure(value, ids=None if ids is None else sorted(set(ids)))
        return value

    def get(self, key: str) -> Figure | None:
        return self.items.get(key)

    def value(self, key: str) -> int:
        fig = self.items.get(key)
        return fig.value if fig else 0
