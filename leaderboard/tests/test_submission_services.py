"""Creating, running, scoring and cancelling submissions (leaderboard.services)."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from leaderboard import services
from leaderboard.models import Submission, SubmissionStatus
from leaderboard.tasks import submission_run_task
from leaderboard.tests.conftest import challenge_get, participant_make, run_make, scored_make, submission_make
from loadtest.models import LoadTestRun, RunStatus
from loadtest.signals import run_finished

URL = "http://127.0.0.1:8080"


def test_it_creates_a_queued_submission_with_its_run_and_enqueues_it_after_commit(alice, robust, settings, django_capture_on_commit_callbacks):
    settings.LOADTEST_QUEUE = "loadtest-test"
    with mock.patch.object(submission_run_task, "apply_async") as apply_async:
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
    assert apply_async.call_args.kwargs["args"] == [submission.id]
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
    with pytest.raises(services.SubmissionInvalid) as caught:
        services.submission_create(participant=alice[0], challenge_slug="fastest-service", target_url=URL)
    assert caught.value.field == "challenge"
    robust.is_active = False
    robust.save()
    with pytest.raises(services.SubmissionInvalid):
        services.submission_create(participant=alice[0], challenge_slug="robust-service", target_url=URL)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/", "http://example.com", "not a url", "http://127.0.0.1/?q=1"])
def test_it_refuses_bad_or_disallowed_targets(alice, robust, url):
    with pytest.raises(services.SubmissionInvalid) as caught:
        services.submission_create(participant=alice[0], challenge_slug="robust-service", target_url=url)
    assert caught.value.field == "target_url"
    assert not Submission.objects.exists()


def _complete(run_id: int, **_: object) -> LoadTestRun:
    LoadTestRun.objects.filter(id=run_id).update(status=RunStatus.COMPLETED)
    return LoadTestRun.objects.get(id=run_id)


def test_the_task_runs_and_scores_a_submission_in_one_go(alice, robust):
    # 10 s run; ramp-up = ceil(10 users / 5 per s) = 2 s → window 2..9 (8 s), all 10/10 at 20 ms, all up.
    run = run_make(duration_s=10, spawn_rate=5.0)
    LoadTestRun.objects.filter(id=run.id).update(status=RunStatus.QUEUED)
    submission = submission_make(participant=alice[0], challenge=robust, run=run)
    with mock.patch("leaderboard.services.run_execute", side_effect=_complete) as run_execute:
        assert submission_run_task(submission.id) == SubmissionStatus.SCORED
    run_execute.assert_called_once_with(run_id=run.id)
    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.SCORED
    assert (submission.statistic_1, submission.statistic_2, submission.statistic_3) == (10.0, 20.0, 100.0)
    assert submission.score == 10.0
    assert submission.is_best
    assert submission.started_at and submission.finished_at
    assert submission.details["window_s"] == 8


def test_the_task_does_nothing_for_a_submission_that_is_not_queued(alice, robust):
    submission = submission_make(participant=alice[0], challenge=robust, status=SubmissionStatus.CANCELLED, run=run_make())
    with mock.patch("leaderboard.services.run_execute") as run_execute:
        assert submission_run_task(submission.id) is None
    run_execute.assert_not_called()


def test_a_failed_run_fails_the_submission_with_its_reason(alice, robust):
    run = run_make(status=RunStatus.QUEUED)
    submission = submission_make(participant=alice[0], challenge=robust, run=run)

    def fail(run_id, **_):
        LoadTestRun.objects.filter(id=run_id).update(status=RunStatus.FAILED, error="target refused every connection")
        return LoadTestRun.objects.get(id=run_id)

    with mock.patch("leaderboard.services.run_execute", side_effect=fail):
        submission_run_task(submission.id)
    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.FAILED
    assert submission.error == "target refused every connection"
    assert submission.score is None and not submission.is_best


def test_a_scoring_error_fails_the_submission_and_is_raised(alice, robust):
    run = run_make(status=RunStatus.QUEUED)
    submission = submission_make(participant=alice[0], challenge=robust, run=run)
    with mock.patch("leaderboard.services.run_execute", side_effect=_complete), mock.patch(
        "leaderboard.services.run_score", side_effect=RuntimeError("boom")
    ), pytest.raises(RuntimeError):
        submission_run_task(submission.id)
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


def test_the_stuck_check_finishes_submissions_whose_worker_vanished(alice, outsider, robust):
    now = timezone.now()
    # Claimed, but the worker died before the run started.
    lost = submission_make(participant=alice[0], challenge=robust, status=SubmissionStatus.RUNNING, run=run_make(status=RunStatus.QUEUED))
    Submission.objects.filter(id=lost.id).update(started_at=now - timedelta(minutes=10))
    # The run completed long ago but nobody scored it.
    done_run = run_make(status=RunStatus.COMPLETED)
    LoadTestRun.objects.filter(id=done_run.id).update(finished_at=now - timedelta(minutes=5))
    unscored = submission_make(participant=outsider[0], challenge=robust, status=SubmissionStatus.RUNNING, run=done_run)
    # A healthy running one is left alone.
    bob, _ = participant_make("bob")
    busy = submission_make(participant=bob, challenge=robust, status=SubmissionStatus.RUNNING, run=run_make(status=RunStatus.RUNNING))
    Submission.objects.filter(id=busy.id).update(started_at=now - timedelta(minutes=10))

    assert services.submissions_fail_stuck(now=now) == 2
    lost.refresh_from_db()
    unscored.refresh_from_db()
    busy.refresh_from_db()
    assert lost.status == SubmissionStatus.FAILED and "worker stopped" in lost.error
    assert LoadTestRun.objects.get(id=lost.run_id).status == RunStatus.CANCELLED
    assert unscored.status == SubmissionStatus.SCORED and unscored.is_best
    assert busy.status == SubmissionStatus.RUNNING
    assert services.submissions_fail_stuck(now=now) == 0


def test_an_engine_crash_fails_the_submission_with_the_reason_and_is_raised(alice, robust):
    submission = submission_make(participant=alice[0], challenge=robust, run=run_make(status=RunStatus.QUEUED))
    with mock.patch("leaderboard.services.run_execute", side_effect=OSError("runner could not start")), pytest.raises(OSError):
        submission_run_task(submission.id)
    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.FAILED
    assert "runner could not start" in submission.error
