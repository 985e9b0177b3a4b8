"""Recording sessions: a small standard load test on a schedule, each result logged into the session."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings

from loadtest.hooks import run_finished
from loadtest.models import LoadTestRun, RunStatus
from loadtest.tasks import run_loadtest_task
from tracker import services, tasks
from tracker.models import RecordingSession, TrackedRun
from tracker.tests.conftest import BOTH_DATABASES, database_url

pytestmark = pytest.mark.usefixtures("tracker_on")

URL = "http://127.0.0.1:8080"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def sessions():
    return RecordingSession.objects.using("tracker")


@pytest.mark.django_db(databases=BOTH_DATABASES)
class TestSchedule:
    def test_a_new_session_is_due_at_once_and_then_every_interval(self):
        session = services.recording_start(target_url=URL, interval_s=300, now=NOW)
        assert session.session_id.startswith("rec-20260301-120000-")
        assert services.recordings_due_claim(now=NOW) == [session.pk]
        assert services.recordings_due_claim(now=NOW + timedelta(seconds=299)) == []
        assert services.recordings_due_claim(now=NOW + timedelta(seconds=300)) == [session.pk]
        assert sessions().get().runs_started == 2

    def test_a_slot_is_claimed_by_one_scheduler_only(self):
        session = services.recording_start(target_url=URL, now=NOW)
        first = services.recordings_due_claim(now=NOW)
        second = services.recordings_due_claim(now=NOW)
        assert first == [session.pk] and second == []

    def test_a_stopped_session_is_never_due(self):
        session = services.recording_start(target_url=URL, now=NOW)
        assert services.recording_stop(recording_pk=session.pk) is True
        assert services.recording_stop(recording_pk=session.pk) is False
        assert services.recordings_due_claim(now=NOW + timedelta(days=1)) == []

    def test_a_stopped_target_can_be_recorded_again(self):
        first = services.recording_start(target_url=URL, now=NOW)
        services.recording_stop(recording_pk=first.pk)
        second = services.recording_start(target_url=URL, now=NOW + timedelta(seconds=1))
        assert second.active and second.session_id != first.session_id

    def test_the_standard_profile_is_small_and_valid(self):
        session = services.recording_start(target_url=URL, now=NOW)
        assert session.profile["users"] == 5
        assert session.profile["duration_s"] == 15


@pytest.mark.django_db(databases=BOTH_DATABASES)
def test_the_tick_starts_a_load_test_and_queues_it_after_commit(django_capture_on_commit_callbacks, monkeypatch,
                                                                 settings):
    sent = []
    monkeypatch.setattr(run_loadtest_task, "apply_async", lambda **kwargs: sent.append(kwargs))
    session = services.recording_start(target_url=URL, interval_s=60)
    with django_capture_on_commit_callbacks(execute=True, using="default"):
        assert tasks.recording_tick_task() == 1
    run = LoadTestRun.objects.get()
    assert (run.origin, run.status, run.target_url) == ("tracker", RunStatus.QUEUED, URL)
    assert (run.owner, run.origin_ref) == (session.user_id, str(session.pk))
    assert len(sent) == 1
    # The engine's one load-test task runs it.
    assert sent[0]["args"] == [run.pk]
    assert sent[0]["queue"] == settings.LOADTEST_QUEUE
    assert sessions().get().last_loadtest_run_id == run.pk
    # Not due again until the interval passed.
    assert tasks.recording_tick_task() == 0


@pytest.mark.django_db(databases=BOTH_DATABASES)
def test_a_target_no_longer_allowed_is_recorded_as_the_sessions_problem(settings):
    session = services.recording_start(target_url=URL)
    settings.LOADTEST_ALLOWED_TARGET_HOSTS = ["example.invalid"]
    assert tasks.recording_tick_task() == 0
    assert "not allowed" in sessions().get(pk=session.pk).last_error
    assert not LoadTestRun.objects.exists()


@pytest.mark.django_db(databases=BOTH_DATABASES)
class TestResult:
    def _finished(self, run: LoadTestRun, status=RunStatus.COMPLETED) -> LoadTestRun:
        LoadTestRun.objects.filter(pk=run.pk).update(
            status=status, started_at=NOW, finished_at=NOW + timedelta(seconds=15), total_requests=300,
            total_successes=297, total_failures=3, rps=20.0, latency_avg_ms=12.0, latency_p95_ms=30.0,
            error="target went away" if status == RunStatus.FAILED else "",
        )
        return LoadTestRun.objects.get(pk=run.pk)

    def _started(self, session) -> LoadTestRun:
        return LoadTestRun.objects.get(pk=services.recording_run_start(recording_pk=session.pk))

    def test_a_finished_load_test_announced_by_the_engine_is_logged_into_the_session_once(self):
        session = services.recording_start(target_url=URL)
        run = self._finished(self._started(session))
        run_finished.send(sender=LoadTestRun, run=run)
        run_finished.send(sender=LoadTestRun, run=run)
        tracked = TrackedRun.objects.using("tracker").get()
        assert (tracked.session_id, tracked.target_url, tracked.rps) == (session.session_id, URL, 20.0)
        assert tracked.labels["recording"] is True
        assert tracked.labels["loadtest_run_id"] == run.pk

    def test_a_failed_load_test_is_the_sessions_last_problem(self):
        session = services.recording_start(target_url=URL)
        run = self._finished(self._started(session), status=RunStatus.FAILED)
        assert services.recording_run_record(run_id=run.pk) is None
        assert "target went away" in sessions().get().last_error
        assert not TrackedRun.objects.using("tracker").exists()

    def test_a_run_of_another_origin_is_not_the_trackers(self):
        session = services.recording_start(target_url=URL)
        run = self._finished(self._started(session))
        LoadTestRun.objects.filter(pk=run.pk).update(origin="submission")
        run_finished.send(sender=LoadTestRun, run=LoadTestRun.objects.get(pk=run.pk))
        assert not TrackedRun.objects.using("tracker").exists()


@pytest.mark.integration
@pytest.mark.django_db(databases=BOTH_DATABASES, transaction=True)
def test_a_recording_session_produces_runs_with_a_real_worker(tmp_path, anvil_server, anvil_store):
    from common.testing import celery_worker, wait_until

    anvil, store_env = anvil_server, anvil_store
    queue = f"tracker-test-{uuid.uuid4().hex[:8]}"
    with override_settings(LOADTEST_QUEUE=queue, TRACKER_RECORDING_DURATION_S=3, TRACKER_RECORDING_USERS=2):
        session = services.recording_start(target_url=anvil.url, interval_s=10)
        env = {**store_env, "ENABLE_LOCAL_TRACKER": "true", "TRACKER_DATABASE_URL": database_url("tracker")}
        with celery_worker(tmp_path=tmp_path, queue=queue, env=env):
            # What beat does every TRACKER_RECORDING_TICK_S: the first slot is due at once.
            assert tasks.recording_tick_task() == 1

            def logged() -> bool:
                return TrackedRun.objects.using("tracker").filter(session_id=session.session_id).exists()

            wait_until(logged, timeout_s=90, message="the recording's first run logged by the worker")
    tracked = TrackedRun.objects.using("tracker").get(session_id=session.session_id)
    run = LoadTestRun.objects.get(pk=tracked.labels["loadtest_run_id"])
    assert run.status == RunStatus.COMPLETED and run.origin == "tracker"
    assert tracked.total_requests == run.total_requests > 0
    assert tracked.rps > 0
    assert tracked.target_url == anvil.url


@pytest.mark.integration
@pytest.mark.django_db(databases=BOTH_DATABASES, transaction=True)
def test_run_loadtest_track_logs_the_run_end_to_end(tmp_path, anvil_server, anvil_store):
    import subprocess
    import sys

    from common.testing import BASE_DIR, child_env

    anvil, store_env = anvil_server, anvil_store
    env = child_env({
        **store_env,
        "ENABLE_LOCAL_TRACKER": "true",
        "DATABASE_URL": database_url("default"),
        "TRACKER_DATABASE_URL": database_url("tracker"),
        "VAR_DIR": str(tmp_path / "cli-var"),
    })
    result = subprocess.run(
        [sys.executable, "manage.py", "run_loadtest", "--target", anvil.url, "--users", "2", "--duration", "3",
         "--track", "--session", "cli-e2e"],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    tracked = TrackedRun.objects.using("tracker").get(session_id="cli-e2e")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=BASE_DIR, capture_output=True, text=True)
    # Run inside a repository, the commit defaults to its HEAD.
    assert tracked.commit_hash == (head.stdout.strip() or None)
    run = LoadTestRun.objects.get(pk=tracked.labels["loadtest_run_id"])
    assert (tracked.total_requests, tracked.rps) == (run.total_requests, run.rps)
    assert f"logged in the local tracker as #{tracked.pk}" in result.stdout
