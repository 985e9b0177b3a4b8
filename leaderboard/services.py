"""Writes of the competition: participants and keys, submissions, scoring a finished run."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import IntegrityError, transaction
from django.utils import timezone

from leaderboard.keys import api_key_generate, api_key_hash
from leaderboard.models import ACTIVE_STATUSES, Challenge, Participant, Submission, SubmissionStatus
from leaderboard.scoring import run_score
from leaderboard.selectors import run_scoring_input
from leaderboard.shared import version_bump
from loadtest.models import LoadTestRun, RunStatus
from loadtest.profiles import ProfileError, chaos_plan_validate, profile_validate
from loadtest.services import run_cancel, run_create, run_execute, run_time_limits
from loadtest.targets import TargetNotAllowed, target_url_validate

logger = logging.getLogger(__name__)

IDEMPOTENCY_KEY_MAX = 100


# --- errors the API turns into 4xx -------------------------------------------


class SubmissionError(Exception):
    """A submission was refused; ``field`` names the culprit when one input is to blame."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class SubmissionInvalid(SubmissionError):
    pass


class SubmissionLimitReached(SubmissionError):
    def __init__(self, message: str, *, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class IdempotencyConflict(SubmissionError):
    pass


class SubmissionForbidden(SubmissionError):
    pass


# --- participants ------------------------------------------------------------


def participant_create(*, username: str, display_name: str = "") -> tuple[Participant, str]:
    """Create a participant; returns it and its API key, which is never available again."""
    username = username.strip()
    try:
        validate_slug(username)
    except ValidationError:
        raise ValueError(f"username {username!r} may contain only letters, digits, '-' and '_'") from None
    if len(username) > 40:
        raise ValueError("username is longer than 40 characters")
    if Participant.objects.filter(username=username).exists():
        raise ValueError(f"participant {username!r} already exists")
    key, prefix = api_key_generate()
    participant = Participant.objects.create(
        username=username,
        display_name=display_name.strip(),
        key_prefix=prefix,
        key_hash=api_key_hash(key=key),
        key_created_at=timezone.now(),
    )
    return participant, key


def participant_key_rotate(*, participant: Participant) -> str:
    """Replace the participant's key; the old one stops working at once."""
    key, prefix = api_key_generate()
    participant.key_prefix = prefix
    participant.key_hash = api_key_hash(key=key)
    participant.key_created_at = timezone.now()
    participant.save(update_fields=["key_prefix", "key_hash", "key_created_at"])
    return key


# --- challenges --------------------------------------------------------------


def challenge_config_validate(*, profile: object, chaos_plan: object) -> tuple[dict, list[dict]]:
    """The challenge's profile and plan normalized by the engine's validators (raises ProfileError)."""
    normalized = profile_validate(profile=profile)
    plan = chaos_plan_validate(plan=chaos_plan, duration_s=normalized["duration_s"])
    return normalized, plan


# --- submissions -------------------------------------------------------------


def _next_utc_midnight(now: datetime) -> datetime:
    return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def _idempotent_match(*, participant: Participant, idempotency_key: str, challenge_slug: str, target_url: str) -> Submission | None:
    existing = Submission.objects.select_related("challenge").filter(participant=participant, idempotency_key=idempotency_key).first()
    if existing is None:
        return None
    if existing.challenge.slug != challenge_slug or existing.target_url != target_url:
        raise IdempotencyConflict(
            "this Idempotency-Key was already used for a different submission; use a new key for a new request",
            field="Idempotency-Key",
        )
    return existing


def submission_create(
    *,
    participant: Participant,
    challenge_slug: str,
    target_url: str,
    idempotency_key: str = "",
    now: datetime | None = None,
) -> tuple[Submission, bool]:
    """Queue a submission and its load-test run; returns ``(submission, created)``.

    With an idempotency key already used by this participant for the same
    request, the earlier submission is returned and nothing new is created.
    """
    now = now or timezone.now()
    idempotency_key = (idempotency_key or "").strip()
    if len(idempotency_key) > IDEMPOTENCY_KEY_MAX or not idempotency_key.isprintable():
        raise SubmissionInvalid(
            f"must be at most {IDEMPOTENCY_KEY_MAX} printable characters", field="Idempotency-Key"
        )
    if not isinstance(challenge_slug, str) or not challenge_slug:
        raise SubmissionInvalid("is required", field="challenge")
    try:
        url = target_url_validate(url=target_url)
    except TargetNotAllowed as exc:
        raise SubmissionInvalid(str(exc), field="target_url") from None

    if idempotency_key:
        existing = _idempotent_match(
            participant=participant, idempotency_key=idempotency_key, challenge_slug=challenge_slug, target_url=url
        )
        if existing is not None:
            return existing, False

    challenge = Challenge.objects.filter(slug=challenge_slug, is_active=True).first()
    if challenge is None:
        raise SubmissionInvalid(f"there is no open challenge {challenge_slug!r}", field="challenge")
    if not participant.is_active:
        raise SubmissionForbidden("this participant has been suspended and may not submit")

    if Submission.objects.filter(participant=participant, status__in=ACTIVE_STATUSES).exists():
        raise SubmissionLimitReached("you already have a submission queued or running; wait for it or cancel it")
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    used = Submission.objects.filter(participant=participant, challenge=challenge, created_at__gte=day_start).count()
    if used >= challenge.daily_limit:
        retry = int((_next_utc_midnight(now) - now).total_seconds()) + 1
        raise SubmissionLimitReached(
            f"daily limit of {challenge.daily_limit} submissions to {challenge.name!r} reached; try again after 00:00 UTC",
            retry_after_s=retry,
        )

    try:
        with transaction.atomic():
            submission = _submission_insert(participant=participant, challenge=challenge, target_url=url, idempotency_key=idempotency_key)
    except IntegrityError:
        # Lost a race with a concurrent request: either the same idempotency
        # key (answer with that submission) or another active submission.
        if idempotency_key:
            existing = _idempotent_match(
                participant=participant, idempotency_key=idempotency_key, challenge_slug=challenge_slug, target_url=url
            )
            if existing is not None:
                return existing, False
        raise SubmissionLimitReached("you already have a submission queued or running; wait for it or cancel it") from None
    return submission, True


def _submission_insert(*, participant: Participant, challenge: Challenge, target_url: str, idempotency_key: str) -> Submission:
    """Inside a transaction: the run, the submission, and the task once both are committed."""
    run = run_create(
        target_url=target_url, profile=challenge.profile, chaos_plan=challenge.chaos_plan, origin="submission"
    )
    submission = Submission.objects.create(
        participant=participant,
        challenge=challenge,
        target_url=target_url,
        idempotency_key=idempotency_key,
        run=run,
    )
    submission_enqueue(submission_id=submission.id)
    return submission


def submission_enqueue(*, submission_id: int) -> None:
    # tasks.py imports this module; importing it here avoids the cycle.
    from leaderboard.tasks import submission_run_task

    profile = Submission.objects.filter(id=submission_id).values_list("run__profile", flat=True).first()
    soft, hard = run_time_limits(duration_s=int((profile or {}).get("duration_s") or 0))
    queue = settings.LOADTEST_QUEUE
    transaction.on_commit(
        lambda: submission_run_task.apply_async(
            args=[submission_id], queue=queue, soft_time_limit=soft + 30, time_limit=hard + 30
        )
    )


def submission_cancel(*, submission: Submission, now: datetime | None = None) -> bool:
    """Ask a queued or running submission to stop; False when it has already finished."""
    now = now or timezone.now()
    with transaction.atomic():
        # A queued submission ends here and now; its task will find it no longer queued.
        cancelled = Submission.objects.filter(id=submission.id, status=SubmissionStatus.QUEUED).update(
            status=SubmissionStatus.CANCELLED, finished_at=now, error="cancelled before it started"
        )
        running = Submission.objects.filter(id=submission.id, status=SubmissionStatus.RUNNING).exists()
        if (cancelled or running) and submission.run_id:
            # A running one ends when the engine stops the run and the task records it.
            run_cancel(run_id=submission.run_id)
    submission.refresh_from_db()
    return bool(cancelled or running)


def submission_execute(*, submission_id: int) -> Submission | None:
    """The worker's job: claim a queued submission, run its load test, then score it.

    Safe to run twice: the claim is a conditional UPDATE, and a submission that
    is not queued any more (cancelled, or taken by another worker) is left alone.
    """
    now = timezone.now()
    claimed = Submission.objects.filter(id=submission_id, status=SubmissionStatus.QUEUED).update(
        status=SubmissionStatus.RUNNING, started_at=now
    )
    if not claimed:
        logger.info("submission %s is not queued any more; nothing to do", submission_id)
        return None
    submission = Submission.objects.get(id=submission_id)
    if submission.run_id is None:
        return submission_finish(submission_id=submission_id, run=None)
    try:
        run = run_execute(run_id=submission.run_id)
    except Exception as exc:
        # Recorded on the submission, then re-raised for the worker's log.
        _submission_mark(
            submission_id=submission_id, status=SubmissionStatus.FAILED,
            error=f"the load test stopped with an error: {exc}", now=timezone.now(),
        )
        raise
    return submission_finish(submission_id=submission_id, run=run)


@dataclass(frozen=True)
class _Outcome:
    status: str
    error: str = ""


def _outcome(run: LoadTestRun | None) -> _Outcome:
    if run is None:
        return _Outcome(SubmissionStatus.FAILED, "the submission has no load-test run")
    if run.status == RunStatus.COMPLETED:
        return _Outcome(SubmissionStatus.SCORED)
    if run.status == RunStatus.CANCELLED:
        return _Outcome(SubmissionStatus.CANCELLED, "cancelled while running")
    if run.status == RunStatus.FAILED:
        return _Outcome(SubmissionStatus.FAILED, run.error or "the load test failed")
    return _Outcome(SubmissionStatus.FAILED, f"the load test ended in status {run.status!r}")


def submission_finish(*, submission_id: int, run: LoadTestRun | None, now: datetime | None = None) -> Submission:
    """Record a finished run on its submission: scored (with statistics) or failed/cancelled with the reason.

    Scoring and the status change commit together; a submission already
    finished is returned unchanged, so the task and the ``run_finished``
    signal may both call this.
    """
    now = now or timezone.now()
    outcome = _outcome(run)
    result = None
    if outcome.status == SubmissionStatus.SCORED:
        submission = Submission.objects.select_related("challenge").get(id=submission_id)
        try:
            result = run_score(
                kind=submission.challenge.scoring,
                run=run_scoring_input(run=run),
                threshold_pct=submission.challenge.up_threshold_pct,
            )
        except Exception as exc:
            # Recorded, then re-raised so the failure is also visible in the worker's log.
            _submission_mark(submission_id=submission_id, status=SubmissionStatus.FAILED, error=f"scoring failed: {exc}", now=now)
            raise

    with transaction.atomic():
        submission = Submission.objects.select_for_update().select_related("challenge").get(id=submission_id)
        if submission.status not in ACTIVE_STATUSES:
            return submission
        submission.status = outcome.status
        submission.error = outcome.error
        submission.finished_at = now
        fields = ["status", "error", "finished_at"]
        if result is not None:
            submission.statistic_1, submission.statistic_2, submission.statistic_3 = result.statistics
            submission.score = result.score
            submission.details = {**result.details, "threshold_pct": submission.challenge.up_threshold_pct}
            fields += ["statistic_1", "statistic_2", "statistic_3", "score", "details"]
        submission.save(update_fields=fields)
        if result is not None:
            submission_best_refresh(participant_id=submission.participant_id, challenge_id=submission.challenge_id)
            submission.refresh_from_db(fields=["is_best"])
    return submission


def _submission_mark(*, submission_id: int, status: str, error: str, now: datetime) -> int:
    return Submission.objects.filter(id=submission_id, status__in=ACTIVE_STATUSES).update(
        status=status, error=error, finished_at=now
    )


def submission_best_refresh(*, participant_id: int, challenge_id: int) -> Submission | None:
    """Mark the participant's best scored submission of a challenge (ties: the earlier one).

    Called inside the scoring transaction and after deletions; the partial
    unique constraint keeps at most one best row per participant and challenge.
    """
    with transaction.atomic():
        scored = Submission.objects.select_for_update().filter(
            participant_id=participant_id, challenge_id=challenge_id, status=SubmissionStatus.SCORED, score__isnull=False
        )
        best = scored.order_by("-score", "created_at", "id").first()
        # Clear first: the unique constraint forbids two best rows even for a moment.
        Submission.objects.filter(participant_id=participant_id, challenge_id=challenge_id, is_best=True).exclude(
            id=getattr(best, "id", None)
        ).update(is_best=False)
        if best is not None and not best.is_best:
            Submission.objects.filter(id=best.id).update(is_best=True)
            best.is_best = True
        # A new ranking version makes every cached leaderboard answer stale at once.
        transaction.on_commit(version_bump)
    return best


def submission_rerun(*, submission: Submission) -> Submission:
    """A new submission of the same participant, challenge and target (the admin's re-run).

    Bypasses the daily limit (an operator decided), but not the one-active rule.
    """
    try:
        with transaction.atomic():
            return _submission_insert(
                participant=submission.participant,
                challenge=submission.challenge,
                target_url=submission.target_url,
                idempotency_key="",
            )
    except IntegrityError:
        raise SubmissionLimitReached(
            f"{submission.participant} already has a submission queued or running"
        ) from None


def submission_finish_for_run(*, run: LoadTestRun) -> Submission | None:
    """Finish the submission of a run that ended without its task (e.g. marked failed as stuck)."""
    submission_id = Submission.objects.filter(run=run, status__in=ACTIVE_STATUSES).values_list("id", flat=True).first()
    if submission_id is None:
        return None
    return submission_finish(submission_id=submission_id, run=run)


def submissions_fail_stuck(*, now: datetime) -> int:
    """Finish submissions whose task is gone, so that nothing stays queued or running forever.

    * running, but its run never left "queued" within the start-up grace: the
      worker died between claiming the submission and starting the run;
    * queued or running while its run has already ended (e.g. the engine's
      stuck-run check failed it while the signal could not be delivered).
    A run that ended completed is scored as the task would have.
    """
    grace = timedelta(seconds=settings.LOADTEST_START_GRACE_S + 60)
    finished = 0
    never_started = Submission.objects.filter(
        status=SubmissionStatus.RUNNING, started_at__lt=now - grace, run__status=RunStatus.QUEUED
    ).values_list("id", "run_id")
    for submission_id, run_id in never_started:
        run_cancel(run_id=run_id)
        finished += _submission_mark(
            submission_id=submission_id, status=SubmissionStatus.FAILED,
            error="the worker stopped before the load test started; please submit again", now=now,
        )
    orphans = Submission.objects.filter(
        status__in=ACTIVE_STATUSES, run__status__in=[RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED],
        run__finished_at__lt=now - timedelta(seconds=60),
    ).select_related("run")
    for submission in orphans:
        submission_finish(submission_id=submission.id, run=submission.run, now=now)
        finished += 1
    return finished


__all__ = [
    "IdempotencyConflict",
    "ProfileError",
    "SubmissionError",
    "SubmissionInvalid",
    "SubmissionLimitReached",
]
