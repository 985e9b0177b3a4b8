"""Writes of the competition: participants and keys, submissions, scoring a finished run."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from common.validation import FieldError
from leaderboard.board_rows import FIGURE_FIELDS, Figures, entry_renderings, rendering_stamp
from leaderboard.keys import api_key_generate, api_key_hash
from leaderboard.models import (
    ACTIVE_STATUSES,
    Challenge,
    ChallengeEntry,
    LeaderboardEntry,
    Participant,
    Submission,
    SubmissionStatus,
)
from leaderboard.ranking_version import version_bump
from leaderboard.scoring import run_score
from leaderboard.selectors import run_scoring_input, submission_active_wait_s
from loadtest.selectors import EndReason, RunRecord, RunStatus, run_record
from loadtest.services import (
    TargetNotAllowed,
    run_cancel,
    run_config_validate,
    run_create,
    run_enqueue,
    run_place_spec_build,
    run_retry,
    target_url_validate,
)

logger = logging.getLogger(__name__)

IDEMPOTENCY_KEY_MAX = 100
# The engine's ``origin`` of a submission's runs: its announcements for these are ours.
RUN_ORIGIN = "submission"
# The engine's place for bundles: a sandbox the platform owns.
SANDBOX_PLACE = "sandbox"


# --- refusals the API turns into 4xx ------------------------------------------
# Bad input is the one field-error type (400). A refusal of valid input is the
# same type with the status the API answers.


class SubmissionRefused(FieldError):
    status = 400

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(field, message)


class SubmissionLimitReached(SubmissionRefused):
    """A limit stands in the way: always with the seconds until it should be lifted (the API's ``Retry-After``)."""

    status = 429

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, int(retry_after_s))


class IdempotencyConflict(SubmissionRefused):
    status = 409


class SubmissionForbidden(SubmissionRefused):
    status = 403


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
    """The challenge's profile and plan normalized by the engine's validators (raises FieldError)."""
    return run_config_validate(profile=profile, chaos_plan=chaos_plan)


def challenge_profile_source(slug: str) -> tuple[dict, list] | None:
    """The engine's ``challenge`` profile source (``run_loadtest --challenge SLUG``)."""
    challenge = Challenge.objects.filter(slug=slug).first()
    if challenge is None:
        return None
    return dict(challenge.profile), list(challenge.chaos_plan or [])


# --- submissions -------------------------------------------------------------


def _next_utc_midnight(now: datetime) -> datetime:
    return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class _Entry:
    """What a participant submits: the URL of a setup they run, or a bundle the platform runs."""

    target_url: str = ""
    bundle: str = ""


def _idempotent_match(*, participant: Participant, idempotency_key: str, challenge_slug: str, entry: _Entry) -> Submission | None:
    existing = Submission.objects.select_related("challenge").filter(participant=participant, idempotency_key=idempotency_key).first()
    if existing is None:
        return None
    if existing.challenge.slug != challenge_slug or (existing.target_url, existing.bundle) != (entry.target_url, entry.bundle):
        raise IdempotencyConflict(
            "this Idempotency-Key was already used for a different submission; use a new key for a new request",
            field="Idempotency-Key",
        )
    return existing


def _entry_of(*, target_url: object, bundle: object) -> _Entry:
    """Exactly one of the two, the URL checked against the allow-list; the bundle is checked with its challenge."""
    has_url, has_bundle = bool(target_url), bool(bundle)
    if has_url == has_bundle:
        raise FieldError("target_url" if not has_url else "bundle",
                         "give either target_url (a setup you run) or bundle (manifests the platform runs), not both"
                         if has_url else "give either target_url (a setup you run) or bundle (manifests the platform runs)")
    if has_bundle:
        if not isinstance(bundle, str):
            raise FieldError("bundle", "must be the manifests as text (YAML or JSON)")
        return _Entry(bundle=bundle)
    try:
        return _Entry(target_url=target_url_validate(url=target_url))
    except TargetNotAllowed as exc:
        raise FieldError("target_url", str(exc)) from None


def _bundle_place_spec(*, challenge: Challenge, bundle: str) -> dict:
    """The sandbox's spec for a bundle under the challenge's quota; FieldError naming the field in the bundle."""
    quota = {"cpu_millicores": challenge.quota_cpu_millicores, "memory_bytes": challenge.quota_memory_mib * 2**20,
             "pods": challenge.quota_pods}
    try:
        return run_place_spec_build(place=SANDBOX_PLACE, given={"bundle": bundle, "quota": quota})
    except FieldError as exc:
        if exc.field == "place":
            raise FieldError("bundle", "bundle submissions are not available on this platform (no sandbox)") from None
        # The sandbox names fields from its input already: bundle[1].spec…, bundle, quota.cpu.
        raise FieldError(exc.field or "bundle", exc.message) from None


def submission_create(
    *,
    participant: Participant,
    challenge_slug: str,
    target_url: str = "",
    bundle: str = "",
    idempotency_key: str = "",
    now: datetime | None = None,
) -> tuple[Submission, bool]:
    """Queue a submission and its load-test run; returns ``(submission, created)``.

    A submission is the URL of a setup the participant runs, or a bundle
    (Kubernetes manifests) that the platform runs in a sandbox of its own, as
    the challenge accepts; a bundle's score is marked verified. With an
    idempotency key already used by this participant for the same request,
    the earlier submission is returned and nothing new is created.
    """
    now = now or timezone.now()
    idempotency_key = (idempotency_key or "").strip()
    if len(idempotency_key) > IDEMPOTENCY_KEY_MAX or not idempotency_key.isprintable():
        raise FieldError("Idempotency-Key", f"must be at most {IDEMPOTENCY_KEY_MAX} printable characters")
    if not isinstance(challenge_slug, str) or not challenge_slug:
        raise FieldError("challenge", "is required")
    entry = _entry_of(target_url=target_url, bundle=bundle)

    if idempotency_key:
        existing = _idempotent_match(
            participant=participant, idempotency_key=idempotency_key, challenge_slug=challenge_slug, entry=entry
        )
        if existing is not None:
            return existing, False

    challenge = Challenge.objects.filter(slug=challenge_slug, is_active=True).first()
    if challenge is None:
        raise FieldError("challenge", f"there is no open challenge {challenge_slug!r}")
    if entry.bundle and challenge.accepts == ChallengeEntry.URL:
        raise FieldError("bundle", f"{challenge.name!r} takes the URL of a setup you run (target_url), not a bundle")
    if entry.target_url and challenge.accepts == ChallengeEntry.BUNDLE:
        raise FieldError("target_url", f"{challenge.name!r} takes a bundle the platform runs, not a URL")
    if not participant.is_active:
        raise SubmissionForbidden("this participant has been suspended and may not submit")

    if Submission.objects.filter(participant=participant, status__in=ACTIVE_STATUSES).exists():
        raise _one_active_refusal(participant=participant, now=now)
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    used = Submission.objects.filter(
        participant=participant, challenge=challenge, created_at__gte=day_start, platform_failure=False
    ).count()
    if used >= challenge.daily_limit:
        retry = int((_next_utc_midnight(now) - now).total_seconds()) + 1
        raise SubmissionLimitReached(
            f"daily limit of {challenge.daily_limit} submissions to {challenge.name!r} reached; try again after 00:00 UTC",
            retry_after_s=retry,
        )
    # Checked last of all: the heaviest check, for a submission that may go in.
    place_spec = _bundle_place_spec(challenge=challenge, bundle=entry.bundle) if entry.bundle else None

    try:
        with transaction.atomic():
            submission = _submission_insert(participant=participant, challenge=challenge, entry=entry,
                                            place_spec=place_spec, idempotency_key=idempotency_key)
    except IntegrityError:
        # Lost a race with a concurrent request: either the same idempotency
        # key (answer with that submission) or another active submission.
        if idempotency_key:
            existing = _idempotent_match(
                participant=participant, idempotency_key=idempotency_key, challenge_slug=challenge_slug, entry=entry
            )
            if existing is not None:
                return existing, False
        raise _one_active_refusal(participant=participant, now=now) from None
    return submission, True


def _one_active_refusal(*, participant: Participant, now: datetime) -> SubmissionLimitReached:
    return SubmissionLimitReached(
        "you already have a submission queued or running; wait for it or cancel it",
        retry_after_s=submission_active_wait_s(participant=participant, now=now),
    )


def _submission_insert(*, participant: Participant, challenge: Challenge, entry: _Entry, place_spec: dict | None,
                       idempotency_key: str) -> Submission:
    """Inside a transaction: the run, the submission, and the run enqueued once both are committed."""
    place = {"place": SANDBOX_PLACE, "place_spec": place_spec} if place_spec is not None else {}
    run = run_create(
        target_url=entry.target_url, profile=challenge.profile, chaos_plan=challenge.chaos_plan, origin=RUN_ORIGIN,
        owner=str(participant.id), **place,
    )
    submission = Submission.objects.create(
        participant=participant,
        challenge=challenge,
        target_url=entry.target_url,
        bundle=entry.bundle,
        verified=place_spec is not None,
        idempotency_key=idempotency_key,
        run_id=run.pk,
    )
    run_enqueue(run_id=run.pk)
    return submission


def submission_cancel(*, submission: Submission) -> bool:
    """Ask a queued or running submission to stop; False when it has already finished.

    The engine cancels the run (a queued one at once, a running one within a
    second) and announces its end; ``submission_finish`` records it. A queued
    one is finished here too, so that the answer already says so (the
    announcement then finds it finished).
    """
    cancelled = submission.is_active and submission.run_id is not None and run_cancel(run_id=submission.run_id)
    if cancelled:
        submission_finish(run_id=submission.run_id)
    submission.refresh_from_db()
    return bool(cancelled)


def submission_start(*, run_id: int, now: datetime | None = None) -> bool:
    """The engine started a submission's run: queued → running."""
    return bool(
        Submission.objects.filter(run_id=run_id, status=SubmissionStatus.QUEUED).update(
            status=SubmissionStatus.RUNNING, started_at=now or timezone.now()
        )
    )


@dataclass(frozen=True)
class _Outcome:
    status: str
    error: str = ""
    platform_failure: bool = False


def _outcome(run: RunRecord) -> _Outcome:
    if run.status == RunStatus.COMPLETED:
        return _Outcome(SubmissionStatus.SCORED)
    if run.status == RunStatus.CANCELLED:
        return _Outcome(SubmissionStatus.CANCELLED, run.error if run.started_at is None else "cancelled while running")
    if run.end_reason == EndReason.WORKER_LOST:
        return _Outcome(SubmissionStatus.FAILED, f"{run.error}; it was tried {LOST_RUN_ATTEMPTS_TEXT}",
                        platform_failure=True)
    if run.status == RunStatus.FAILED:
        return _Outcome(SubmissionStatus.FAILED, run.error or "the load test failed")
    return _Outcome(SubmissionStatus.FAILED, f"the load test ended in status {run.status!r}")


LOST_RUN_ATTEMPTS_TEXT = "again as often as allowed; this submission does not count against your daily limit"


def submission_finish(*, run_id: int, now: datetime | None = None) -> Submission | None:
    """The one place a submission ends: the engine announced that its run has finished.

    Completed: scored (with statistics, and the best submission refreshed).
    Lost with its worker: started again with a new run, at most
    ``LOADTEST_LOST_RUN_RETRIES`` times; after that failed without counting
    against the daily limit. Otherwise failed or cancelled with the reason.
    Scoring and the status change commit together; a submission already
    finished, or no longer on this run, is returned unchanged, so a repeated
    announcement does nothing.
    """
    now = now or timezone.now()
    submission_id = Submission.objects.filter(run_id=run_id).values_list("id", flat=True).first()
    if submission_id is None:
        return None
    run = run_record(run_id=run_id)
    if run is None or not run.is_finished:
        return Submission.objects.get(id=submission_id)
    outcome = _outcome(run)
    result = None
    if outcome.status == SubmissionStatus.SCORED:
        challenge = Challenge.objects.get(submissions__id=submission_id)
        try:
            result = run_score(kind=challenge.scoring, run=run_scoring_input(run=run),
                               threshold_pct=challenge.up_threshold_pct)
        except Exception as exc:
            # Recorded, then re-raised so the failure is also visible in the worker's log.
            _submission_mark(submission_id=submission_id, status=SubmissionStatus.FAILED, error=f"scoring failed: {exc}", now=now)
            raise

    with transaction.atomic():
        if result is not None:
            # Re-ranking (below) holds the challenge's lock: taken first, as everyone who re-ranks does.
            _challenge_lock(challenge_id=challenge.id)
        submission = Submission.objects.select_for_update(of=("self",)).select_related("challenge").get(id=submission_id)
        if submission.status not in ACTIVE_STATUSES or submission.run_id != run_id:
            return submission
        if outcome.platform_failure and submission.attempts <= settings.LOADTEST_LOST_RUN_RETRIES:
            return _submission_retry(submission=submission, run=run)
        submission.status = outcome.status
        submission.error = outcome.error
        submission.platform_failure = outcome.platform_failure
        submission.finished_at = now
        fields = ["status", "error", "platform_failure", "finished_at"]
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


def _submission_retry(*, submission: Submission, run: RunRecord) -> Submission:
    """Inside the finishing transaction: a new run for a submission whose run died with its worker."""
    fresh = run_retry(run_id=run.id)
    submission.run_id = fresh.pk
    submission.attempts += 1
    submission.status = SubmissionStatus.QUEUED
    submission.started_at = None
    submission.error = f"attempt {submission.attempts - 1} was lost ({run.error}); started again"
    submission.save(update_fields=["run", "attempts", "status", "started_at", "error"])
    logger.warning("submission %s: run %s lost with its worker, started again as run %s", submission.id, run.id,
                   fresh.pk)
    return submission


def _submission_mark(*, submission_id: int, status: str, error: str, now: datetime) -> int:
    return Submission.objects.filter(id=submission_id, status__in=ACTIVE_STATUSES).update(
        status=status, error=error, finished_at=now
    )


# What a re-ranking reads of a participant's scored submissions: what their entries copy, and is_best.
_ENTRY_SOURCE_FIELDS = ("id", "participant_id", "challenge_id", "score", "statistic_1", "statistic_2", "statistic_3",
                        "created_at", "verified", "is_best")


def submission_best_refresh(*, participant_id: int, challenge_id: int) -> Submission | None:
    """Mark the participant's best scored submission of a challenge (ties: the earlier one) and re-rank.

    The one place a best submission changes: called in the scoring
    transaction and after anything else that changes a score or what is
    scored (deletions go through ``submissions_delete`` and
    ``participants_delete``, which call it). It keeps the participant's
    entries of the challenge's two boards (their best, their best verified)
    and rewrites the ranks of a board whose entry changed, all in one
    transaction and under a lock on the challenge's row, so that two
    submissions of one challenge scored at once are ranked one after the
    other. The partial unique constraint keeps at most one best row per
    participant and challenge.
    """
    with transaction.atomic():
        scoring_kind = _challenge_lock(challenge_id=challenge_id)
        # In the ranking order: the first row is the best, the first verified one the best verified.
        scored = list(
            Submission.objects.select_for_update()
            .filter(participant_id=participant_id, challenge_id=challenge_id, status=SubmissionStatus.SCORED,
                    score__isnull=False)
            .order_by("-score", "created_at", "id")
            .only(*_ENTRY_SOURCE_FIELDS)
        )
        best = scored[0] if scored else None
        best_verified = next((s for s in scored if s.verified), None)
        # Clear first: the unique constraint forbids two best rows even for a moment.
        Submission.objects.filter(participant_id=participant_id, challenge_id=challenge_id, is_best=True).exclude(
            id=getattr(best, "id", None)
        ).update(is_best=False)
        if best is not None and not best.is_best:
            Submission.objects.filter(id=best.id).update(is_best=True)
            best.is_best = True
        for verified_only, submission in ((False, best), (True, best_verified)):
            if _entry_put(challenge_id=challenge_id, participant_id=participant_id, verified_only=verified_only,
                          submission=submission, scoring_kind=scoring_kind):
                _ranks_recount(challenge_id=challenge_id, verified_only=verified_only)
        # A new ranking version makes every cached leaderboard answer stale at once.
        transaction.on_commit(version_bump)
    return best


def _challenge_lock(*, challenge_id: int, using: str = "default") -> str | None:
    """Inside a transaction: wait for, then hold, the challenge's row lock until the transaction ends.

    Returns the challenge's scoring kind, read under the lock (its entries are
    rendered by it); None if the challenge is gone, and its entries with it.

    Ranks depend on every entry of the challenge, so its writers take turns;
    everyone who re-ranks takes this lock before any submission's, which keeps
    the order of locks the same everywhere (no deadlock). SQLite has no row
    locks; its IMMEDIATE transactions take the database's write lock up front.
    """
    return (Challenge.objects.using(using).select_for_update().filter(id=challenge_id)
            .values_list("scoring", flat=True).first())


def _entry_put(
    *, challenge_id: int, participant_id: int, verified_only: bool, submission: Submission | None, scoring_kind: str | None
) -> bool:
    """Make the participant's entry of one board show ``submission`` (None: no entry); True if its place may move."""
    entry = LeaderboardEntry.objects.filter(challenge_id=challenge_id, verified_only=verified_only,
                                            participant_id=participant_id)
    if submission is None:
        return entry.delete()[0] > 0
    copy = {
        "submission_id": submission.id, "score": submission.score, "statistic_1": submission.statistic_1,
        "statistic_2": submission.statistic_2, "statistic_3": submission.statistic_3,
        "submitted_at": submission.created_at, "verified": submission.verified,
    }
    existing = entry.values(*copy, "username", "display_name", "rendering").first()
    if existing is not None:
        names = {"username": existing.pop("username"), "display_name": existing.pop("display_name")}
        if existing.pop("rendering") == rendering_stamp(scoring_kind) and existing == copy:
            return False
        entry.update(**copy, **entry_renderings(figures=Figures(**copy, **names), scoring_kind=scoring_kind))
        return any(existing[key] != copy[key] for key in ("submission_id", "score", "submitted_at"))
    username, display_name = Participant.objects.values_list("username", "display_name").get(id=participant_id)
    board = LeaderboardEntry.objects.filter(challenge_id=challenge_id, verified_only=verified_only)
    last = board.order_by("-rank").values_list("rank", flat=True).first() or 0
    figures = Figures(username=username, display_name=display_name, **copy)
    # At the end of the board for a moment: the re-count that follows puts it in its place.
    LeaderboardEntry.objects.create(
        challenge_id=challenge_id, verified_only=verified_only, participant_id=participant_id, rank=last + 1,
        username=username, display_name=display_name, **copy,
        **entry_renderings(figures=figures, scoring_kind=scoring_kind),
    )
    return True


def _ranks_recount(*, challenge_id: int, verified_only: bool) -> int:
    """Inside the challenge's lock: rank one board 1…N again in the ranking order; returns the rows that moved.

    One statement, written by hand because the ORM cannot UPDATE from a
    window function: it reads the board (about one row per participant) and
    writes only the rows whose rank changed — the ones between an entry's old
    place and its new one. PostgreSQL and SQLite (3.33+) both take this form.
    """
    table = connection.ops.quote_name(LeaderboardEntry._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {table} SET "rank" = ranked.new_rank
            FROM (
                SELECT "id", ROW_NUMBER() OVER (ORDER BY "score" DESC, "submitted_at" ASC, "submission_id" ASC)
                       AS new_rank
                FROM {table} WHERE "challenge_id" = %s AND "verified_only" = %s
            ) AS ranked
            WHERE {table}."id" = ranked."id" AND {table}."rank" <> ranked.new_rank
            """,
            [challenge_id, verified_only],
        )
        return cursor.rowcount


def challenge_ranking_rebuild(*, challenge_id: int) -> int:
    """Write a challenge's two boards again from its submissions as they stand; returns the entries written.

    For bulk loads and repairs, in a few statements whatever the number of
    participants (the regular path is ``submission_best_refresh``, one
    participant at a time). The board of everyone takes each participant's
    ``is_best`` submission, which a database constraint keeps unique; the
    verified board, each participant's best verified scored submission.
    """
    fields = ("id", "participant_id", "score", "statistic_1", "statistic_2", "statistic_3", "created_at",
              "verified", "participant__username", "participant__display_name")
    with transaction.atomic():
        scoring_kind = _challenge_lock(challenge_id=challenge_id)
        LeaderboardEntry.objects.filter(challenge_id=challenge_id).delete()
        scored = Submission.objects.filter(challenge_id=challenge_id, status=SubmissionStatus.SCORED,
                                           score__isnull=False).order_by("-score", "created_at", "id")
        everyone = list(scored.filter(is_best=True).values_list(*fields))
        # In the ranking order, a participant's first verified row is their best verified one.
        verified, seen = [], set()
        for row in scored.filter(verified=True).values_list(*fields).iterator(chunk_size=5000):
            if row[1] not in seen:
                seen.add(row[1])
                verified.append(row)
        entries = []
        for verified_only, rows in ((False, everyone), (True, verified)):
            for rank, row in enumerate(rows, start=1):
                figures = Figures(submission_id=row[0], score=row[2], statistic_1=row[3], statistic_2=row[4],
                                  statistic_3=row[5], submitted_at=row[6], verified=row[7], username=row[8],
                                  display_name=row[9])
                entries.append(LeaderboardEntry(
                    challenge_id=challenge_id, verified_only=verified_only, rank=rank, participant_id=row[1],
                    **{name: getattr(figures, name) for name in FIGURE_FIELDS},
                    **entry_renderings(figures=figures, scoring_kind=scoring_kind),
                ))
        LeaderboardEntry.objects.bulk_create(entries, batch_size=2000)
        transaction.on_commit(version_bump)
    return len(entries)


def submissions_delete(*, submission_ids: list[int]) -> int:
    """Delete submissions (the admin's delete) and re-rank whoever they were best for; returns how many went."""
    with transaction.atomic():
        pairs = sorted(set(Submission.objects.filter(id__in=submission_ids).values_list("challenge_id",
                                                                                        "participant_id")))
        # The challenges' locks before the submissions', in the order every
        # re-ranking takes them: a score recorded meanwhile waits for us
        # instead of deadlocking with us.
        for challenge_id in sorted({challenge_id for challenge_id, _ in pairs}):
            _challenge_lock(challenge_id=challenge_id)
        deleted = Submission.objects.filter(id__in=submission_ids).delete()[1].get(Submission._meta.label, 0)
        for challenge_id, participant_id in pairs:
            submission_best_refresh(participant_id=participant_id, challenge_id=challenge_id)
        # An entry deleted with its submission (the foreign key cascades) left
        # a gap that no refresh above saw: count both boards again.
        for challenge_id in sorted({challenge_id for challenge_id, _ in pairs}):
            for verified_only in (False, True):
                _ranks_recount(challenge_id=challenge_id, verified_only=verified_only)
    return deleted


def participants_delete(*, participant_ids: list[int]) -> int:
    """Delete participants with their submissions (the admin's delete) and close the gaps they leave in rankings."""
    with transaction.atomic():
        challenge_ids = sorted(set(
            LeaderboardEntry.objects.filter(participant_id__in=participant_ids).values_list("challenge_id", flat=True)
        ))
        for challenge_id in challenge_ids:
            _challenge_lock(challenge_id=challenge_id)
        deleted = Participant.objects.filter(id__in=participant_ids).delete()[1].get(Participant._meta.label, 0)
        for challenge_id in challenge_ids:
            for verified_only in (False, True):
                _ranks_recount(challenge_id=challenge_id, verified_only=verified_only)
        transaction.on_commit(version_bump)
    return deleted


def participant_entries_rename(*, participant: Participant) -> int:
    """Copy a participant's current names into their leaderboard entries (and renderings); returns how many changed."""
    names = {"username": participant.username, "display_name": participant.display_name}
    with transaction.atomic():
        # The challenges' locks first (in one order, like every writer), so
        # that no score written meanwhile is overwritten by a rendering of the old one.
        challenge_ids = sorted(set(
            LeaderboardEntry.objects.filter(participant_id=participant.id).values_list("challenge_id", flat=True)
        ))
        scoring_kinds = {challenge_id: _challenge_lock(challenge_id=challenge_id) for challenge_id in challenge_ids}
        entries = list(
            LeaderboardEntry.objects.filter(participant_id=participant.id, challenge_id__in=challenge_ids)
            .exclude(**names).only("challenge_id", *FIGURE_FIELDS)
        )
        for entry in entries:
            for name, value in names.items():
                setattr(entry, name, value)
            _renderings_set(entry=entry, scoring_kind=scoring_kinds[entry.challenge_id])
        LeaderboardEntry.objects.bulk_update(entries, ["username", "display_name", *_RENDERED_FIELDS], batch_size=100)
        if entries:
            transaction.on_commit(version_bump)
    return len(entries)


_RENDERED_FIELDS = ("row_html", "row_json", "rendering")


def _renderings_set(*, entry: LeaderboardEntry, scoring_kind: str) -> None:
    figures = Figures(**{name: getattr(entry, name) for name in FIGURE_FIELDS})
    for name, value in entry_renderings(figures=figures, scoring_kind=scoring_kind).items():
        setattr(entry, name, value)


def entries_rerender(*, using: str = "default", challenge_ids: list[int] | None = None,
                     batch_size: int = 2000) -> int:
    """Render again every entry (of ``challenge_ids``, or of all challenges) whose renderings are out of date —
    made by an earlier release, or for another scoring kind; returns how many.

    Run after each migration (a release may change how rows look) and when a
    challenge is saved (its scoring kind picks the columns). Reads serve an
    out-of-date entry correctly meanwhile, by rendering it when read. Each
    batch holds the challenge's lock, so no score written meanwhile is
    overwritten by a rendering of the figures it replaced.
    """
    challenges = Challenge.objects.using(using).values_list("id", flat=True).order_by("id")
    if challenge_ids is not None:
        challenges = challenges.filter(id__in=challenge_ids)
    done = 0
    for challenge_id in challenges:
        while True:
            with transaction.atomic(using=using):
                scoring_kind = _challenge_lock(challenge_id=challenge_id, using=using)
                batch = list(
                    LeaderboardEntry.objects.using(using).filter(challenge_id=challenge_id)
                    .exclude(rendering=rendering_stamp(scoring_kind)).only(*FIGURE_FIELDS).order_by("id")[:batch_size]
                ) if scoring_kind is not None else []
                for entry in batch:
                    _renderings_set(entry=entry, scoring_kind=scoring_kind)
                # Small statements: bulk_update's CASE costs each row a look at every id of its statement.
                LeaderboardEntry.objects.using(using).bulk_update(batch, list(_RENDERED_FIELDS), batch_size=100)
                if batch:
                    transaction.on_commit(version_bump, using=using)
            done += len(batch)
            if len(batch) < batch_size:
                break
    return done


def submission_rerun(*, submission: Submission) -> Submission:
    """A new submission of the same participant, challenge and entry (the admin's re-run).

    Bypasses the daily limit (an operator decided), but not the one-active rule.
    """
    entry = _Entry(target_url=submission.target_url, bundle=submission.bundle)
    place_spec = _bundle_place_spec(challenge=submission.challenge, bundle=entry.bundle) if entry.bundle else None
    try:
        with transaction.atomic():
            return _submission_insert(participant=submission.participant, challenge=submission.challenge,
                                      entry=entry, place_spec=place_spec, idempotency_key="")
    except IntegrityError:
        wait = submission_active_wait_s(participant=submission.participant, now=timezone.now())
        raise SubmissionLimitReached(
            f"{submission.participant} already has a submission queued or running", retry_after_s=wait
        ) from None


