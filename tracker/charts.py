"""Server-rendered history charts (inline SVG, no JavaScript).

A target may have tens of thousands of runs; a chart never ships them all.
Each session's series is cut into buckets and only the lowest and highest
point of each bucket is kept (min/max downsampling), so spikes and dips stay
visible while the page stays small. Every drawn point carries its run, commit
and session in a ``<title>`` tooltip; commit changes are marked and labelled.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = ("#1f6feb", "#d1495b", "#2a9d8f", "#8e44ad", "#e67e22", "#0b7285", "#6d4c41", "#c2185b")
OTHER_COLOR = "#9aa3b0"
WIDTH, HEIGHT = 900, 210
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 22, 26
MAX_COMMIT_LABELS = 12

# Column positions in selectors.SERIES_COLUMNS.
ID, TS, RPS, AVG, P95, ERR, SESSION, COMMIT = range(8)


@dataclass(frozen=True)
class Line:
    column: int
    label: str
    dashed: bool = False


CHARTS = (
    ("Requests per second", "req/s", (Line(RPS, "rps"),)),
    ("Latency", "ms", (Line(AVG, "avg"), Line(P95, "p95", dashed=True))),
    ("Error rate", "%", (Line(ERR, "error rate"),)),
)


def downsample(points: list[tuple], *, column: int, budget: int) -> list[tuple]:
    """At most ~``budget`` points of ``points`` (time-ordered), keeping each bucket's min and max of ``column``."""
    if len(points) <= budget:
        return points
    buckets = max(1, budget // 2)
    size = len(points) / buckets
    out: list[tuple] = []
    for bucket in range(buckets):
        chunk = points[int(bucket * size): int((bucket + 1) * size)]
        if not chunk:
            continue
        low = min(range(len(chunk)), key=lambda i: chunk[i][column])
        high = max(range(len(chunk)), key=lambda i: chunk[i][column])
        for index in sorted({low, high}):
            out.append(chunk[index])
    return out


def session_colors(rows: list[tuple]) -> dict[str, str]:
    """The most frequent sessions get a colour each; the rest share a grey."""
    counts = Counter(row[SESSION] for row in rows)
    return {session: PALETTE[i] for i, (session, _) in enumerate(counts.most_common(len(PALETTE)))}


def _commit_marks(rows: list[tuple]) -> list[tuple]:
    """The first run of every new commit hash, thinned to a readable number of labels."""
    marks, previous = [], None
    for row in rows:
        commit = row[COMMIT]
        if commit and commit != previous:
            marks.append(row)
        if commit:
            previous = commit
    if len(marks) > MAX_COMMIT_LABELS:
        step = len(marks) / MAX_COMMIT_LABELS
        marks = [marks[int(i * step)] for i in range(MAX_COMMIT_LABELS)]
    return marks


def _fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M")


def history_charts(*, rows: list[tuple], max_points: int = 300) -> list[dict]:
    """The charts of a target's history from ``selectors.target_series`` rows (oldest first)."""
    if not rows:
        return []
    colors = session_colors(rows)
    stamped = [(row[ID], row[TS].timestamp(), *row[2:]) for row in rows]
    by_session: dict[str, list[tuple]] = {}
    for row in stamped:
        by_session.setdefault(row[SESSION], []).append(row)
    marks = _commit_marks(stamped)
    t0, t1 = stamped[0][TS], stamped[-1][TS]
    charts = []
    for title, unit, lines in CHARTS:
        present = [line for line in lines if any(row[line.column] is not None for row in stamped)]
        if not present:
            continue
        drawn: list[tuple[Line, str, list[tuple]]] = []
        for line in present:
            for session, points in by_session.items():
                known = [p for p in points if p[line.column] is not None]
                if not known:
                    continue
                budget = max(4, round(max_points * len(known) / len(stamped)))
                drawn.append((line, session, downsample(known, column=line.column, budget=budget)))
        top = max((p[line.column] for line, _, points in drawn for p in points), default=0) or 1.0
        charts.append({
            "title": title,
            "unit": unit,
            "lines": [line.label for line in present],
            "svg": _svg(title=title, unit=unit, drawn=drawn, colors=colors, marks=marks, t0=t0, t1=t1, top=top * 1.1),
        })
    return charts


def _svg(*, title: str, unit: str, drawn, colors, marks, t0: float, t1: float, top: float) -> SafeString:
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
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{gy:.1f}" y2="{gy:.1f}" stroke="#e3e7ee"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{gy + 4:.1f}" text-anchor="end" fill="#5b6575">{_fmt(value)}</text>')
    parts.append(f'<text x="{LEFT}" y="{HEIGHT - 6}" fill="#5b6575">{_stamp(t0)}</text>')
    parts.append(f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 6}" text-anchor="end" fill="#5b6575">{_stamp(t1)}</text>')
    for mark in marks:
        mx = x(mark[TS])
        parts.append(
            f'<g class="commit"><line x1="{mx:.1f}" x2="{mx:.1f}" y1="{TOP}" y2="{TOP + plot_h}" stroke="#b4371f" '
            f'stroke-dasharray="2 3" opacity="0.6"/><text x="{mx + 2:.1f}" y="{TOP + 9}" fill="#b4371f" '
            f'font-size="10">{escape(mark[COMMIT][:7])}</text><title>commit {escape(mark[COMMIT])} '
            f'from run #{mark[ID]}</title></g>'
        )
    for line, session, points in drawn:
        color = colors.get(session, OTHER_COLOR)
        coords = " ".join(f"{x(p[TS]):.1f},{y(p[line.column]):.1f}" for p in points)
        dash = ' stroke-dasharray="5 3"' if line.dashed else ""
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5"{dash} points="{coords}"/>')
        for p in points:
            tip = (f"{_stamp(p[TS])} · {line.label} {_fmt(p[line.column])} {unit} · run #{p[ID]} · "
                   f"session {p[SESSION] or '—'} · commit {(p[COMMIT] or '—')[:12]}")
            parts.append(
                f'<circle cx="{x(p[TS]):.1f}" cy="{y(p[line.column]):.1f}" r="2.2" fill="{color}">'
                f"<title>{escape(tip)}</title></circle>"
            )
    parts.append("</svg>")
    # Safe: every text interpolated above went through escape().
    return mark_safe("".join(parts))
