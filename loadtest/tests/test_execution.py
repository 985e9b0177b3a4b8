"""A real run against a real url-anvil under gunicorn: samples, totals, chaos, cleanup."""

from __future__ import annotations

import os
import re
import signal
import urllib.request

import pytest

from anvil.services import fault_list
from common.testing import anvil_running, runner_processes, tiny_profile, wait_until
from loadtest import services
from loadtest.models import ChaosEvent, ProbeResult, RunSample, RunStatus
from loadtest.selectors import run_probe_summary, run_window_stats

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

LOAD_ROUTES = {"anvil-sample-urls", "anvil-history", "anvil-index"}
_COUNT = re.compile(r'^anvil_request_duration_seconds_count\{(?P<labels>[^}]*)\} (?P<value>[0-9.e+]+)$')


def anvil_load_requests(url: str) -> int:
    """Requests the anvil itself counted on the routes the load users call."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    total = 0.0
    for line in text.splitlines():
        match = _COUNT.match(line)
        if match and re.search(r'route="([^"]+)"', match["labels"])[1] in LOAD_ROUTES:
            total += float(match["value"])
    return int(total)


def test_a_short_run_stores_every_second_and_totals_the_anvil_agrees_with(anvil_server):
    before = anvil_load_requests(anvil_server.url)
    updates = []
    run = services.run_create(target_url=anvil_server.url, profile=tiny_profile(duration_s=4))
    run = services.run_execute(run_id=run.pk, progress=updates.append)

    assert run.status == RunStatus.COMPLETED, run.error
    samples = list(run.samples.order_by("second"))
    assert [sample.second for sample in samples][:4] == [0, 1, 2, 3]
    for sample in samples:
        assert sample.requests == sample.successes + sample.failures
    assert run.total_requests == sum(sample.requests for sample in samples) > 20
    assert run.total_successes + run.total_failures == run.total_requests
    assert run.total_failures == 0
    assert run.latency_p50_ms <= run.latency_p95_ms <= run.latency_p99_ms <= run.latency_max_ms
    assert any(sample.instances for sample in samples)
    assert run.generator["locust_version"] and run.generator["processes"] == 1
    assert len(updates) >= 4 and updates[-1]["elapsed_s"] == 4

    seen_by_anvil = anvil_load_requests(anvil_server.url) - before
    # Requests cut off when the users stop reach the anvil but never finish on
    # our side; with 3 users that is a handful at most.
    assert abs(seen_by_anvil - run.total_requests) <= max(5, run.total_requests * 0.02), (seen_by_anvil, run.total_requests)

    probes = run_probe_summary(run=run)
    assert probes["probed_seconds"] >= 3 and probes["down_seconds"] == []
    assert ProbeResult.objects.filter(run=run, up=True).exclude(instance="").exists()


def test_a_latency_fault_shows_in_the_measured_p50_and_is_cleared_after_a_normal_end(anvil_server):
    plan = [{"at_s": 2, "duration_s": 3, "kind": "latency", "params": {"ms": 300}}]
    run = services.run_create(target_url=anvil_server.url, profile=tiny_profile(duration_s=6, users=4), chaos_plan=plan)
    run = services.run_execute(run_id=run.pk)

    assert run.status == RunStatus.COMPLETED, run.error
    event = ChaosEvent.objects.get(run=run)
    assert 1.9 <= event.applied_second <= 3 and 4.9 <= event.cleared_second <= 6.5
    assert event.fault_id and event.cleared_at is not None
    calm = run_window_stats(run=run, start_s=0, end_s=2)
    # Every anvil process picks a fault up within its refresh interval: skip the first faulty second.
    faulty = run_window_stats(run=run, start_s=3, end_s=5)
    assert faulty["latency_p50_ms"] >= calm["latency_p50_ms"] + 200, (calm, faulty)
    assert fault_list() == []


def test_a_crash_fault_shows_as_new_instances_and_down_seconds(tmp_path, anvil_store):
    # One worker, so that while it is dead nobody answers the prober.
    with anvil_running(tmp_path=tmp_path, store_env=anvil_store, workers=1) as anvil_server:
        plan = [{"at_s": 1, "duration_s": 3, "kind": "crash", "params": {"probability": 1.0}}]
        run = services.run_create(target_url=anvil_server.url, profile=tiny_profile(duration_s=6, users=2), chaos_plan=plan)
        run = services.run_execute(run_id=run.pk)

    assert run.status == RunStatus.COMPLETED, run.error
    probes = run_probe_summary(run=run)
    # Down once the crash fault is on (from second 1); a probe that timed out
    # earlier on a busy machine may add a down second before it.
    assert [second for second in probes["down_seconds"] if second >= 1], probes
    assert len(probes["instances"]) >= 2
    first_instance = ProbeResult.objects.filter(run=run).order_by("probed_at").first().instance
    assert probes["instances"][0] == first_instance
    # The load users saw the replacement process too. On a busy machine a
    # second may pass with no answer at all (users still starting, or the
    # process down): compare the first and the last seconds that saw one.
    seen_by_users = [set(sample.instances) for sample in run.samples.order_by("second") if sample.instances]
    assert len(seen_by_users) >= 2 and not seen_by_users[0] & seen_by_users[-1], seen_by_users
    assert fault_list() == []


def test_cancel_stops_the_load_clears_faults_and_records_cancelled(anvil_server):
    plan = [{"at_s": 0, "duration_s": 20, "kind": "latency", "params": {"ms": 50}}]
    run = services.run_create(target_url=anvil_server.url, profile=tiny_profile(duration_s=20), chaos_plan=plan)

    def cancel_once_loaded() -> bool:
        # A condition, not a time: a busy machine may take long to start the load.
        return RunSample.objects.filter(run_id=run.pk, requests__gt=0).exists()

    run = services.run_execute(run_id=run.pk, cancel_check=cancel_once_loaded)

    assert run.status == RunStatus.CANCELLED and "cancel" in run.error
    assert run.samples.count() < 20  # it stopped well before its planned end
    assert fault_list() == []
    assert ChaosEvent.objects.get(run=run).cleared_at is not None
    assert run.samples.exists() and run.total_requests > 0
    assert runner_processes() == []


def test_a_runner_crash_fails_the_run_and_clears_its_faults(anvil_server):
    plan = [{"at_s": 0, "duration_s": 20, "kind": "error", "params": {"status": 503, "probability": 0.1}}]
    run = services.run_create(target_url=anvil_server.url, profile=tiny_profile(duration_s=20), chaos_plan=plan)

    def kill_runner_at_second_two(update: dict) -> None:
        if update["second"] == 1:
            for process in runner_processes():
                os.kill(process.pid, signal.SIGKILL)

    run = services.run_execute(run_id=run.pk, progress=kill_runner_at_second_two)

    assert run.status == RunStatus.FAILED
    assert "exited with code -9" in run.error
    assert fault_list() == []
    assert run.finished_at is not None
    wait_until(lambda: runner_processes() == [], timeout_s=5, message="runner gone")


def test_an_unreachable_target_fails_at_once_with_the_reason(free_target_url):
    run = services.run_create(target_url=free_target_url, profile=tiny_profile())
    run = services.run_execute(run_id=run.pk)
    assert run.status == RunStatus.FAILED
    assert run.error.startswith("target unreachable")
    assert not run.samples.exists()


def test_two_processes_share_the_load_and_report_one_stream(anvil_server):
    run = services.run_create(target_url=anvil_server.url, profile=tiny_profile(duration_s=3, users=4), processes=2)
    run = services.run_execute(run_id=run.pk)
    assert run.status == RunStatus.COMPLETED, run.error
    assert run.generator["processes"] == 2
    assert run.samples.count() >= 3 and run.total_requests > 10
    assert run.total_successes == run.total_requests


def test_a_step_profile_adds_users_during_the_run(anvil_server):
    profile = tiny_profile(shape="step", users=2, step_users=3, step_every_s=2, max_users=5, duration_s=4)
    run = services.run_create(target_url=anvil_server.url, profile=profile)
    run = services.run_execute(run_id=run.pk)
    assert run.status == RunStatus.COMPLETED, run.error
    users = dict(run.samples.values_list("second", "active_users"))
    assert users[0] == 2 and users[3] == 5


def test_chaos_reaches_the_anvil_through_its_control_api(tmp_path, anvil_store, settings):
    token = "test-token-" + os.urandom(4).hex()
    with anvil_running(tmp_path=tmp_path, store_env=anvil_store, extra_env={"ANVIL_CHAOS_TOKEN": token}) as anvil_server:
        settings.LOADTEST_ANVIL_CONTROL_URL = anvil_server.url
        settings.LOADTEST_ANVIL_CHAOS_TOKEN = token
        plan = [{"at_s": 1, "duration_s": 1, "kind": "error", "params": {"status": 503}}]
        run = services.run_create(target_url=anvil_server.url, profile=tiny_profile(duration_s=3), chaos_plan=plan)
        run = services.run_execute(run_id=run.pk)

    assert run.status == RunStatus.COMPLETED, run.error
    event = ChaosEvent.objects.get(run=run)
    assert event.applied_at and event.cleared_at and not event.error
    assert run_window_stats(run=run)["failures_by_kind"].get("503", 0) > 0
    assert fault_list() == []


@pytest.fixture
def free_target_url():
    from common.testing import free_port

    return f"http://127.0.0.1:{free_port()}"


def test_a_fault_that_cannot_be_applied_fails_the_run_with_the_reason(anvil_server, settings, free_target_url,
                                                                       monkeypatch):
    settings.LOADTEST_ANVIL_CONTROL_URL = free_target_url
    settings.LOADTEST_ANVIL_CHAOS_TOKEN = "whatever"
    # The control API answers the opening check for leftover faults, then is gone.
    monkeypatch.setattr("loadtest.fault_control.HttpFaultControl.active", lambda self: [])
    plan = [{"at_s": 1, "duration_s": 2, "kind": "latency", "params": {"ms": 100}}]
    run = services.run_create(target_url=anvil_server.url, profile=tiny_profile(duration_s=4), chaos_plan=plan)
    run = services.run_execute(run_id=run.pk)
    assert run.status == RunStatus.FAILED
    assert run.error.startswith("chaos event #0 (latency) could not be applied: anvil control API")
    assert "could not be applied" in ChaosEvent.objects.get(run=run).error
    assert runner_processes() == []


def test_a_run_whose_anvil_faults_cannot_be_checked_fails_before_any_load(anvil_server, settings, free_target_url):
    settings.LOADTEST_ANVIL_CONTROL_URL = free_target_url
    settings.LOADTEST_ANVIL_CHAOS_TOKEN = "whatever"
    run = services.run_create(target_url=anvil_server.url, profile=tiny_profile(duration_s=4))
    run = services.run_execute(run_id=run.pk)
    assert run.status == RunStatus.FAILED
    assert run.error.startswith("faults left on the anvil could not be cleared before the run: anvil control API")
    assert run.total_requests == 0 and not run.samples.exists()


def test_a_run_clears_faults_left_on_its_anvil_before_it_starts_and_says_so(anvil_server, anvil_store):
    from anvil.services import fault_add

    # As a run whose worker was killed would leave it: an error fault for a long while.
    fault_add(spec={"kind": "error", "params": {"status": 503}, "ttl_s": 600})
    run = services.run_create(target_url=anvil_server.url, profile=tiny_profile(duration_s=3))
    run = services.run_execute(run_id=run.pk)
    assert run.status == RunStatus.COMPLETED, run.error
    assert run.generator["leftover_faults_cleared"] == 1
    assert run.total_failures == 0 and run.total_requests > 0
    assert fault_list() == []



def test_a_place_whose_runner_probes_stores_the_runners_probes(anvil_server, monkeypatch):
    from loadtest.execution import places
    from loadtest.execution.runner_process import LocalRunnerProcess

    class ProbingRunnerPlace(places.LocalPlace):
        # As a sandbox does: the target is reachable only from where the runner runs.
        name = "probing-runner"
        probes_in_runner = True

        def runner_start(self):
            return LocalRunnerProcess(target_url=self.run.target_url, profile=self.run.profile, processes=1,
                                      probe_url=self.run.target_url + "/healthz")

    monkeypatch.setattr("loadtest.services.place_for", lambda *, run: ProbingRunnerPlace(run=run))
    # The life cycle must not probe by itself for such a place.
    monkeypatch.setattr("loadtest.execution.lifecycle.Prober", None)
    run = services.run_create(target_url=anvil_server.url, profile=tiny_profile(duration_s=3))
    run = services.run_execute(run_id=run.pk)
    assert run.status == RunStatus.COMPLETED, run.error
    summary = run_probe_summary(run=run)
    assert summary["probed_seconds"] >= 2 and summary["down_seconds"] == []
    assert ProbeResult.objects.filter(run=run, up=True).exclude(instance="").exists()


@pytest.mark.parametrize("stop", [SystemExit(-15), KeyboardInterrupt()])
def test_a_run_whose_worker_is_stopped_under_it_ends_as_lost_with_its_worker(anvil_server, monkeypatch, stop):
    from loadtest.execution import places
    from loadtest.models import EndReason

    class StoppedPlace(places.LocalPlace):
        # A worker's shutdown reaches the run as SystemExit (a pool process's
        # SIGTERM) or KeyboardInterrupt (Ctrl-C) while it runs.
        def runner_start(self):
            raise stop

    monkeypatch.setattr("loadtest.services.place_for", lambda *, run: StoppedPlace(run=run))
    run = services.run_create(target_url=anvil_server.url, profile=tiny_profile(duration_s=3))
    with pytest.raises(type(stop)):
        services.run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert (run.status, run.end_reason) == (RunStatus.FAILED, EndReason.WORKER_LOST)
    assert run.error.startswith("the worker was stopped during the run")
