"""Creating, running, scoring and cancelling submissions (leaderboard.services)."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from common.validation import FieldError
from leaderboard import services
from leaderboard.models import Submission, SubmissionStatus
from leaderboard.tests.conftest import challenge_get, participant_make, run_make, scored_make, submission_make
from loadtest import services as engine
from loadtest.hooks import run_finished
from loadtest.models import EndReason, LoadTestRun, RunStatus
from loadtest.tasks import run_loadtest_task

URL = "http://127.0.0.1:8080"


def test_it_creates_a_queued_submission_with_its_run_and_enqueues_it_after_commit(alice, robust, settings, django_capture_on_commit_callbacks):
    settings.LOADTEST_QUEUE = "loadtest-test"
    with mock.patch.object(run_loadtest_task, "apply_async") as apply_async:
        with django_capture_on_commit_callbacks(execute=True):
            submission, created = services.submission_create(participant=alice[0], challenge_slug="robust-service", target_url=URL + "/")
            apply_async.assert_not_called()
    assert created
    assert submission.status == SubmissionStatus.QUEUED
    assert submission.target_url == URL
    run = submission.run
    assert run.origin == "submission"
    assert run.status == RunStatus.QUEUED
    assert run.profile["duration_s"] == robust.profile["duration_s"]
    apply_async.assert_called_once()
    assert apply_async.call_args.kwargs["args"] == [run.id]
    assert run.owner == str(alice[0].id)
    assert apply_async.call_args.kwargs["queue"] == "loadtest-test"


def test_the_same_idempotency_key_returns_the_same_submission(alice, robust):
    first, created = services.submission_create(participant=alice[0], challenge_slug="robust-service", target_url=URL, idempotency_key="k1")
    again, created_again = services.submission_create(participant=alice[0], challenge_slug="robust-service", target_url=URL, idempotency_key="k1")
    assert created and not created_again
    assert again.id == first.id
    assert Submission.objects.count() == 1
    assert LoadTestRun.objects.count() == 1


def test_an_idempotency_key_reused_for_another_request_is_a_conflict(alice, robust):
    services.submission_create(participant=alice[0], challenge_slug="robust-service", target_url=URL, idempotency_key="k1")
    with pytest.raises(services.IdempotencyConflict):
        services.submission_create(participant=alice[0], challenge_slug="robust-service", target_url="http://127.0.0.1:8081", idempotency_key="k1")


def test_idempotency_keys_belong_to_one_participant(alice, outsider, robust):
    mine, _ = services.submission_create(participant=alice[0], challenge_slug="robust-service", target_url=URL, idempotency_key="k1")
    theirs, created = services.submission_create(participant=outsider[0], challenge_slug="robust-service", target_url=URL, idempotency_key="k1")
    assert created and theirs.id != mine.id


def test_it_refuses_a_second_active_submission(alice, robust):
    services.submission_create(participant=alice[0], challenge_slug="robust-service", target_url=URL)
    with pytest.raises(services.SubmissionLimitReached, match="already have a submission"):
        services.submission_create(participant=alice[0], challenge_slug="graceful-degradation", target_url=URL)
    assert Submission.objects.count() == 1
    assert LoadTestRun.objects.count() == 1


def test_it_refuses_more_than_the_daily_limit_until_midnight(alice, robust):
    robust.daily_limit = 2
    robust.save()
    now = timezone.now().replace(hour=10, minute=0, second=0, microsecond=0)
    for _ in range(2):
        submission_make(participant=alice[0], challenge=robust, status=SubmissionStatus.FAILED, created_at=now - timedelta(hours=1))
    with pytest.raises(services.SubmissionLimitReached, match="daily limit of 2") as caught:
        services.submission_create(participant=alice[0], challenge_slug="robust-service", target_url=URL, now=now)
    assert caught.value.retry_after_s == 14 * 3600 + 1
    # Yesterday's do not count.
    Submission.objects.update(created_at=now - timedelta(days=1))
    submission, _ = services.submission_create(participant=alice[0], challenge_slug="robust-service", target_url=URL, now=now)
    assert submission.status == SubmissionStatus.QUEUED


def test_it_refuses_unknown_and_inactive_challenges(alice, robust):
    with pytest.raises(FieldError) as caught:
        services.submission_create(participant=alice[0], challenge_slug="fastest-service", target_url=URL)
    assert caught.value.field == "challenge"
    robust.is_active = False
    robust.save()
    with pytest.raises(FieldError):
        services.submission_create(participant=alice[0], challenge_slug="robust-service", target_url=URL)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/", "http://example.com", "not a url", "http://127.0.0.1/?q=1"])
def test_it_refuses_bad_or_disallowed_targets(alice, robust, url):
    with pytest.raises(FieldError) as caught:
        services.submission_create(participant=alice[0], challenge_slug="robust-service", target_url=url)
    assert caught.value.field == "target_url"
    assert not Submission.objects.exists()


def _finish(run: LoadTestRun, status: str, capture, **fields) -> None:
    """The engine ends a running run and announces it, as its one task would."""
    LoadTestRun.objects.filter(id=run.id).update(status=RunStatus.RUNNING)
    with capture(execute=True):
        assert engine.run_finish(run_id=run.id, status=status, **fields)


def test_the_engine_announcing_a_completed_run_scores_its_submission(alice, robust, django_capture_on_commit_callbacks):
    # 10 s run; ramp-up = ceil(10 users / 5 per s) = 2 s → window 2..9 (8 s), all 10/10 at 20 ms, all up.
    run = run_make(duration_s=10, spawn_rate=5.0, status=RunStatus.QUEUED)
    submission = submission_make(participant=alice[0], challenge=robust, run=run)
    with django_capture_on_commit_callbacks(execute=True):
        assert engine.run_claim(run_id=run.id, now=timezone.now())
    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.RUNNING and submission.started_at
    _finish(run, RunStatus.COMPLETED, django_capture_on_commit_callbacks)
    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.SCORED
    assert (submission.statistic_1, submission.statistic_2, submission.statistic_3) == (10.0, 20.0, 100.0)
    assert submission.score == 10.0
    assert submission.is_best
    assert submission.started_at and submission.finished_at
    assert submission.details["window_s"] == 8
    assert LoadTestRun.objects.get(id=run.id).announced_at is not None


def test_a_repeated_announcement_leaves_a_finished_submission_alone(alice, robust):
    submission = submission_make(participant=alice[0], challenge=robust, status=SubmissionStatus.CANCELLED, run=run_make())
    run_finished.send(sender=LoadTestRun, run=submission.run)
    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.CANCELLED and submission.score is None


def test_a_failed_run_fails_the_submission_with_its_reason(alice, robust, django_capture_on_commit_callbacks):
    run = run_make(status=RunStatus.QUEUED)
    submission = submission_make(participant=alice[0], challenge=robust, run=run)
    _finish(run, RunStatus.FAILED, django_capture_on_commit_callbacks, error="target refused every connection",
            end_reason=EndReason.ERROR)
    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.FAILED
    assert submission.error == "target refused every connection"
    assert submission.score is None and not submission.is_best


def test_a_scoring_error_fails_the_submission_and_is_raised(alice, robust, django_capture_on_commit_callbacks):
    run = run_make(status=RunStatus.QUEUED)
    submission = submission_make(participant=alice[0], challenge=robust, run=run)
    with mock.patch("leaderboard.services.run_score", side_effect=RuntimeError("boom")), pytest.raises(RuntimeError):
        _finish(run, RunStatus.COMPLETED, django_capture_on_commit_callbacks)
    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.FAILED
    assert "scoring failed: boom" in submission.error


def test_a_run_failed_without_its_task_fails_the_submission(alice, robust):
    run = run_make(status=RunStatus.FAILED)
    submission = submission_make(participant=alice[0], challenge=robust, status=SubmissionStatus.RUNNING, run=run)
    run_finished.send(sender=LoadTestRun, run=run)
    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.FAILED


def test_the_best_submission_is_the_highest_score_and_ties_go_to_the_earlier(alice, robust):
    now = timezone.now()
    first = scored_make(participant=alice[0], challenge=robust, statistics=(1, 1, 1), score=50.0, created_at=now - timedelta(hours=3))
    tie = scored_make(participant=alice[0], challenge=robust, statistics=(1, 1, 1), score=50.0, created_at=now - timedelta(hours=2))
    first.refresh_from_db()
    assert first.is_best and not tie.is_best
    better = scored_make(participant=alice[0], challenge=robust, statistics=(1, 1, 1), score=70.0, created_at=now)
    first.refresh_from_db()
    assert better.is_best and not first.is_best
    assert Submission.objects.filter(is_best=True).count() == 1


def test_cancelling_a_queued_submission_cancels_it_and_its_run(alice, robust):
    submission, _ = services.submission_create(participant=alice[0], challenge_slug="robust-service", target_url=URL)
    assert services.submission_cancel(submission=submission)
    assert submission.status == SubmissionStatus.CANCELLED
    assert LoadTestRun.objects.get(id=submission.run_id).status == RunStatus.CANCELLED
    # Cancelled frees the one active slot.
    services.submission_create(participant=alice[0], challenge_slug="robust-service", target_url=URL)


def test_cancelling_a_running_submission_asks_the_engine_to_stop(alice, robust):
    run = run_make(status=RunStatus.RUNNING)
    submission = submission_make(participant=alice[0], challenge=robust, status=SubmissionStatus.RUNNING, run=run)
    assert services.submission_cancel(submission=submission)
    assert LoadTestRun.objects.get(id=run.id).cancel_requested


def test_a_finished_submission_cannot_be_cancelled(alice, robust):
    submission = scored_make(participant=alice[0], challenge=robust, statistics=(1, 1, 1), score=1)
    assert not services.submission_cancel(submission=submission)
    assert submission.status == SubmissionStatus.SCORED


def test_a_rerun_queues_a_new_submission_with_the_same_target(alice, robust):
    old = scored_make(participant=alice[0], challenge=robust, statistics=(1, 1, 1), score=1)
    fresh = services.submission_rerun(submission=old)
    assert fresh.id != old.id
    assert fresh.status == SubmissionStatus.QUEUED and fresh.target_url == old.target_url
    with pytest.raises(services.SubmissionLimitReached):
        services.submission_rerun(submission=old)


def test_a_rerun_refused_by_the_one_active_rule_says_how_long_to_wait(alice, robust):
    old = scored_make(participant=alice[0], challenge=robust, statistics=(1, 1, 1), score=1)
    services.submission_rerun(submission=old)
    with pytest.raises(services.SubmissionLimitReached) as refused:
        services.submission_rerun(submission=old)
    # The queued one ahead has its whole load test (60 s) to go.
    assert refused.value.retry_after_s == 60


def test_participant_keys_are_stored_only_as_a_hash_and_can_be_rotated(db):
    from leaderboard.selectors import participant_by_key

    participant, key = participant_make("bob")
    assert key.startswith(f"scc_{participant.key_prefix}_")
    assert key not in participant.key_hash
    assert participant_by_key(key=key) == participant
    new_key = services.participant_key_rotate(participant=participant)
    assert participant_by_key(key=key) is None
    assert participant_by_key(key=new_key) == participant


def test_it_refuses_a_bad_or_taken_username(db):
    participant_make("bob")
    with pytest.raises(ValueError, match="already exists"):
        participant_make("bob")
    with pytest.raises(ValueError, match="letters, digits"):
        participant_make("bob smith")


def test_the_challenges_exist_with_valid_profiles_and_plans(db):
    kinds = {"robust-service": set(), "graceful-degradation": set(), "longest-upkeep": set()}
    for slug in kinds:
        challenge = challenge_get(slug)
        profile, plan = services.challenge_config_validate(profile=challenge.profile, chaos_plan=challenge.chaos_plan)
        assert profile == challenge.profile
        assert plan == challenge.chaos_plan
        kinds[slug] = {event["kind"] for event in plan}
    assert kinds["robust-service"] == set()
    assert {"latency", "error", "crash"} <= kinds["graceful-degradation"]
    assert kinds["longest-upkeep"]


def test_a_submission_whose_run_died_with_its_worker_is_started_again_and_never_counts(
    alice, robust, settings, django_capture_on_commit_callbacks
):
    settings.LOADTEST_LOST_RUN_RETRIES = 2
    robust.daily_limit = 1
    robust.save()
    with mock.patch.object(run_loadtest_task, "apply_async") as apply_async:
        with django_capture_on_commit_callbacks(execute=True):
            submission, _ = services.submission_create(participant=alice[0], challenge_slug="robust-service", target_url=URL)
        runs = [submission.run_id]
        for attempt in (1, 2, 3):
            with django_capture_on_commit_callbacks(execute=True):
                engine.run_claim(run_id=runs[-1], now=timezone.now())
            # The worker dies; the engine's periodic check declares the run lost.
            later = timezone.now() + timedelta(seconds=settings.LOADTEST_HEARTBEAT_STALE_S + 1)
            with django_capture_on_commit_callbacks(execute=True):
                assert engine.runs_reap(now=later) == 1
            submission.refresh_from_db()
            if attempt < 3:
                assert submission.status == SubmissionStatus.QUEUED and submission.attempts == attempt + 1
                assert submission.run_id not in runs
                assert LoadTestRun.objects.get(id=submission.run_id).retry_of_id == runs[-1]
                runs.append(submission.run_id)
    assert [call.kwargs["args"] for call in apply_async.call_args_list] == [[run_id] for run_id in runs]
    # Given up after two new starts: failed, through no fault of the participant.
    assert submission.status == SubmissionStatus.FAILED and submission.platform_failure
    assert "worker stopped answering" in submission.error
    assert all(run.status == RunStatus.FAILED and run.end_reason == EndReason.WORKER_LOST
               for run in LoadTestRun.objects.filter(id__in=runs))
    # The daily limit of 1 is still unused.
    again, created = services.submission_create(participant=alice[0], challenge_slug="robust-service", target_url=URL)
    assert created and again.status == SubmissionStatus.QUEUED


def test_an_engine_crash_fails_the_submission_with_the_reason_and_is_raised(alice, robust, django_capture_on_commit_callbacks):
    submission, _ = services.submission_create(participant=alice[0], challenge_slug="robust-service", target_url=URL)
    healthy = {"up": True, "status_code": 200, "latency_ms": 1.0, "instance": "", "error": ""}
    with mock.patch("loadtest.execution.places.LocalPlace.probe", return_value=healthy), mock.patch(
        "loadtest.execution.places.LocalPlace.runner_start", side_effect=OSError("runner could not start")
    ), pytest.raises(OSError), django_capture_on_commit_callbacks(execute=True):
        engine.run_execute(run_id=submission.run_id)
    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.FAILED
    assert "runner could not start" in submission.error
