"""Celery tasks of the recording sessions: thin shells around ``tracker.services``.

Beat runs ``recording_tick_task`` every TRACKER_RECORDING_TICK_S (declared in
settings only when the tracker is enabled); it claims the sessions that are
due and sends one ``recording_run_task`` each to the load-test queue.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from tracker import services


@shared_task(name="tracker.tasks.recording_tick_task")
def recording_tick_task() -> int:
    if not settings.ENABLE_LOCAL_TRACKER:
        # A stale beat schedule must not open the tracker database.
        return 0
    started = 0
    for recording_pk in services.recordings_due_claim(now=timezone.now()):
        run = services.recording_run_create(recording_pk=recording_pk)
        if run is not None:
            recording_run_enqueue(recording_pk=recording_pk, loadtest_run_id=run.pk,
                                  duration_s=int(run.profile["duration_s"]))
            started += 1
    return started


def recording_run_enqueue(*, recording_pk: int, loadtest_run_id: int, duration_s: int) -> None:
    from loadtest.services import run_time_limits

    soft, hard = run_time_limits(duration_s=duration_s)
    queue = settings.LOADTEST_QUEUE
    # The load test's row lives in the default database: send once it is committed there.
    transaction.on_commit(
        lambda: recording_run_task.apply_async(
            args=[recording_pk, loadtest_run_id], queue=queue, soft_time_limit=soft, time_limit=hard
        ),
        using="default",
    )


# acks_late is safe: run_execute claims the load test atomically and the
# tracker stores the result under a runId derived from it, so a redelivered
# message neither runs the test twice nor logs it twice.
@shared_task(name="tracker.tasks.recording_run_task", acks_late=True)
def recording_run_task(recording_pk: int, loadtest_run_id: int) -> int | None:
    if not settings.ENABLE_LOCAL_TRACKER:
        return None
    return services.recording_run_execute(recording_pk=recording_pk, loadtest_run_id=loadtest_run_id)
