"""A bundle through the competition for real: the API, a real Celery worker, a sandbox on a real engine, a verified score.

Needs a Docker engine (DOCKER_HOST; CI starts one), as the other sandbox
tests; the load is a few users for a few seconds.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from common.testing import celery_worker, tiny_profile, wait_until
from leaderboard.models import Challenge, ChallengeEntry, Submission, SubmissionStatus
from leaderboard.tests.conftest import participant_make
from sandbox.tests.bundles import example
from sandbox.tests.docker import sandbox_ids

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_bundle_submitted_through_the_api_is_run_in_a_sandbox_by_a_real_worker_and_ranked_verified(
    sandbox_ready, queue, tmp_path, client
):
    challenge, _ = Challenge.objects.update_or_create(
        slug="robust-service",
        defaults={"name": "Robust Service", "scoring": "robust_service", "profile": tiny_profile(duration_s=5),
                  "chaos_plan": [], "accepts": ChallengeEntry.BUNDLE},
    )
    participant, key = participant_make("sandboxer", "Sandboxer")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    # The worker's sandbox settings are this test's (sandbox_ready overrides them in this process only).
    worker_env = {"SANDBOX_BACKEND": "docker", "SANDBOX_CATALOGUE_FILE": str(settings.SANDBOX_CATALOGUE_FILE),
                  "SANDBOX_STATE_DIR": str(settings.SANDBOX_STATE_DIR), "SANDBOX_FIREWALL": settings.SANDBOX_FIREWALL}

    with celery_worker(tmp_path=tmp_path, queue=queue, env=worker_env):
        response = api.post("/api/v1/submissions", {"challenge": challenge.slug, "bundle": example("bare-anvil.yaml")},
                            format="json")
        assert response.status_code == 202, response.content
        assert response.json()["verified"] is True and response.json()["target_url"] == ""
        submission_id = response.json()["id"]
        wait_until(lambda: Submission.objects.get(id=submission_id).status not in ("queued", "running"),
                   timeout_s=180, message="the bundle submission finished")

    submission = Submission.objects.get(id=submission_id)
    assert submission.status == SubmissionStatus.SCORED, submission.error
    assert submission.verified and submission.is_best and submission.score > 0
    run = submission.run
    assert (run.place, run.status) == ("sandbox", "completed")
    sandbox = run.generator["sandbox"]
    assert sandbox["backend"] == "docker" and sandbox["torn_down"] is True
    assert sandbox["id"] not in sandbox_ids()

    status = api.get(f"/api/v1/submissions/{submission_id}").json()
    assert status["status"] == "scored" and status["verified"] is True and status["score"] == pytest.approx(
        submission.score, abs=0.01)
    verified_board = api.get("/api/v1/leaderboards/robust-service?verified=1").json()
    assert [row["participant"] for row in verified_board["results"]] == [participant.username]
    page = client.get(f"/submissions/{submission_id}/").content.decode()
    assert "Sandboxer" in page and "anvil-0" in page  # the sandbox's containers, as the run saw them
