"""Server-rendered SVG bar charts with Chinese labels: no script, no library, a few KB each.

Usage::

    svg = bar_chart("每日收到与办结", ["11-02", "11-03"], [Series("收到", "#4a84d6", [3, 5]),
                                                      Series("办结", "#1c7c3a", [2, 6])])
    # -> Markup('<svg ...>'); bars with an href are links, every bar has a <title> tooltip
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

BLUE, GREEN, ORANGE, RED, PURPLE, GREY = "#4a84d6", "#1c7c3a", "#d08a00", "#c0262d", "#6b5bb5", "#8a96a3"


@dataclass(frozen=True)
class Series:
    name: str
    color: str
    values: Sequence[float | None]
    hrefs: Sequence[str | None] | None = None
    colors: Sequence[str] | None = None  #: one colour per bar instead of `color`


def _nice_max(value: float) -> float:
    """A round axis maximum at or above value (1, 2, 5 x 10^k)."""
    if value <= 0:
        return 1
    exp = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * exp:
            return step * exp
    return 10 * exp


def _fmt_int(v: float) -> str:
    return f"{v:,.0f}"


def bar_chart(
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    width: int = 640,
    height: int = 240,
    y_max: float | None = None,
    y_format: Callable[[float], str] = _fmt_int,
    value_labels: bool = False,
    empty_text: str = "本期暂无数据",
) -> Markup:
    """Grouped vertical bars, one group per category, one bar per series; an SVG element as Markup."""
    left, right, top, bottom = 48, 12, 28, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for s in series for v in s.values if v is not None]
    top_value = y_max if y_max is not None else _nice_max(max(values, default=0))
    ticks = 4
    if y_format is _fmt_int:  # counts: whole numbers on every grid line
        top_value = max(top_value, 4)
        ticks = next(n for n in (4, 5, 2, 1) if top_value % n == 0)
    n = max(1, len(categories))
    group_w = plot_w / n
    bar_w = max(1.0, min(28.0, group_w * 0.8 / max(1, len(series))))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="{escape(title)}" preserveAspectRatio="xMidYMid meet">',
        f"<title>{escape(title)}</title>",
        f'<text x="{left}" y="16" font-size="13" font-weight="600" fill="#1d2530">{escape(title)}</text>',
    ]
    # legend
    x = width - right
    for s in reversed(series):
        label_w = 14 + 13 * len(s.name)
        x -= label_w
        parts.append(f'<rect x="{x}" y="7" width="10" height="10" fill="{s.color}"/>')
        parts.append(f'<text x="{x + 13}" y="16" font-size="12" fill="#5b6675">{escape(s.name)}</text>')
        x -= 8
    # grid and y axis
    for i in range(ticks + 1):
        v = top_value * i / ticks
        y = top + plot_h - plot_h * i / ticks
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e8ee"/>')
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="#5b6675">'
            f"{escape(y_format(v))}</text>"
        )
    parts.append(
        f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#9aa5b1"/>'
    )
    if not values or not any(values):
        parts.append(
            f'<text x="{left + plot_w / 2:.0f}" y="{top + plot_h / 2:.0f}" font-size="13" '
            f'text-anchor="middle" fill="#8a96a3">{escape(empty_text)}</text>'
        )
    # bars
    label_every = max(1, math.ceil(n / max(1, plot_w // 44)))
    for i, category in enumerate(categories):
        gx = left + group_w * i + (group_w - bar_w * len(series)) / 2
        for j, s in enumerate(series):
            v = s.values[i] if i < len(s.values) else None
            if v is None:
                continue
            h = 0 if top_value <= 0 else plot_h * min(v, top_value) / top_value
            bx, by = gx + bar_w * j, top + plot_h - h
            color = s.colors[i] if s.colors else s.color
            tip = f"{category} {s.name}：{y_format(v)}"
            bar = (
                f'<rect x="{bx:.1f}" y="{by:.1f}" width="{bar_w - 1:.1f}" height="{max(h, 0.5):.1f}" '
                f'fill="{color}"><title>{escape(tip)}</title></rect>'
            )
            href = s.hrefs[i] if s.hrefs and i < len(s.hrefs) else None
            if href and v:
                bar = f'<a href="{escape(href)}">{bar}</a>'
            parts.append(bar)
            if value_labels and v:
                parts.append(
                    f'<text x="{bx + (bar_w - 1) / 2:.1f}" y="{by - 3:.1f}" font-size="11" text-anchor="middle" '
                    f'fill="#1d2530">{escape(y_format(v))}</text>'
                )
        if i % label_every == 0:
            cx = left + group_w * i + group_w / 2
            parts.append(
                f'<text x="{cx:.1f}" y="{top + plot_h + 16}" font-size="11" text-anchor="middle" '
                f'fill="#5b6675">{escape(category)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def percent(v: float) -> str:
    return f"{v * 100:.0f}%"
