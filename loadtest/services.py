"""Writes of the load-test engine: create, enqueue, execute, finish, announce, cancel and reap runs.

Every load test, whoever asked for it (the CLI, a submission, a tracker
recording), takes the same path: ``run_create`` → ``run_enqueue`` → the one
task → ``run_execute`` (claim, life cycle) → ``run_finish`` → ``run_announce``
(``loadtest.hooks.run_finished``). ``runs_reap`` ends runs whose worker died
and repeats announcements that did not get through.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from common.validation import FieldError
from loadtest import hooks
from loadtest.execution.lifecycle import END_GRACE_S, RunLifecycle, RunOutcome
from loadtest.execution.places import UnknownPlace, place_for
from loadtest.fault_control import FaultControlError, fault_control_get
from loadtest.hooks import run_finished, run_started
from loadtest.models import ChaosEvent, EndReason, LoadTestRun, RunStatus
from loadtest.profiles import chaos_event_fault_spec, chaos_plan_validate, profile_validate
from loadtest.selectors import run_totals_compute
from loadtest.targets import TargetNotAllowed, target_url_validate

logger = logging.getLogger(__name__)

__all__ = ["TargetNotAllowed", "target_url_validate"]

ORIGIN_MAX_LENGTH = 20
OWNER_MAX_LENGTH = 200
# After the runner stops: stopping it (SIGTERM, then SIGKILL after 5 s),
# clearing faults, storing the last seconds and announcing the end.
TEARDOWN_S = 30
# A finished run whose announcement has not been marked delivered after this
# long is announced again by runs_reap.
ANNOUNCE_RETRY_S = 10


def run_time_limits(*, duration_s: int, ready_s: int = 0) -> tuple[int, int]:
    """Celery's (soft, hard) time limits for a run of ``duration_s``.

    Soft: the time its place may take to get ready (``place_spec["ready_s"]``:
    nothing on this host, a sandbox's start-up allowance) + start-up grace +
    the load + the end grace the life cycle allows the runner + teardown. The
    soft limit lets the run record itself as timed out; the hard one, later
    still, kills a worker that could not.
    """
    soft = ready_s + duration_s + settings.LOADTEST_START_GRACE_S + END_GRACE_S + TEARDOWN_S
    return soft, soft + TEARDOWN_S


def _limits_of(*, run_id: int) -> tuple[int, int] | None:
    row = LoadTestRun.objects.filter(pk=run_id).values_list("profile", "place_spec").first()
    if row is None:
        return None
    profile, place_spec = row
    return run_time_limits(duration_s=int(profile.get("duration_s") or 0),
                           ready_s=int((place_spec or {}).get("ready_s") or 0))


def run_deadline(*, started_at: datetime, hard_limit_s: int) -> datetime:
    """Past this instant a run still marked running has lost its worker (beyond the hard limit)."""
    return started_at + timedelta(seconds=hard_limit_s + TEARDOWN_S)


def run_config_validate(*, profile: object, chaos_plan: object, container_faults: bool = False) -> tuple[dict, list[dict]]:
    """A profile and a chaos plan normalized as a run would store them (raises FieldError).

    ``container_faults``: the plan may hold ``pod_kill`` / ``partition``, which
    only a place running the target's replicas itself (a sandbox) makes real.
    """
    normalized = profile_validate(profile=profile)
    plan = chaos_plan_validate(plan=chaos_plan, duration_s=normalized["duration_s"], container_faults=container_faults)
    return normalized, plan


def run_create(
    *,
    target_url: str,
    profile: dict,
    chaos_plan: list | None = None,
    processes: int = 1,
    origin: str = "cli",
    owner: str = "",
    origin_ref: str = "",
    place: str = "local",
    place_spec: dict | None = None,
) -> LoadTestRun:
    """Validate everything and store a queued run with its planned chaos events.

    Raises TargetNotAllowed or FieldError (``field`` names the problem). A
    run in another place than this host (see ``run_place_spec_build``) loads
    that place's own entry point, ``place_spec["target_url"]``, whatever
    ``target_url`` says.
    """
    if place != "local":
        target_url = (place_spec or {}).get("target_url") or ""
        if not isinstance(target_url, str) or not target_url.startswith("http://"):
            raise FieldError("place_spec.target_url", "a place's spec must name its entry point")
        target = target_url.rstrip("/")
    else:
        target = target_url_validate(url=target_url)
    normalized, plan = run_config_validate(profile=profile, chaos_plan=chaos_plan, container_faults=place != "local")
    if isinstance(processes, bool) or not isinstance(processes, int) or not 1 <= processes <= settings.LOADTEST_MAX_PROCESSES:
        raise FieldError("processes", f"must be a whole number from 1 to {settings.LOADTEST_MAX_PROCESSES}")
    if not isinstance(origin, str) or not origin or len(origin) > ORIGIN_MAX_LENGTH:
        raise FieldError("origin", f"must be a non-empty text of at most {ORIGIN_MAX_LENGTH} characters")
    if not isinstance(owner, str) or len(owner) > OWNER_MAX_LENGTH:
        raise FieldError("owner", f"must be a text of at most {OWNER_MAX_LENGTH} characters")
    if not isinstance(place, str) or not place or len(place) > 20:
        raise FieldError("place", "must be a non-empty text of at most 20 characters")
    return _run_insert(target_url=target, profile=normalized, chaos_plan=plan, processes=processes,
                       origin=origin, owner=owner, origin_ref=str(origin_ref), place=place,
                       place_spec=place_spec or {})


def run_place_spec_build(*, place: str, given: dict) -> dict:
    """The ``place_spec`` of a run in ``place``, from what the requester gives; FieldError if refused."""
    builder = hooks.place_spec_builder_get(name=place)
    if builder is None:
        raise FieldError("place", f"runs in a {place!r} place are not available on this platform")
    return builder(given)


def _run_insert(*, retry_of: LoadTestRun | None = None, **fields: object) -> LoadTestRun:
    with transaction.atomic():
        run = LoadTestRun.objects.create(retry_of=retry_of, **fields)
        ChaosEvent.objects.bulk_create(
            ChaosEvent(run=run, index=index, kind=event["kind"], spec=chaos_event_fault_spec(event=event),
                       at_s=event["at_s"], duration_s=event["duration_s"])
            for index, event in enumerate(run.chaos_plan)
        )
    return run


def run_enqueue(*, run_id: int) -> None:
    """Send the run to the load-test queue once the surrounding transaction commits."""
    from loadtest.tasks import run_loadtest_task

    soft, hard = _limits_of(run_id=run_id) or run_time_limits(duration_s=0)
    queue = settings.LOADTEST_QUEUE
    transaction.on_commit(
        lambda: run_loadtest_task.apply_async(args=[run_id], queue=queue, soft_time_limit=soft, time_limit=hard),
        using="default",
    )


def run_retry(*, run_id: int) -> LoadTestRun:
    """A new queued run with the same target and settings, in place of one that ended without result."""
    old = LoadTestRun.objects.get(pk=run_id)
    run = _run_insert(retry_of=old, target_url=old.target_url, profile=old.profile, chaos_plan=old.chaos_plan,
                      processes=old.processes, origin=old.origin, owner=old.owner, origin_ref=old.origin_ref,
                      place=old.place, place_spec=old.place_spec)
    run_enqueue(run_id=run.pk)
    return run


def run_claim(*, run_id: int, now: datetime) -> bool:
    """queued → running, for exactly one caller: a redelivered task finds nothing to do."""
    limits = _limits_of(run_id=run_id)
    if limits is None:
        return False
    deadline = run_deadline(started_at=now, hard_limit_s=limits[1])
    with transaction.atomic():
        claimed = LoadTestRun.objects.filter(pk=run_id, status=RunStatus.QUEUED, cancel_requested=False).update(
            status=RunStatus.RUNNING, started_at=now, deadline_at=deadline, heartbeat_at=now
        )
        if claimed:
            transaction.on_commit(lambda: run_started.send(sender=LoadTestRun, run=LoadTestRun.objects.get(pk=run_id)))
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
    if not run_claim(run_id=run_id, now=timezone.now()):
        logger.info("run %s was not queued (already claimed, finished or cancelled); nothing to do", run_id)
        return LoadTestRun.objects.get(pk=run_id)
    run = LoadTestRun.objects.get(pk=run_id)

    def finish(outcome: RunOutcome) -> None:
        run_finish(run_id=run_id, status=outcome.status, error=outcome.error, end_reason=outcome.end_reason,
                   generator=outcome.generator)

    try:
        place = place_for(run=run)
    except UnknownPlace as exc:
        finish(RunOutcome(status=RunStatus.FAILED, error=str(exc), end_reason=EndReason.ERROR))
        return LoadTestRun.objects.get(pk=run_id)
    RunLifecycle(run=run, place=place, finish=finish, progress=progress, cancel_check=cancel_check).execute()
    return LoadTestRun.objects.get(pk=run_id)


def run_finish(*, run_id: int, status: str, error: str = "", end_reason: str = "", generator: dict | None = None,
               now: datetime | None = None) -> bool:
    """Store the totals and the final status of a running run, then announce it; False if it was not running."""
    now = now or timezone.now()
    run = LoadTestRun.objects.only("profile").get(pk=run_id)
    totals = run_totals_compute(run=run, elapsed_s=(generator or {}).get("elapsed_s"))
    fields = {**totals, "status": status, "error": error[:5000], "end_reason": end_reason, "finished_at": now}
    if status == RunStatus.COMPLETED:
        fields["end_reason"] = ""
    if generator is not None:
        fields["generator"] = generator
    with transaction.atomic():
        changed = LoadTestRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(**fields)
        if changed:
            transaction.on_commit(lambda: run_announce(run_id=run_id))
    return changed == 1


def run_announce(*, run_id: int) -> None:
    """Tell the run's users it has ended (``hooks.run_finished``), then note that they were told.

    A listener that raises leaves the run unannounced: ``runs_reap`` tries
    again, and the error still reaches the caller's log.
    """
    run = LoadTestRun.objects.get(pk=run_id)
    if not run.is_finished:
        return
    run_finished.send(sender=LoadTestRun, run=run)
    LoadTestRun.objects.filter(pk=run_id, announced_at__isnull=True).update(announced_at=timezone.now())


def run_cancel(*, run_id: int) -> bool:
    """Cancel a queued run at once, or ask a running one to stop; False if already finished."""
    now = timezone.now()
    with transaction.atomic():
        if LoadTestRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
            status=RunStatus.CANCELLED, cancel_requested=True, finished_at=now, end_reason=EndReason.CANCELLED,
            error="cancelled before it started",
        ):
            transaction.on_commit(lambda: run_announce(run_id=run_id))
            return True
    return LoadTestRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(cancel_requested=True) == 1


def runs_reap(*, now: datetime) -> int:
    """The engine's periodic check; returns how many runs it ended.

    * A running run whose heartbeat stopped (``LOADTEST_HEARTBEAT_STALE_S``)
      or that is past its deadline lost its worker: it ends failed with
      ``end_reason`` worker_lost, and the faults it set are cleared now.
    * A finished run whose end was not announced (a listener failed, or the
      process died in between) is announced again.
    """
    stale = now - timedelta(seconds=settings.LOADTEST_HEARTBEAT_STALE_S)
    lost = list(
        LoadTestRun.objects.filter(status=RunStatus.RUNNING)
        .filter(_lost(stale=stale, now=now))
        .values_list("pk", flat=True)
    )
    ended = 0
    for run_id in lost:
        place = LoadTestRun.objects.filter(pk=run_id).values_list("place", flat=True).first()
        if run_finish(run_id=run_id, status=RunStatus.FAILED, end_reason=EndReason.WORKER_LOST, now=now,
                      error=_loss_reason(run_id=run_id, now=now)):
            ended += 1
        # A sandbox's faults die with its containers (its reaper removes them); this host's anvil keeps them.
        if place == "local":
            _faults_clear_after_loss(run_id=run_id, now=now)
    unannounced = LoadTestRun.objects.filter(
        status__in=[RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED], announced_at__isnull=True,
        finished_at__lt=now - timedelta(seconds=ANNOUNCE_RETRY_S),
    ).values_list("pk", flat=True)
    for run_id in list(unannounced):
        run_announce(run_id=run_id)
    return ended


def _lost(*, stale: datetime, now: datetime) -> Q:
    return Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True, started_at__lt=stale) | Q(deadline_at__lt=now)


def _loss_reason(*, run_id: int, now: datetime) -> str:
    beat, deadline = LoadTestRun.objects.filter(pk=run_id).values_list("heartbeat_at", "deadline_at").first()
    if deadline is not None and deadline < now:
        return f"the run's worker stopped answering: still running past its deadline ({deadline:%Y-%m-%d %H:%M:%S} UTC)"
    since = f"since {beat:%Y-%m-%d %H:%M:%S} UTC" if beat else "since it started"
    return f"the run's worker stopped answering: no heartbeat {since}"


def _faults_clear_after_loss(*, run_id: int, now: datetime) -> None:
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
