from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from io import StringIO
from unittest import mock

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command

from anvil.services import fault_list
from common.testing import BASE_DIR, child_env, database_url_of_tests, wait_until
from loadtest.models import LoadTestRun, RunStatus
from loadtest.tasks import run_loadtest_task

pytestmark = pytest.mark.django_db


def run_command(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("run_loadtest", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "https://example.com"], "not allowed"),
        (["--target", "http://127.0.0.1:9", "--users", "0"], "users"),
        (["--target", "http://127.0.0.1:9", "--chaos-plan", "/nonexistent/plan.json"], "chaos-plan"),
        (["--target", "http://127.0.0.1:9", "--challenge", "no-such-challenge"], "no challenge"),
        (["--target", "http://127.0.0.1:9", "--challenge", "x", "--users", "3"], "drop the explicit"),
        (["--target", "http://127.0.0.1:9", "--track", "--async"], "--async"),
        (["--target", "http://127.0.0.1:9", "--session", "s1"], "--track"),
        (["--target", "http://127.0.0.1:9", "--tasks", "{nope"], "--tasks"),
    ],
)
def test_bad_arguments_exit_2_with_a_reason(args, message):
    with pytest.raises(CommandError, match=message) as caught:
        run_command(*args)
    assert caught.value.returncode == 2
    assert not LoadTestRun.objects.exists()


def test_a_bad_chaos_plan_names_the_field(tmp_path):
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps([{"at_s": 1, "duration_s": 2, "kind": "latency", "params": {"ms": "slow"}}]))
    with pytest.raises(CommandError, match=r"chaos_plan\[0\]\.params\.ms") as caught:
        run_command("--target", "http://127.0.0.1:9", "--duration", "5", "--chaos-plan", str(plan))
    assert caught.value.returncode == 2


def test_async_enqueues_and_prints_the_run_id(django_capture_on_commit_callbacks):
    with mock.patch.object(run_loadtest_task, "apply_async") as apply_async:
        with django_capture_on_commit_callbacks(execute=True):
            out, _ = run_command("--target", "http://127.0.0.1:9", "--users", "2", "--duration", "5", "--async",
                                 "--json")
    run = LoadTestRun.objects.get()
    assert json.loads(out) == {"id": run.pk, "status": "queued"}
    assert apply_async.call_args.kwargs["args"] == [run.pk]


def test_a_challenge_supplies_profile_and_chaos_plan(django_capture_on_commit_callbacks):
    challenge_model = apps.get_model("leaderboard", "Challenge")
    challenge_model.objects.create(
        slug="steady", name="Steady", scoring="availability",
        profile={"users": 7, "duration_s": 9},
        chaos_plan=[{"at_s": 2, "duration_s": 3, "kind": "error", "params": {"status": 500}}],
    )
    with mock.patch.object(run_loadtest_task, "apply_async"):
        run_command("--target", "http://127.0.0.1:9", "--challenge", "steady", "--async")
    run = LoadTestRun.objects.get()
    assert (run.profile["users"], run.profile["duration_s"]) == (7, 9)
    assert run.chaos_events.get().kind == "error"


def test_a_failed_run_exits_1_with_the_reason():
    from common.testing import free_port

    with pytest.raises(CommandError, match="target unreachable") as caught:
        run_command("--target", f"http://127.0.0.1:{free_port()}", "--duration", "3", "--json")
    assert caught.value.returncode == 1
    assert LoadTestRun.objects.get().status == RunStatus.FAILED


@pytest.mark.integration
def test_a_synchronous_run_prints_progress_and_a_summary_then_tracks_it(anvil_server, settings):
    settings.TRACKING_SERVICE_URL = "http://127.0.0.1:9/tracker/api/track"
    with mock.patch("loadtest.management.commands.run_loadtest.run_track") as run_track:
        out, err = run_command("--target", anvil_server.url, "--users", "2", "--duration", "3", "--wait-min", "0.05",
                               "--wait-max", "0.1", "--track", "--session", "s1", "--commit", "abc123")
    run = LoadTestRun.objects.get()
    assert run.status == RunStatus.COMPLETED
    assert f"run {run.pk}  completed" in out and "p95" in out and "latency ms" in out
    assert "[   3/3s]" in err
    assert run_track.call_args.kwargs == {"run": run, "session": "s1", "commit": "abc123",
                                          "stdout": mock.ANY}


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_ctrl_c_cancels_cleanly(anvil_server, anvil_store, tmp_path):
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps([{"at_s": 0, "duration_s": 30, "kind": "latency", "params": {"ms": 20}}]))
    env = child_env({"DATABASE_URL": database_url_of_tests(), **anvil_store})
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_loadtest", "--target", anvil_server.url, "--users", "2", "--duration", "30",
         "--chaos-plan", str(plan)],
        cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        wait_until(lambda: LoadTestRun.objects.filter(samples__isnull=False).exists(), timeout_s=30,
                   message="the run under way")
        assert fault_list() != []
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert time.monotonic() - sent < 10
    assert process.returncode == 1, err
    run = LoadTestRun.objects.get()
    assert run.status == RunStatus.CANCELLED
    assert b"cancelled" in err
    assert fault_list() == []


def test_track_with_tracking_off_is_refused_before_any_load(settings):
    settings.ENABLE_LOCAL_TRACKER = False
    settings.TRACKING_SERVICE_URL = ""
    with pytest.raises(CommandError, match="--track: tracking is disabled") as caught:
        run_command("--target", "http://127.0.0.1:8080", "--duration", "3", "--track")
    assert caught.value.returncode == 2
    assert not LoadTestRun.objects.exists()
