"""Celery tasks of the recording sessions: thin shells around ``tracker.services``.

Beat runs ``recording_tick_task`` every TRACKER_RECORDING_TICK_S (declared in
settings only when the tracker is enabled); it claims the sessions that are
due and asks the engine for one run each, which the engine's one load-test
task executes.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from tracker import services


@shared_task(name="tracker.tasks.recording_tick_task")
def recording_tick_task() -> int:
    if not settings.ENABLE_LOCAL_TRACKER:
        # A stale beat schedule must not open the tracker database.
        return 0
    started = 0
    for recording_pk in services.recordings_due_claim(now=timezone.now()):
        if services.recording_run_start(recording_pk=recording_pk) is not None:
            started += 1
    return started
