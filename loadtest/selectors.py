"""Reads over a run's raw data: totals and window statistics from merged histograms.

Percentiles over several seconds are never averaged from per-second
percentiles; they come from the merged per-second histograms.
"""

from __future__ import annotations

from django.db.models import Max, Sum

from common.histogram import histogram_merge, histogram_percentiles
from loadtest.models import LoadTestRun, ProbeResult, RunSample


def _window_samples(*, run: LoadTestRun, start_s: int | None, end_s: int | None):
    samples = RunSample.objects.filter(run=run)
    if start_s is not None:
        samples = samples.filter(second__gte=start_s)
    if end_s is not None:
        samples = samples.filter(second__lt=end_s)
    return samples


def run_window_stats(*, run: LoadTestRun, start_s: int | None = None, end_s: int | None = None) -> dict:
    """Counts and latency over seconds ``[start_s, end_s)`` of a run (None: open end).

    Returns requests, successes, failures, failures_by_kind, seconds, rps,
    latency avg / p50 / p95 / p99 / max (ms, None without requests), the
    average latency of successes, and the instance ids seen.
    """
    samples = _window_samples(run=run, start_s=start_s, end_s=end_s)
    histograms = []
    kinds: dict[str, int] = {}
    instances: set[str] = set()
    requests = successes = failures = 0
    latency_sum = success_latency_sum = 0.0
    latency_max = None
    seconds = 0
    for sample in samples.only(
        "requests", "successes", "failures", "failures_by_kind", "latency_avg_ms", "latency_max_ms",
        "success_latency_sum_ms", "latency_histogram", "instances",
    ).iterator(chunk_size=500):
        seconds += 1
        requests += sample.requests
        successes += sample.successes
        failures += sample.failures
        if sample.requests and sample.latency_avg_ms is not None:
            latency_sum += sample.latency_avg_ms * sample.requests
        success_latency_sum += sample.success_latency_sum_ms
        if sample.latency_max_ms is not None:
            latency_max = sample.latency_max_ms if latency_max is None else max(latency_max, sample.latency_max_ms)
        for kind, count in (sample.failures_by_kind or {}).items():
            kinds[kind] = kinds.get(kind, 0) + int(count)
        histograms.append(sample.latency_histogram)
        instances.update(sample.instances or [])
    merged = histogram_merge(histograms=histograms)
    percentiles = histogram_percentiles(histogram=merged, qs=(50, 95, 99))
    for q, value in percentiles.items():
        if value is not None and latency_max is not None and value > latency_max:
            percentiles[q] = latency_max
    return {
        "seconds": seconds,
        "requests": requests,
        "successes": successes,
        "failures": failures,
        "failures_by_kind": dict(sorted(kinds.items())),
        "rps": requests / seconds if seconds else None,
        "latency_avg_ms": round(latency_sum / requests, 3) if requests else None,
        "success_latency_avg_ms": round(success_latency_sum / successes, 3) if successes else None,
        "latency_p50_ms": percentiles[50],
        "latency_p95_ms": percentiles[95],
        "latency_p99_ms": percentiles[99],
        "latency_max_ms": latency_max,
        "latency_histogram": merged,
        "instances": sorted(instances),
    }


def run_totals_compute(*, run: LoadTestRun, elapsed_s: float | None = None) -> dict:
    """The whole-run totals as LoadTestRun field values, from the stored samples."""
    stats = run_window_stats(run=run)
    duration = float(run.profile.get("duration_s") or 0)
    # Seconds of load: the planned duration, or less if the run stopped early.
    span = min(duration, float(elapsed_s)) if elapsed_s else float(stats["seconds"] or 0)
    return {
        "total_requests": stats["requests"],
        "total_successes": stats["successes"],
        "total_failures": stats["failures"],
        "rps": round(stats["requests"] / span, 3) if span > 0 else None,
        "latency_avg_ms": stats["latency_avg_ms"],
        "latency_p50_ms": stats["latency_p50_ms"],
        "latency_p95_ms": stats["latency_p95_ms"],
        "latency_p99_ms": stats["latency_p99_ms"],
        "latency_max_ms": stats["latency_max_ms"],
    }


def run_probe_summary(*, run: LoadTestRun, start_s: int | None = None, end_s: int | None = None) -> dict:
    """Health-probe view of a window: seconds probed, seconds down, instance ids and changes."""
    probes = ProbeResult.objects.filter(run=run)
    if start_s is not None:
        probes = probes.filter(second__gte=start_s)
    if end_s is not None:
        probes = probes.filter(second__lt=end_s)
    by_second: dict[int, bool] = {}
    instances: list[str] = []
    for second, up, instance in probes.order_by("probed_at").values_list("second", "up", "instance"):
        # A second counts as up if any probe in it succeeded.
        by_second[second] = by_second.get(second, False) or up
        if instance and instance not in instances:
            instances.append(instance)
    return {
        "probed_seconds": len(by_second),
        "down_seconds": sorted(second for second, up in by_second.items() if not up),
        # In order of first appearance: a restarted process shows up as a new id.
        "instances": instances,
    }


def run_last_second(*, run: LoadTestRun) -> int | None:
    return RunSample.objects.filter(run=run).aggregate(last=Max("second"))["last"]


def run_sample_sums(*, run: LoadTestRun) -> dict:
    return RunSample.objects.filter(run=run).aggregate(
        requests=Sum("requests"), successes=Sum("successes"), failures=Sum("failures")
    )


def run_summary(*, run: LoadTestRun) -> dict:
    """Everything worth printing or returning about a run, as plain JSON-able data."""
    probes = run_probe_summary(run=run)
    return {
        "id": run.pk,
        "status": run.status,
        "error": run.error,
        "target_url": run.target_url,
        "origin": run.origin,
        "processes": run.processes,
        "profile": run.profile,
        "chaos_plan": run.chaos_plan,
        "created_at": run.created_at.isoformat() if run.created_at else None,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "totals": {
            "requests": run.total_requests,
            "successes": run.total_successes,
            "failures": run.total_failures,
            "rps": run.rps,
            "latency_avg_ms": run.latency_avg_ms,
            "latency_p50_ms": run.latency_p50_ms,
            "latency_p95_ms": run.latency_p95_ms,
            "latency_p99_ms": run.latency_p99_ms,
            "latency_max_ms": run.latency_max_ms,
            "failures_by_kind": run_window_stats(run=run)["failures_by_kind"],
        },
        "probes": probes,
        "chaos_events": [
            {
                "index": event.index, "kind": event.kind, "at_s": event.at_s, "duration_s": event.duration_s,
                "fault_id": event.fault_id, "applied_second": event.applied_second,
                "cleared_second": event.cleared_second, "error": event.error,
            }
            for event in run.chaos_events.order_by("index")
        ],
        "generator": run.generator,
        "seconds": RunSample.objects.filter(run=run).count(),
    }
