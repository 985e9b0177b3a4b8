"""The scoring rules on small series whose answers were worked out by hand (see docs/scoring.md)."""

from __future__ import annotations

import pytest

from common.histogram import histogram_add
from leaderboard.scoring import (
    COLUMNS,
    SCORE_COLUMNS,
    Fault,
    Probe,
    RunData,
    Second,
    graceful_degradation_score,
    longest_upkeep_score,
    measured_window,
    robust_service_score,
    run_score,
    second_health,
    up_seconds,
    value_format,
)


def sec(second, requests, successes, *, latency_ms=10.0, failure_latency_ms=None, instances=("a",)):
    histogram: dict = {}
    if successes:
        histogram_add(histogram=histogram, latency_ms=latency_ms, count=successes)
    if requests - successes:
        histogram_add(histogram=histogram, latency_ms=failure_latency_ms or latency_ms, count=requests - successes)
    return Second(
        second=second,
        requests=requests,
        successes=successes,
        success_latency_sum_ms=latency_ms * successes,
        latency_histogram=histogram,
        instances=tuple(instances),
    )


def probes_up(duration, *, down=(), instance="a"):
    return [Probe(second=s, up=s not in down, instance=instance) for s in range(duration)]


# --- the up-second rule ------------------------------------------------------


def test_a_second_without_a_probe_keeps_the_state_of_the_one_before():
    run = RunData(duration_s=5, ramp_up_s=0, probes=[Probe(0, True), Probe(3, False)])
    assert second_health(run=run) == [True, True, True, False, False]


def test_nothing_is_healthy_before_the_first_probe():
    run = RunData(duration_s=3, ramp_up_s=0, probes=[Probe(2, True)])
    assert second_health(run=run) == [False, False, True]


def test_one_failed_probe_makes_its_second_unhealthy():
    run = RunData(duration_s=1, ramp_up_s=0, probes=[Probe(0, True), Probe(0, False)])
    assert second_health(run=run) == [False]


def test_a_second_is_up_only_with_a_healthy_probe_and_enough_successes():
    run = RunData(
        duration_s=4,
        ramp_up_s=0,
        # 100%, exactly 95%, 94% of requests succeeded; second 3 served all but its probe failed.
        seconds=[sec(0, 20, 20), sec(1, 20, 19), sec(2, 50, 47), sec(3, 10, 10)],
        probes=probes_up(4, down={3}),
    )
    assert up_seconds(run=run) == [True, True, False, False]
    assert up_seconds(run=run, threshold_pct=90) == [True, True, True, False]


def test_a_second_in_which_no_request_completed_is_not_up():
    run = RunData(duration_s=2, ramp_up_s=0, seconds=[sec(0, 5, 5)], probes=probes_up(2))
    assert up_seconds(run=run) == [True, False]


def test_the_ramp_up_is_left_out_of_the_measured_window():
    assert measured_window(run=RunData(duration_s=10, ramp_up_s=3)) == range(3, 10)
    # A ramp-up as long as the run still leaves its last second to measure.
    assert measured_window(run=RunData(duration_s=5, ramp_up_s=9)) == range(4, 5)


# --- Robust Service ----------------------------------------------------------


def robust_series():
    # 6 s run, 2 s ramp-up → window = seconds 2..5 (4 s).
    return RunData(
        duration_s=6,
        ramp_up_s=2,
        seconds=[
            sec(0, 10, 10, latency_ms=500.0),  # ramp-up: slow, ignored
            sec(1, 20, 20, latency_ms=500.0),
            sec(2, 100, 100, latency_ms=10.0),  # up
            sec(3, 100, 96, latency_ms=20.0),  # 96% ≥ 95% → up
            sec(4, 100, 90, latency_ms=10.0),  # 90% < 95% → down
            sec(5, 100, 100, latency_ms=10.0),  # probe down → down
        ],
        probes=probes_up(6, down={5}),
    )


def test_robust_service_scores_a_hand_worked_run():
    result = robust_service_score(run=robust_series())
    # successes in window: 100 + 96 + 90 + 100 = 386 over 4 s = 96.5 req/s
    # success latency: (100·10 + 96·20 + 90·10 + 100·10) / 386 = 4820 / 386 = 12.487 ms
    # up seconds: 2 and 3 of 4 → 50 %; score 96.5 x 50 / 100 = 48.25
    assert result.statistics == (96.5, 12.487, 50.0)
    assert result.score == 48.25
    assert result.details["window_s"] == 4
    assert result.details["requests"] == 400


def test_robust_service_uses_the_challenge_threshold():
    result = robust_service_score(run=robust_series(), threshold_pct=90)
    # second 4 (90 %) now counts as up: 3 of 4 = 75 %; 96.5 x 0.75 = 72.375
    assert result.statistics[2] == 75.0
    assert result.score == 72.375


def test_robust_service_scores_a_run_without_requests_as_zero():
    result = robust_service_score(run=RunData(duration_s=4, ramp_up_s=1, probes=probes_up(4)))
    assert result.statistics == (0.0, None, 0.0)
    assert result.score == 0.0


def test_robust_service_scores_a_run_of_only_failures_as_zero():
    run = RunData(duration_s=3, ramp_up_s=0, seconds=[sec(s, 10, 0) for s in range(3)], probes=probes_up(3))
    result = robust_service_score(run=run)
    assert result.statistics == (0.0, None, 0.0)
    assert result.score == 0.0


def test_robust_service_gives_no_uptime_to_a_service_down_the_whole_run():
    run = RunData(duration_s=3, ramp_up_s=0, seconds=[sec(s, 10, 10) for s in range(3)], probes=probes_up(3, down={0, 1, 2}))
    result = robust_service_score(run=run)
    # It did serve 10 req/s, but never while up: score 10 x 0 / 100 = 0.
    assert result.statistics == (10.0, 10.0, 0.0)
    assert result.score == 0.0


# --- Graceful Degradation ----------------------------------------------------


def graceful_series():
    return RunData(
        duration_s=4,
        ramp_up_s=0,
        seconds=[
            sec(0, 10, 10, latency_ms=10.0),
            sec(1, 10, 5, latency_ms=10.0, failure_latency_ms=500.0),
            # second 2: nothing completed (a hang)
            sec(3, 20, 20, latency_ms=20.0),
        ],
        probes=probes_up(4),
    )


def test_graceful_degradation_scores_a_hand_worked_run():
    result = graceful_degradation_score(run=graceful_series())
    # 40 requests, 35 successes → error rate 5 / 40 = 12.5 %.
    # Sorted latencies: 15 x 10 ms, 20 x 20 ms, 5 x 500 ms; nearest rank of p95 is
    # ceil(0.95 x 40) = 38, which falls among the 500 ms ones.
    assert result.statistics[0] == 35.0
    assert result.statistics[1] == 12.5
    assert result.statistics[2] == pytest.approx(500.0, rel=0.01)
    assert result.score == 35.0
    assert result.details["failures"] == 5


def test_graceful_degradation_without_requests_has_no_error_rate_or_latency():
    result = graceful_degradation_score(run=RunData(duration_s=3, ramp_up_s=0, probes=probes_up(3)))
    assert result.statistics == (0.0, None, None)
    assert result.score == 0.0


def test_graceful_degradation_of_only_failures_is_a_full_error_rate():
    run = RunData(duration_s=2, ramp_up_s=0, seconds=[sec(s, 8, 0, latency_ms=2.0) for s in range(2)], probes=probes_up(2))
    result = graceful_degradation_score(run=run)
    assert result.statistics[0] == 0.0
    assert result.statistics[1] == 100.0
    assert result.statistics[2] == pytest.approx(2.0, rel=0.01)
    assert result.score == 0.0


def test_graceful_degradation_ignores_the_ramp_up():
    run = RunData(duration_s=3, ramp_up_s=1, seconds=[sec(0, 50, 0), sec(1, 10, 10), sec(2, 10, 9)], probes=probes_up(3))
    result = graceful_degradation_score(run=run)
    # Only seconds 1-2: 20 requests, 19 handled, 1 error = 5 %.
    assert result.statistics[:2] == (19.0, 5.0)


# --- Longest Upkeep ----------------------------------------------------------


def upkeep_series():
    # up 0-2, down 3-4 (probe fails at 3, no probe at 4), up 5-9; a new process from second 5.
    probes = [Probe(s, s not in {3}, "a" if s < 5 else "b") for s in range(10) if s != 4]
    seconds = [sec(s, 10, 10, instances=("a",) if s < 5 else ("b",)) for s in range(10)]
    return RunData(
        duration_s=10,
        ramp_up_s=0,
        seconds=seconds,
        probes=probes,
        faults=[Fault("crash", 3.0, 3.5), Fault("latency", 7.0, 8.0)],
    )


def test_longest_upkeep_scores_a_hand_worked_run():
    result = longest_upkeep_score(run=upkeep_series())
    # Streaks: 0-2 (3 s) and 5-9 (5 s); last down second 4; instance "b" is new → 1 restart.
    assert result.statistics == (5.0, 4.0, 1.0)
    assert result.score == 5.0
    # The crash took it down at 3 and it was up again at 5 (2 s); the latency fault did no harm (0 s).
    assert result.details["recovery_times_s"] == [2.0, 0.0]
    assert result.details["mttr_s"] == 1.0
    assert result.details["successes"] == 100


def test_longest_upkeep_never_down_reads_never():
    run = RunData(duration_s=6, ramp_up_s=2, seconds=[sec(s, 5, 5) for s in range(6)], probes=probes_up(6, down={0, 1}))
    result = longest_upkeep_score(run=run)
    # Down only during the ramp-up, which does not count.
    assert result.statistics == (4.0, None, 0.0)
    assert value_format(value=result.statistics[1], decimals=0, none_text=COLUMNS["longest_upkeep"][1].none_text) == "never"


def test_longest_upkeep_down_the_whole_run():
    run = RunData(duration_s=4, ramp_up_s=0, seconds=[sec(s, 5, 5) for s in range(4)], probes=probes_up(4, down={0, 1, 2, 3}))
    result = longest_upkeep_score(run=run)
    assert result.statistics == (0.0, 3.0, 0.0)
    assert result.score == 0.0


def test_longest_upkeep_without_requests_is_never_up():
    result = longest_upkeep_score(run=RunData(duration_s=3, ramp_up_s=0, probes=probes_up(3)))
    assert result.statistics == (0.0, 2.0, 0.0)


def test_a_restart_in_the_last_second_counts():
    seconds = [sec(s, 10, 10, instances=("a", "b")) for s in range(4)] + [sec(4, 10, 10, instances=("c",))]
    run = RunData(duration_s=5, ramp_up_s=1, seconds=seconds, probes=probes_up(5))
    result = longest_upkeep_score(run=run)
    assert result.statistics == (4.0, None, 1.0)


def test_alternating_workers_seen_during_the_ramp_up_are_not_restarts():
    seconds = [sec(0, 4, 4, instances=("w1", "w2"))] + [sec(s, 4, 4, instances=("w2",) if s % 2 else ("w1",)) for s in range(1, 6)]
    run = RunData(duration_s=6, ramp_up_s=1, seconds=seconds, probes=probes_up(6, instance=""))
    assert longest_upkeep_score(run=run).statistics[2] == 0.0


def test_a_failure_never_recovered_from_has_no_recovery_time():
    run = RunData(
        duration_s=6,
        ramp_up_s=0,
        seconds=[sec(s, 5, 5) for s in range(6)],
        probes=probes_up(6, down={4, 5}),
        faults=[Fault("hang", 4.0, 5.0)],
    )
    result = longest_upkeep_score(run=run)
    assert result.details["recovery_times_s"] == [None]
    assert result.details["mttr_s"] is None
    assert result.details["unrecovered_failures"] == 1


# --- dispatch and formatting -------------------------------------------------


def test_run_score_records_the_down_seconds_for_the_chart():
    result = run_score(kind="robust_service", run=robust_series())
    assert result.details["down_seconds"] == [4, 5]


def test_run_score_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match="unknown scoring kind"):
        run_score(kind="fastest", run=robust_series())


def test_values_are_formatted_with_separators_and_fixed_decimals():
    assert value_format(value=12345.678, decimals=1) == "12,345.7"
    assert value_format(value=0.0, decimals=2) == "0.00"
    assert value_format(value=None, decimals=2) == "—"


def test_a_whole_number_column_gives_the_api_an_int_and_pages_no_fraction():
    handled, error_rate, _ = COLUMNS["graceful_degradation"]
    assert handled.number(1797.0) == 1797 and type(handled.number(1797.0)) is int
    assert handled.text(1797.0) == "1,797"
    assert type(error_rate.number(1.5)) is float and error_rate.text(1.5) == "1.50"
    assert handled.number(None) is None and handled.text(None) == "—"


def test_scores_follow_the_rule_of_their_challenge():
    assert SCORE_COLUMNS["robust_service"].text(1797.0) == "1,797.00"
    assert SCORE_COLUMNS["graceful_degradation"].text(1797.0) == "1,797"
    assert SCORE_COLUMNS["longest_upkeep"].text(48.0) == "48"
    assert type(SCORE_COLUMNS["longest_upkeep"].number(48.0)) is int
    assert type(SCORE_COLUMNS["robust_service"].number(48.0)) is float


@pytest.mark.parametrize(
    ("kind", "better"),
    [
        ("robust_service", ["higher", "lower", "higher"]),
        ("graceful_degradation", ["higher", "lower", "lower"]),
        ("longest_upkeep", ["higher", "lower", "lower"]),
    ],
)
def test_every_column_knows_which_way_is_better(kind, better):
    assert [column.better for column in COLUMNS[kind]] == better
    assert SCORE_COLUMNS[kind].better == "higher"
