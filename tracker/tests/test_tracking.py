"""``loadtest.tracker_client.run_track``: a finished engine run logged in-process, over HTTP, or not at all."""

from __future__ import annotations

import socket
import subprocess
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.test import override_settings

from common.testing import gunicorn_server
from loadtest import tracker_client as tracking
from loadtest.models import LoadTestRun, RunStatus
from loadtest.tracker_client import TrackingUnavailable, commit_default, run_payload_build, run_track
from tracker.models import TrackedRun
from tracker.payload import payload_validate
from tracker.tests.conftest import BOTH_DATABASES, database_url


def finished_run(**overrides) -> LoadTestRun:
    started = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    fields = {
        "target_url": "http://127.0.0.1:8080",
        "profile": {"shape": "constant", "users": 5, "spawn_rate": 5, "duration_s": 10,
                    "tasks": {"sample_urls": 4, "test": 2, "history": 1, "index": 1}},
        "status": RunStatus.COMPLETED,
        "started_at": started,
        "finished_at": started + timedelta(seconds=10.5),
        "total_requests": 1000,
        "total_successes": 990,
        "total_failures": 10,
        "rps": 95.2,
        "latency_avg_ms": 21.0,
        "latency_p50_ms": 18.0,
        "latency_p95_ms": 44.0,
        "latency_p99_ms": 80.0,
    }
    fields.update(overrides)
    return LoadTestRun.objects.create(**fields)


@pytest.mark.django_db(databases=["default"])
class TestPayload:
    def test_a_run_becomes_a_valid_schema_1_payload(self):
        run = finished_run()
        payload = run_payload_build(run=run, session="evening", commit="abc123")
        fields = payload_validate(payload=payload)
        assert fields["rps"] == 95.2 and fields["value"] == 95.2
        assert (fields["total_requests"], fields["successful_requests"], fields["failed_requests"]) == (1000, 990, 10)
        assert fields["error_rate"] == pytest.approx(1.0)
        assert (fields["p50_latency_ms"], fields["p95_latency_ms"], fields["p99_latency_ms"]) == (18.0, 44.0, 80.0)
        assert fields["duration_s"] == 10.5
        assert (fields["commit_hash"], fields["session_id"]) == ("abc123", "evening")
        assert fields["method"] == "POST" and fields["request_count"] == 5
        assert fields["labels"]["loadtest_run_id"] == run.pk
        assert fields["client_run_id"].startswith(f"loadtest-{run.pk}-")

    def test_different_profiles_get_different_test_types(self):
        a = run_payload_build(run=finished_run(), session=None, commit=None)
        b = run_payload_build(run=finished_run(profile={"shape": "constant", "users": 50, "duration_s": 10}),
                              session=None, commit=None)
        c = run_payload_build(run=finished_run(chaos_plan=[{"kind": "latency"}]), session=None, commit=None)
        types = {p["runDetails"]["test_type"] for p in (a, b, c)}
        assert len(types) == 3

    def test_a_run_without_requests_has_a_full_error_rate_when_it_failed(self):
        run = finished_run(status=RunStatus.FAILED, total_requests=0, total_successes=0, total_failures=0, rps=None,
                           latency_avg_ms=None, latency_p50_ms=None, latency_p95_ms=None, latency_p99_ms=None)
        payload = run_payload_build(run=run, session=None, commit=None)
        assert payload["runDetails"]["error_rate"] == 100.0
        assert payload_validate(payload=payload)["rps"] == 0.0


@pytest.mark.django_db(databases=["default"])
def test_with_tracking_off_it_refuses_with_the_reason_and_writes_nothing():
    out = StringIO()
    with override_settings(ENABLE_LOCAL_TRACKER=False, TRACKING_SERVICE_URL=""), \
            pytest.raises(TrackingUnavailable, match="tracking is disabled: set ENABLE_LOCAL_TRACKER=true"):
        run_track(run=finished_run(), stdout=out)
    assert out.getvalue() == ""


@pytest.mark.django_db(databases=BOTH_DATABASES)
def test_with_the_tracker_on_it_logs_the_run_in_process_once(tracker_on):
    run = finished_run()
    out = StringIO()
    first = run_track(run=run, session="s1", commit="feedface", stdout=out)
    second = run_track(run=run, session="s1", commit="feedface", stdout=StringIO())
    assert first["status"] == "ok" and first["id"] == second["id"]
    stored = TrackedRun.objects.using("tracker").get()
    assert (stored.commit_hash, stored.session_id, stored.rps) == ("feedface", "s1", 95.2)
    assert f"run {run.pk} logged in the local tracker as #{stored.pk}" in out.getvalue()


@pytest.mark.django_db(databases=BOTH_DATABASES)
def test_the_commit_defaults_to_the_current_git_commit(tracker_on, monkeypatch):
    monkeypatch.setattr(tracking, "commit_default", lambda: "0123456789abcdef")
    run_track(run=finished_run(), stdout=StringIO())
    assert TrackedRun.objects.using("tracker").get().commit_hash == "0123456789abcdef"


@pytest.mark.django_db(databases=["default"])
def test_an_unfinished_run_is_not_tracked(tracker_on):
    with pytest.raises(TrackingUnavailable, match="has not finished"):
        run_track(run=finished_run(status=RunStatus.RUNNING), stdout=StringIO())


def test_commit_default_reads_head_inside_a_repository_and_none_outside(tmp_path):
    outside = tmp_path / "plain"
    outside.mkdir()
    assert commit_default(cwd=str(outside)) is None
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "first"], cwd=repo, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True)
    assert commit_default(cwd=str(repo)) == head.stdout.strip()


@pytest.mark.django_db(databases=["default"])
def test_an_unreachable_tracking_service_is_a_clear_error():
    # A port we hold without listening: refused for sure, and nobody else can take it meanwhile.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{held.getsockname()[1]}/t"
        with override_settings(ENABLE_LOCAL_TRACKER=False, TRACKING_SERVICE_URL=url):
            with pytest.raises(TrackingUnavailable, match="could not be reached"):
                run_track(run=finished_run(), commit="c", stdout=StringIO())


@pytest.mark.integration
@pytest.mark.django_db(databases=BOTH_DATABASES, transaction=True)
def test_it_logs_over_http_into_a_tracker_running_elsewhere(tmp_path):
    env = {
        "ENABLE_LOCAL_TRACKER": "true",
        "LOCAL_TRACKER_API_KEY": "remote-key",
        "DATABASE_URL": database_url("default"),
        "TRACKER_DATABASE_URL": database_url("tracker"),
        "VAR_DIR": str(tmp_path / "server-var"),
    }
    run = finished_run()
    with gunicorn_server("chaoschallenge.wsgi", tmp_path=tmp_path, workers=1, env=env) as server:
        url = server.url + "/tracker/api/track"
        with override_settings(ENABLE_LOCAL_TRACKER=False, TRACKING_SERVICE_URL=url,
                               TRACKING_SERVICE_API_KEY="wrong"):
            with pytest.raises(TrackingUnavailable, match="answered 403"):
                run_track(run=run, commit="c0ffee", stdout=StringIO())
        out = StringIO()
        with override_settings(ENABLE_LOCAL_TRACKER=False, TRACKING_SERVICE_URL=url,
                               TRACKING_SERVICE_API_KEY="remote-key"):
            answer = run_track(run=run, session="remote", commit="c0ffee", stdout=out)
        log = server.log()
    assert answer["status"] == "ok"
    stored = TrackedRun.objects.using("tracker").get()
    assert (stored.pk, stored.session_id, stored.commit_hash) == (answer["id"], "remote", "c0ffee")
    assert url in out.getvalue()
    # The server that has the tracker on says so when it starts.
    assert "ENABLE_LOCAL_TRACKER is on" in log
