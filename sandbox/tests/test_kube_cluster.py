"""The Kubernetes backend's calls, through the official client, against a recording stand-in API server.

Everything up to the API call is real: the client, its serialisation, the
HTTP; the run goes through the engine (run_create → run_execute) with a real
url-anvil and the real load runner standing in for the pods. What a real
cluster adds (scheduling, networking, admission) is not here: docs/cloud.md.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time

import pytest

from common.net import free_port
from common.testing import BASE_DIR, gunicorn_server, tiny_profile
from loadtest import services
from loadtest.models import RunStatus
from loadtest.selectors import run_probe_summary
from sandbox.bundle import DEFAULT_QUOTA
from sandbox.kube import place as kube_place
from sandbox.kube.cluster import KubeSandbox, SandboxNotReady, sandboxes_reap
from sandbox.kube.config import kube_api_client, kube_settings
from sandbox.kube.objects import LABEL_PARTITIONED, Identity
from sandbox.kube.runner import KubeRunner
from sandbox.services import sandboxes_reap as sandboxes_reap_service
from sandbox.tests.bundles import example
from sandbox.tests.kube import kube_configured, kube_objects
from sandbox.tests.kube_standin import KubeStandIn

SETUP_ROUTES = [
    "POST /api/v1/namespaces",
    "POST /apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
    "POST /api/v1/namespaces/{ns}/resourcequotas",
    "POST /api/v1/namespaces/{ns}/limitranges",
    *["POST /apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies"] * 5,
    "PATCH /api/v1/namespaces/{ns}/services/{name}",
    "PATCH /apis/apps/v1/namespaces/{ns}/deployments/{name}",
]


@contextlib.contextmanager
def _standin(**kwargs):
    with KubeStandIn(**kwargs).running() as standin, kube_configured(SANDBOX_K8S_API_URL=standin.url):
        yield standin


def _sandbox(standin, *, text: str | None = None) -> KubeSandbox:
    objects = kube_objects(text or example("bare-anvil.yaml"), quota=DEFAULT_QUOTA)
    spec_images = {name: kube_settings().catalogue().pin(name) for name in ("url-anvil", "haproxy", "nginx")}
    return KubeSandbox(api=kube_api_client(kube_settings()), objects=objects, sandbox_id="t1", images=spec_images)


def test_a_sandbox_is_created_in_order_and_the_bundle_is_applied_server_side():
    with _standin() as standin:
        sandbox = _sandbox(standin)
        sandbox.create()
        assert sandbox.wait_ready(ready_s=10) >= 0

    assert standin.routes()[:len(SETUP_ROUTES)] == SETUP_ROUTES
    applies = [call for call in standin.calls if call.method == "PATCH"]
    assert {call.content_type for call in applies} == {"application/apply-patch+yaml"}
    assert all(call.query == {"fieldManager": "sre-chaos-challenge", "force": "true"} for call in applies)
    namespace = standin.calls[0].body
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert {call.body["metadata"]["namespace"] for call in standin.calls[1:len(SETUP_ROUTES)]} == {"sbx-t1"}


def test_a_bundle_that_cannot_pull_fails_at_once_with_the_pods_reason():
    with _standin(waiting="ImagePullBackOff") as standin:
        sandbox = _sandbox(standin)
        sandbox.create()
        with pytest.raises(SandboxNotReady, match=r"anvil-\d+/anvil: ImagePullBackOff: .*url-anvil@sha256:a+: not found") as raised:
            sandbox.wait_ready(ready_s=600)
    # At once, on the pod's reason, not at the end of the allowance.
    assert "not available within" not in str(raised.value)


def test_a_bundle_that_never_gets_available_fails_with_what_the_cluster_said():
    with _standin(ready_after=10**9, warnings=['pods "anvil-x" is forbidden: exceeded quota: sandbox']) as standin:
        sandbox = _sandbox(standin)
        sandbox.create()
        with pytest.raises(SandboxNotReady) as raised:
            sandbox.wait_ready(ready_s=1)
    message = str(raised.value)
    assert "not available within 1 s: anvil" in message
    assert "Available: Deployment does not have minimum availability." in message
    assert "event FailedCreate: pods \"anvil-x\" is forbidden: exceeded quota: sandbox" in message


def test_pod_kill_deletes_a_pod_without_grace_and_its_replacement_counts_as_a_restart():
    with _standin() as standin:
        sandbox = _sandbox(standin)
        sandbox.create()
        sandbox.wait_ready(ready_s=10)
        [replica] = sandbox.anvil_replicas()
        assert replica["pod"] == "anvil-0" and replica["address"] == "127.0.0.1" and replica["port"] == 8080
        assert sandbox.restarts(replica["container"]) == 0
        sandbox.pod_kill("anvil-0")
        [after] = sandbox.anvil_replicas()
        restarts = sandbox.restarts(after["container"])
        rows = sandbox.containers()

    deletes = [call for call in standin.calls if call.route == "DELETE /api/v1/namespaces/{ns}/pods/{name}"]
    assert len(deletes) == 1 and deletes[0].query["gracePeriodSeconds"] == "0"
    assert after["pod"] == "anvil-0" and restarts == 1
    assert [(row["pod"], row["image"], row["restarts"]) for row in rows] == [("anvil-0", "url-anvil", 1)]


def test_partition_cuts_a_replica_off_by_label_until_it_is_reconnected():
    with _standin() as standin:
        sandbox = _sandbox(standin)
        sandbox.create()
        sandbox.wait_ready(ready_s=10)
        sandbox.pod_disconnect("anvil-0")
        cut = sandbox.anvil_replicas()[0]["address"]
        labelled = [pod.labels.get(LABEL_PARTITIONED) for pod in standin.pods.values()]
        sandbox.pod_reconnect("anvil-0")
        back = sandbox.anvil_replicas()[0]["address"]

    assert (cut, labelled, back) == ("", ["true"], "127.0.0.1")
    patches = [call.body for call in standin.calls if call.route == "PATCH /api/v1/namespaces/{ns}/pods/{name}"]
    assert patches == [{"metadata": {"labels": {LABEL_PARTITIONED: "true"}}},
                       {"metadata": {"labels": {LABEL_PARTITIONED: None}}}]


def test_teardown_deletes_the_load_job_and_the_namespace_in_the_foreground():
    with _standin() as standin:
        sandbox = _sandbox(standin)
        sandbox.create()
        assert sandbox.teardown() is True
        assert sandbox.teardown() is True  # again: what is gone is gone

    deletes = [call for call in standin.calls if call.method == "DELETE"]
    assert [call.route for call in deletes[:2]] == ["DELETE /apis/batch/v1/namespaces/{ns}/jobs/{name}",
                                                    "DELETE /api/v1/namespaces/{name}"]
    assert deletes[1].body["propagationPolicy"] == "Foreground"
    assert standin.namespaces() == []


def test_the_reaper_deletes_only_the_platforms_sandboxes_past_their_deadline():
    now = time.time()
    with _standin() as standin:
        api = kube_api_client(kube_settings())
        for sandbox_id, deadline in (("old", now - 5), ("new", now + 600)):
            objects = kube_objects(example("bare-anvil.yaml"), quota=DEFAULT_QUOTA,
                                   identity=Identity(sandbox_id=sandbox_id, deadline=int(deadline)))
            KubeSandbox(api=api, objects=objects, sandbox_id=sandbox_id, images={}).create()
            standin.objects[("Job", "sre-chaos-load", objects.load_job["metadata"]["name"])] = objects.load_job
        # Somebody else's namespace, past any deadline, is not ours to delete.
        standin.objects[("Namespace", "", "team-x")] = {
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "team-x", "labels": {"sandbox.sre-chaos.org/deadline": "1"}}}
        assert sandboxes_reap(api=api, load_namespace="sre-chaos-load", now=now) == ["sbx-old"]
        assert sorted(ns["metadata"]["name"] for ns in standin.namespaces()) == ["sbx-new", "team-x"]
        assert [key[2] for key in standin.objects if key[0] == "Job"] == ["load-new"]
        # The periodic task's service takes the same path on this backend.
        assert sandboxes_reap_service() == []


def test_the_load_job_streams_the_runners_records_and_keeps_the_rest_as_stderr():
    script = 'import json; print("starting"); print(json.dumps({"type": "second", "n": 1})); print("Traceback: boom")'

    def start_job(job):
        return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    with _standin(start_job=start_job) as standin:
        objects = kube_objects(example("bare-anvil.yaml"), quota=DEFAULT_QUOTA)
        runner = KubeRunner(api=kube_api_client(kube_settings()), job=objects.load_job)
        records = []
        while (record := runner.records.get(timeout=30)) is not kube_place.hooks.RUNNER_END:
            records.append(record)
        assert runner.wait(timeout_s=30) == 0
        runner.close()

    assert records == [{"type": "second", "n": 1}]
    assert runner.stderr_tail() == "Traceback: boom"
    assert "POST /apis/batch/v1/namespaces/{ns}/jobs" in standin.routes()


# --- a whole run through the engine --------------------------------------------------------


@pytest.fixture
def cluster_run(tmp_path, anvil_store, monkeypatch):
    """The stand-in with a real url-anvil for the bundle's pods and the real runner for the load Job."""
    port = free_port()

    def start_anvil(env):
        stack = contextlib.ExitStack()
        server_env = {**anvil_store, "ANVIL_PORT": str(port), "ANVIL_CORPUS_BASE_URL": f"http://127.0.0.1:{port}",
                      "ANVIL_CHAOS_TOKEN": env["ANVIL_CHAOS_TOKEN"], "ANVIL_FAULT_REFRESH_S": "0.2"}
        stack.enter_context(gunicorn_server("chaoschallenge.wsgi_anvil", tmp_path=tmp_path, workers=1, env=server_env,
                                            port=port))
        return port, stack.close

    def start_job(job):
        container = job["spec"]["template"]["spec"]["containers"][0]
        env = {**os.environ, "PYTHONPATH": str(BASE_DIR), "PYTHONUNBUFFERED": "1"}
        return subprocess.Popen([sys.executable, *container["command"][1:], *container["args"]], cwd=BASE_DIR,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    # The cluster's DNS: the entry point's Service name leads to the one url-anvil.
    monkeypatch.setattr(kube_place, "entrypoint_url", lambda identity: f"http://127.0.0.1:{port}")
    with _standin(start_anvil=start_anvil, start_job=start_job) as standin:
        yield standin


@pytest.mark.django_db
def test_a_bundle_run_on_the_cluster_backend_is_loaded_broken_and_torn_down(cluster_run):
    spec = services.run_place_spec_build(place="sandbox", given={"bundle": example("bare-anvil.yaml")})
    assert spec["backend"] == "kubernetes"
    plan = [{"at_s": 1, "duration_s": 2, "kind": "latency", "params": {"ms": 300}},
            {"at_s": 4, "duration_s": 1, "kind": "pod_kill"}]
    run = services.run_create(target_url="", profile=tiny_profile(duration_s=6), chaos_plan=plan, place="sandbox",
                              place_spec=spec, origin="submission", origin_ref="12", owner="alice")
    run = services.run_execute(run_id=run.pk)

    assert run.status == RunStatus.COMPLETED, run.error
    assert run.total_successes > 0
    assert run_probe_summary(run=run)["probed_seconds"] >= 4
    sandbox = run.generator["sandbox"]
    assert sandbox["backend"] == "kubernetes" and sandbox["torn_down"] is True
    assert sandbox["pod_kills"] == 1 and sandbox["restarts"] == 1
    latency = run.chaos_events.get(kind="latency")
    assert latency.applied_at is not None and latency.error == ""

    routes = cluster_run.routes()
    assert routes[:len(SETUP_ROUTES)] == SETUP_ROUTES
    assert "POST /apis/batch/v1/namespaces/{ns}/jobs" in routes
    assert "DELETE /api/v1/namespaces/{ns}/pods/{name}" in routes
    assert routes[-2:] == ["DELETE /apis/batch/v1/namespaces/{ns}/jobs/{name}", "DELETE /api/v1/namespaces/{name}"]
    namespace = cluster_run.calls[0].body["metadata"]
    assert namespace["labels"]["sandbox.sre-chaos.org/origin"] == "submission-12"
    assert namespace["labels"]["sandbox.sre-chaos.org/owner"] == "alice"
    assert cluster_run.namespaces() == []
