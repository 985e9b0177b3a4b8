"""Writes of the tracker, one module per job: ``ingest`` (storing runs), ``baselines``, ``recordings``."""

from tracker.services.baselines import baseline_clear, baseline_pin
from tracker.services.ingest import DB, run_ingest, run_track_local, runs_ingest_batch
from tracker.services.recordings import (
    recording_run_record,
    recording_run_start,
    recording_start,
    recording_stop,
    recordings_due_claim,
)

__all__ = [
    "DB",
    "baseline_clear",
    "baseline_pin",
    "recording_run_record",
    "recording_run_start",
    "recording_start",
    "recording_stop",
    "recordings_due_claim",
    "run_ingest",
    "run_track_local",
    "runs_ingest_batch",
]
