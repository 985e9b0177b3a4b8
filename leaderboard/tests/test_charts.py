"""Geometry of the inline SVG charts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from leaderboard.charts import nice_ceiling, run_chart, score_chart


def test_axis_maxima_are_round_numbers_at_or_above_the_data():
    assert [nice_ceiling(v) for v in (0, 0.7, 1, 7.5, 180.2, 260.9, 999)] == [1.0, 0.8, 1.0, 8.0, 200.0, 300.0, 1000.0]


def test_consecutive_down_seconds_become_one_shaded_band_and_ticks_stay_on_the_run():
    chart = run_chart(
        duration_s=60,
        seconds=[(s, 100.0, 10.0) for s in range(60)],
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
    assert chart.points[0].x == chart.left and chart.points[1].x == chart.right


def test_a_cold_start_during_the_ramp_up_does_not_flatten_the_latency_axis():
    seconds = [(0, 5.0, 1000.0)] + [(s, 100.0, 10.0) for s in range(1, 20)]
    chart = run_chart(duration_s=20, seconds=seconds, ramp_up_s=2)
    assert chart.p95_ticks[-1].label == "10"
    first_y = float(chart.p95_points.split()[0].split(",")[1])
    assert first_y == chart.top  # clipped at the top of the plot
