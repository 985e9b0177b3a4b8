"""Reads of the load-test engine: one read of what a run did, totals, window statistics, progress.

``run_record`` is how the engine's users (scoring, pages, the tracker) see a
run: the seconds, the probes and the faults *as applied*, in one call; none of
them queries the engine's models. Percentiles over several seconds are never
averaged from per-second percentiles; they come from the merged histograms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Max, Sum

from common.histogram import histogram_merge, histogram_percentiles
from loadtest.models import FINISHED_STATUSES, ChaosEvent, EndReason, LoadTestRun, ProbeResult, RunSample, RunStatus
from loadtest.tracker_client import run_payload_build

__all__ = ["FINISHED_STATUSES", "EndReason", "RunStatus"]


@dataclass(frozen=True)
class SecondRecord:
    """What the load users saw in one second (second 0 is the first)."""

    second: int
    requests: int
    successes: int
    failures: int
    rps: float
    latency_p95_ms: float | None
    success_latency_sum_ms: float
    latency_histogram: dict
    instances: tuple[str, ...]
    failures_by_kind: dict


@dataclass(frozen=True)
class ProbeRecord:
    second: int
    up: bool
    instance: str = ""


@dataclass(frozen=True)
class FaultRecord:
    """One event of the chaos plan: as planned, and as it was really applied and cleared."""

    index: int
    kind: str
    planned_at_s: float
    planned_duration_s: float
    applied_s: float | None
    cleared_s: float | None
    error: str = ""
    fault_id: str = ""

    @property
    def was_applied(self) -> bool:
        return self.applied_s is not None

    @property
    def in_force(self) -> tuple[float, float] | None:
        """(start, end) in seconds of the run while the fault was on; None if it never was."""
        if self.applied_s is None:
            return None
        end = self.cleared_s if self.cleared_s is not None else self.applied_s + self.planned_duration_s
        return self.applied_s, end


@dataclass(frozen=True)
class RunRecord:
    id: int
    status: str
    error: str
    end_reason: str
    target_url: str
    origin: str
    owner: str
    origin_ref: str
    profile: dict
    processes: int
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime | None
    totals: dict
    generator: dict
    seconds: list[SecondRecord] = field(default_factory=list)
    probes: list[ProbeRecord] = field(default_factory=list)
    faults: list[FaultRecord] = field(default_factory=list)
    retry_of_id: int | None = None

    @property
    def duration_s(self) -> int:
        return int(self.profile.get("duration_s") or 0)

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES


def run_record(*, run_id: int, with_seconds: bool = True) -> RunRecord | None:
    """Everything a run did, in four queries (the run, its seconds, probes and chaos events)."""
    run = LoadTestRun.objects.filter(pk=run_id).first()
    if run is None:
        return None
    seconds = []
    probes = []
    if with_seconds:
        seconds = [
            SecondRecord(
                second=row["second"], requests=row["requests"], successes=row["successes"], failures=row["failures"],
                rps=row["rps"], latency_p95_ms=row["latency_p95_ms"],
                success_latency_sum_ms=row["success_latency_sum_ms"],
                latency_histogram=row["latency_histogram"] or {}, instances=tuple(row["instances"] or ()),
                failures_by_kind=row["failures_by_kind"] or {},
            )
            for row in RunSample.objects.filter(run_id=run_id).order_by("second").values(
                "second", "requests", "successes", "failures", "rps", "latency_p95_ms", "success_latency_sum_ms",
                "latency_histogram", "instances", "failures_by_kind",
            )
        ]
        probes = [
            ProbeRecord(second=second, up=up, instance=instance)
            for second, up, instance in ProbeResult.objects.filter(run_id=run_id)
            .order_by("probed_at")
            .values_list("second", "up", "instance")
        ]
    faults = [
        FaultRecord(index=event.index, kind=event.kind, planned_at_s=event.at_s, planned_duration_s=event.duration_s,
                    applied_s=event.applied_second, cleared_s=event.cleared_second, error=event.error,
                    fault_id=event.fault_id)
        for event in ChaosEvent.objects.filter(run_id=run_id).order_by("index")
    ]
    return RunRecord(
        id=run.pk, status=run.status, error=run.error, end_reason=run.end_reason, target_url=run.target_url,
        origin=run.origin, owner=run.owner, origin_ref=run.origin_ref, profile=run.profile or {},
        processes=run.processes, started_at=run.started_at, finished_at=run.finished_at,
        created_at=run.created_at, totals=_totals_of(run), generator=run.generator or {},
        seconds=seconds, probes=probes, faults=faults, retry_of_id=run.retry_of_id,
    )


def _totals_of(run: LoadTestRun) -> dict:
    return {
        "requests": run.total_requests,
        "successes": run.total_successes,
        "failures": run.total_failures,
        "rps": run.rps,
        "latency_avg_ms": run.latency_avg_ms,
        "latency_p50_ms": run.latency_p50_ms,
        "latency_p95_ms": run.latency_p95_ms,
        "latency_p99_ms": run.latency_p99_ms,
        "latency_max_ms": run.latency_max_ms,
    }


@dataclass(frozen=True)
class RunProgress:
    status: str
    seconds_recorded: int
    current_rps: float | None
    current_p95_ms: float | None
    duration_s: int
    current_failures: int | None = None
    current_users: int | None = None
    # Only with ``with_health``: the latest probe's verdict (None before the
    # first) and the faults applied and not yet cleared.
    target_up: bool | None = None
    active_faults: int = 0


def run_progress(*, run_id: int, with_health: bool = False) -> RunProgress | None:
    """Where a run is now: its status and its latest recorded second, in two small queries.

    ``with_health`` adds the target's health and the faults in force (two
    more), all that ``run_loadtest`` shows live.
    """
    run = LoadTestRun.objects.filter(pk=run_id).values("status", "profile").first()
    if run is None:
        return None
    latest = None
    up, faults = None, 0
    if run["status"] == RunStatus.RUNNING:
        latest = (
            RunSample.objects.filter(run_id=run_id).order_by("-second")
            .values("second", "rps", "latency_p95_ms", "failures", "active_users").first()
        )
        if with_health:
            up = (ProbeResult.objects.filter(run_id=run_id).order_by("-second", "-probed_at")
                  .values_list("up", flat=True).first())
            faults = ChaosEvent.objects.filter(run_id=run_id, applied_at__isnull=False, cleared_at__isnull=True).count()
    return RunProgress(
        status=run["status"],
        seconds_recorded=latest["second"] + 1 if latest else 0,
        current_rps=latest["rps"] if latest else None,
        current_p95_ms=latest["latency_p95_ms"] if latest else None,
        duration_s=int((run["profile"] or {}).get("duration_s") or 0),
        current_failures=latest["failures"] if latest else None,
        current_users=latest["active_users"] if latest else None,
        target_up=up,
        active_faults=faults,
    )


@dataclass(frozen=True)
class LiveSecond:
    """One recorded second as a live chart draws it."""

    second: int
    successes: int
    failures: int
    latency_p95_ms: float | None


@dataclass(frozen=True)
class RunLive:
    """What a run recorded from a given second on, for a page that follows it while it runs."""

    status: str
    duration_s: int
    profile: dict
    seconds: list[LiveSecond]
    # Seconds (from the same one on) in which a health probe saw the target down.
    probe_down_seconds: list[int]
    # Every event of the plan with what happened to it so far.
    faults: list[FaultRecord]


LIVE_MAX_SECONDS = 3600


def run_live(*, run_id: int, since_second: int = 0) -> RunLive | None:
    """The seconds, probe verdicts and faults of a run from ``since_second`` on, in four small indexed queries.

    A follower asks again with the last second it holds (or a little before,
    to pick up a late probe): each answer costs what is new, not the whole run.
    No histograms are read.
    """
    run = LoadTestRun.objects.filter(pk=run_id).values("status", "profile").first()
    if run is None:
        return None
    since = max(0, since_second)
    seconds = [
        LiveSecond(second=second, successes=successes, failures=failures, latency_p95_ms=p95)
        for second, successes, failures, p95 in RunSample.objects.filter(run_id=run_id, second__gte=since)
        .order_by("second").values_list("second", "successes", "failures", "latency_p95_ms")[:LIVE_MAX_SECONDS]
    ]
    down = sorted(set(
        ProbeResult.objects.filter(run_id=run_id, second__gte=since, up=False).values_list("second", flat=True)
    ))
    faults = [
        FaultRecord(index=index, kind=kind, planned_at_s=at_s, planned_duration_s=duration_s, applied_s=applied,
                    cleared_s=cleared, error=error)
        for index, kind, at_s, duration_s, applied, cleared, error in ChaosEvent.objects.filter(run_id=run_id)
        .order_by("index").values_list("index", "kind", "at_s", "duration_s", "applied_second", "cleared_second",
                                       "error")
    ]
    profile = run["profile"] or {}
    return RunLive(status=run["status"], duration_s=int(profile.get("duration_s") or 0), profile=profile,
                   seconds=seconds, probe_down_seconds=down, faults=faults)


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
    record = run_record(run_id=run.pk, with_seconds=False)
    assert record is not None
    return {
        "id": record.id,
        "status": record.status,
        "error": record.error,
        "end_reason": record.end_reason,
        "target_url": record.target_url,
        "origin": record.origin,
        "processes": record.processes,
        "profile": record.profile,
        "chaos_plan": run.chaos_plan,
        "created_at": record.created_at.isoformat() if record.created_at else None,
        "started_at": record.started_at.isoformat() if record.started_at else None,
        "finished_at": record.finished_at.isoformat() if record.finished_at else None,
        "totals": {**record.totals, "failures_by_kind": run_window_stats(run=run)["failures_by_kind"]},
        "probes": run_probe_summary(run=run),
        "chaos_events": [
            {
                "index": fault.index, "kind": fault.kind, "at_s": fault.planned_at_s,
                "duration_s": fault.planned_duration_s, "fault_id": fault.fault_id, "applied_second": fault.applied_s,
                "cleared_second": fault.cleared_s, "error": fault.error,
            }
            for fault in record.faults
        ],
        "generator": record.generator,
        "seconds": RunSample.objects.filter(run=run).count(),
    }


def run_tracker_payload(*, run_id: int, session: str | None, user_id: str | None, commit: str | None = None) -> dict:
    """A finished run as the tracker's schema-1.0 payload, as ``run_loadtest --track`` would send it."""
    return run_payload_build(run=LoadTestRun.objects.get(pk=run_id), session=session, commit=commit, user_id=user_id)


@dataclass(frozen=True)
class RunOrigin:
    """A run as the one who asked for it knows it: who, where it ran, and what it was given."""

    id: int
    owner: str
    origin: str
    origin_ref: str
    place: str
    place_spec: dict
    profile: dict
    processes: int
    deadline_at: datetime | None


def run_latest_of(*, origin: str, origin_ref: str) -> RunOrigin | None:
    """The newest run asked for by ``origin`` under ``origin_ref`` (a submission's latest attempt), or None."""
    run = LoadTestRun.objects.filter(origin=origin, origin_ref=origin_ref).order_by("-pk").first()
    if run is None:
        return None
    return RunOrigin(id=run.pk, owner=run.owner, origin=run.origin, origin_ref=run.origin_ref, place=run.place,
                     place_spec=run.place_spec or {}, profile=run.profile or {}, processes=run.processes,
                     deadline_at=run.deadline_at)
