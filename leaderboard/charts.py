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
    """An axis label: whole numbers as they are, others with at most two decimals (``22.5``, not ``22``)."""
    if value == int(value):
        return f"{value:,.0f}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


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
class RunChart:
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM
    # The seconds the x axis spans (the plan's duration, or more if the last requests drained later).
    span: int = 1
    # Stacked areas, one step per second: successful requests from the axis up,
    # failed ones on top of them (SVG path data).
    success_path: str = ""
    failure_path: str = ""
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
    seconds: Sequence[tuple[int, int, int, float | None]],
    down_seconds: Sequence[int] = (),
    faults: Sequence[tuple[str, float, float]] = (),
    ramp_up_s: int = 0,
) -> RunChart:
    """Per-second successful and failed requests (stacked, left axis) and p95 latency (right axis) of a run.

    ``seconds`` holds ``(second, successes, failures, p95_ms)``; ``faults`` holds ``(kind, start_s, end_s)``.
    Successes and failures are drawn apart so that a service refusing every
    request fast reads as the outage it is, not as a busy second.

    ``static/leaderboard/progress.js`` draws the same chart while a run is
    live, from the same geometry: a change here belongs there too.
    """
    chart = RunChart()
    rows = sorted(seconds)
    span = max(1, duration_s, *(s + 1 for s, _, _, _ in rows)) if rows else max(1, duration_s)
    chart.span = span
    plot_w = chart.right - chart.left
    plot_h = chart.plot_height

    def x_of(second: float) -> float:
        return round(chart.left + plot_w * second / span, 1)

    rps_max = nice_ceiling(max((ok + failed for _, ok, failed, _ in rows), default=0))
    # The latency axis is scaled to the measured seconds: the first requests of
    # a cold service can be slower by far and would flatten everything else
    # (they are drawn clipped at the top instead).
    measured = [p for s, _, _, p in rows if p is not None and s >= ramp_up_s]
    p95_max = nice_ceiling(max(measured or [p for _, _, _, p in rows if p is not None] or [0.0]))

    def y_of(value: float, top: float) -> float:
        return round(chart.bottom - plot_h * min(value, top) / top, 1)

    chart.success_path = _stacked_path(
        [(s, 0, ok) for s, ok, _, _ in rows if ok], x_of=x_of, y_of=lambda v: y_of(v, rps_max))
    chart.failure_path = _stacked_path(
        [(s, ok, ok + failed) for s, ok, failed, _ in rows if failed], x_of=x_of, y_of=lambda v: y_of(v, rps_max))
    # Each latency point sits in the middle of its second.
    chart.p95_points = " ".join(f"{x_of(s + 0.5)},{y_of(p, p95_max)}" for s, _, _, p in rows if p is not None)
    chart.empty = not rows

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


def _num(value: float) -> str:
    return f"{value:g}"


def _steps_along(path: list[str], edges: Sequence[tuple[int, float]], *, x_of: Callable[[float], float]) -> None:
    """Append the steps of one edge: at each ``(x_second, y)`` where the level changes, across then up or down."""
    level = None
    for index, (second, y) in enumerate(edges):
        if y == level:
            continue
        if index:
            path.append(f"H{_num(x_of(second))}")
        path.append(f"V{_num(y)}")
        level = y


def _stacked_path(
    rows: Sequence[tuple[int, float, float]], *, x_of: Callable[[float], float], y_of: Callable[[float], float]
) -> str:
    """SVG path data of a stepped band: each ``(second, low, high)`` fills its second from ``low`` to ``high``.

    Consecutive seconds form one closed shape (along the tops, back along the
    bottoms); a second without a row breaks it. Equal neighbours share a step.
    """
    shapes: list[list[tuple[int, float, float]]] = []
    for row in rows:
        if shapes and shapes[-1][-1][0] + 1 == row[0]:
            shapes[-1].append(row)
        else:
            shapes.append([row])
    parts = []
    for shape in shapes:
        start, end = shape[0][0], shape[-1][0] + 1
        path = [f"M{_num(x_of(start))} {_num(y_of(shape[0][1]))}"]
        _steps_along(path, [(s, y_of(high)) for s, _, high in shape], x_of=x_of)
        path.append(f"H{_num(x_of(end))}")
        _steps_along(path, [(s + 1, y_of(low)) for s, low, _ in reversed(shape)], x_of=x_of)
        path.append(f"H{_num(x_of(start))}Z")
        parts.append("".join(path))
    return " ".join(parts)


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


POINT_INSET = 18


@dataclass
class ScorePoint:
    x: float
    y: float
    label: str
    submission_id: int | None = None
    when: str = ""
    # This submission beat every earlier one (the first always does).
    is_record: bool = False


@dataclass
class ScoreChart:
    title: str
    slug: str = ""
    # Drawn at this size (its viewBox too) and never stretched: every chart of
    # a page is as big as the others and its text stays at 11 px.
    width: int = 440
    height: int = 200
    left: int = 56
    right: int = 420
    top: int = 22
    bottom: int = 160
    points: list[ScorePoint] = field(default_factory=list)
    # Every score in order, and the best score so far as a step line.
    polyline: str = ""
    best_polyline: str = ""
    y_ticks: list[Tick] = field(default_factory=list)
    first_label: str = ""
    last_label: str = ""
    first_text: str = ""
    best_text: str = ""
    latest_text: str = ""
    # The best score's change from the first one, in percent (None when the first is 0).
    improvement_pct: float | None = None
    best_submission_id: int | None = None

    @property
    def count(self) -> int:
        return len(self.points)


def score_chart(
    *,
    title: str,
    slug: str = "",
    scores: Sequence[tuple[datetime, float] | tuple[datetime, float, int]],
    label: Callable[[float], str] = _label,
) -> ScoreChart:
    """A participant's scores of one challenge, submission after submission, with the best so far.

    ``scores`` holds ``(when, score)`` or ``(when, score, submission_id)``. The
    x axis counts submissions (evenly spaced, oldest first), so a burst of
    tries on one evening reads as clearly as a month of them; a higher score
    is better in every challenge. ``label`` writes a score as the pages around
    the chart do; the axis keeps its short round labels.
    """
    chart = ScoreChart(title=title, slug=slug)
    if not scores:
        return chart
    ordered = sorted(scores, key=lambda entry: (entry[0], entry[2] if len(entry) > 2 else 0))
    top = nice_ceiling(max(entry[1] for entry in ordered))
    plot_h = chart.bottom - chart.top
    last = len(ordered) - 1
    # Points stay clear of the axis labels on the left and of the edge on the right.
    first_x, last_x = chart.left + POINT_INSET, chart.right - POINT_INSET

    def y_of(value: float) -> float:
        return round(chart.bottom - plot_h * max(value, 0.0) / top, 1)

    best: float | None = None
    best_line: list[str] = []
    for index, entry in enumerate(ordered):
        when, score = entry[0], entry[1]
        x = round(first_x + (last_x - first_x) * (index / last if last else 0.5), 1)
        is_record = best is None or score > best
        if is_record:
            if best is not None:
                best_line.append(f"{x},{y_of(best)}")
            best = score
            chart.best_submission_id = entry[2] if len(entry) > 2 else None
        best_line.append(f"{x},{y_of(best)}")
        chart.points.append(ScorePoint(
            x=x, y=y_of(score), label=label(score), submission_id=entry[2] if len(entry) > 2 else None,
            when=when.strftime("%Y-%m-%d %H:%M"), is_record=is_record,
        ))
    chart.polyline = " ".join(f"{m.x},{m.y}" for m in chart.points)
    chart.best_polyline = " ".join(best_line) if len(ordered) > 1 else ""
    chart.y_ticks = [Tick(y_of(v), _label(v)) for v in _steps(top, top / 4)]
    chart.first_label = chart.points[0].when
    chart.last_label = chart.points[-1].when if last else ""
    first = ordered[0][1]
    assert best is not None
    chart.first_text, chart.best_text, chart.latest_text = label(first), label(best), label(ordered[-1][1])
    chart.improvement_pct = round((best - first) / first * 100, 1) if first > 0 else None
    return chart
