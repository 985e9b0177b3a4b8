"""The competition's cast: a participant and an outsider with keys, the three challenges, stored runs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from common.histogram import histogram_add
from leaderboard import services
from leaderboard.api.views import answer_cache
from leaderboard.models import Challenge, Participant, Submission, SubmissionStatus
from leaderboard.views import page_cache
from loadtest.models import LoadTestRun, ProbeResult, RunSample, RunStatus

T0 = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _own_throttle_counters(settings):
    # Throttle counters and cached answers live in the shared cache; each test starts afresh.
    settings.LEADERBOARD_CACHE_NAMESPACE = f"test-{uuid.uuid4().hex}"
    settings.LEADERBOARD_CACHE_S = 0
    answer_cache.clear()
    page_cache.clear()


def participant_make(username: str = "alice", display_name: str = "") -> tuple[Participant, str]:
    return services.participant_create(username=username, display_name=display_name)


def challenge_get(slug: str) -> Challenge:
    return Challenge.objects.get(slug=slug)


def run_make(
    *,
    duration_s: int = 10,
    status: str = RunStatus.COMPLETED,
    per_second: list[tuple[int, int, float]] | None = None,
    down: set[int] | frozenset = frozenset(),
    spawn_rate: float = 100.0,
    users: int = 10,
    instance: str = "boot-a",
) -> LoadTestRun:
    """A run with its samples and one probe per second.

    ``per_second`` holds ``(requests, successes, latency_ms)`` per second from 0;
    the probe is down in the seconds of ``down``.
    """
    per_second = per_second if per_second is not None else [(10, 10, 20.0)] * duration_s
    profile = {"shape": "constant", "users": users, "spawn_rate": spawn_rate, "duration_s": duration_s}
    run = LoadTestRun.objects.create(target_url="http://127.0.0.1:9", profile=profile, status=status, origin="submission")
    samples = []
    for second, (requests, successes, latency_ms) in enumerate(per_second):
        histogram: dict = {}
        if requests:
            histogram_add(histogram=histogram, latency_ms=latency_ms, count=requests)
        samples.append(
            RunSample(
                run=run, second=second, requests=requests, successes=successes, failures=requests - successes,
                rps=float(requests), success_latency_sum_ms=latency_ms * successes, latency_histogram=histogram,
                latency_p95_ms=latency_ms if requests else None, instances=[instance],
            )
        )
    RunSample.objects.bulk_create(samples)
    ProbeResult.objects.bulk_create(
        ProbeResult(run=run, second=s, probed_at=T0 + timedelta(seconds=s), up=s not in down, status_code=200, instance=instance)
        for s in range(duration_s)
    )
    return run


def submission_make(
    *,
    participant: Participant,
    challenge: Challenge,
    status: str = SubmissionStatus.QUEUED,
    run: LoadTestRun | None = None,
    created_at: datetime | None = None,
    target_url: str = "http://127.0.0.1:9",
) -> Submission:
    submission = Submission.objects.create(
        participant=participant, challenge=challenge, status=status, run=run, target_url=target_url
    )
    if created_at is not None:
        Submission.objects.filter(id=submission.id).update(created_at=created_at)
        submission.refresh_from_db()
    return submission


def scored_make(
    *,
    participant: Participant,
    challenge: Challenge,
    statistics: tuple,
    score: float,
    created_at: datetime | None = None,
) -> Submission:
    """A scored submission with given figures, marked best the way the scoring service does it."""
    submission = submission_make(participant=participant, challenge=challenge, status=SubmissionStatus.SCORED, created_at=created_at)
    Submission.objects.filter(id=submission.id).update(
        statistic_1=statistics[0], statistic_2=statistics[1], statistic_3=statistics[2], score=score
    )
    services.submission_best_refresh(participant_id=participant.id, challenge_id=challenge.id)
    submission.refresh_from_db()
    return submission


@pytest.fixture
def alice(db):
    return participant_make("alice", "Alice A.")


@pytest.fixture
def outsider(db):
    return participant_make("mallory")


@pytest.fixture
def robust(db):
    return challenge_get("robust-service")


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def alice_api(alice):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {alice[1]}")
    return client
