from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from io import StringIO
from unittest import mock

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from anvil.services import fault_list
from common.testing import BASE_DIR, FakeTTY, child_env, database_url_of_tests, terminal_lines, wait_until
from loadtest import hooks, selectors, services
from loadtest.management.commands import run_loadtest
from loadtest.models import ChaosEvent, EndReason, LoadTestRun, ProbeResult, RunSample, RunStatus
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
        (["--follow", "1", "--target", "http://127.0.0.1:9"], "--follow watches an existing run; drop --target"),
        (["--follow", "1", "--async", "--users", "3"], "drop --async, --users"),
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


def test_async_enqueues_and_prints_the_run_id_and_how_to_follow_it(django_capture_on_commit_callbacks):
    with mock.patch.object(run_loadtest_task, "apply_async") as apply_async:
        with django_capture_on_commit_callbacks(execute=True):
            out, _ = run_command("--target", "http://127.0.0.1:9", "--users", "2", "--duration", "5", "--async",
                                 "--json")
    run = LoadTestRun.objects.get()
    assert json.loads(out) == {"id": run.pk, "status": "queued", "follow": f"manage.py run_loadtest --follow {run.pk}"}
    assert apply_async.call_args.kwargs["args"] == [run.pk]


def test_async_in_words_names_the_command_that_follows_the_run():
    with mock.patch.object(run_loadtest_task, "apply_async"):
        out, _ = run_command("--target", "http://127.0.0.1:9", "--duration", "5", "--async")
    run = LoadTestRun.objects.get()
    assert out.strip() == f"queued run {run.pk} on the load-test queue; watch it with: manage.py run_loadtest --follow {run.pk}"


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


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_on_a_real_terminal_the_faults_logged_during_a_run_get_lines_of_their_own(anvil_server, anvil_store, tmp_path):
    plan = tmp_path / "plan.json"
    # Half-way through seconds, so that a progress line is on screen when each fault is logged.
    plan.write_text(json.dumps([{"at_s": 1.5, "duration_s": 1, "kind": "latency", "params": {"ms": 5}},
                                {"at_s": 3.5, "duration_s": 1, "kind": "latency", "params": {"ms": 5}}]))
    env = child_env({"DATABASE_URL": database_url_of_tests(), "LOG_LEVEL": "INFO", **anvil_store})
    master, slave = os.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "run_loadtest", "--target", anvil_server.url, "--users", "2",
             "--duration", "5", "--wait-min", "0.05", "--wait-max", "0.1", "--chaos-plan", str(plan)],
            cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=slave,
        )
        os.close(slave)
        slave = None
        output = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal's last writer
                break
            if not chunk:
                break
            output += chunk
        process.wait(timeout=60)
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)
    lines = terminal_lines(output.decode(errors="replace"))
    logged = [line for line in lines if " INFO " in line or " WARNING " in line]
    assert sum("applied latency fault" in line for line in logged) == 2, lines
    for line in logged:
        assert line[:4].isdigit(), f"a log record ran into the progress line: {line!r}"
    assert process.returncode == 0, lines


def test_track_with_tracking_off_is_refused_before_any_load(settings):
    settings.ENABLE_LOCAL_TRACKER = False
    settings.TRACKING_SERVICE_URL = ""
    with pytest.raises(CommandError, match="--track: tracking is disabled") as caught:
        run_command("--target", "http://127.0.0.1:8080", "--duration", "3", "--track")
    assert caught.value.returncode == 2
    assert not LoadTestRun.objects.exists()


def test_track_with_the_local_tracker_off_is_refused_naming_enable_local_tracker_before_anything_runs(settings):
    settings.ENABLE_LOCAL_TRACKER = False
    settings.TRACKING_SERVICE_URL = ""
    with mock.patch.object(services, "run_execute") as run_execute, \
            pytest.raises(CommandError, match="ENABLE_LOCAL_TRACKER") as caught:
        run_command("--target", "http://127.0.0.1:8080", "--duration", "3", "--track")
    assert caught.value.returncode == 2
    run_execute.assert_not_called()
    assert not LoadTestRun.objects.exists()


def test_track_with_the_local_tracker_on_but_no_sink_registered_is_refused_before_anything_runs(settings, monkeypatch):
    settings.ENABLE_LOCAL_TRACKER = True
    monkeypatch.setattr(hooks, "_tracking_sinks", [])
    with mock.patch.object(services, "run_execute") as run_execute, \
            pytest.raises(CommandError, match="ENABLE_LOCAL_TRACKER is on, but the tracker app") as caught:
        run_command("--target", "http://127.0.0.1:8080", "--duration", "3", "--track")
    assert caught.value.returncode == 2
    run_execute.assert_not_called()
    assert not LoadTestRun.objects.exists()


# --- the live line on a terminal --------------------------------------------------

def second_of(run_id: int, second: int, *, duration_s: int = 3) -> dict:
    """One progress update as the life cycle hands it to the command."""
    return {"run_id": run_id, "second": second, "elapsed_s": second + 1, "duration_s": duration_s, "requests": 40,
            "rps": 40.0, "p95_ms": 12.5, "failures": 0, "active_users": 2, "up": True, "active_faults": 1}


@pytest.fixture
def execution_log():
    """The engine's execution logger, its records written to a fake terminal like the console handler's."""
    tty = FakeTTY()
    logger = logging.getLogger("loadtest.execution")
    handler = logging.StreamHandler(tty)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield tty, logger
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_on_a_terminal_log_records_during_a_run_never_start_inside_the_progress_line(execution_log):
    tty, logger = execution_log

    def execute(*, run_id, progress, cancel_check):
        services.run_claim(run_id=run_id, now=timezone.now())
        for second in range(3):
            progress(second_of(run_id, second))
            logger.info("run %s: applied latency fault f%d at %d.02s", run_id, second, second)
        services.run_finish(run_id=run_id, status=RunStatus.COMPLETED)
        return LoadTestRun.objects.get(pk=run_id)

    with mock.patch.object(services, "run_execute", side_effect=execute):
        call_command("run_loadtest", "--target", "http://127.0.0.1:8080", "--duration", "3",
                     stdout=StringIO(), stderr=tty)
    lines = terminal_lines(tty.getvalue())
    logged = [line for line in lines if "INFO" in line]
    assert len(logged) == 3
    for line in logged:
        assert line[:4].isdigit() and "faults" not in line, f"a log record ran into the progress line: {line!r}"
    # The last second stays on screen, under the records, and the cursor is below it.
    assert lines[-2].startswith("[   3/3s] rps    40.0") and lines[-1] == ""


# --- --follow ----------------------------------------------------------------------

def run_queued(*, duration_s: int = 3) -> LoadTestRun:
    return services.run_create(target_url="http://127.0.0.1:8080", profile={"users": 2, "duration_s": duration_s},
                               chaos_plan=[{"at_s": 1, "duration_s": 1, "kind": "latency", "params": {"ms": 50}}])


def run_start(run: LoadTestRun) -> None:
    assert services.run_claim(run_id=run.pk, now=timezone.now())


def run_second(run: LoadTestRun, second: int, *, up: bool = True) -> None:
    RunSample.objects.create(run=run, second=second, requests=30, successes=29, failures=1, rps=30.0,
                             active_users=2, latency_avg_ms=9.0, latency_p95_ms=20.0, latency_max_ms=40.0,
                             failures_by_kind={"503": 1})
    ProbeResult.objects.create(run=run, second=second, probed_at=timezone.now(), up=up)


def run_end(run: LoadTestRun, *, status: str = RunStatus.COMPLETED, error: str = "") -> None:
    assert services.run_finish(run_id=run.pk, status=status, error=error,
                               end_reason="" if status == RunStatus.COMPLETED else EndReason.ERROR)


def follow(run_id: int, *extra: str, stderr=None) -> tuple[str, str]:
    out, err = StringIO(), stderr if stderr is not None else StringIO()
    call_command("run_loadtest", "--follow", str(run_id), *extra, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def polls(monkeypatch):
    """Each poll of ``--follow`` first does the next step (a change to the run), as a worker would between polls."""
    steps: list = []
    real = selectors.run_progress

    def poll(*, run_id: int, with_health: bool = False):
        if steps:
            steps.pop(0)()
        return real(run_id=run_id, with_health=with_health)

    monkeypatch.setattr(run_loadtest, "run_progress", poll)
    monkeypatch.setattr(run_loadtest, "FOLLOW_POLL_S", 0.001)
    return steps


def test_follow_of_an_unknown_run_exits_2_naming_it():
    with pytest.raises(CommandError, match="--follow: there is no run 999") as caught:
        follow(999)
    assert caught.value.returncode == 2


@pytest.mark.parametrize("as_json", [False, True])
def test_follow_of_a_finished_run_prints_at_once_what_the_synchronous_run_printed(as_json, polls):
    flags = ["--json"] if as_json else []
    calls = []
    polls += [lambda: calls.append(1)] * 5

    def execute(*, run_id, progress, cancel_check):
        run = LoadTestRun.objects.get(pk=run_id)
        run_start(run)
        for second in range(3):
            run_second(run, second)
        run_end(run)
        return LoadTestRun.objects.get(pk=run_id)

    with mock.patch.object(services, "run_execute", side_effect=execute):
        synchronous, _ = run_command("--target", "http://127.0.0.1:8080", "--duration", "3", *flags)
    run = LoadTestRun.objects.get()
    followed, err = follow(run.pk, *flags)
    assert followed == synchronous
    assert err == ""
    assert len(calls) == 1  # one look at the run, no waiting
    if as_json:
        assert json.loads(followed)["totals"]["requests"] == 90


def test_follow_of_a_failed_run_exits_1_with_its_reason_as_a_synchronous_run_would():
    run = run_queued()
    run_start(run)
    run_end(run, status=RunStatus.FAILED, error="target unreachable: connection refused")
    with pytest.raises(CommandError, match=f"run {run.pk} failed: target unreachable") as caught:
        follow(run.pk, "--json")
    assert caught.value.returncode == 1


def test_follow_watches_a_queued_run_live_until_it_ends_then_prints_its_result(polls):
    run = run_queued()
    event = ChaosEvent.objects.get(run=run)
    polls += [
        lambda: None,                                   # still queued: waiting for a worker
        lambda: run_start(run),                         # claimed, load starting
        lambda: run_second(run, 0),
        lambda: (run_second(run, 1, up=False),
                 ChaosEvent.objects.filter(pk=event.pk).update(applied_at=timezone.now(), applied_second=1.0)),
        lambda: run_second(run, 2),
        lambda: run_end(run),
    ]
    out, err = follow(run.pk)
    assert err.splitlines() == [
        f"run {run.pk} queued: waiting for a load-test worker",
        f"run {run.pk} running: starting the load",
        "[   1/3s] rps    30.0  p95    20.0ms  failures     1  users    2  up    faults 0",
        "[   2/3s] rps    30.0  p95    20.0ms  failures     1  users    2  DOWN  faults 1",
        "[   3/3s] rps    30.0  p95    20.0ms  failures     1  users    2  up    faults 1",
    ]
    assert out.startswith(f"run {run.pk}  completed  http://127.0.0.1:8080  (3s, constant, 2 users, 1 process)")
    assert "requests           90" in out


def test_follow_on_a_terminal_redraws_one_line_and_leaves_the_last_second_on_screen(polls):
    run = run_queued()
    run_start(run)
    polls += [lambda: run_second(run, 0), lambda: run_second(run, 1), lambda: run_second(run, 2), lambda: run_end(run)]
    tty = FakeTTY()
    follow(run.pk, stderr=tty)
    assert "\r\x1b[K" in tty.getvalue()
    assert terminal_lines(tty.getvalue()) == [
        "[   3/3s] rps    30.0  p95    20.0ms  failures     1  users    2  up    faults 0", ""]


def test_follow_with_json_shows_no_progress_and_exits_1_for_a_cancelled_run(polls):
    run = run_queued()
    polls += [lambda: services.run_cancel(run_id=run.pk)]
    with pytest.raises(CommandError, match=f"run {run.pk} cancelled") as caught:
        follow(run.pk, "--json")
    assert caught.value.returncode == 1


def test_ctrl_c_stops_watching_but_leaves_the_run_alone(polls):
    run = run_queued()
    polls += [lambda: None, lambda: os.kill(os.getpid(), signal.SIGINT)]
    with pytest.raises(CommandError, match=f"stopped watching run {run.pk}.*--follow {run.pk}") as caught:
        follow(run.pk)
    assert caught.value.returncode == 1
    run.refresh_from_db()
    assert (run.status, run.cancel_requested) == (RunStatus.QUEUED, False)


@pytest.mark.django_db(transaction=True)
def test_follow_sees_a_run_another_process_finishes_on_its_own_database_connection(monkeypatch):
    run = run_queued()
    run_start(run)
    monkeypatch.setattr(run_loadtest, "FOLLOW_POLL_S", 0.01)
    polled = threading.Event()
    real = selectors.run_progress

    def poll(*, run_id: int, with_health: bool = False):
        polled.set()
        return real(run_id=run_id, with_health=with_health)

    monkeypatch.setattr(run_loadtest, "run_progress", poll)

    failures = []

    def worker() -> None:
        try:
            polled.wait(timeout=30)
            run_second(run, 0)
            run_end(run)
        except BaseException:  # noqa: BLE001 - reported by the test below, after the follower stopped
            failures.append(traceback.format_exc())
            os.kill(os.getpid(), signal.SIGINT)  # the follower stops watching instead of waiting forever
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        out, _ = follow(run.pk, "--json")
    finally:
        thread.join(timeout=30)
    assert not failures, failures[0]
    assert json.loads(out)["status"] == RunStatus.COMPLETED
    assert json.loads(out)["totals"]["requests"] == 30
