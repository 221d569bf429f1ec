"""The health report's charts: SVG written here, on the server, so they work offline, print, and pass the console's CSP.

Hand-made rather than pygal's: pygal styles its SVG with an inline `<style>` element, which the console's
Content-Security-Policy (`default-src 'self'`, no inline styles) refuses, so its charts would show unstyled black
shapes in the page; and its output carries comments with pygal's web addresses. Here every colour, line and font is
a presentation attribute (`fill`, `stroke`, `font-size`), which no CSP governs, and nothing refers to any address but
the SVG namespace's (a name, never fetched).

Accessible: each chart is `role="img"` named by its `<title>` and described by its `<desc>`; the page puts a table of
the same figures under it. Series differ by dash pattern and marker as well as colour (the Okabe-Ito palette, safe
for colour-blind readers), so a chart printed in black and white still reads.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999999")
"""Okabe-Ito's colours, in the order series take them."""
DASHES = ("", "6 3", "2 3", "8 3 2 3", "4 4", "1 2", "10 4", "3 6")
MARKERS = ("circle", "square", "diamond", "triangle", "circle", "square", "diamond", "triangle")

WIDTH, HEIGHT = 760, 320
LEFT, RIGHT, TOP = 56, 16, 16
LEGEND_ROW = 18
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"


@dataclass(frozen=True)
class Series:
    """One line (or one stacked part of each bar): its name and a value per label (None: no value there)."""

    name: str
    values: Sequence[float | None]


def _fmt(value: float, percent: bool, lang: str) -> str:
    """An axis value: a count, or a share as a percentage (a decimal comma and a space before % in Swedish)."""
    if not percent:
        return f"{value:,.0f}".replace(",", "\u00a0")
    text = f"{round(value * 100, 1):g}"
    return f"{text.replace('.', ',')}\u00a0%" if lang == "sv" else f"{text}%"


def nice_top(largest: float, percent: bool) -> tuple[float, float]:
    """The axis's top and its step: a 1, 2 or 5 times a power of ten, with four or five steps up to `largest` or more."""
    if largest <= 0:
        return (1.0, 0.25) if percent else (4.0, 1.0)
    raw = largest / 4
    power = 10 ** math.floor(math.log10(raw))
    step = next(power * m for m in (1, 2, 5, 10) if power * m >= raw)
    if not percent:
        step = max(step, 1.0)
    top = step * math.ceil(largest / step)
    if percent:
        top = min(top, 1.0) if largest <= 1 else top
    return top, step


def _frame(chart_id: str, title: str, desc: str, height: int) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" id="{chart_id}" font-family="{FONT}" font-size="12">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>',
        f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>',
    ]


def _axes(parts: list[str], labels: Sequence[str], top: float, step: float, percent: bool, bottom: int, *, slots: bool, lang: str) -> None:
    """Gridlines with their values on the left, and the labels under the plot (every one, or every few when many)."""
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = bottom - TOP
    steps = round(top / step)
    for n in range(steps + 1):
        value = step * n
        y = bottom - plot_h * value / top
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#d0d0d0" stroke-width="1"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#333333">{escape(_fmt(value, percent, lang))}</text>')
    parts.append(f'<line x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}" stroke="#333333" stroke-width="1"/>')
    every = max(1, math.ceil(len(labels) / 16))
    for index, label in enumerate(labels):
        if (len(labels) - 1 - index) % every:
            continue  # every few, counted back from the last (the report's day), so the last is always named
        x = _x(index, len(labels), plot_w, slots)
        parts.append(
            f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="end" fill="#333333" transform="rotate(-35 {x:.1f} {bottom + 14})">{escape(label)}</text>'
        )


def _x(index: int, count: int, plot_w: int, slots: bool) -> float:
    """The x of label `index`: evenly from edge to edge for a line, in the middle of its slot for a bar."""
    if slots:
        return LEFT + plot_w * (index + 0.5) / count
    return LEFT + (plot_w * index / (count - 1) if count > 1 else plot_w / 2)


def _legend(parts: list[str], names: Sequence[str], y: int, *, bars: bool) -> None:
    x = LEFT
    row = y
    for index, name in enumerate(names):
        width = 34 + _text_width(name)
        if x + width > WIDTH - RIGHT and x > LEFT:
            x, row = LEFT, row + LEGEND_ROW
        colour = PALETTE[index % len(PALETTE)]
        if bars:
            parts.append(f'<rect x="{x}" y="{row - 9}" width="14" height="10" fill="{colour}"/>')
        else:
            dash = DASHES[index % len(DASHES)]
            parts.append(f'<line x1="{x}" y1="{row - 4}" x2="{x + 18}" y2="{row - 4}" stroke="{colour}" stroke-width="2.5"{_dashed(dash)}/>')
            parts.append(_marker(index, x + 9, row - 4, colour))
        parts.append(f'<text x="{x + 24}" y="{row}" fill="#222222">{escape(name)}</text>')
        x += width


def _legend_rows(names: Sequence[str]) -> int:
    rows, x = 1, LEFT
    for name in names:
        width = 34 + _text_width(name)
        if x + width > WIDTH - RIGHT and x > LEFT:
            rows, x = rows + 1, LEFT
        x += width
    return rows


def _dashed(dash: str) -> str:
    return f' stroke-dasharray="{dash}"' if dash else ""


def _text_width(text: str) -> int:
    """About how wide `text` is at the charts' 12 px (capitals are wider than small letters)."""
    return sum(9 if ch.isupper() or ch == "_" else 7 for ch in text)


def _marker(index: int, x: float, y: float, colour: str) -> str:
    shape = MARKERS[index % len(MARKERS)]
    if shape == "square":
        return f'<rect x="{x - 3.5:.1f}" y="{y - 3.5:.1f}" width="7" height="7" fill="{colour}"/>'
    if shape == "diamond":
        return f'<polygon points="{x:.1f},{y - 4.5:.1f} {x + 4.5:.1f},{y:.1f} {x:.1f},{y + 4.5:.1f} {x - 4.5:.1f},{y:.1f}" fill="{colour}"/>'
    if shape == "triangle":
        return f'<polygon points="{x:.1f},{y - 4.5:.1f} {x + 4.5:.1f},{y + 3.5:.1f} {x - 4.5:.1f},{y + 3.5:.1f}" fill="{colour}"/>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}"/>'


def line_chart(chart_id: str, title: str, desc: str, labels: Sequence[str], series: Sequence[Series], *, percent: bool = False, lang: str = "sv") -> Markup:
    """A line per series over `labels`; `percent` reads the values as shares (0.25 is 25 %), written for `lang`."""
    rows = _legend_rows([s.name for s in series])
    bottom = HEIGHT - 80
    height = HEIGHT + LEGEND_ROW * rows
    values = [v for s in series for v in s.values if v is not None]
    top, step = nice_top(max(values, default=0.0), percent)
    parts = _frame(chart_id, title, desc, height)
    _axes(parts, labels, top, step, percent, bottom, slots=False, lang=lang)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, bottom - TOP
    for index, line in enumerate(series):
        colour, dash = PALETTE[index % len(PALETTE)], DASHES[index % len(DASHES)]
        points = [(_x(i, len(labels), plot_w, False), bottom - plot_h * v / top) for i, v in enumerate(line.values) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2.5" stroke-linejoin="round"{_dashed(dash)}/>')
        parts.extend(_marker(index, x, y, colour) for x, y in points)
    _legend(parts, [s.name for s in series], HEIGHT - 6, bars=False)
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(chart_id: str, title: str, desc: str, labels: Sequence[str], stacks: Sequence[Series]) -> Markup:
    """A bar per label, each stacked of the series' values there (counts)."""
    rows = _legend_rows([s.name for s in stacks]) if stacks else 0
    bottom = HEIGHT - 80
    height = HEIGHT + LEGEND_ROW * rows
    totals = [sum(s.values[i] or 0 for s in stacks) for i in range(len(labels))]
    top, step = nice_top(max(totals, default=0.0), False)
    parts = _frame(chart_id, title, desc, height)
    _axes(parts, labels, top, step, False, bottom, slots=True, lang="sv")
    plot_w, plot_h = WIDTH - LEFT - RIGHT, bottom - TOP
    slot = plot_w / max(len(labels), 1)
    for i in range(len(labels)):
        base = float(bottom)
        x = LEFT + slot * i + slot * 0.15
        for index, stack in enumerate(stacks):
            value = stack.values[i] or 0
            if not value:
                continue
            h = plot_h * value / top
            base -= h
            parts.append(f'<rect x="{x:.1f}" y="{base:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" fill="{PALETTE[index % len(PALETTE)]}"/>')
    if stacks:
        _legend(parts, [s.name for s in stacks], HEIGHT - 6, bars=True)
    parts.append("</svg>")
    return Markup("".join(parts))
