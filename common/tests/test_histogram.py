from __future__ import annotations

import random

import pytest

from common.histogram import (
    histogram_add,
    histogram_bucket,
    histogram_bucket_value_ms,
    histogram_count,
    histogram_merge,
    histogram_percentile,
    histogram_percentiles,
)


def test_every_bucket_reports_its_values_within_one_percent():
    rng = random.Random(7)
    for _ in range(20_000):
        latency = rng.uniform(0.05, 120_000)
        reported = histogram_bucket_value_ms(bucket=histogram_bucket(latency_ms=latency))
        assert abs(reported - latency) / latency <= 0.01


def test_small_latencies_are_kept_to_the_microsecond():
    assert histogram_bucket(latency_ms=0.1234) == 123
    assert histogram_bucket_value_ms(bucket=123) == 0.123
    assert histogram_bucket(latency_ms=0) == 0
    assert histogram_bucket(latency_ms=-1) == 0


def test_percentiles_match_the_exact_ones_within_one_percent():
    rng = random.Random(3)
    values = [rng.lognormvariate(3, 1) for _ in range(5000)]
    histogram: dict = {}
    for value in values:
        histogram_add(histogram=histogram, latency_ms=value)
    ordered = sorted(values)
    for q in (50, 90, 95, 99):
        exact = ordered[max(0, -(-q * len(values) // 100) - 1)]
        assert histogram_percentile(histogram=histogram, q=q) == pytest.approx(exact, rel=0.01)


def test_merging_adds_counts_across_key_types():
    merged = histogram_merge(histograms=[{"1000": 2}, {1000: 3, 2048: 1}, None, {}])
    assert merged == {"1000": 5, "2048": 1}
    assert histogram_count(histogram=merged) == 6


def test_percentile_of_an_empty_histogram_is_none():
    assert histogram_percentile(histogram={}, q=95) is None
    assert histogram_percentiles(histogram=None, qs=(50, 99)) == {50: None, 99: None}


def test_it_refuses_a_fraction_instead_of_a_percentage_range():
    with pytest.raises(ValueError, match="percentage"):
        histogram_percentile(histogram={"1000": 1}, q=101)


def test_several_percentiles_at_once_agree_with_one_at_a_time():
    histogram = {"1000": 50, "5000": 40, "90112": 10}
    together = histogram_percentiles(histogram=histogram, qs=(50, 95, 99, 100))
    for q, value in together.items():
        assert value == histogram_percentile(histogram=histogram, q=q)
    assert together[50] == pytest.approx(1.0, rel=0.01)
    assert together[95] > 90
