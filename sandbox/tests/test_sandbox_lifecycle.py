"""A sandbox's life around its run: limits that hold, a start that fails with the containers' words,
and no container or network left however the run ends (completed, cancelled, its worker SIGKILLed)."""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from common.testing import celery_worker, tiny_profile, wait_until
from loadtest import services
from loadtest.models import EndReason, LoadTestRun, RunSample, RunStatus
from sandbox.engine import engine_client
from sandbox.services import sandboxes_reap
from sandbox.tests.bundles import example
from sandbox.tests.docker import sandbox_ids
from sandbox.tests.runs import bundle_run

pytestmark = pytest.mark.integration

# nginx serves the entry point; "hog" allocates past its memory limit a
# second after it starts, and is started again each time it is killed.
HOG = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: nginx
          image: nginx
          ports: [{name: http, containerPort: 8080}]
          resources: {limits: {cpu: 200m, memory: 64Mi}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: hog}
spec:
  selector: {matchLabels: {app: hog}}
  template:
    metadata: {labels: {app: hog}}
    spec:
      containers:
        - name: hog
          image: nginx
          command: ["python3", "-c", "import time; time.sleep(1); hog = b'x' * (256 * 2**20); time.sleep(60)"]
          resources: {limits: {cpu: 250m, memory: 64Mi}}
---
apiVersion: v1
kind: Service
metadata: {name: entrypoint}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
"""

CRASHING = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: broken}
spec:
  selector: {matchLabels: {app: broken}}
  template:
    metadata: {labels: {app: broken}}
    spec:
      containers:
        - name: app
          image: nginx
          command: ["sh", "-c", "echo cannot find my configuration >&2; exit 3"]
          ports: [{name: http, containerPort: 8080}]
          resources: {limits: {cpu: 100m, memory: 32Mi}}
---
apiVersion: v1
kind: Service
metadata: {name: entrypoint}
spec:
  selector: {app: broken}
  ports: [{port: 80, targetPort: http}]
"""


@pytest.mark.django_db
def test_a_container_past_its_memory_limit_is_killed_counted_and_restarted(sandbox_ready):
    run = bundle_run(bundle=HOG, profile=tiny_profile(duration_s=6, users=1))

    # The load reached nginx (its answers are not url-anvil's, so they count
    # as wrong answers); the run itself completed.
    assert run.status == RunStatus.COMPLETED, run.error
    hog = next(c for c in run.generator["sandbox"]["containers"] if c["pod"] == "hog-0")
    assert hog["restarts"] >= 1, hog
    assert run.generator["sandbox"]["restarts"] == hog["restarts"]


@pytest.mark.django_db
def test_the_limits_of_the_manifest_are_the_containers_limits_and_an_oom_kill_is_reported(sandbox_ready):
    from sandbox.services import sandbox_down, sandbox_up

    found = sandbox_up(bundle_text=HOG, ttl_s=600)
    try:
        client = engine_client()
        hog = client.containers.get(next(c["name"] for c in found["containers"] if c["pod"] == "hog-0"))
        config = hog.attrs["HostConfig"]
        assert config["NanoCpus"] == 250_000_000 and config["Memory"] == 64 * 2**20
        assert config["MemorySwap"] == config["Memory"] and config["PidsLimit"] > 0
        assert config["ReadonlyRootfs"] and config["CapDrop"] == ["ALL"]
        assert "no-new-privileges:true" in config["SecurityOpt"] and config["RestartPolicy"]["Name"] == "always"

        def oom_killed() -> bool:
            hog.reload()
            return hog.attrs["State"]["OOMKilled"] and hog.attrs["State"]["ExitCode"] == 137

        wait_until(oom_killed, timeout_s=30, interval_s=0.05, message="the hog killed for its memory")
        wait_until(lambda: hog.reload() or hog.attrs["RestartCount"] >= 2, timeout_s=30, message="two restarts")
    finally:
        sandbox_down(sandbox_id=found["id"])


@pytest.mark.django_db
def test_a_bundle_that_never_gets_ready_fails_the_run_with_what_its_container_said(sandbox_ready):
    run = bundle_run(bundle=CRASHING, profile=tiny_profile(duration_s=3))

    assert run.status == RunStatus.FAILED and run.end_reason == EndReason.ERROR
    assert "crash-looping" in run.error and "exit code 3" in run.error, run.error
    assert "cannot find my configuration" in run.error
    # At once, on the crash loop, not at the end of the start-up allowance.
    assert "not ready within" not in run.error
    assert run.generator["sandbox"]["torn_down"] is True


@pytest.mark.django_db
def test_a_cancelled_run_leaves_no_container_or_network(sandbox_ready):
    # Cancelled once the load is under way, however long a busy machine takes to get there.
    run = bundle_run(bundle=example("bare-anvil.yaml"), profile=tiny_profile(duration_s=30),
                     cancel_check=lambda: RunSample.objects.filter(requests__gt=0).exists())

    assert run.status == RunStatus.CANCELLED, run.error
    assert run.total_requests > 0
    assert run.generator["sandbox"]["torn_down"] is True
    # (the fixture checks that no labelled object is left on the engine)


@pytest.mark.django_db(transaction=True)
def test_a_sandbox_whose_worker_was_sigkilled_mid_run_is_reaped(sandbox_ready, settings, tmp_path):
    settings.LOADTEST_QUEUE = queue = f"sandbox-loss-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    spec = services.run_place_spec_build(place="sandbox", given={"bundle": example("bare-anvil.yaml")})
    run = services.run_create(target_url="", profile=tiny_profile(duration_s=60), place="sandbox", place_spec=spec)
    env = {"SANDBOX_CATALOGUE_FILE": str(settings.SANDBOX_CATALOGUE_FILE),
           "SANDBOX_STATE_DIR": str(settings.SANDBOX_STATE_DIR)}
    before = sandbox_ids()
    with celery_worker(tmp_path=tmp_path, queue=queue, env=env) as worker:
        services.run_enqueue(run_id=run.pk)
        wait_until(lambda: LoadTestRun.objects.filter(pk=run.pk, samples__isnull=False).exists(), timeout_s=90,
                   message="the run under way")
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    (left,) = sandbox_ids() - before or {None}
    assert left is not None, "the killed worker's sandbox should still be there"

    # What beat does: the engine's check declares the run lost, then the
    # sandbox's reaper removes what it left (its run has ended).
    services.runs_reap(now=timezone.now() + timedelta(seconds=settings.LOADTEST_HEARTBEAT_STALE_S + 1))
    assert LoadTestRun.objects.get(pk=run.pk).end_reason == EndReason.WORKER_LOST

    assert left in sandboxes_reap()
    assert left not in sandbox_ids()


@pytest.mark.django_db
def test_the_reaper_removes_a_sandbox_past_its_deadline_and_leaves_a_live_one(sandbox_ready, settings):
    from sandbox.runtime import Sandbox, sandbox_id_new
    from sandbox.services import sandbox_down, sandbox_spec_build, sandbox_up

    plan = sandbox_spec_build({"bundle": example("bare-anvil.yaml")})["plan"]
    expired = Sandbox(sandbox_id=sandbox_id_new(), plan=plan, state_dir=settings.SANDBOX_STATE_DIR,
                      deadline=time.time() - 1, origin="test")
    expired.create(ready_s=30)
    live = sandbox_up(bundle_text=example("bare-anvil.yaml"), ttl_s=600)
    try:
        reaped = sandboxes_reap()

        assert expired.id in reaped and live["id"] not in reaped
        assert expired.id not in sandbox_ids() and live["id"] in sandbox_ids()
        assert not (settings.SANDBOX_STATE_DIR / expired.id).exists()
    finally:
        sandbox_down(sandbox_id=live["id"])
        expired.teardown()
