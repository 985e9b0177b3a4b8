"""Writes of the load-test engine: create, enqueue, execute, cancel and reap runs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from loadtest.models import ChaosEvent, LoadTestRun, RunStatus
from loadtest.profiles import ProfileError, chaos_event_fault_spec, chaos_plan_validate, profile_validate
from loadtest.selectors import run_totals_compute
from loadtest.signals import run_finished
from loadtest.targets import target_url_validate

logger = logging.getLogger(__name__)

ORIGIN_MAX_LENGTH = 20
# A runner that outlives its planned end by this much is stopped as timed out.
END_GRACE_S = 15


def run_time_limits(*, duration_s: int) -> tuple[int, int]:
    """Celery (soft, hard) time limits for a run of ``duration_s``: start-up grace on top."""
    soft = duration_s + settings.LOADTEST_START_GRACE_S + END_GRACE_S + 30
    return soft, soft + 30


def run_deadline(*, started_at: datetime, duration_s: int) -> datetime:
    """Past this instant a run still marked running has lost its worker (beyond the hard limit)."""
    _, hard = run_time_limits(duration_s=duration_s)
    return started_at + timedelta(seconds=hard + 30)


def run_create(
    *,
    target_url: str,
    profile: dict,
    chaos_plan: list | None = None,
    processes: int = 1,
    origin: str = "cli",
) -> LoadTestRun:
    """Validate everything and store a queued run with its planned chaos events.

    Raises TargetNotAllowed or ProfileError (``field`` names the problem).
    """
    target = target_url_validate(url=target_url)
    normalized = profile_validate(profile=profile)
    plan = chaos_plan_validate(plan=chaos_plan, duration_s=normalized["duration_s"])
    if isinstance(processes, bool) or not isinstance(processes, int) or not 1 <= processes <= settings.LOADTEST_MAX_PROCESSES:
        raise ProfileError("processes", f"must be a whole number from 1 to {settings.LOADTEST_MAX_PROCESSES}")
    if not isinstance(origin, str) or not origin or len(origin) > ORIGIN_MAX_LENGTH:
        raise ProfileError("origin", f"must be a non-empty text of at most {ORIGIN_MAX_LENGTH} characters")
    with transaction.atomic():
        run = LoadTestRun.objects.create(
            target_url=target, profile=normalized, chaos_plan=plan, processes=processes, origin=origin
        )
        ChaosEvent.objects.bulk_create(
            ChaosEvent(run=run, index=index, kind=event["kind"], spec=chaos_event_fault_spec(event=event),
                       at_s=event["at_s"], duration_s=event["duration_s"])
            for index, event in enumerate(plan)
        )
    return run


def run_enqueue(*, run: LoadTestRun) -> None:
    """Send the run to the load-test queue once the surrounding transaction commits."""
    from loadtest.tasks import run_loadtest_task

    soft, hard = run_time_limits(duration_s=int(run.profile["duration_s"]))
    queue = settings.LOADTEST_QUEUE
    run_id = run.pk
    transaction.on_commit(
        lambda: run_loadtest_task.apply_async(args=[run_id], queue=queue, soft_time_limit=soft, time_limit=hard)
    )


def run_claim(*, run_id: int, now: datetime) -> bool:
    """queued → running, for exactly one caller: a redelivered task finds nothing to do."""
    run = LoadTestRun.objects.filter(pk=run_id).only("profile").first()
    if run is None:
        return False
    deadline = run_deadline(started_at=now, duration_s=int(run.profile["duration_s"]))
    claimed = LoadTestRun.objects.filter(pk=run_id, status=RunStatus.QUEUED, cancel_requested=False).update(
        status=RunStatus.RUNNING, started_at=now, deadline_at=deadline
    )
    return claimed == 1


def run_execute(
    *,
    run_id: int,
    progress: Callable[[dict], None] | None = None,
    cancel_check: Callable[[], bool] | None = None,
) -> LoadTestRun:
    """Claim the run and run it to its end here and now; safe to call twice.

    ``progress`` receives a dict once per second (elapsed, rps, p95, failures,
    up, active faults); ``cancel_check`` is polled besides the run's
    ``cancel_requested`` flag (the CLI's Ctrl-C).
    """
    from loadtest.execution import RunExecution

    if not run_claim(run_id=run_id, now=timezone.now()):
        logger.info("run %s was not queued (already claimed, finished or cancelled); nothing to do", run_id)
        return LoadTestRun.objects.get(pk=run_id)
    run = LoadTestRun.objects.get(pk=run_id)
    RunExecution(run=run, progress=progress, cancel_check=cancel_check).execute()
    return LoadTestRun.objects.get(pk=run_id)


def run_finish(*, run: LoadTestRun, status: str, error: str = "", generator: dict | None = None,
               now: datetime | None = None) -> bool:
    """Store the totals and the final status of a running run; False if it was no longer running."""
    now = now or timezone.now()
    totals = run_totals_compute(run=run, elapsed_s=(generator or {}).get("elapsed_s"))
    fields = {**totals, "status": status, "error": error[:5000], "finished_at": now}
    if generator is not None:
        fields["generator"] = generator
    with transaction.atomic():
        changed = LoadTestRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(**fields)
        if changed:
            run_id = run.pk
            transaction.on_commit(lambda: _run_finished_send(run_id=run_id))
    return changed == 1


def _run_finished_send(*, run_id: int) -> None:
    run = LoadTestRun.objects.get(pk=run_id)
    run_finished.send(sender=LoadTestRun, run=run)


def run_cancel(*, run_id: int) -> bool:
    """Cancel a queued run at once, or ask a running one to stop; False if already finished."""
    now = timezone.now()
    with transaction.atomic():
        if LoadTestRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
            status=RunStatus.CANCELLED, cancel_requested=True, finished_at=now, error="cancelled before it started"
        ):
            transaction.on_commit(lambda: _run_finished_send(run_id=run_id))
            return True
    return LoadTestRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(cancel_requested=True) == 1


def runs_fail_stuck(*, now: datetime) -> int:
    """Mark runs still ``running`` past their deadline (their worker died) as failed; clear their faults."""
    from loadtest.chaos import FaultControlError, fault_control_get

    stuck = list(LoadTestRun.objects.filter(status=RunStatus.RUNNING, deadline_at__lt=now).values_list("pk", flat=True))
    failed = 0
    for run_id in stuck:
        run = LoadTestRun.objects.get(pk=run_id)
        if run_finish(run=run, status=RunStatus.FAILED, now=now,
                      error="the run's worker stopped answering: still running past its deadline "
                            f"({run.deadline_at:%Y-%m-%d %H:%M:%S} UTC)"):
            failed += 1
        # Faults it set would expire by themselves; clearing them now ends the damage sooner.
        leftovers = ChaosEvent.objects.filter(run_id=run_id, cleared_at__isnull=True).exclude(fault_id="")
        for event in leftovers:
            try:
                fault_control_get().clear(fault_id=event.fault_id)
            except FaultControlError as exc:
                event.error = f"{event.error}\nnot cleared after the worker died: {exc}".strip()
                event.save(update_fields=["error"])
                continue
            event.cleared_at = now
            event.save(update_fields=["cleared_at"])
    return failed
