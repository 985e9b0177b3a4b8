"""Every 429 of the API says when to come back: a ``Retry-After`` header and the same ``details.retry_after_s``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework import exceptions

from common.api import api_exception_handler
from leaderboard.models import Submission, SubmissionStatus
from leaderboard.tests.conftest import run_make, submission_make
from loadtest.models import RunStatus

CREATE = "/api/v1/submissions"
URL = "http://127.0.0.1:8080"
PAYLOAD = {"challenge": "robust-service", "target_url": URL}


def retry_after_of(response) -> int:
    assert response.status_code == 429, response.content
    header = int(response["Retry-After"])
    assert header == response.json()["details"]["retry_after_s"]
    assert header >= 1
    return header


def test_the_per_ip_throttle(api, robust, settings):
    settings.LEADERBOARD_API_RATES = {**settings.LEADERBOARD_API_RATES, "ip": "2/minute"}
    for _ in range(2):
        assert api.get("/api/v1/challenges").status_code == 200
    assert retry_after_of(api.get("/api/v1/challenges")) <= 60


def test_the_per_key_throttle(alice, alice_api, robust, settings):
    settings.LEADERBOARD_API_RATES = {**settings.LEADERBOARD_API_RATES, "key": "1/hour"}
    submission = submission_make(participant=alice[0], challenge=robust)
    assert alice_api.get(f"/api/v1/submissions/{submission.id}").status_code == 200
    assert retry_after_of(alice_api.get(f"/api/v1/submissions/{submission.id}")) <= 3600


def test_the_per_key_submit_throttle(alice_api, robust, settings):
    settings.LEADERBOARD_API_RATES = {**settings.LEADERBOARD_API_RATES, "submit": "1/day"}
    assert alice_api.post(CREATE, PAYLOAD, format="json").status_code == 202
    assert retry_after_of(alice_api.post(CREATE, PAYLOAD, format="json")) <= 86400


def test_the_daily_limit_waits_until_the_next_utc_midnight(alice, alice_api, robust):
    robust.daily_limit = 1
    robust.save()
    submission_make(participant=alice[0], challenge=robust, status=SubmissionStatus.FAILED)
    now = timezone.now()
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    wait = retry_after_of(alice_api.post(CREATE, PAYLOAD, format="json"))
    assert abs(wait - (midnight - now).total_seconds()) <= 3


def test_a_queued_submission_makes_a_new_one_wait_for_its_whole_load_test(alice_api, robust):
    assert alice_api.post(CREATE, PAYLOAD, format="json").status_code == 202
    # The one ahead is this participant's own, queued first: its whole test (60 s) stands in the way.
    assert retry_after_of(alice_api.post(CREATE, {**PAYLOAD, "challenge": "longest-upkeep"}, format="json")) == 60


def test_a_queued_submission_behind_others_waits_for_them_too(alice_api, outsider, robust):
    submission_make(participant=outsider[0], challenge=robust, status=SubmissionStatus.QUEUED)
    assert alice_api.post(CREATE, PAYLOAD, format="json").status_code == 202
    assert retry_after_of(alice_api.post(CREATE, PAYLOAD, format="json")) == 120


def test_a_running_submission_makes_a_new_one_wait_for_the_rest_of_its_load_test(alice, alice_api, robust):
    run = run_make(duration_s=10, status=RunStatus.RUNNING)
    submission = submission_make(participant=alice[0], challenge=robust, status=SubmissionStatus.RUNNING, run=run)
    Submission.objects.filter(id=submission.id).update(started_at=timezone.now() - timedelta(seconds=4))
    assert 5 <= retry_after_of(alice_api.post(CREATE, PAYLOAD, format="json")) <= 6


def test_an_overdue_running_submission_still_says_at_least_one_second(alice, alice_api, robust):
    run = run_make(duration_s=10, status=RunStatus.RUNNING)
    submission = submission_make(participant=alice[0], challenge=robust, status=SubmissionStatus.RUNNING, run=run)
    Submission.objects.filter(id=submission.id).update(started_at=timezone.now() - timedelta(seconds=300))
    assert retry_after_of(alice_api.post(CREATE, PAYLOAD, format="json")) == 1


@pytest.mark.parametrize(("wait", "expected"), [(0.2, 1), (1.0, 1), (59.01, 60)])
def test_a_throttle_never_says_zero_seconds(wait, expected):
    response = api_exception_handler(exceptions.Throttled(wait=wait), {})
    assert response["Retry-After"] == str(expected)
    assert response.data["details"]["retry_after_s"] == expected


def test_a_submission_that_loses_the_race_for_the_one_active_slot_still_says_when_to_come_back(
    alice, alice_api, robust, monkeypatch
):
    # Another request got its submission in between this one's check and its insert:
    # the database's one-active constraint refuses it, with the same wait.
    from leaderboard import services

    assert alice_api.post(CREATE, PAYLOAD, format="json").status_code == 202
    monkeypatch.setattr(services, "ACTIVE_STATUSES", ())
    response = alice_api.post(CREATE, {**PAYLOAD, "challenge": "longest-upkeep"}, format="json")
    assert "queued or running" in response.json()["error"]
    assert retry_after_of(response) == 60
    assert Submission.objects.count() == 1


def test_a_throttled_cached_leaderboard_answer_says_when_to_come_back(api, robust, settings):
    settings.LEADERBOARD_CACHE_S = 60
    settings.LEADERBOARD_API_RATES = {**settings.LEADERBOARD_API_RATES, "ip": "2/minute"}
    for _ in range(2):
        assert api.get("/api/v1/leaderboards/robust-service").status_code == 200
    assert retry_after_of(api.get("/api/v1/leaderboards/robust-service")) <= 60


def test_a_throttle_that_cannot_tell_its_wait_still_says_one_second():
    response = api_exception_handler(exceptions.Throttled(wait=None), {})
    assert response.status_code == 429
    assert response["Retry-After"] == "1" and response.data["details"]["retry_after_s"] == 1


def test_a_429_cannot_be_answered_without_retry_after():
    from common.api import api_error

    with pytest.raises(ValueError, match="Retry-After"):
        api_error("slow down", status=429, details={})
    assert api_error("slow down", status=429, headers={"Retry-After": "3"})["Retry-After"] == "3"


def test_every_limit_refusal_carries_its_wait():
    from leaderboard.services import SubmissionLimitReached

    with pytest.raises(TypeError):
        SubmissionLimitReached("busy")
    assert SubmissionLimitReached("busy", retry_after_s=0).retry_after_s == 1
