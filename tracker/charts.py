"""Server-rendered history charts (inline SVG, no JavaScript).

A target may have tens of thousands of runs; a chart never ships them all.
``history.target_chart_series`` reduces the history in the database: each
point stands for one run, or for one session's runs in a time bucket with the
lowest, mean and highest value of every figure. The first line of a chart is
drawn through the means with a band from the lowest to the highest value
(min/max downsampling keeps spikes and dips visible); percentile lines show
the highest value of each bucket, the worst case. Each point carries its
figures, runs, commit and session in a ``<title>`` tooltip; commit changes are
marked and labelled on the chart, and every session has its own colour.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from tracker.history import ChartPoint, ChartSeries

PALETTE = ("#1f6feb", "#d1495b", "#2a9d8f", "#8e44ad", "#e67e22", "#0b7285", "#6d4c41", "#c2185b")
OTHER_COLOR = "#9aa3b0"
WIDTH, HEIGHT = 900, 210
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 22, 26
# Seven characters of a commit hash at 10 px, with room to spare.
COMMIT_LABEL_W = 48


@dataclass(frozen=True)
class Line:
    figure: str
    label: str
    # SVG stroke-dasharray; empty for a solid line.
    dash: str = ""
    style: str = "solid"


CHARTS = (
    ("Requests per second", "req/s", (Line("rps", "rps"),)),
    ("Latency", "ms", (
        Line("avg_latency_ms", "avg"),
        Line("p50_latency_ms", "p50", dash="1 3", style="dotted"),
        Line("p95_latency_ms", "p95", dash="5 3", style="dashed"),
        Line("p99_latency_ms", "p99", dash="9 3 2 3", style="dash-dot"),
    )),
    ("Error rate", "%", (Line("error_rate", "error rate"),)),
)


def session_colors(session_runs: dict[str, int]) -> dict[str, str]:
    """The sessions with the most runs get a colour each; the rest share a grey."""
    ranked = sorted(session_runs.items(), key=lambda item: (-item[1], item[0]))
    return {session: PALETTE[i] for i, (session, _) in enumerate(ranked[: len(PALETTE)])}


def _fmt(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _value(point: ChartPoint, line: Line, primary: bool) -> float:
    _, mean, high = point.values[line.figure]
    # The primary line is the mean of the runs a point stands for; the
    # percentile lines show their highest value (the worst case of the bucket).
    return mean if primary else high


def _tip(point: ChartPoint, lines: list[Line], unit: str) -> str:
    figures = []
    for line in lines:
        if point.values[line.figure] is None:
            continue
        low, mean, high = point.values[line.figure]
        if low == high:
            figures.append(f"{line.label} {_fmt(mean)}")
        else:
            figures.append(f"{line.label} {_fmt(mean)} ({_fmt(low)} to {_fmt(high)})")
    runs = f"run #{point.first_id}" if point.runs == 1 else f"{point.runs} runs #{point.first_id} to #{point.last_id}"
    return (f"{_stamp(point.t)} · {', '.join(figures)} {unit} · {runs} · session {point.session or '—'} · "
            f"commit {(point.commit or '—')[:12]}")


def history_charts(*, series: ChartSeries) -> list[dict]:
    """rps, latency (avg and p95 when known) and error rate over time, as SVG."""
    if not series.points:
        return []
    colors = session_colors(series.session_runs)
    by_session: dict[str, list[ChartPoint]] = {}
    for point in series.points:
        by_session.setdefault(point.session, []).append(point)
    charts = []
    for title, unit, lines in CHARTS:
        present = [line for line in lines if any(p.values[line.figure] is not None for p in series.points)]
        if not present:
            continue
        top = max(p.values[line.figure][2] for line in present for p in series.points if p.values[line.figure])
        charts.append({
            "title": title,
            "unit": unit,
            "lines": [{"label": line.label, "style": line.style} for line in present],
            "svg": _svg(title=title, unit=unit, lines=present, by_session=by_session, colors=colors, series=series,
                        top=(top or 1.0) * 1.1),
        })
    return charts


def _svg(*, title: str, unit: str, lines: list[Line], by_session: dict[str, list[ChartPoint]],
         colors: dict[str, str], series: ChartSeries, top: float) -> SafeString:
    t0, t1 = series.t0, series.t1
    span = (t1 - t0) or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(ts: float) -> float:
        return LEFT + (ts - t0) / span * plot_w if t1 > t0 else LEFT + plot_w / 2

    def y(value: float) -> float:
        return TOP + plot_h - value / top * plot_h

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)} over time" '
        'xmlns="http://www.w3.org/2000/svg" font-size="11" font-family="system-ui, sans-serif">',
        f'<text x="{LEFT}" y="14" font-weight="600">{escape(title)} ({escape(unit)})</text>',
    ]
    for fraction in (0, 0.5, 1):
        value = top / 1.1 * fraction
        gy = y(value)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{gy:.1f}" y2="{gy:.1f}" class="grid"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{gy + 4:.1f}" text-anchor="end" class="axis-x">{_fmt(value)}</text>')
    parts.append(f'<text x="{LEFT}" y="{HEIGHT - 6}" class="axis-x">{_stamp(t0)}</text>')
    parts.append(f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 6}" text-anchor="end" class="axis-x">{_stamp(t1)}</text>')
    for ts, commit, run_id in series.commit_marks:
        mx = x(ts)
        # A label that would run past the plot's right edge is drawn to the left of its line instead.
        label_x, anchor = (mx + 2, "start") if mx + 2 + COMMIT_LABEL_W <= WIDTH - RIGHT else (mx - 2, "end")
        parts.append(
            f'<g class="commit"><line x1="{mx:.1f}" x2="{mx:.1f}" y1="{TOP}" y2="{TOP + plot_h}" '
            f'stroke-dasharray="2 3" opacity="0.6"/><text x="{label_x:.1f}" y="{TOP + 9}" text-anchor="{anchor}" '
            f'font-size="10">{escape(commit[:7])}</text><title>commit {escape(commit)} from run #{run_id}</title></g>'
        )
    primary = lines[0]
    for session, points in by_session.items():
        color = colors.get(session, OTHER_COLOR)
        known = [p for p in points if p.values[primary.figure] is not None]
        if any(p.values[primary.figure][0] != p.values[primary.figure][2] for p in known):
            # The band from the lowest to the highest value of each bucket.
            upper = [f"{x(p.t):.1f},{y(p.values[primary.figure][2]):.1f}" for p in known]
            lower = [f"{x(p.t):.1f},{y(p.values[primary.figure][0]):.1f}" for p in reversed(known)]
            parts.append(f'<polygon fill="{color}" fill-opacity="0.15" stroke="none" '
                         f'points="{" ".join(upper + lower)}"/>')
        for index, line in enumerate(lines):
            line_points = [p for p in points if p.values[line.figure] is not None]
            if not line_points:
                continue
            vertices = " ".join(f"{x(p.t):.1f},{y(_value(p, line, index == 0)):.1f}" for p in line_points)
            dash = f' stroke-dasharray="{line.dash}"' if line.dash else ""
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5"{dash} points="{vertices}"/>')
        for p in known:
            # One hover target per point, on the primary line, telling every figure of the chart.
            parts.append(
                f'<circle cx="{x(p.t):.1f}" cy="{y(_value(p, primary, True)):.1f}" r="2.2" fill="{color}">'
                f"<title>{escape(_tip(p, lines, unit))}</title></circle>"
            )
    parts.append("</svg>")
    # Safe: every text interpolated above went through escape().
    return mark_safe("".join(parts))
