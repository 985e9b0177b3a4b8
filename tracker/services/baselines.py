"""Baselines: the run of a target that its newer runs are judged against."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from common.validation import FieldError
from tracker.models import Baseline, TrackedRun
from tracker.services.ingest import DB


def baseline_pin(*, target_key: str, run_id: int, now: datetime | None = None) -> Baseline:
    run = TrackedRun.objects.using(DB).filter(pk=run_id, target_key=target_key).first()
    if run is None:
        raise FieldError("run_id", f"run {run_id} is not a run of this target")
    baseline, _ = Baseline.objects.using(DB).update_or_create(
        target_key=target_key,
        defaults={"run": run, "target_url": run.target_url, "pinned_at": now or timezone.now()},
    )
    return baseline


def baseline_clear(*, target_key: str) -> int:
    deleted, _ = Baseline.objects.using(DB).filter(target_key=target_key).delete()
    return deleted
