"""A submission through the API, run by a real Celery worker against a real url-anvil, then ranked."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from common.testing import anvil_running, celery_worker, tiny_profile, wait_until
from leaderboard import services
from leaderboard.models import Challenge, Submission, SubmissionStatus
from leaderboard.tests.conftest import participant_make
from leaderboard.tests.test_pages import row_cells

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_real_worker_scores_a_submission_and_the_leaderboard_shows_it(anvil_server, anvil_store, queue, tmp_path, client):
    # Transactional tests start from an empty database: the challenge is made here, with a tiny profile.
    challenge, _ = Challenge.objects.update_or_create(
        slug="robust-service",
        defaults={"name": "Robust Service", "scoring": "robust_service", "profile": tiny_profile(duration_s=4), "chaos_plan": []},
    )
    participant, key = participant_make("e2e", "End To End")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    with celery_worker(tmp_path=tmp_path, queue=queue, env=anvil_store):
        response = api.post("/api/v1/submissions", {"challenge": challenge.slug, "target_url": anvil_server.url}, format="json")
        assert response.status_code == 202, response.content
        submission_id = response.json()["id"]
        wait_until(
            lambda: Submission.objects.get(id=submission_id).status not in ("queued", "running"),
            timeout_s=90,
            message="submission finished",
        )

    submission = Submission.objects.get(id=submission_id)
    assert submission.status == SubmissionStatus.SCORED, submission.error
    assert submission.run.origin == "submission" and submission.run.status == "completed"
    assert submission.statistic_1 > 0  # sustained successful req/s
    assert submission.statistic_2 > 0  # average latency of successes, ms
    assert submission.statistic_3 > 0  # uptime %
    assert submission.score == pytest.approx(submission.statistic_1 * submission.statistic_3 / 100, rel=1e-3)
    assert submission.is_best

    status = api.get(f"/api/v1/submissions/{submission_id}").json()
    assert status["status"] == "scored" and status["statistics"]["sustained_rps"] == submission.statistic_1

    cells = row_cells(client.get("/leaderboard/robust-service/").content.decode(), "End To End")
    assert cells == [
        "1",
        f"{submission.statistic_1:,.1f}",
        f"{submission.statistic_2:,.1f}",
        f"{submission.statistic_3:,.2f}",
        f"{submission.score:,.2f}",
    ]
    leaderboard = api.get("/api/v1/leaderboards/robust-service").json()
    assert leaderboard["results"][0]["participant"] == participant.username


def test_a_crash_during_longest_upkeep_is_counted_as_a_restart(anvil_store, queue, tmp_path, client):
    # One anvil worker: after the crash every answer comes from its replacement.
    plan = [{"at_s": 2, "duration_s": 2, "kind": "crash", "params": {}}]
    challenge, _ = Challenge.objects.update_or_create(
        slug="longest-upkeep",
        defaults={"name": "Longest Upkeep", "scoring": "longest_upkeep", "profile": tiny_profile(duration_s=7), "chaos_plan": plan},
    )
    participant, _ = participant_make("crashy", "Crashy")
    with anvil_running(tmp_path=tmp_path, store_env=anvil_store, workers=1) as server:
        with celery_worker(tmp_path=tmp_path, queue=queue, env=anvil_store):
            submission, _ = services.submission_create(
                participant=participant, challenge_slug=challenge.slug, target_url=server.url
            )
            wait_until(
                lambda: Submission.objects.get(id=submission.id).status not in ("queued", "running"),
                timeout_s=90,
                message="submission finished",
            )

    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.SCORED, submission.error
    event = submission.run.chaos_events.get()
    assert event.applied_at is not None, event.error
    assert submission.statistic_3 >= 1  # restarts: the crashed process was replaced
    assert submission.score == submission.statistic_1 <= 7
    assert submission.details["recovery_times_s"] and len(submission.details["recovery_times_s"]) == 1
    cells = row_cells(client.get("/leaderboard/longest-upkeep/").content.decode(), "Crashy")
    assert cells[0] == "1" and cells[3] == f"{submission.statistic_3:,.0f}"
