"""Geometry for the inline SVG charts (the templates draw it; no JavaScript needed).

Everything here is numbers and our own labels: the templates escape what they
print, and no participant input reaches an SVG attribute.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

WIDTH = 900
HEIGHT = 280
LEFT = 56
RIGHT = 64
TOP = 32
BOTTOM = 40


def nice_ceiling(value: float) -> float:
    """The smallest "round" number (1, 2, 2.5, 3, 4, 5, 6 or 8 x 10^n) at or above ``value``, for axis maxima."""
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 3, 4, 5, 6, 8, 10):
        candidate = step * 10**exponent
        if candidate >= value * (1 - 1e-9):
            return float(candidate)
    return float(10 ** (exponent + 1))


def _label(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:,.1f}"


@dataclass
class Tick:
    position: float
    label: str


@dataclass
class Band:
    x: float
    width: float
    label: str = ""


@dataclass
class Marker:
    x: float
    label: str
    y: float = 0.0


@dataclass
class RunChart:
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM
    rps_points: str = ""
    p95_points: str = ""
    x_ticks: list[Tick] = field(default_factory=list)
    rps_ticks: list[Tick] = field(default_factory=list)
    p95_ticks: list[Tick] = field(default_factory=list)
    down: list[Band] = field(default_factory=list)
    faults: list[Band] = field(default_factory=list)
    ramp_up: Band | None = None
    empty: bool = True

    @property
    def plot_height(self) -> int:
        return self.bottom - self.top


def run_chart(
    *,
    duration_s: int,
    seconds: Sequence[tuple[int, float, float | None]],
    down_seconds: Sequence[int] = (),
    faults: Sequence[tuple[str, float, float]] = (),
    ramp_up_s: int = 0,
) -> RunChart:
    """Per-second rps (left axis) and p95 latency (right axis) of a run.

    ``seconds`` holds ``(second, rps, p95_ms)``; ``faults`` holds ``(kind, start_s, end_s)``.
    """
    chart = RunChart()
    span = max(1, duration_s, *(s for s, _, _ in seconds)) if seconds else max(1, duration_s)
    plot_w = chart.right - chart.left
    plot_h = chart.plot_height

    def x_of(second: float) -> float:
        return round(chart.left + plot_w * second / span, 1)

    rps_max = nice_ceiling(max((r for _, r, _ in seconds), default=0.0))
    # The latency axis is scaled to the measured seconds: the first requests of
    # a cold service can be slower by far and would flatten everything else
    # (they are drawn clipped at the top instead).
    measured = [p for s, _, p in seconds if p is not None and s >= ramp_up_s]
    p95_max = nice_ceiling(max(measured or [p for _, _, p in seconds if p is not None] or [0.0]))

    def y_of(value: float, top: float) -> float:
        return round(chart.bottom - plot_h * min(value, top) / top, 1)

    # Each point sits in the middle of its second.
    chart.rps_points = " ".join(f"{x_of(s + 0.5)},{y_of(r, rps_max)}" for s, r, _ in seconds)
    chart.p95_points = " ".join(f"{x_of(s + 0.5)},{y_of(p, p95_max)}" for s, _, p in seconds if p is not None)
    chart.empty = not seconds

    step = next((c for c in (1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800) if span / c <= 10), 3600)
    chart.x_ticks = [Tick(x_of(t), f"{t:g}s") for t in range(0, span + 1, step)]
    chart.rps_ticks = [Tick(y_of(v, rps_max), _label(v)) for v in _steps(rps_max, rps_max / 4)]
    chart.p95_ticks = [Tick(y_of(v, p95_max), _label(v)) for v in _steps(p95_max, p95_max / 4)]

    for start, length in _runs(sorted(set(down_seconds))):
        chart.down.append(Band(x_of(start), round(plot_w * length / span, 1), "down"))
    for kind, start, end in faults:
        end = max(end, start + 0.2)
        chart.faults.append(Band(x_of(start), max(1.0, round(plot_w * (end - start) / span, 1)), kind))
    if ramp_up_s > 0:
        chart.ramp_up = Band(chart.left, round(plot_w * min(ramp_up_s, span) / span, 1), "ramp-up")
    return chart


def _steps(maximum: float, step: float) -> list[float]:
    if step <= 0:
        return [0.0]
    count = round(maximum / step)
    return [round(i * step, 6) for i in range(count + 1)]


def _runs(values: Sequence[int]) -> list[tuple[int, int]]:
    """[3, 4, 5, 9] → [(3, 3), (9, 1)]: consecutive seconds merged into (start, length)."""
    runs: list[tuple[int, int]] = []
    for value in values:
        if runs and runs[-1][0] + runs[-1][1] == value:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((value, 1))
    return runs


@dataclass
class ScoreChart:
    title: str
    width: int = 440
    height: int = 180
    left: int = 56
    right: int = 420
    top: int = 16
    bottom: int = 150
    points: list[Marker] = field(default_factory=list)
    polyline: str = ""
    y_ticks: list[Tick] = field(default_factory=list)
    first_label: str = ""
    last_label: str = ""


def score_chart(
    *, title: str, scores: Sequence[tuple[datetime, float]], label: Callable[[float], str] = _label
) -> ScoreChart:
    """A participant's scores of one challenge over time, each point labelled with its score.

    ``label`` writes a point's score as the pages around the chart do; the axis keeps its short round labels.
    """
    chart = ScoreChart(title=title)
    if not scores:
        return chart
    scores = sorted(scores)
    start, end = scores[0][0], scores[-1][0]
    total = (end - start).total_seconds()
    top = nice_ceiling(max(score for _, score in scores))
    plot_w = chart.right - chart.left
    plot_h = chart.bottom - chart.top
    for when, score in scores:
        fraction = (when - start).total_seconds() / total if total else 0.5
        x = round(chart.left + plot_w * fraction, 1)
        y = round(chart.bottom - plot_h * score / top, 1)
        chart.points.append(Marker(x=x, y=y, label=label(score)))
    chart.polyline = " ".join(f"{m.x},{m.y}" for m in chart.points)
    chart.y_ticks = [Tick(round(chart.bottom - plot_h * v / top, 1), _label(v)) for v in _steps(top, top / 4)]
    chart.first_label = start.strftime("%Y-%m-%d %H:%M")
    chart.last_label = end.strftime("%Y-%m-%d %H:%M") if total else ""
    return chart
