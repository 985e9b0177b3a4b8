"""The Celery path with a real worker: the embedded filesystem broker, or Redis when REDIS_URL is set."""

from __future__ import annotations

import os
import signal
from datetime import timedelta

import psutil
import pytest
from django.conf import settings as django_settings
from django.db import transaction

from anvil.services import fault_list
from common.testing import celery_worker, tiny_profile, wait_until
from loadtest import services
from loadtest.models import LoadTestRun, RunStatus
from loadtest.tasks import run_loadtest_task

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def broker_kind() -> str:
    return "redis" if django_settings.CELERY_BROKER_URL.startswith("redis") else "filesystem"


def runner_processes_for(target_url: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if "loadtest.runner" in cmdline and target_url in cmdline:
            found.append(process)
    return found


def enqueue(*, target_url: str, profile: dict, chaos_plan: list | None = None) -> LoadTestRun:
    with transaction.atomic():
        run = services.run_create(target_url=target_url, profile=profile, chaos_plan=chaos_plan, origin="test")
        services.run_enqueue(run_id=run.pk)
    return run


def test_a_real_worker_runs_an_enqueued_load_test(anvil_server, anvil_store, queue, tmp_path):
    with celery_worker(tmp_path=tmp_path, queue=queue, env=anvil_store):
        run = enqueue(target_url=anvil_server.url, profile=tiny_profile(duration_s=3),
                      chaos_plan=[{"at_s": 1, "duration_s": 1, "kind": "latency", "params": {"ms": 20}}])
        wait_until(lambda: LoadTestRun.objects.get(pk=run.pk).is_finished, timeout_s=60,
                   message=f"run finished on the {broker_kind()} broker")
        run.refresh_from_db()
        assert run.status == RunStatus.COMPLETED, run.error
        samples, finished_at = run.samples.count(), run.finished_at

        # The same message delivered again (a redelivery after a lost ack) finds nothing to claim.
        log = tmp_path / f"celery-{queue}.log"
        run_loadtest_task.apply_async(args=[run.pk], queue=queue)
        wait_until(lambda: log.read_text().count("succeeded") >= 2, timeout_s=30, message="second delivery handled")

    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED and run.finished_at == finished_at
    assert run.samples.count() == samples >= 3 and run.total_requests > 0
    assert run.chaos_events.get().cleared_at is not None
    assert fault_list() == []


def test_a_killed_worker_leaves_the_run_failed_by_the_periodic_check(anvil_server, anvil_store, queue, tmp_path):
    plan = [{"at_s": 0, "duration_s": 30, "kind": "latency", "params": {"ms": 10}}]
    with celery_worker(tmp_path=tmp_path, queue=queue, env=anvil_store) as worker:
        run = enqueue(target_url=anvil_server.url, profile=tiny_profile(duration_s=30), chaos_plan=plan)
        wait_until(lambda: run.samples.exists(), timeout_s=40, message="first samples stored")
        # The worker and its pool child die at once, as on an OOM kill or a lost host.
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)

    # Nobody will finish it: it stays running until the periodic check sees its heartbeat has stopped.
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    assert services.runs_reap(now=run.heartbeat_at + timedelta(seconds=1)) == 0
    stale = run.heartbeat_at + timedelta(seconds=django_settings.LOADTEST_HEARTBEAT_STALE_S + 1)
    assert services.runs_reap(now=stale) == 1
    assert stale < run.deadline_at

    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "no heartbeat" in run.error
    assert fault_list() == []
    # The orphaned runner notices its parent is gone and stops the load itself.
    wait_until(lambda: runner_processes_for(anvil_server.url) == [], timeout_s=10, message="orphaned runner gone")


def test_the_stuck_check_is_scheduled_and_load_tests_are_routed_to_their_queue():
    assert django_settings.CELERY_BEAT_SCHEDULE["loadtest-reap-runs"]["task"] == "loadtest.tasks.runs_reap_task"
    assert django_settings.CELERY_TASK_ROUTES["loadtest.tasks.run_loadtest_task"] == {
        "queue": django_settings.LOADTEST_QUEUE
    }
