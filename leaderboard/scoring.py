"""Scoring: pure functions from a run's per-second record to a challenge's statistics.

No Django and no database here. ``leaderboard.selectors.run_scoring_input``
turns the stored ``RunSample`` / ``ProbeResult`` / ``ChaosEvent`` rows into the
plain ``RunData`` below; everything in this module can be checked by hand on a
series of a few seconds. The rules are written out in ``docs/scoring.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from common.histogram import histogram_merge, histogram_percentile

DEFAULT_UP_THRESHOLD_PCT = 95.0


@dataclass(frozen=True)
class Second:
    """What the load users saw in one second (second 0 is the first of the run)."""

    second: int
    requests: int = 0
    successes: int = 0
    success_latency_sum_ms: float = 0.0
    latency_histogram: Mapping = field(default_factory=dict)
    instances: tuple[str, ...] = ()

    @property
    def failures(self) -> int:
        return self.requests - self.successes


@dataclass(frozen=True)
class Probe:
    """One health probe of the target, in the second it was sent."""

    second: int
    up: bool
    instance: str = ""


@dataclass(frozen=True)
class Fault:
    """An induced failure and when it was in force, in seconds since the run started."""

    kind: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class RunData:
    duration_s: int
    ramp_up_s: int
    seconds: Sequence[Second] = ()
    probes: Sequence[Probe] = ()
    faults: Sequence[Fault] = ()


@dataclass(frozen=True)
class Result:
    statistics: tuple[float | None, float | None, float | None]
    score: float
    details: dict


@dataclass(frozen=True)
class Column:
    """One figure of a challenge, and the one rule for showing it wherever it appears.

    ``decimals`` 0 makes it a whole number (a count, whole seconds): the API
    gives it as a JSON integer and pages print it without a fraction. Any
    other figure is printed with exactly ``decimals`` places. Pages add
    thousands separators; the API gives the number itself.
    """

    key: str
    label: str
    unit: str
    decimals: int
    # Which way is better: the leaderboard's first click on a column sorts best-first.
    higher_is_better: bool = True
    # What to print for None: "—" when the figure is truly absent, or a word
    # when None has a meaning of its own ("never" went down).
    none_text: str = "—"
    # None ranks as the worst value of the column (nothing was measured), or,
    # when it has a meaning of its own, as the best ("never" went down).
    none_is_best: bool = False

    @property
    def is_whole(self) -> bool:
        return self.decimals == 0

    @property
    def better(self) -> str:
        return "higher" if self.higher_is_better else "lower"

    def number(self, value: float | None) -> int | float | None:
        """The figure as the API gives it: an int for a whole-number column (columns store floats)."""
        if value is None:
            return None
        return round(value) if self.is_whole else float(value)

    def text(self, value: float | None) -> str:
        """The figure as every page shows it (without its unit)."""
        return value_format(value=value, decimals=self.decimals, none_text=self.none_text)


# The three statistic columns of each scoring kind, in display order; the
# values land in Submission.statistic_1..3 in this order.
COLUMNS: dict[str, tuple[Column, Column, Column]] = {
    "robust_service": (
        Column("sustained_rps", "Sustained RPS", "req/s", 1),
        Column("avg_latency_ms", "Avg Latency", "ms", 1, higher_is_better=False),
        Column("uptime_pct", "Uptime", "%", 2),
    ),
    "graceful_degradation": (
        Column("requests_handled", "Requests Handled", "count", 0),
        Column("error_rate_pct", "Error Rate", "%", 2, higher_is_better=False),
        Column("p95_latency_ms", "p95 Latency", "ms", 1, higher_is_better=False),
    ),
    "longest_upkeep": (
        Column("uptime_duration_s", "Uptime Duration", "s", 0),
        # The earlier the last outage, the longer the service has stayed up since; never is best.
        Column("last_downtime_s", "Last Downtime", "s into the run", 0, higher_is_better=False, none_text="never",
               none_is_best=True),
        Column("restarts", "Restarts", "count", 0, higher_is_better=False),
    ),
}

SCORE_LABELS = {
    "robust_service": "Sustained RPS \u00d7 Uptime % / 100",
    "graceful_degradation": "Requests Handled",
    "longest_upkeep": "Uptime Duration (s)",
}

# The score of each scoring kind as a column of its own: the same rule for
# showing it, on every page and in the API, as the statistics have.
SCORE_COLUMNS: dict[str, Column] = {
    "robust_service": Column("score", "Score", "req/s", 2),
    "graceful_degradation": Column("score", "Score", "count", 0),
    "longest_upkeep": Column("score", "Score", "s", 0),
}


def statistics_data(figures: object, columns: tuple[Column, ...]) -> dict | None:
    """A submission's (or a board entry's) three figures as the API gives them, by column key; None until scored."""
    if figures.score is None:
        return None
    values = (figures.statistic_1, figures.statistic_2, figures.statistic_3)
    return {column.key: column.number(value) for column, value in zip(columns, values, strict=True)}


def score_data(figures: object, scoring: str) -> int | float | None:
    return SCORE_COLUMNS[scoring].number(figures.score)


def value_format(*, value: float | None, decimals: int, none_text: str = "—") -> str:
    """A figure as shown on pages: thousands separators, fixed decimals, ``none_text`` for None."""
    if value is None:
        return none_text
    return f"{value:,.{decimals}f}"


def measured_window(*, run: RunData) -> range:
    """The seconds that count for sustained figures: after the ramp-up, up to the end of the run.

    A ramp-up as long as the run would leave nothing to measure; the last second
    is then still measured so that a result exists.
    """
    duration = max(0, run.duration_s)
    start = min(max(0, run.ramp_up_s), max(0, duration - 1))
    return range(start, duration)


def second_health(*, run: RunData) -> list[bool]:
    """Per second of the run: did the prober consider the service healthy?

    A second with probes is healthy when all of them were up; a second without
    a probe (e.g. while a probe hangs) keeps the state of the one before. Before
    the first probe nothing has been seen healthy yet.
    """
    by_second: dict[int, bool] = {}
    for probe in run.probes:
        by_second[probe.second] = by_second.get(probe.second, True) and probe.up
    health: list[bool] = []
    state = False
    for second in range(max(0, run.duration_s)):
        if second in by_second:
            state = by_second[second]
        health.append(state)
    return health


def up_seconds(*, run: RunData, threshold_pct: float = DEFAULT_UP_THRESHOLD_PCT) -> list[bool]:
    """Per second of the run: was the service *up*?

    Up means the prober saw it healthy and at least ``threshold_pct`` % of the
    requests that completed in that second succeeded. A second in which no
    request completed is not up: load was offered and nothing was served.
    """
    health = second_health(run=run)
    by_second = {sample.second: sample for sample in run.seconds}
    up: list[bool] = []
    for second, healthy in enumerate(health):
        sample = by_second.get(second)
        served = sample is not None and sample.requests > 0 and sample.successes * 100.0 >= threshold_pct * sample.requests
        up.append(healthy and served)
    return up


def _window_samples(*, run: RunData, window: range) -> list[Second]:
    return [sample for sample in run.seconds if sample.second in window]


def _percentile(samples: Sequence[Second], q: float) -> float | None:
    return histogram_percentile(histogram=histogram_merge(histograms=(s.latency_histogram for s in samples)), q=q)


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def longest_streak(*, flags: Sequence[bool]) -> int:
    best = current = 0
    for flag in flags:
        current = current + 1 if flag else 0
        best = max(best, current)
    return best


def restarts_count(*, run: RunData) -> int:
    """How many serving processes were replaced: instance ids first seen after the start.

    The ids seen during the ramp-up (at least the first second) are the
    starting set; with several workers or replicas those ids alternate
    normally and are not restarts. Every id that shows up only later is a
    process that was not there at the start.
    """
    baseline_end = max(1, min(run.ramp_up_s, run.duration_s))
    first_seen: dict[str, int] = {}
    sightings = [(s.second, instance) for s in run.seconds for instance in s.instances]
    sightings += [(p.second, p.instance) for p in run.probes if p.instance]
    for second, instance in sorted(sightings):
        first_seen.setdefault(instance, second)
    return sum(1 for second in first_seen.values() if second >= baseline_end)


def recovery_times(*, run: RunData, up: Sequence[bool]) -> list[float | None]:
    """Per induced failure: seconds from the first down second it caused until up again.

    0 when the service stayed up throughout the fault, None when it never came
    back up before the run ended.
    """
    times: list[float | None] = []
    last = len(up)
    for fault in run.faults:
        start = max(0, math.floor(fault.start_s))
        end = min(last, max(start + 1, math.ceil(fault.end_s)))
        first_down = next((s for s in range(start, end) if not up[s]), None)
        if first_down is None:
            times.append(0.0)
            continue
        back_up = next((s for s in range(first_down, last) if up[s]), None)
        times.append(None if back_up is None else float(back_up - first_down))
    return times


def robust_service_score(*, run: RunData, threshold_pct: float = DEFAULT_UP_THRESHOLD_PCT) -> Result:
    window = measured_window(run=run)
    samples = _window_samples(run=run, window=window)
    up = up_seconds(run=run, threshold_pct=threshold_pct)
    window_s = len(window)
    successes = sum(s.successes for s in samples)
    requests = sum(s.requests for s in samples)
    up_count = sum(1 for second in window if up[second])

    sustained_rps = successes / window_s if window_s else 0.0
    avg_latency = sum(s.success_latency_sum_ms for s in samples) / successes if successes else None
    uptime_pct = up_count * 100.0 / window_s if window_s else 0.0
    score = sustained_rps * uptime_pct / 100.0
    return Result(
        statistics=(_round(sustained_rps), _round(avg_latency), _round(uptime_pct)),
        score=round(score, 3),
        details={
            "window_s": window_s,
            "up_seconds": up_count,
            "requests": requests,
            "successes": successes,
            "p95_latency_ms": _round(_percentile(samples, 95)),
        },
    )


def graceful_degradation_score(*, run: RunData, threshold_pct: float = DEFAULT_UP_THRESHOLD_PCT) -> Result:
    window = measured_window(run=run)
    samples = _window_samples(run=run, window=window)
    up = up_seconds(run=run, threshold_pct=threshold_pct)
    requests = sum(s.requests for s in samples)
    successes = sum(s.successes for s in samples)
    error_rate = (requests - successes) * 100.0 / requests if requests else None
    p95 = _percentile(samples, 95)
    return Result(
        statistics=(float(successes), _round(error_rate), _round(p95)),
        score=float(successes),
        details={
            "window_s": len(window),
            "up_seconds": sum(1 for second in window if up[second]),
            "requests": requests,
            "failures": requests - successes,
            "avg_latency_ms": _round(sum(s.success_latency_sum_ms for s in samples) / successes if successes else None),
        },
    )


def longest_upkeep_score(*, run: RunData, threshold_pct: float = DEFAULT_UP_THRESHOLD_PCT) -> Result:
    window = measured_window(run=run)
    samples = _window_samples(run=run, window=window)
    up = up_seconds(run=run, threshold_pct=threshold_pct)
    flags = [up[second] for second in window]
    streak = longest_streak(flags=flags)
    down = [second for second in window if not up[second]]
    last_down = down[-1] if down else None
    restarts = restarts_count(run=run)
    recoveries = recovery_times(run=run, up=up)
    recovered = [t for t in recoveries if t is not None]
    return Result(
        statistics=(float(streak), None if last_down is None else float(last_down), float(restarts)),
        score=float(streak),
        details={
            "window_s": len(window),
            "up_seconds": len(flags) - len(down),
            "successes": sum(s.successes for s in samples),
            "mttr_s": _round(sum(recovered) / len(recovered)) if recovered else None,
            "recovery_times_s": recoveries,
            "unrecovered_failures": sum(1 for t in recoveries if t is None),
        },
    )


SCORERS: dict[str, Callable[..., Result]] = {
    "robust_service": robust_service_score,
    "graceful_degradation": graceful_degradation_score,
    "longest_upkeep": longest_upkeep_score,
}


def run_score(*, kind: str, run: RunData, threshold_pct: float = DEFAULT_UP_THRESHOLD_PCT) -> Result:
    try:
        scorer = SCORERS[kind]
    except KeyError:
        raise ValueError(f"unknown scoring kind {kind!r}") from None
    result = scorer(run=run, threshold_pct=threshold_pct)
    # Kept for the submission's chart, which shades the down seconds.
    up = up_seconds(run=run, threshold_pct=threshold_pct)
    details = {**result.details, "down_seconds": [second for second, flag in enumerate(up) if not flag]}
    return Result(statistics=result.statistics, score=result.score, details=details)
