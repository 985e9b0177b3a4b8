"""Reactions to the load-test engine's signals."""

from __future__ import annotations

from django.dispatch import receiver

from leaderboard import services
from loadtest.models import LoadTestRun, RunStatus
from loadtest.signals import run_finished


@receiver(run_finished, sender=LoadTestRun, dispatch_uid="leaderboard.run_finished")
def submission_follow_run(sender: type[LoadTestRun], run: LoadTestRun, **_: object) -> None:
    # A run that failed or was cancelled without its submission task noticing
    # (a dead worker, found by the engine's stuck-run check) must not leave the
    # submission "running" forever. Completed runs are scored by the task.
    if run.origin == "submission" and run.status in (RunStatus.FAILED, RunStatus.CANCELLED):
        services.submission_finish_for_run(run=run)
