"""Geometry of the inline SVG charts."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings

from leaderboard.charts import nice_ceiling, run_chart, score_chart

NODE = shutil.which("node")
# Draws the stacked bands with progress.js's own functions from the geometry in argv[1].
LIVE_GEOMETRY = """
const given = JSON.parse(process.argv[1]);
const g = require(given.path);
const { rows, left, right, top, bottom, span } = given;
const r1 = (v) => Math.round(v * 10) / 10;
const x = (s) => r1(left + (right - left) * s / span);
const max = g.niceCeiling(Math.max(...rows.map((r) => r[1] + r[2])));
const y = (v) => r1(bottom - (bottom - top) * Math.min(v, max) / max);
console.log(JSON.stringify([
  g.bandPath(rows.filter((r) => r[1] > 0).map((r) => [r[0], 0, r[1]]), x, y),
  g.bandPath(rows.filter((r) => r[2] > 0).map((r) => [r[0], r[1], r[1] + r[2]]), x, y),
  g.label(max / 4), g.label(22.5), g.label(1250),
]));
"""


def band_tops(path: str, chart) -> dict[int, tuple[float, float]]:
    """Per second covered by a stepped band's path: the (bottom, top) y of the band in that second.

    Reads the path back as the browser would, by walking its M/H/V commands.
    """
    plot_w = chart.right - chart.left
    covered: dict[int, list[float]] = {}
    for shape in path.split("Z"):
        commands = re.findall(r"([MHV])([-\d.]+)(?: ([-\d.]+))?", shape)
        if not commands:
            continue
        x = y = 0.0
        edges = []  # horizontal segments: (x0, x1, y)
        for op, a, b in commands:
            if op == "M":
                x, y = float(a), float(b)
            elif op == "H":
                edges.append((x, float(a), y))
                x = float(a)
            else:
                y = float(a)
        for x0, x1, level in edges:
            lo, hi = sorted((x0, x1))
            for second in range(chart.span):
                middle = chart.left + plot_w * (second + 0.5) / chart.span
                if lo < middle < hi:
                    covered.setdefault(second, []).append(level)
    return {second: (max(ys), min(ys)) for second, ys in covered.items()}


def test_axis_maxima_are_round_numbers_at_or_above_the_data():
    assert [nice_ceiling(v) for v in (0, 0.7, 1, 7.5, 180.2, 260.9, 999)] == [1.0, 0.8, 1.0, 8.0, 200.0, 300.0, 1000.0]


def test_consecutive_down_seconds_become_one_shaded_band_and_ticks_stay_on_the_run():
    chart = run_chart(
        duration_s=60,
        seconds=[(s, 100, 0, 10.0) for s in range(60)],
        down_seconds=[3, 4, 5, 40],
        faults=[("crash", 38.0, 38.0)],
        ramp_up_s=2,
    )
    assert len(chart.down) == 2
    assert chart.down[0].width == round((chart.right - chart.left) * 3 / 60, 1)
    assert [t.label for t in chart.x_ticks] == ["0s", "10s", "20s", "30s", "40s", "50s", "60s"]
    assert chart.x_ticks[-1].position == chart.right
    assert chart.faults[0].label == "crash" and chart.faults[0].width >= 1
    assert chart.ramp_up.width > 0 and not chart.empty


def test_a_run_without_samples_is_an_empty_chart():
    assert run_chart(duration_s=10, seconds=[]).empty


def test_every_score_point_is_labelled():
    start = datetime(2026, 11, 1, tzinfo=UTC)
    chart = score_chart(title="Robust Service", scores=[(start + timedelta(days=d), v) for d, v in enumerate([10.0, 30.0])])
    assert [p.label for p in chart.points] == ["10", "30"]
    # The first and last submissions sit at either end, clear of the axis labels.
    assert chart.left < chart.points[0].x < chart.left + 30 and chart.right - 30 < chart.points[1].x < chart.right


def test_axis_labels_keep_their_fractions():
    chart = score_chart(title="Longest Upkeep", scores=[(datetime(2026, 11, 1, tzinfo=UTC), 30.0, 1)])
    assert [t.label for t in chart.y_ticks] == ["0", "7.5", "15", "22.5", "30"]


def test_submissions_are_evenly_spaced_whatever_their_dates():
    start = datetime(2026, 11, 1, tzinfo=UTC)
    # Three tries within a minute, a fourth a month later.
    when = [start, start + timedelta(seconds=20), start + timedelta(seconds=40), start + timedelta(days=30)]
    chart = score_chart(title="Robust Service", scores=[(w, 10.0 + i, 100 + i) for i, w in enumerate(when)])
    xs = [p.x for p in chart.points]
    gaps = [b - a for a, b in itertools.pairwise(xs)]
    assert max(gaps) - min(gaps) <= 0.2  # rounding to 0.1 only
    assert [p.submission_id for p in chart.points] == [100, 101, 102, 103]


def test_the_best_so_far_line_never_goes_down_and_marks_each_new_best():
    start = datetime(2026, 11, 1, tzinfo=UTC)
    values = [10.0, 30.0, 20.0, 25.0, 40.0, 5.0]
    chart = score_chart(title="Robust Service", scores=[(start + timedelta(hours=i), v, i + 1) for i, v in enumerate(values)])
    best = [tuple(map(float, xy.split(","))) for xy in chart.best_polyline.split()]
    ys = [y for _, y in best]
    # Up the page is better: a best-so-far y never grows.
    assert all(b <= a for a, b in itertools.pairwise(ys))
    assert min(ys) == next(p.y for p in chart.points if p.label == "40")
    # The line ends at the last submission, at the best score's height.
    assert best[-1] == (chart.points[-1].x, min(ys))
    assert [p.is_record for p in chart.points] == [True, True, False, False, True, False]
    assert (chart.first_text, chart.best_text, chart.latest_text) == ("10", "40", "5")
    assert chart.improvement_pct == 300.0 and chart.best_submission_id == 5


def test_one_submission_has_no_best_so_far_line():
    chart = score_chart(title="Robust Service", scores=[(datetime(2026, 11, 1, tzinfo=UTC), 7.0, 1)])
    assert chart.best_polyline == "" and chart.count == 1
    assert chart.points[0].x == (chart.left + chart.right) / 2


def test_a_dead_service_shows_as_failures_stacked_on_no_successes_not_as_a_busy_second():
    # 5 s serving 100 req/s, then the service is down: connections refused fast, 330 failures a second.
    seconds = [(s, 100, 0, 10.0) for s in range(5)] + [(s, 0, 330, 1.0) for s in range(5, 10)]
    chart = run_chart(duration_s=10, seconds=seconds)
    successes = band_tops(chart.success_path, chart)
    failures = band_tops(chart.failure_path, chart)
    plot_h = chart.bottom - chart.top
    tick_max = float(chart.rps_ticks[-1].label)
    assert tick_max >= 330  # the axis is scaled to successes + failures

    def height(value):
        return round(plot_h * value / tick_max, 1)

    for second in range(5):
        bottom, top = successes[second]
        assert bottom == chart.bottom and round(bottom - top, 1) == height(100)
        assert second not in failures
    for second in range(5, 10):
        # No success at all in these seconds: the green band is not there.
        assert second not in successes
        bottom, top = failures[second]
        assert bottom == chart.bottom and round(bottom - top, 1) == height(330)


def test_failures_sit_on_top_of_the_successes_of_the_same_second():
    chart = run_chart(duration_s=4, seconds=[(0, 60, 0, 5.0), (1, 60, 40, 5.0), (2, 20, 80, 5.0), (3, 60, 0, 5.0)])
    successes = band_tops(chart.success_path, chart)
    failures = band_tops(chart.failure_path, chart)
    assert set(failures) == {1, 2}
    for second in (1, 2):
        assert failures[second][0] == successes[second][1]  # the failure band starts where successes end
    # Both seconds hold 100 requests: their stacks are equally tall.
    assert failures[1][1] == failures[2][1]


def test_a_second_without_a_sample_leaves_a_gap():
    chart = run_chart(duration_s=6, seconds=[(0, 10, 0, 1.0), (1, 10, 0, 1.0), (4, 10, 0, 1.0), (5, 10, 0, 1.0)])
    assert chart.success_path.count("Z") == 2
    assert set(band_tops(chart.success_path, chart)) == {0, 1, 4, 5}


def test_a_cold_start_during_the_ramp_up_does_not_flatten_the_latency_axis():
    seconds = [(0, 5, 0, 1000.0)] + [(s, 100, 0, 10.0) for s in range(1, 20)]
    chart = run_chart(duration_s=20, seconds=seconds, ramp_up_s=2)
    assert chart.p95_ticks[-1].label == "10"
    first_y = float(chart.p95_points.split()[0].split(",")[1])
    assert first_y == chart.top  # clipped at the top of the plot


@pytest.mark.skipif(NODE is None, reason="needs Node.js to run static/leaderboard/progress.js")
def test_the_live_page_draws_the_stacked_bands_exactly_as_the_server_does():
    # Counts in steps of 5 keep every coordinate clear of a rounding tie (Python and JS round ties apart).
    rows = [(0, 100, 0, 10.0), (1, 60, 40, 10.0), (2, 0, 330, 1.0), (3, 0, 330, 1.0), (5, 20, 10, 5.0),
            (6, 20, 10, 5.0), (7, 45, 0, 5.0)]
    chart = run_chart(duration_s=10, seconds=rows)
    given = {"path": str(settings.BASE_DIR / "static/leaderboard/progress.js"), "rows": rows, "left": chart.left,
             "right": chart.right, "top": chart.top, "bottom": chart.bottom, "span": chart.span}
    result = subprocess.run([NODE, "-e", LIVE_GEOMETRY, json.dumps(given)], capture_output=True, text=True, timeout=60,
                            check=True)
    success, failure, quarter, small, large = json.loads(result.stdout)
    assert success == chart.success_path
    assert failure == chart.failure_path
    assert [quarter, small, large] == [chart.rps_ticks[1].label, "22.5", "1,250"]
