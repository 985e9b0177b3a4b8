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
# Some figures got worse, others better: the reader weighs them (each is named).
MIXED = "mixed"
LOAD_SETTINGS = (("method", "method"), ("request_count", "request count"), ("test_type", "test type"))


def change_pct(*, before: float | None, after: float | None, floor: float = 0.0) -> float | None:
    """``after`` relative to ``before`` in %; None when either is unknown or the change has no size."""
    if before is None or after is None:
        return None
    denominator = max(abs(before), floor)
    if denominator == 0:
        return 0.0 if after == before else None
    return (after - before) / denominator * 100.0


# The test type the platform's own load tests (Locust, ``run_loadtest --track``
# and recording sessions) file their runs under begins so: their
# ``request_count`` is the number of simulated users, not of requests.
LOCUST_TEST_TYPE_PREFIX = "locust-"


def run_is_locust(run: dict[str, Any]) -> bool:
    return str(run.get("test_type") or "").startswith(LOCUST_TEST_TYPE_PREFIX)


def load_settings_label(run: dict[str, Any]) -> str:
    """How a run's load was made, in words.

    ``"POST /api/test · 10 users"`` for the platform's load tests (their users
    post to url-anvil's /api/test; without that task they only GET),
    ``"POST · 1,000 requests"`` for a client that sends a set number of requests.
    """
    count = run.get("request_count") or 0
    if run_is_locust(run):
        what = "POST /api/test" if run.get("method") == "POST" else "GET"
        return f"{what} · {count:,} user{'' if count == 1 else 's'}"
    return f"{run.get('method')} · {count:,} request{'' if count == 1 else 's'}"


def load_settings_differences(*, a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Why two runs cannot be compared (empty when their load settings match)."""
    both_locust = run_is_locust(a) and run_is_locust(b)
    return [
        f"{'users' if field == 'request_count' and both_locust else label}: {a[field]!s} vs {b[field]!s}"
        for field, label in LOAD_SETTINGS if a[field] != b[field]
    ]


@dataclass(frozen=True)
class Moved:
    """One figure that left the threshold: by how much, which way, and the recent range it was judged against."""

    metric: Metric
    before: float
    after: float
    pct: float
    verdict: str
    recent_low: float | None
    recent_high: float | None

    def text(self) -> str:
        unit = f" {self.metric.unit}" if self.metric.unit and self.metric.unit != "%" else self.metric.unit
        line = f"{self.metric.label} {self.pct:+.1f}% ({self.before:,.1f} → {self.after:,.1f}{unit}"
        if self.recent_low is None:
            return line + "; no earlier runs to judge the noise by)"
        where = "within" if self.verdict == NOISE else "outside"
        return line + f"; {where} the recent {self.recent_low:,.1f} to {self.recent_high:,.1f}{unit})"


def regression_explain(*, baseline: dict[str, Any], current: dict[str, Any], previous: list[dict[str, Any]],
                       threshold_pct: float) -> list[Moved]:
    """Every figure of METRICS beyond the threshold against the baseline, each with its verdict."""
    moved = []
    for metric in METRICS:
        value = current.get(metric.name)
        pct = change_pct(before=baseline.get(metric.name), after=value, floor=metric.floor)
        if pct is None or abs(pct) <= threshold_pct:
            continue
        recent = [run[metric.name] for run in previous if run.get(metric.name) is not None]
        if recent and min(recent) <= value <= max(recent):
            # Noise guard: the recent runs already went this far.
            verdict = NOISE
        else:
            verdict = IMPROVEMENT if (pct > 0) == metric.higher_is_better else REGRESSION
        moved.append(Moved(metric=metric, before=baseline[metric.name], after=value, pct=pct, verdict=verdict,
                           recent_low=min(recent) if recent else None, recent_high=max(recent) if recent else None))
    return moved


def regression_evaluate(*, baseline: dict[str, Any], current: dict[str, Any], previous: list[dict[str, Any]],
                        threshold_pct: float) -> dict[str, str | None]:
    """Per figure of METRICS: "regression", "improvement", "noise" (held back by the noise guard) or None."""
    verdicts: dict[str, str | None] = {metric.name: None for metric in METRICS}
    for moved in regression_explain(baseline=baseline, current=current, previous=previous, threshold_pct=threshold_pct):
        verdicts[moved.metric.name] = moved.verdict
    return verdicts


def verdict_summary(verdicts: dict[str, str | None]) -> str | None:
    """One word for a run: "mixed" when some figures got worse and others better, else any regression wins
    over improvements, which win over noise."""
    values = set(verdicts.values())
    if {REGRESSION, IMPROVEMENT} <= values:
        return MIXED
    for verdict in (REGRESSION, IMPROVEMENT, NOISE):
        if verdict in values:
            return verdict
    return None
