"""Recording sessions: while one is active, the platform load-tests its target every interval.

Each due slot asks the engine for a run (origin ``tracker``, the session's pk
as reference) and the engine's one task runs it; when the engine announces the
run's end, ``recording_run_record`` files the result in the session. The
load-test runs live in the competition's database and are known here only by
their plain id.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from common.validation import FieldError
from loadtest.selectors import RunStatus, run_record, run_tracker_payload
from loadtest.services import run_config_validate, run_create, run_enqueue, target_url_validate
from tracker.models import RecordingSession
from tracker.payload import target_key_for, text_problem
from tracker.services.ingest import DB, run_ingest

logger = logging.getLogger(__name__)

MAX_RECORDING_INTERVAL_S = 7 * 24 * 3600
# The engine's ``origin`` of the runs recording sessions start.
RUN_ORIGIN = "tracker"


def recording_profile() -> dict:
    """The small standard load test a recording session repeats."""
    users = settings.TRACKER_RECORDING_USERS
    return {"shape": "constant", "users": users, "spawn_rate": users, "duration_s": settings.TRACKER_RECORDING_DURATION_S}


def recording_start(*, target_url: str, user_id: str | None = None, interval_s: int | None = None,
                    now: datetime | None = None) -> RecordingSession:
    now = now or timezone.now()
    if not isinstance(target_url, str) or not target_url.strip():
        raise FieldError("target_url", "give the target's URL")
    if text_problem(target_url):
        raise FieldError("target_url", f"the target URL {text_problem(target_url)}")
    try:
        url = target_url_validate(url=target_url.strip())
    except ValueError as exc:
        raise FieldError("target_url", str(exc)) from None
    interval = interval_s if interval_s is not None else settings.TRACKER_RECORDING_INTERVAL_S
    if not 10 <= interval <= MAX_RECORDING_INTERVAL_S:
        raise FieldError("interval_s",
                         f"the interval must be at least 10 seconds and at most {MAX_RECORDING_INTERVAL_S}")
    try:
        profile, _ = run_config_validate(profile=recording_profile(), chaos_plan=None)
    except FieldError as exc:
        raise FieldError("profile", f"the recording profile is invalid: {exc}") from None
    key = target_key_for(url)
    try:
        with transaction.atomic(using=DB):
            return RecordingSession.objects.using(DB).create(
                session_id=f"rec-{now:%Y%m%d-%H%M%S}-{key[:6]}",
                user_id=user_id or settings.TRACKER_USER_ID,
                target_url=url,
                target_key=key,
                interval_s=interval,
                profile=profile,
                started_at=now,
                next_due_at=now,
            )
    except IntegrityError:
        raise FieldError("target_url", "a recording session is already running for this target") from None


def recording_stop(*, recording_pk: int, now: datetime | None = None) -> bool:
    """Stop an active session; False when it was not active (stopping twice is harmless)."""
    return bool(
        RecordingSession.objects.using(DB)
        .filter(pk=recording_pk, active=True)
        .update(active=False, stopped_at=now or timezone.now())
    )


def recordings_due_claim(*, now: datetime) -> list[int]:
    """Claim every active session whose slot has come; each slot is claimed by one caller only."""
    claimed: list[int] = []
    due = RecordingSession.objects.using(DB).filter(active=True, next_due_at__lte=now).values_list(
        "pk", "next_due_at", "interval_s"
    )
    for pk, due_at, interval_s in due:
        # Conditional UPDATE: if another scheduler moved next_due_at first, we changed 0 rows.
        changed = (
            RecordingSession.objects.using(DB)
            .filter(pk=pk, active=True, next_due_at=due_at)
            .update(next_due_at=now + timedelta(seconds=interval_s), runs_started=F("runs_started") + 1)
        )
        if changed:
            claimed.append(pk)
    return claimed


def recording_run_start(*, recording_pk: int) -> int | None:
    """Ask the engine for the load test of one claimed slot; its run id, or None with the reason recorded."""
    session = RecordingSession.objects.using(DB).get(pk=recording_pk)
    try:
        run = run_create(target_url=session.target_url, profile=session.profile, origin=RUN_ORIGIN,
                         owner=session.user_id, origin_ref=str(recording_pk))
    except ValueError as exc:
        # Validation errors of the engine (target no longer allowed, profile
        # limits changed): the session records why and tries again next slot.
        RecordingSession.objects.using(DB).filter(pk=recording_pk).update(last_error=str(exc)[:2000])
        logger.warning("recording %s could not start a load test: %s", session.session_id, exc)
        return None
    run_enqueue(run_id=run.pk)
    RecordingSession.objects.using(DB).filter(pk=recording_pk).update(last_loadtest_run_id=run.pk, last_error="")
    return run.pk


def recording_run_record(*, run_id: int) -> int | None:
    """The engine announced the end of a recording's run: file its result in the session.

    Returns the tracker run's id; None when the run did not complete (the
    reason goes on the session) or its session is gone. Filing twice stores
    the run once (its ``runId`` is derived from the engine's run).
    """
    run = run_record(run_id=run_id, with_seconds=False)
    if run is None or run.origin != RUN_ORIGIN or not run.origin_ref.isdecimal():
        return None
    session = RecordingSession.objects.using(DB).filter(pk=int(run.origin_ref)).first()
    if session is None:
        return None
    if run.status != RunStatus.COMPLETED:
        RecordingSession.objects.using(DB).filter(pk=session.pk).update(
            last_error=f"load test {run.id} ended {run.status}: {run.error}"[:2000]
        )
        return None
    payload = run_tracker_payload(run_id=run.id, session=session.session_id, user_id=session.user_id)
    payload["labels"]["recording"] = True
    tracked_id, _ = run_ingest(payload=payload)
    return tracked_id
