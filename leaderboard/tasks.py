"""Celery tasks of the competition: thin shells around ``leaderboard.services``."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from leaderboard import services


# acks_late is safe because the submission is claimed with a conditional
# UPDATE: a redelivered message finds it no longer queued and does nothing.
@shared_task(name="leaderboard.tasks.submission_run_task", acks_late=True)
def submission_run_task(submission_id: int) -> str | None:
    submission = services.submission_execute(submission_id=submission_id)
    return submission.status if submission is not None else None


@shared_task(name="leaderboard.tasks.submissions_fail_stuck_task")
def submissions_fail_stuck_task() -> int:
    return services.submissions_fail_stuck(now=timezone.now())
