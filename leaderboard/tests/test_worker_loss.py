"""Nothing is lost when a worker dies: SIGKILL the pool process, or the whole worker, in the middle of runs.

A real Celery worker and broker (the filesystem broker, or Redis when
REDIS_URL is set) run real load tests against a real url-anvil under a chaos
plan; this test kills them mid-run and plays beat by calling the engine's
periodic check, as the scheduler would. Every submission must end scored, its
lost runs kept as failed with the reason, no fault left on the anvil.
"""

from __future__ import annotations

import os
import signal
import time
import uuid

import psutil
import pytest
from django.utils import timezone

from anvil.services import fault_list
from common.testing import celery_worker, tiny_profile, wait_until
from leaderboard import services
from leaderboard.models import Challenge, Submission, SubmissionStatus
from leaderboard.tests.conftest import participant_make
from loadtest import services as engine
from loadtest.models import EndReason, LoadTestRun, RunStatus

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

KILLS = 10


@pytest.fixture
def queue(settings):
    name = f"loss-test-{uuid.uuid4().hex[:10]}"
    settings.LOADTEST_QUEUE = name
    # The allowance for a silent orchestrator, as small as the engine accepts,
    # so that ten losses take seconds each rather than the default's ten.
    settings.LOADTEST_HEARTBEAT_STALE_S = 3
    settings.LOADTEST_LOST_RUN_RETRIES = 2
    return name


@pytest.fixture
def challenge(db):
    # A latency fault for the whole run: a killed worker leaves it behind.
    plan = [{"at_s": 0, "duration_s": 3, "kind": "latency", "params": {"ms": 5}}]
    challenge, _ = Challenge.objects.update_or_create(
        slug="robust-service",
        defaults={"name": "Robust Service", "scoring": "robust_service", "daily_limit": 5,
                  "profile": tiny_profile(duration_s=3, users=2), "chaos_plan": plan},
    )
    return challenge


def _submit(*, challenge: Challenge, target_url: str, count: int) -> list[int]:
    ids = []
    for index in range(count):
        participant, _ = participant_make(f"p{index}")
        submission, _ = services.submission_create(participant=participant, challenge_slug=challenge.slug,
                                                   target_url=target_url)
        ids.append(submission.id)
    return ids


def _next_run_under_way(*, killed: set[int]) -> LoadTestRun:
    """Wait for a running run, not killed before, that has stored samples (its load is on)."""
    found: list[LoadTestRun] = []

    def under_way() -> bool:
        _reap()
        run = (LoadTestRun.objects.filter(status=RunStatus.RUNNING, samples__isnull=False)
               .exclude(pk__in=killed).distinct().first())
        found[:] = [run] if run else []
        return bool(found)

    wait_until(under_way, timeout_s=120, message=f"run #{len(killed) + 1} under way")
    return found[0]


def _reap() -> None:
    # What beat does every LOADTEST_STUCK_CHECK_S.
    engine.runs_reap(now=timezone.now())


def _all_scored(ids: list[int]) -> bool:
    _reap()
    return Submission.objects.filter(id__in=ids, status=SubmissionStatus.SCORED).count() == len(ids)


def _outcome_check(*, ids: list[int], killed: set[int], lost_after_s: list[float]) -> None:
    submissions = list(Submission.objects.filter(id__in=ids))
    assert {s.status for s in submissions} == {SubmissionStatus.SCORED}, [(s.id, s.status, s.error) for s in submissions]
    assert all(s.score is not None and s.score > 0 for s in submissions)
    lost = LoadTestRun.objects.filter(pk__in=killed)
    assert lost.count() == KILLS
    for run in lost:
        # Kept, failed with the reason; a new run took its place.
        assert run.status == RunStatus.FAILED and run.end_reason == EndReason.WORKER_LOST, run.error
        assert "no heartbeat" in run.error
        assert LoadTestRun.objects.filter(retry_of=run).exists()
    assert sum(s.attempts - 1 for s in submissions) == KILLS
    # Nothing queued or running is left over, and no fault stays on the anvil.
    assert not LoadTestRun.objects.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).exists()
    assert fault_list() == []
    print(f"kill → run declared lost: max {max(lost_after_s):.1f} s over {len(lost_after_s)} kills")


def _lost_within(run_id: int, killed_at: float) -> float:
    def declared() -> bool:
        _reap()
        return LoadTestRun.objects.filter(pk=run_id, status=RunStatus.FAILED).exists()

    wait_until(declared, timeout_s=60, interval_s=0.3, message=f"run {run_id} declared lost")
    return time.monotonic() - killed_at


def test_killing_the_pool_process_mid_run_loses_no_submission(anvil_server, anvil_store, queue, challenge, tmp_path):
    ids = _submit(challenge=challenge, target_url=anvil_server.url, count=KILLS)
    killed: set[int] = set()
    lost_after_s: list[float] = []
    with celery_worker(tmp_path=tmp_path, queue=queue, env=anvil_store) as worker:
        while len(killed) < KILLS:
            run = _next_run_under_way(killed=killed)
            assert fault_list() != []
            # The prefork pool's child runs the task; the master stays and forks a new one.
            for child in psutil.Process(worker.pid).children():
                child.send_signal(signal.SIGKILL)
            killed_at = time.monotonic()
            killed.add(run.pk)
            lost_after_s.append(_lost_within(run.pk, killed_at))
        wait_until(lambda: _all_scored(ids), timeout_s=300, interval_s=0.5, message="every submission scored")
    _outcome_check(ids=ids, killed=killed, lost_after_s=lost_after_s)


def test_killing_the_whole_worker_mid_run_loses_no_submission(anvil_server, anvil_store, queue, challenge, tmp_path):
    ids = _submit(challenge=challenge, target_url=anvil_server.url, count=KILLS)
    killed: set[int] = set()
    lost_after_s: list[float] = []
    for _ in range(KILLS):
        with celery_worker(tmp_path=tmp_path, queue=queue, env=anvil_store) as worker:
            run = _next_run_under_way(killed=killed)
            # The worker and its pool child die at once, as on an OOM kill or a lost host.
            os.killpg(worker.pid, signal.SIGKILL)
            killed_at = time.monotonic()
            worker.wait(timeout=10)
        killed.add(run.pk)
        lost_after_s.append(_lost_within(run.pk, killed_at))
    # A restarted worker picks up the queue, re-queued submissions included.
    with celery_worker(tmp_path=tmp_path, queue=queue, env=anvil_store):
        wait_until(lambda: _all_scored(ids), timeout_s=300, interval_s=0.5, message="every submission scored")
    _outcome_check(ids=ids, killed=killed, lost_after_s=lost_after_s)
