from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from common.testing import tiny_profile
from common.validation import FieldError
from loadtest import services
from loadtest.hooks import run_finished
from loadtest.models import ChaosEvent, EndReason, LoadTestRun, RunSample, RunStatus
from loadtest.targets import TargetNotAllowed
from loadtest.tasks import run_loadtest_task, runs_reap_task

pytestmark = pytest.mark.django_db

PLAN = [{"at_s": 1, "duration_s": 2, "kind": "latency", "params": {"ms": 100}}]


def run_make(**overrides) -> LoadTestRun:
    arguments = {"target_url": "http://127.0.0.1:9", "profile": tiny_profile(), "chaos_plan": PLAN}
    arguments.update(overrides)
    return services.run_create(**arguments)


def test_it_creates_a_queued_run_with_its_planned_chaos_events():
    run = run_make()
    assert run.status == RunStatus.QUEUED
    assert run.profile["duration_s"] == 4
    event = ChaosEvent.objects.get(run=run)
    assert (event.index, event.kind, event.at_s, event.duration_s) == (0, "latency", 1, 2)
    assert event.spec["ttl_s"] == 12 and event.spec["params"]["ms"] == 100


def test_it_refuses_a_disallowed_target_and_stores_nothing():
    with pytest.raises(TargetNotAllowed, match="not allowed"):
        run_make(target_url="https://example.com")
    assert not LoadTestRun.objects.exists()


def test_it_refuses_a_chaos_event_after_the_end_of_the_run():
    with pytest.raises(FieldError) as caught:
        run_make(chaos_plan=[{"at_s": 4, "duration_s": 1, "kind": "error"}])
    assert caught.value.field == "chaos_plan[0].at_s"
    assert not LoadTestRun.objects.exists()


@pytest.mark.parametrize("processes", [0, 99, True, "2"])
def test_it_refuses_a_bad_process_count(processes):
    with pytest.raises(FieldError) as caught:
        run_make(processes=processes)
    assert caught.value.field == "processes"


def test_it_enqueues_on_the_load_test_queue_after_commit_with_time_limits(settings, django_capture_on_commit_callbacks):
    settings.LOADTEST_QUEUE = "lt-unit"
    run = run_make()
    with mock.patch.object(run_loadtest_task, "apply_async") as apply_async:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            services.run_enqueue(run_id=run.pk)
        apply_async.assert_not_called()
        for callback in callbacks:
            callback()
    kwargs = apply_async.call_args.kwargs
    assert kwargs["args"] == [run.pk] and kwargs["queue"] == "lt-unit"
    assert 4 < kwargs["soft_time_limit"] < kwargs["time_limit"]


def test_only_one_caller_claims_a_run():
    run = run_make()
    now = timezone.now()
    assert services.run_claim(run_id=run.pk, now=now) is True
    assert services.run_claim(run_id=run.pk, now=now) is False
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING and run.deadline_at > now + timedelta(seconds=4)


def test_a_redelivered_task_does_not_run_the_test_again():
    run = run_make()
    services.run_claim(run_id=run.pk, now=timezone.now())
    with mock.patch("loadtest.execution.lifecycle.RunLifecycle.execute") as execute:
        assert run_loadtest_task(run.pk) == RunStatus.RUNNING
    execute.assert_not_called()


def test_cancelling_a_queued_run_ends_it_at_once_and_tells_listeners(django_capture_on_commit_callbacks):
    run = run_make()
    seen = []
    run_finished.connect(lambda sender, run, **kw: seen.append(run.status), weak=False, dispatch_uid="t-cancel")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert services.run_cancel(run_id=run.pk) is True
    finally:
        run_finished.disconnect(dispatch_uid="t-cancel")
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED and run.finished_at is not None
    assert seen == [RunStatus.CANCELLED]
    assert services.run_claim(run_id=run.pk, now=timezone.now()) is False
    assert services.run_cancel(run_id=run.pk) is False


def test_cancelling_a_running_run_raises_its_flag():
    run = run_make()
    services.run_claim(run_id=run.pk, now=timezone.now())
    assert services.run_cancel(run_id=run.pk) is True
    run.refresh_from_db()
    assert run.cancel_requested and run.status == RunStatus.RUNNING


def test_the_periodic_check_fails_runs_past_their_deadline_and_clears_their_faults(anvil_store):
    from anvil.services import fault_add, fault_list

    stuck, fresh = run_make(), run_make()
    now = timezone.now()
    for run in (stuck, fresh):
        services.run_claim(run_id=run.pk, now=now)
    fault = fault_add(spec={"kind": "latency", "params": {"ms": 50}, "ttl_s": 60})
    ChaosEvent.objects.filter(run=stuck).update(fault_id=fault["id"], applied_at=now)
    LoadTestRun.objects.filter(pk=stuck.pk).update(deadline_at=now - timedelta(seconds=1))

    assert runs_reap_task() == 1

    stuck.refresh_from_db()
    fresh.refresh_from_db()
    assert stuck.status == RunStatus.FAILED and "deadline" in stuck.error
    assert fresh.status == RunStatus.RUNNING
    assert fault_list() == []
    assert ChaosEvent.objects.get(run=stuck).cleared_at is not None
    assert stuck.end_reason == EndReason.WORKER_LOST


def test_a_run_whose_heartbeat_stopped_is_declared_lost_long_before_its_deadline(settings):
    settings.LOADTEST_HEARTBEAT_STALE_S = 10
    run = run_make(profile=tiny_profile(duration_s=600), chaos_plan=None)
    started = timezone.now()
    services.run_claim(run_id=run.pk, now=started)
    # A heartbeat within the allowance: still alive.
    assert services.runs_reap(now=started + timedelta(seconds=9)) == 0
    assert services.runs_reap(now=started + timedelta(seconds=11)) == 1
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and run.end_reason == EndReason.WORKER_LOST
    assert "no heartbeat since" in run.error
    assert run.deadline_at > started + timedelta(seconds=600)


def test_a_finished_run_whose_announcement_failed_is_announced_again(django_capture_on_commit_callbacks):
    run = run_make(chaos_plan=None)
    services.run_claim(run_id=run.pk, now=timezone.now())
    heard = []

    def listener(sender, run, **kwargs):
        heard.append(run.pk)
        if len(heard) == 1:
            raise RuntimeError("the listener's database went away")

    run_finished.connect(listener, weak=False, dispatch_uid="t-retry")
    try:
        with pytest.raises(RuntimeError), django_capture_on_commit_callbacks(execute=True):
            services.run_finish(run_id=run.pk, status=RunStatus.COMPLETED)
        run.refresh_from_db()
        assert run.announced_at is None
        later = run.finished_at + timedelta(seconds=services.ANNOUNCE_RETRY_S + 1)
        services.runs_reap(now=later)
        services.runs_reap(now=later)
    finally:
        run_finished.disconnect(dispatch_uid="t-retry")
    run.refresh_from_db()
    assert heard == [run.pk, run.pk]
    assert run.announced_at is not None


def test_totals_come_from_merged_histograms_not_averaged_percentiles():
    from loadtest.selectors import run_totals_compute

    run = run_make(chaos_plan=None)
    # Second 0: 99 fast requests; second 1: one slow one. Averaging the
    # per-second p50s would give ~505 ms; the true p50 is ~10 ms.
    RunSample.objects.create(run=run, second=0, requests=99, successes=99, latency_avg_ms=10,
                             latency_p50_ms=10, latency_max_ms=10, success_latency_sum_ms=990,
                             latency_histogram={"10000": 99})
    RunSample.objects.create(run=run, second=1, requests=1, successes=0, failures=1,
                             failures_by_kind={"500": 1}, latency_avg_ms=1000, latency_p50_ms=1000,
                             latency_max_ms=1000, latency_histogram={"999424": 1})
    totals = run_totals_compute(run=run, elapsed_s=2)
    assert totals["total_requests"] == 100 and totals["total_failures"] == 1
    assert totals["latency_p50_ms"] == pytest.approx(10, rel=0.01)
    assert totals["latency_p99_ms"] == pytest.approx(10, rel=0.01)
    assert totals["latency_max_ms"] == 1000
    assert totals["latency_avg_ms"] == pytest.approx(19.9)
    assert totals["rps"] == 50
