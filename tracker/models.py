"""The tracker's notebook: runs as clients reported them, baselines and recording sessions.

Everything here lives in the ``tracker`` database (see ``chaoschallenge.routers``).
Nothing points at a row of the competition's database: a run made by the
load-test engine is remembered by its plain id (``labels.loadtest_run_id``).
"""

from __future__ import annotations

from django.db import models


class TrackedRun(models.Model):
    """One result as a client sent it (schema 1.0), field for field, plus what it added."""

    # Optional id chosen by the client: sending the same run again stores it once.
    client_run_id = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001 - NULL = no id, outside the unique constraint
    schema_version = models.CharField(max_length=20)
    user_id = models.CharField(max_length=200)
    challenge_type = models.CharField(max_length=200)
    metric_name = models.CharField(max_length=200)
    value = models.FloatField()
    timestamp = models.DateTimeField()
    labels = models.JSONField(default=dict, blank=True)

    # runDetails
    target_url = models.CharField(max_length=2000)
    # Short digest of target_url: an index- and URL-friendly name for the target.
    target_key = models.CharField(max_length=16)
    request_count = models.BigIntegerField()
    method = models.CharField(max_length=10)
    payload_urls = models.JSONField(default=list, blank=True)
    total_requests = models.BigIntegerField()
    successful_requests = models.BigIntegerField()
    failed_requests = models.BigIntegerField()
    avg_latency_ms = models.FloatField()
    error_rate = models.FloatField(help_text="percent")
    rps = models.FloatField()
    duration_s = models.FloatField()
    test_type = models.CharField(max_length=200)
    commit_hash = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001 - clients send null, kept as null
    session_id = models.CharField(max_length=200, blank=True)
    p50_latency_ms = models.FloatField(null=True, blank=True)
    p95_latency_ms = models.FloatField(null=True, blank=True)
    p99_latency_ms = models.FloatField(null=True, blank=True)

    # Fields the client sent that schema 1.0 does not name, kept as sent.
    extra = models.JSONField(default=dict, blank=True)
    run_details_extra = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["-timestamp", "-id"]
        indexes = [
            models.Index(fields=["user_id", "-timestamp", "-id"], name="tracker_run_user_time"),
            models.Index(fields=["target_key", "-timestamp", "-id"], name="tracker_run_target_time"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user_id", "client_run_id"],
                condition=models.Q(client_run_id__isnull=False),
                name="tracker_run_client_id_once",
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.user_id} → {self.target_url} at {self.timestamp:%Y-%m-%d %H:%M:%S}"


class Baseline(models.Model):
    """The run a target's newer runs are judged against."""

    target_key = models.CharField(max_length=16, unique=True)
    target_url = models.CharField(max_length=2000)
    run = models.ForeignKey(TrackedRun, on_delete=models.CASCADE, related_name="+")
    pinned_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"baseline of {self.target_url}: run {self.run_id}"


class RecordingSession(models.Model):
    """While active, the platform load-tests ``target_url`` every ``interval_s`` and logs each result."""

    session_id = models.CharField(max_length=200, unique=True)
    user_id = models.CharField(max_length=200)
    target_url = models.CharField(max_length=2000)
    target_key = models.CharField(max_length=16)
    interval_s = models.PositiveIntegerField()
    profile = models.JSONField()
    active = models.BooleanField(default=True)
    started_at = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True)
    # Claimed with a conditional UPDATE, so two schedulers never start the same slot twice.
    next_due_at = models.DateTimeField()
    runs_started = models.PositiveIntegerField(default=0)
    last_loadtest_run_id = models.BigIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["active", "next_due_at"], name="tracker_recording_due")]
        constraints = [
            # One active recording per target at a time.
            models.UniqueConstraint(
                fields=["target_key"], condition=models.Q(active=True), name="tracker_recording_one_active"
            ),
        ]

    def __str__(self) -> str:
        return f"recording {self.session_id} of {self.target_url} ({'active' if self.active else 'stopped'})"
