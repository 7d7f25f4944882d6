"""Benchmark of the SLA calendar: deadlines and business-time additions per second, run by hand.

    python bench/sla.py [--count 1000000] [--seed 1]

Receipt times are random moments of 2025-2026 (the package's real calendar), made before timing. Each
figure is the best of three runs; the baseline is `received + timedelta(days=2)` in the same process,
so the ratio says how many plain datetime additions one deadline costs.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpdesk.sla.seed import official_calendar  # noqa: E402


def best_rate(fn, items, repeat: int = 3) -> float:
    """Calls per second of fn over items, best of `repeat` runs."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn(items)
        best = min(best, time.perf_counter() - start)
    return len(items) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    tz = ZoneInfo("Asia/Shanghai")
    start = time.perf_counter()
    cal = official_calendar()
    seeded = time.perf_counter()
    cal.due_by_working_days(datetime(2026, 1, 5, tzinfo=tz))  # builds the table
    built = time.perf_counter()

    rng = random.Random(args.seed)
    first = datetime(2025, 1, 1, tzinfo=tz).timestamp()
    span = datetime(2027, 1, 1, tzinfo=tz).timestamp() - first
    stamps = [first + rng.random() * span for _ in range(args.count)]
    local = [datetime.fromtimestamp(s, tz) for s in stamps]
    utc = [datetime.fromtimestamp(s, UTC) for s in stamps]
    minutes = [rng.randrange(1, 5 * 480) for _ in range(args.count)]
    sample = local[: min(args.count, 100_000)]
    two_days = timedelta(days=2)

    def baseline(items):
        for r in items:
            r + two_days

    def plain_due(received, n):
        return received + timedelta(days=n)

    def baseline_call(items, due=plain_due):
        for r in items:
            due(r, 2)

    def working_days(items, due=cal.due_by_working_days):
        for r in items:
            due(r, 2)

    def working_days_explained(items, due=cal.due_by_working_days):
        for r in items:
            due(r, 2).explanation  # noqa: B018

    def business_hours(items, due=cal.due_by_business_hours):
        for r in items:
            due(r, 2)

    def add_minutes(items, add=cal.add_business_minutes):
        for r, m in zip(items, minutes, strict=False):
            add(r, m)

    ends = [r + timedelta(minutes=m) for r, m in zip(local, minutes, strict=True)]

    def between(items, between=cal.business_minutes_between):
        for a, b in zip(items, ends, strict=False):
            between(a, b)

    print(f"python {sys.version.split()[0]}, {args.count:,} random receipts in 2025-2026 (seed {args.seed})")
    print(
        f"calendar {cal.version}: seeded in {(seeded - start) * 1e3:.1f} ms, table built in "
        f"{(built - seeded) * 1e3:.1f} ms ({cal._table.first_year}-{cal._table.last_year})"
    )
    base = best_rate(baseline, local)
    rows = [
        ("baseline: received + timedelta(days=2)", base, local),
        ("baseline as a function: plain_due(received, 2)", best_rate(baseline_call, local), local),
        ("due_by_working_days, Asia/Shanghai input", best_rate(working_days, local), local),
        ("due_by_working_days, UTC input", best_rate(working_days, utc), utc),
        ("due_by_working_days + .explanation", best_rate(working_days_explained, sample), sample),
        ("due_by_business_hours, Asia/Shanghai input", best_rate(business_hours, local), local),
        ("add_business_minutes, Asia/Shanghai input", best_rate(add_minutes, local), local),
        ("add_business_minutes, UTC input", best_rate(add_minutes, utc), utc),
        ("business_minutes_between, Asia/Shanghai input", best_rate(between, local), local),
    ]
    for name, rate, items in rows:
        print(f"{name:52s} {rate:>12,.0f} /s  {base / rate:5.1f}x baseline  ({len(items):,} calls)")


if __name__ == "__main__":
    main()
