"""A load-test run and the truth it recorded: per-second samples, health probes and chaos events."""

from __future__ import annotations

from django.db import models


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED_STATUSES = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)


class EndReason(models.TextChoices):
    """Why a run that did not complete ended, where its users act on the difference."""

    CANCELLED = "cancelled", "Cancelled on request"
    WORKER_LOST = "worker_lost", "Its worker died"
    TIMEOUT = "timeout", "Exceeded its time limit"
    ERROR = "error", "Failed"


class LoadTestRun(models.Model):
    target_url = models.URLField(max_length=500)
    # Snapshots: editing a challenge later must not change what a past run did.
    profile = models.JSONField()
    chaos_plan = models.JSONField(default=list, blank=True)
    processes = models.PositiveSmallIntegerField(default=1)
    # Who asked for the run, so that its users can tell theirs apart when the
    # engine announces its end: the origin, the owner in the origin's own terms
    # (a participant, a tracker user) and the origin's reference (a recording).
    origin = models.CharField(max_length=20, default="cli", help_text="cli, submission, tracker, …")
    owner = models.CharField(max_length=200, blank=True)
    origin_ref = models.CharField(max_length=100, blank=True)
    # Where it executes (loadtest.execution.places): "local" is this host; other
    # places (a sandbox) are registered by the app that provides them, and
    # ``place_spec`` is what that place needs (e.g. the bundle to start).
    place = models.CharField(max_length=20, default="local")
    place_spec = models.JSONField(default=dict, blank=True)
    # A run started afresh in place of one whose worker died.
    retry_of = models.OneToOneField("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="retry")

    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    cancel_requested = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    end_reason = models.CharField(max_length=20, choices=EndReason.choices, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Past this instant a run still "running" has lost its worker.
    deadline_at = models.DateTimeField(null=True, blank=True)
    # Written by the orchestrator about once a second: a running run whose
    # heartbeat has stopped lost its worker long before its deadline.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # When the run's users were told of its end; empty means "tell them again".
    announced_at = models.DateTimeField(null=True, blank=True)

    # Totals over the whole run, computed from the raw data.
    total_requests = models.PositiveBigIntegerField(default=0)
    total_successes = models.PositiveBigIntegerField(default=0)
    total_failures = models.PositiveBigIntegerField(default=0)
    rps = models.FloatField(null=True, blank=True)
    latency_avg_ms = models.FloatField(null=True, blank=True)
    latency_p50_ms = models.FloatField(null=True, blank=True)
    latency_p95_ms = models.FloatField(null=True, blank=True)
    latency_p99_ms = models.FloatField(null=True, blank=True)
    latency_max_ms = models.FloatField(null=True, blank=True)
    # Locust version, process count, host …
    generator = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "deadline_at"], name="loadtest_run_status_deadline"),
            models.Index(fields=["status", "announced_at"], name="loadtest_run_unannounced"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(total_requests=models.F("total_successes") + models.F("total_failures")),
                name="loadtest_run_totals_add_up",
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} → {self.target_url} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES


class RunSample(models.Model):
    """What the load users saw in one second of a run (second 0 is the first)."""

    run = models.ForeignKey(LoadTestRun, on_delete=models.CASCADE, related_name="samples")
    second = models.PositiveIntegerField()
    requests = models.PositiveIntegerField(default=0)
    successes = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    # {"500": 3, "timeout": 1, "connection": 2}
    failures_by_kind = models.JSONField(default=dict, blank=True)
    rps = models.FloatField(default=0)
    active_users = models.PositiveIntegerField(default=0)
    # Latency of every request of the second (successes and failures).
    latency_avg_ms = models.FloatField(null=True, blank=True)
    latency_p50_ms = models.FloatField(null=True, blank=True)
    latency_p95_ms = models.FloatField(null=True, blank=True)
    latency_p99_ms = models.FloatField(null=True, blank=True)
    latency_max_ms = models.FloatField(null=True, blank=True)
    # Sum over successful requests only, so averages over any window are exact.
    success_latency_sum_ms = models.FloatField(default=0)
    # Sparse log-linear histogram of all latencies of the second (bucket → count),
    # so percentiles over any window come from raw data, not averaged percentiles.
    latency_histogram = models.JSONField(default=dict, blank=True)
    # X-Anvil-Instance values seen in this second.
    instances = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["run", "second"]
        constraints = [
            models.UniqueConstraint(fields=["run", "second"], name="loadtest_sample_one_per_second"),
            models.CheckConstraint(
                condition=models.Q(requests=models.F("successes") + models.F("failures")),
                name="loadtest_sample_counts_add_up",
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} second {self.second}: {self.requests} requests"


class ProbeResult(models.Model):
    """One health probe of the target's /healthz, independent of the load users."""

    run = models.ForeignKey(LoadTestRun, on_delete=models.CASCADE, related_name="probes")
    second = models.PositiveIntegerField()
    probed_at = models.DateTimeField()
    up = models.BooleanField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    instance = models.CharField(max_length=100, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["run", "probed_at"]
        indexes = [models.Index(fields=["run", "second"], name="loadtest_probe_run_second")]

    def __str__(self) -> str:
        return f"run {self.run_id} probe at {self.second}s: {'up' if self.up else 'down'}"


class ChaosEvent(models.Model):
    """One timed fault of a run's chaos plan and what really happened to it."""

    run = models.ForeignKey(LoadTestRun, on_delete=models.CASCADE, related_name="chaos_events")
    index = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=20)
    spec = models.JSONField()
    at_s = models.FloatField()
    duration_s = models.FloatField()
    fault_id = models.CharField(max_length=64, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    cleared_at = models.DateTimeField(null=True, blank=True)
    applied_second = models.FloatField(null=True, blank=True)
    cleared_second = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["run", "index"]
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="loadtest_chaos_event_once")]

    def __str__(self) -> str:
        return f"run {self.run_id} chaos #{self.index}: {self.kind} at {self.at_s}s"
