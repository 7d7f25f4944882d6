"""Prometheus metrics: counters and histograms from the code paths, gauges from the database.

Counters and histograms live in this module's `REGISTRY`. Under several gunicorn workers (and the
`helpdesk worker` beside them) set PROMETHEUS_MULTIPROC_DIR to one empty directory shared by all of
them before they start: prometheus_client then keeps every process's values in files there and a
scrape adds them up (multiprocess mode). Gauges that come from the database (tickets by status, SLA,
outbox) are computed at scrape time by `DatabaseCollector`, so every worker answers the same.

The hooks at the call sites are one line each: `metrics.MAIL_FETCHED.inc(n)`, `metrics.job_ran(...)`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)

MAIL_FETCHED = Counter("helpdesk_mail_fetched", "Messages fetched from IMAP", registry=REGISTRY)
MAIL_FAILED = Counter("helpdesk_mail_failed", "Fetched messages whose ingestion failed", registry=REGISTRY)
POLL_ERRORS = Counter("helpdesk_mail_poll_errors", "IMAP polls that failed", registry=REGISTRY)
MAIL_SENT = Counter(
    "helpdesk_mail_send_attempts", "Outbound mail attempts by outcome", ["outcome"], registry=REGISTRY
)
JOB_SECONDS = Histogram(
    "helpdesk_job_duration_seconds",
    "Background job run time",
    ["job", "result"],
    buckets=(0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
    registry=REGISTRY,
)
HTTP_SECONDS = Histogram(
    "helpdesk_http_request_duration_seconds",
    "Web request latency by endpoint (the route's name, never its URL)",
    ["endpoint", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def http_observed(endpoint: str | None, method: str, status: int, seconds: float) -> None:
    HTTP_SECONDS.labels(endpoint or "unmatched", method, str(status)).observe(seconds)


def job_ran(job: str, ok: bool, seconds: float) -> None:
    JOB_SECONDS.labels(job, "ok" if ok else "error").observe(seconds)


class _Proxy(Collector):
    """This process's own counters, for a scrape without multiprocess mode."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


class DatabaseCollector(Collector):
    """Gauges read from the database at scrape time (one query per family)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def collect(self) -> Iterator[Metric]:
        from helpdesk.core import health

        figures = health.figures(self.now)
        tickets = GaugeMetricFamily("helpdesk_tickets", "Tickets by status", labels=["status"])
        for status, count in sorted(figures.tickets_by_status.items()):
            tickets.add_metric([status], count)
        yield tickets
        yield GaugeMetricFamily(
            "helpdesk_sla_open_warned", "Running SLA clocks past their warning", value=figures.sla_warned
        )
        yield GaugeMetricFamily(
            "helpdesk_sla_open_breached", "Running SLA clocks past their deadline", value=figures.sla_breached
        )
        yield GaugeMetricFamily("helpdesk_outbox_depth", "Unsent outbound mails", value=figures.outbox_depth)
        yield GaugeMetricFamily(
            "helpdesk_outbox_oldest_age_seconds",
            "Age of the oldest unsent outbound mail (0 when none)",
            value=figures.outbox_oldest_age or 0.0,
        )


def scrape(now: datetime) -> bytes:
    """The exposition text: this process's (or all processes') counters plus the database gauges."""
    registry = CollectorRegistry(auto_describe=False)
    path = multiprocess_dir()
    if path:
        MultiProcessCollector(registry, path=path)
    else:
        registry.register(_Proxy())
    registry.register(DatabaseCollector(now))
    return generate_latest(registry)
