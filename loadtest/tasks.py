"""Celery tasks of the load-test engine: thin shells around ``loadtest.services``."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from loadtest import services


# The one task that runs a load test, whoever asked for it. acks_late is safe
# only because run_execute claims the run atomically: a redelivered message
# finds the run no longer queued and does nothing.
@shared_task(name="loadtest.tasks.run_loadtest_task", acks_late=True)
def run_loadtest_task(run_id: int) -> str:
    run = services.run_execute(run_id=run_id)
    return run.status


@shared_task(name="loadtest.tasks.runs_reap_task")
def runs_reap_task() -> int:
    return services.runs_reap(now=timezone.now())
