"""Reactions to the load-test engine's signals."""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from leaderboard import services
from leaderboard.models import Challenge
from leaderboard.shared import version_bump
from loadtest.models import LoadTestRun, RunStatus
from loadtest.signals import run_finished


@receiver(run_finished, sender=LoadTestRun, dispatch_uid="leaderboard.run_finished")
def submission_follow_run(sender: type[LoadTestRun], run: LoadTestRun, **_: object) -> None:
    # A run that failed or was cancelled without its submission task noticing
    # (a dead worker, found by the engine's stuck-run check) must not leave the
    # submission "running" forever. Completed runs are scored by the task.
    if run.origin == "submission" and run.status in (RunStatus.FAILED, RunStatus.CANCELLED):
        services.submission_finish_for_run(run=run)


@receiver([post_save, post_delete], sender=Challenge, dispatch_uid="leaderboard.challenge_changed")
def leaderboard_follow_challenge(sender: type[Challenge], **_: object) -> None:
    # Tabs, names and rules are part of every cached leaderboard answer.
    transaction.on_commit(version_bump)
