"""The regression rule: beyond the threshold from the baseline *and* outside the recent range."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tracker.regression import (
    IMPROVEMENT,
    NOISE,
    REGRESSION,
    change_pct,
    load_settings_differences,
    regression_evaluate,
    verdict_summary,
)


def run(rps=100.0, avg=50.0, p95=None, err=0.0, **settings):
    return {"rps": rps, "avg_latency_ms": avg, "p95_latency_ms": p95, "error_rate": err,
            "method": settings.get("method", "GET"), "request_count": settings.get("request_count", 100),
            "test_type": settings.get("test_type", "standard")}


def evaluate(current, previous, baseline=None, threshold=10.0):
    return regression_evaluate(baseline=baseline or run(), current=current, previous=previous,
                               threshold_pct=threshold)


class TestChangePct:
    def test_it_is_relative_to_the_first_value(self):
        assert change_pct(before=100, after=80) == pytest.approx(-20.0)
        assert change_pct(before=50, after=75) == pytest.approx(50.0)

    def test_it_is_unknown_when_a_value_is_missing_or_the_base_is_zero(self):
        assert change_pct(before=None, after=3) is None
        assert change_pct(before=0, after=3) is None
        assert change_pct(before=0, after=0) == 0.0

    def test_a_floor_keeps_tiny_bases_from_exploding(self):
        # 0% → 0.5% errors with a 1-point floor is +50%, not infinite.
        assert change_pct(before=0.0, after=0.5, floor=1.0) == pytest.approx(50.0)


class TestRule:
    def test_a_clear_drop_outside_the_recent_range_is_a_regression(self):
        previous = [run(rps=98), run(rps=101), run(rps=100), run(rps=99), run(rps=102)]
        verdicts = evaluate(run(rps=80), previous)
        assert verdicts["rps"] == REGRESSION
        assert verdict_summary(verdicts) == REGRESSION

    def test_one_earlier_noisy_run_keeps_a_similar_dip_from_crying_wolf(self):
        # -15% is beyond the threshold, but a recent run already went to 84.
        previous = [run(rps=100), run(rps=84), run(rps=101), run(rps=99), run(rps=100)]
        verdicts = evaluate(run(rps=85), previous)
        assert verdicts["rps"] == NOISE
        assert verdict_summary(verdicts) == NOISE

    def test_a_change_within_the_threshold_is_never_flagged(self):
        # Outside the (very tight) recent range, but only -9%.
        previous = [run(rps=100), run(rps=100)]
        assert evaluate(run(rps=91), previous)["rps"] is None

    def test_exactly_the_threshold_is_not_beyond_it(self):
        assert evaluate(run(rps=90), [run(rps=100)])["rps"] is None
        assert evaluate(run(rps=89.9), [run(rps=100)])["rps"] == REGRESSION

    def test_lower_latency_is_an_improvement_and_higher_a_regression(self):
        previous = [run(avg=49), run(avg=51), run(avg=50)]
        assert evaluate(run(avg=30), previous)["avg_latency_ms"] == IMPROVEMENT
        assert evaluate(run(avg=70), previous)["avg_latency_ms"] == REGRESSION

    def test_higher_rps_is_an_improvement(self):
        assert evaluate(run(rps=130), [run(rps=100), run(rps=104)])["rps"] == IMPROVEMENT

    def test_the_error_rate_counts_in_points_near_zero(self):
        base = run(err=0.0)
        previous = [run(err=0.0), run(err=0.1)]
        assert evaluate(run(err=0.05), previous, baseline=base)["error_rate"] is None
        assert evaluate(run(err=2.0), previous, baseline=base)["error_rate"] == REGRESSION

    def test_p95_is_judged_only_when_both_runs_have_it(self):
        assert evaluate(run(p95=300), [run(p95=100)], baseline=run(p95=None))["p95_latency_ms"] is None
        assert evaluate(run(p95=300), [run(p95=100)], baseline=run(p95=100))["p95_latency_ms"] == REGRESSION

    def test_without_previous_runs_only_the_threshold_applies(self):
        assert evaluate(run(rps=50), [])["rps"] == REGRESSION

    def test_a_regression_beside_improvements_is_mixed_and_alone_is_a_regression(self):
        verdicts = evaluate(run(rps=150, avg=90), [run(), run()])
        assert verdicts["rps"] == IMPROVEMENT
        assert verdicts["avg_latency_ms"] == REGRESSION
        assert verdict_summary(verdicts) == "mixed"
        assert verdict_summary({**verdicts, "rps": NOISE}) == REGRESSION

    def test_a_higher_threshold_tolerates_more(self):
        assert evaluate(run(rps=80), [run()], threshold=25.0)["rps"] is None


class TestComparability:
    def test_runs_with_the_same_load_settings_compare(self):
        assert load_settings_differences(a=run(), b=run(rps=5)) == []

    @pytest.mark.parametrize(("field", "value", "label"), [
        ("method", "POST", "method"), ("request_count", 500, "request count"), ("test_type", "spike", "test type"),
    ])
    def test_a_different_load_setting_is_named(self, field, value, label):
        differences = load_settings_differences(a=run(), b=run(**{field: value}))
        assert len(differences) == 1 and differences[0].startswith(label)


# --- The same rule on stored runs, through the page's selector ----------------

@pytest.mark.django_db(databases=["default", "tracker"])
def test_stored_runs_are_flagged_against_the_pinned_baseline():
    from tracker import selectors, services
    from tracker.payload import target_key_for
    from tracker.tests.conftest import client_payload

    t0 = datetime(2026, 3, 1, tzinfo=UTC)

    def log(minute: int, rps: float, **details) -> int:
        payload = client_payload(timestamp=(t0 + timedelta(minutes=minute)).isoformat(),
                                 runDetails={"rps": rps, **details})
        return services.run_ingest(payload=payload)[0]

    # A hand-built series: baseline 100, steady noise, one early dip to 84, then a real drop.
    base = log(0, 100)
    steady = [log(1, 98), log(2, 84), log(3, 101), log(4, 99), log(5, 100)]
    similar_dip = log(6, 86)
    real_drop = log(12, 70)
    improved = log(13, 140)
    other_settings = log(14, 10, method="GET")
    older = log(-5, 10, test_type="warmup")
    services.baseline_pin(target_key=target_key_for("http://127.0.0.1:8080"), run_id=base)

    key = target_key_for("http://127.0.0.1:8080")
    rows = list(selectors.target_runs(target_key=key, filters=selectors.RunFilters()))
    flags = selectors.runs_flag(rows=rows, baseline=selectors.baseline_for(target_key=key), threshold_pct=10.0,
                                window=5)
    assert flags[similar_dip]["summary"] == NOISE
    assert flags[real_drop]["summary"] == REGRESSION
    assert flags[improved]["summary"] == IMPROVEMENT
    assert flags[other_settings]["summary"] == "incomparable"
    assert "method" in flags[other_settings]["why"][0]
    assert all(flags[pk]["summary"] is None for pk in steady if pk != steady[1])
    # -16% and outside the range of the previous runs (the baseline and none below 98 before it).
    assert flags[steady[1]]["summary"] == REGRESSION
    assert older not in flags and base not in flags


def test_a_flag_names_each_figure_that_moved_by_how_much_and_against_what_noise():
    from tracker.regression import MIXED, regression_explain

    baseline = run(rps=100.0, avg=10.0, p95=12.9)
    current = run(rps=108.0, avg=9.0, p95=16.2)
    previous = [run(rps=101.0, avg=10.2, p95=12.1), run(rps=99.0, avg=9.8, p95=14.0)]
    moved = {m.metric.name: m for m in regression_explain(baseline=baseline, current=current, previous=previous,
                                                            threshold_pct=5)}

    assert set(moved) == {"rps", "avg_latency_ms", "p95_latency_ms"}
    assert moved["p95_latency_ms"].text() == "p95 latency +25.6% (12.9 → 16.2 ms; outside the recent 12.1 to 14.0 ms)"
    assert moved["rps"].verdict == "improvement" and moved["p95_latency_ms"].verdict == "regression"
    # p95 up while throughput and the average improved: neither a plain regression nor an improvement.
    assert verdict_summary({name: m.verdict for name, m in moved.items()}) == MIXED
