"""The tracker listens to the engine: a recording session's run has ended."""

from __future__ import annotations

from django.conf import settings
from django.dispatch import receiver

from loadtest.hooks import run_finished
from tracker import services
from tracker.services.recordings import RUN_ORIGIN


@receiver(run_finished, dispatch_uid="tracker.run_finished")
def recording_follow_run_end(sender: type, run, **_: object) -> None:
    # With the tracker off its database is not to be opened; the run stays
    # recorded in the engine and the session simply misses this slot.
    if run.origin == RUN_ORIGIN and settings.ENABLE_LOCAL_TRACKER:
        services.recording_run_record(run_id=run.pk)
