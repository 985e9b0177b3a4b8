"""Storing what a run saw: its per-second samples and health probes, in batches, with a heartbeat.

Only the orchestrating thread calls this (the reader and prober threads hand
their results over through queues), so it owns the run's database writes.
"""

from __future__ import annotations

from datetime import UTC, datetime

from loadtest.models import LoadTestRun, ProbeResult, RunSample

SAMPLE_FIELDS = (
    "requests", "successes", "failures", "failures_by_kind", "rps", "active_users", "latency_avg_ms",
    "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "latency_max_ms", "success_latency_sum_ms",
    "latency_histogram", "instances",
)


def sample_values(*, record: dict) -> dict:
    """The RunSample field values of one ``second`` record from the runner, with defaults filled in."""
    values = {name: record.get(name) for name in SAMPLE_FIELDS}
    for name in ("requests", "successes", "failures", "active_users"):
        values[name] = int(values[name] or 0)
    values["rps"] = float(values["rps"] or 0)
    values["success_latency_sum_ms"] = float(values["success_latency_sum_ms"] or 0)
    values["failures_by_kind"] = values["failures_by_kind"] or {}
    values["latency_histogram"] = values["latency_histogram"] or {}
    values["instances"] = values["instances"] or []
    return values


class SampleStore:
    def __init__(self, *, run_id: int) -> None:
        self.run_id = run_id
        self.pending_samples: list[RunSample] = []
        self.pending_probes: list[ProbeResult] = []
        self.seconds_seen = 0
        self.last_up: bool | None = None

    def second_add(self, *, second: int, values: dict) -> None:
        self.pending_samples.append(RunSample(run_id=self.run_id, second=second, **values))
        self.seconds_seen = max(self.seconds_seen, second + 1)

    def probe_add(self, *, result: dict) -> None:
        self.last_up = result["up"]
        self.pending_probes.append(ProbeResult(run_id=self.run_id, **result))

    def flush(self) -> None:
        """Write what is pending and the run's heartbeat: the orchestrator is alive."""
        if self.pending_probes:
            probes, self.pending_probes = self.pending_probes, []
            ProbeResult.objects.bulk_create(probes)
        if self.pending_samples:
            samples, self.pending_samples = self.pending_samples, []
            RunSample.objects.bulk_create(samples)
        LoadTestRun.objects.filter(pk=self.run_id).update(heartbeat_at=datetime.now(tz=UTC))
