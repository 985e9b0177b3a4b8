"""Comparing runs: % change, comparability, and the regression rule with its noise guard.

Pure functions over plain dicts (a run's columns), so the rule is easy to test
on hand-built series.

The rule: a run newer than the pinned baseline is flagged for a figure when
it differs from the baseline by more than the threshold *and* lies outside
the range (min..max) of the previous N comparable runs. One noisy run is
then not enough: the figure has to leave the recent range as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    unit: str
    # None: a figure shown for context, neither better nor worse when it changes.
    higher_is_better: bool | None
    # The denominator of a % change never drops below this, so that an error
    # rate going from 0% to 0.1% is not an "infinite" regression.
    floor: float = 0.0


METRICS = (
    Metric("rps", "Requests/s", "req/s", True),
    Metric("avg_latency_ms", "Avg latency", "ms", False),
    Metric("p95_latency_ms", "p95 latency", "ms", False),
    Metric("error_rate", "Error rate", "%", False, floor=1.0),
)
COMPARED_FIGURES = (
    METRICS[0], METRICS[1],
    Metric("p50_latency_ms", "p50 latency", "ms", False),
    METRICS[2],
    Metric("p99_latency_ms", "p99 latency", "ms", False),
    METRICS[3],
    Metric("total_requests", "Requests", "", None),
    Metric("duration_s", "Duration", "s", None),
)

REGRESSION = "regression"
IMPROVEMENT = "improvement"
# Beyond the threshold, but the recent runs already went as far: not flagged.
NOISE = "noise"
LOAD_SETTINGS = (("method", "method"), ("request_count", "request count"), ("test_type", "test type"))


def change_pct(*, before: float | None, after: float | None, floor: float = 0.0) -> float | None:
    """``after`` relative to ``before`` in %; None when either is unknown or the change has no size."""
    if before is None or after is None:
        return None
    denominator = max(abs(before), floor)
    if denominator == 0:
        return 0.0 if after == before else None
    return (after - before) / denominator * 100.0


def load_settings_differences(*, a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Why two runs cannot be compared (empty when their load settings match)."""
    return [
        f"{label}: {a[field]!s} vs {b[field]!s}" for field, label in LOAD_SETTINGS if a[field] != b[field]
    ]


def regression_evaluate(*, baseline: dict[str, Any], current: dict[str, Any], previous: list[dict[str, Any]],
                        threshold_pct: float) -> dict[str, str | None]:
    """Per figure of METRICS: "regression", "improvement", "noise" (held back by the noise guard) or None."""
    verdicts: dict[str, str | None] = {}
    for metric in METRICS:
        value = current.get(metric.name)
        pct = change_pct(before=baseline.get(metric.name), after=value, floor=metric.floor)
        if pct is None or abs(pct) <= threshold_pct:
            verdicts[metric.name] = None
            continue
        recent = [run[metric.name] for run in previous if run.get(metric.name) is not None]
        if recent and min(recent) <= value <= max(recent):
            # Noise guard: the recent runs already went this far.
            verdicts[metric.name] = NOISE
            continue
        better = (pct > 0) == metric.higher_is_better
        verdicts[metric.name] = IMPROVEMENT if better else REGRESSION
    return verdicts


def verdict_summary(verdicts: dict[str, str | None]) -> str | None:
    """One word for a run: any regression wins over improvements, which win over noise."""
    values = set(verdicts.values())
    for verdict in (REGRESSION, IMPROVEMENT, NOISE):
        if verdict in values:
            return verdict
    return None
