"""One sandbox on a cluster: its namespace created, its bundle applied and watched, broken, deleted.

The same members as the Docker sandbox (``sandbox.runtime.Sandbox``) that
the fault control and the place use: ``anvil_replicas``, ``restarts``,
``pod_kill``, ``pod_disconnect`` / ``pod_reconnect``, ``containers``.

A Deployment's pods have no stable names: a killed pod is *replaced* by one
of another name. So replicas are known by slot (``anvil-0``, ``anvil-1``…,
a pod keeping its slot for its life and a new pod taking the free one), and
a replacement counts as a restart of its slot, as a restart of a container
does in the Docker sandbox. The fault control then gives the new pod the
faults still running, as it would a restarted container.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import kubernetes.client
from kubernetes.client.exceptions import ApiException

from sandbox.kube.config import API_TIMEOUT_S, KUBE_ERRORS
from sandbox.kube.objects import (
    FIELD_MANAGER,
    LABEL_ANVIL,
    LABEL_DEADLINE,
    LABEL_DEPLOYMENT,
    LABEL_ID,
    LABEL_PARTITIONED,
    MANAGED_BY,
    MANAGED_BY_KEY,
    NAMESPACE_PREFIX,
    SandboxObjects,
)
from sandbox.plan import ANVIL_DEFAULT_PORT

logger = logging.getLogger(__name__)

POLL_S = 0.5
REASON_LIMIT = 2000
# A pod in one of these will not get ready by waiting: fail at once, with it.
HOPELESS = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError",
            "CreateContainerError", "RunContainerError"}
_APPLY_PATHS = {
    "ConfigMap": "/api/v1/namespaces/{namespace}/configmaps/{name}",
    "Service": "/api/v1/namespaces/{namespace}/services/{name}",
    "Deployment": "/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
}


class SandboxNotReady(RuntimeError):
    """The bundle did not get ready; the message says what the API server or the pods said."""


def _absent(exc: ApiException) -> bool:
    return exc.status == 404


class KubeSandbox:
    errors = KUBE_ERRORS

    def __init__(self, *, api: kubernetes.client.ApiClient, objects: SandboxObjects, sandbox_id: str,
                 images: dict[str, str]) -> None:
        self.api = api
        self.names = {ref: name for name, ref in images.items()}  # pinned reference → catalogue name
        self.objects = objects
        self.id = sandbox_id
        self.namespace = objects.namespace["metadata"]["name"]
        self.core = kubernetes.client.CoreV1Api(api)
        self.apps = kubernetes.client.AppsV1Api(api)
        self.rbac = kubernetes.client.RbacAuthorizationV1Api(api)
        self.net = kubernetes.client.NetworkingV1Api(api)
        self.batch = kubernetes.client.BatchV1Api(api)
        self._slots: dict[str, str] = {}  # pod uid → slot
        self._slot_uid: dict[str, str] = {}  # slot → uid of the pod holding it
        self._replaced: dict[str, int] = {}  # slot → how often its pod was replaced
        self._partitioned: set[str] = set()

    # --- create -------------------------------------------------------------------------

    def create(self) -> None:
        self.core.create_namespace(body=self.objects.namespace, _request_timeout=API_TIMEOUT_S)
        for obj in self.objects.setup:
            self._create(obj)
        for obj in self.objects.bundle:
            self._apply(obj)

    def _create(self, obj: dict[str, Any]) -> None:
        creators: dict[str, Callable[..., Any]] = {
            "RoleBinding": self.rbac.create_namespaced_role_binding,
            "ResourceQuota": self.core.create_namespaced_resource_quota,
            "LimitRange": self.core.create_namespaced_limit_range,
            "NetworkPolicy": self.net.create_namespaced_network_policy,
        }
        creators[obj["kind"]](namespace=obj["metadata"]["namespace"], body=obj, _request_timeout=API_TIMEOUT_S)

    def _apply(self, obj: dict[str, Any]) -> None:
        """Server-side apply under the platform's field manager, taking every field the bundle names."""
        path = _APPLY_PATHS[obj["kind"]]
        self.api.call_api(
            path, "PATCH",
            path_params={"namespace": obj["metadata"]["namespace"], "name": obj["metadata"]["name"]},
            query_params=[("fieldManager", FIELD_MANAGER), ("force", "true")],
            header_params={"Content-Type": "application/apply-patch+yaml", "Accept": "application/json"},
            body=obj, response_type="object", auth_settings=["BearerToken"], _return_http_data_only=True,
            _request_timeout=API_TIMEOUT_S,
        )

    # --- ready ---------------------------------------------------------------------------

    def wait_ready(self, *, ready_s: float) -> float:
        """Seconds until every Deployment is available; SandboxNotReady with the cluster's reasons otherwise."""
        started = time.monotonic()
        names = [obj["metadata"]["name"] for obj in self.objects.bundle if obj["kind"] == "Deployment"]
        while True:
            pending = [name for name in names if not self._available(name)]
            if not pending:
                return time.monotonic() - started
            pods = self._pods()
            hopeless = _hopeless(pods)
            if hopeless or time.monotonic() - started >= ready_s:
                raise SandboxNotReady(self._not_ready_reason(pending, pods=pods, ready_s=ready_s, hopeless=hopeless))
            time.sleep(POLL_S)

    def _available(self, name: str) -> bool:
        found = self.apps.read_namespaced_deployment(name=name, namespace=self.namespace,
                                                            _request_timeout=API_TIMEOUT_S)
        want = 1 if found.spec.replicas is None else found.spec.replicas
        status = found.status
        if status is None or (status.observed_generation or 0) < (found.metadata.generation or 0):
            return False
        return (status.available_replicas or 0) >= want and (status.updated_replicas or 0) >= want

    def _not_ready_reason(self, pending: list[str], *, pods: list, ready_s: float, hopeless: list[str]) -> str:
        parts = hopeless or [f"not available within {ready_s:g} s: {', '.join(pending)}"]
        for name in pending:
            found = self.apps.read_namespaced_deployment(name=name, namespace=self.namespace,
                                                                _request_timeout=API_TIMEOUT_S)
            for condition in (found.status.conditions if found.status else None) or []:
                if condition.status != "True" or condition.type == "ReplicaFailure":
                    parts.append(f"{name}: {condition.type}: {condition.message or condition.reason}")
        parts += [line for line in _container_lines(pods) if line not in parts]
        events = self.core.list_namespaced_event(namespace=self.namespace, field_selector="type=Warning",
                                                 _request_timeout=API_TIMEOUT_S)
        for event in (events.items or [])[-5:]:
            parts.append(f"event {event.reason}: {event.message}")
        return "; ".join(parts)[:REASON_LIMIT]

    # --- the pods, by slot ----------------------------------------------------------------

    def _pods(self) -> list:
        found = self.core.list_namespaced_pod(namespace=self.namespace, _request_timeout=API_TIMEOUT_S)
        return [pod for pod in found.items or [] if pod.metadata.deletion_timestamp is None]

    def _slotted(self) -> list[tuple[str, Any]]:
        """(slot, pod) for every live pod; new pods take the lowest free slot of their Deployment."""
        pods = sorted(self._pods(), key=lambda pod: (pod.metadata.creation_timestamp or 0, pod.metadata.name))
        live = {pod.metadata.uid for pod in pods}
        for slot, uid in list(self._slot_uid.items()):
            if uid not in live:
                del self._slot_uid[slot]
        rows = []
        for pod in pods:
            uid = pod.metadata.uid
            slot = self._slots.get(uid)
            if slot is None or self._slot_uid.get(slot) != uid:
                deployment = (pod.metadata.labels or {}).get(LABEL_DEPLOYMENT, "pod")
                number = 0
                while f"{deployment}-{number}" in self._slot_uid:
                    number += 1
                slot = f"{deployment}-{number}"
                if slot in self._replaced:
                    self._replaced[slot] += 1
                else:
                    self._replaced[slot] = 0
                self._slots[uid], self._slot_uid[slot] = slot, uid
            rows.append((slot, pod))
        return rows

    def _pod_of(self, slot: str):
        for found, pod in self._slotted():
            if found == slot:
                return pod
        raise RuntimeError(f"no pod holds {slot} now")

    def anvil_replicas(self) -> list[dict]:
        replicas = []
        for slot, pod in self._slotted():
            if (pod.metadata.labels or {}).get(LABEL_ANVIL) != "true":
                continue
            up = (pod.status.phase == "Running" and bool(pod.status.pod_ip)
                  and LABEL_PARTITIONED not in (pod.metadata.labels or {}))
            for container in pod.spec.containers:
                if self.names.get(container.image) != "url-anvil":
                    continue
                env = {var.name: var.value for var in container.env or []}
                replicas.append({"pod": slot, "container": f"{slot}/{container.name}",
                                 "port": int(env.get("ANVIL_PORT") or ANVIL_DEFAULT_PORT),
                                 "address": pod.status.pod_ip if up else ""})
        return replicas

    def restarts(self, container: str) -> int:
        slot, _, name = container.partition("/")
        try:
            pod = self._pod_of(slot)
        except (RuntimeError, *KUBE_ERRORS):
            return -1
        counts = [status.restart_count for status in pod.status.container_statuses or [] if status.name == name]
        return self._replaced.get(slot, 0) + (counts[0] if counts else 0)

    def pod_kill(self, pod: str) -> None:
        """Delete the pod at once (no grace: a kill); its ReplicaSet replaces it."""
        found = self._pod_of(pod)
        self.core.delete_namespaced_pod(name=found.metadata.name, namespace=self.namespace, grace_period_seconds=0,
                                        _request_timeout=API_TIMEOUT_S)

    def pod_disconnect(self, pod: str) -> None:
        found = self._pod_of(pod)
        self.core.patch_namespaced_pod(name=found.metadata.name, namespace=self.namespace,
                                       body={"metadata": {"labels": {LABEL_PARTITIONED: "true"}}},
                                       _request_timeout=API_TIMEOUT_S)
        self._partitioned.add(found.metadata.name)

    def pod_reconnect(self, pod: str) -> None:
        found = self._pod_of(pod)
        # A null in a merge patch removes the label.
        self.core.patch_namespaced_pod(name=found.metadata.name, namespace=self.namespace,
                                       body={"metadata": {"labels": {LABEL_PARTITIONED: None}}},
                                       _request_timeout=API_TIMEOUT_S)
        self._partitioned.discard(found.metadata.name)

    def containers(self) -> list[dict]:
        """The bundle's containers as the cluster sees them now (restarts include replacements of their pod)."""
        try:
            slotted = self._slotted()
        except KUBE_ERRORS as exc:
            logger.warning("sandbox %s: its pods cannot be listed: %s", self.id, exc)
            return []
        rows = []
        for slot, pod in slotted:
            statuses = {status.name: status for status in pod.status.container_statuses or []}
            for container in pod.spec.containers:
                status = statuses.get(container.name)
                last = status.last_state.terminated if status is not None and status.last_state else None
                rows.append({
                    "name": f"{pod.metadata.name}/{container.name}", "pod": slot, "role": "app",
                    "image": self.names.get(container.image, ""),
                    "state": _state(status),
                    "restarts": self._replaced.get(slot, 0) + (status.restart_count if status is not None else 0),
                    "oom_killed": bool(last is not None and last.reason == "OOMKilled"),
                })
        return sorted(rows, key=lambda row: row["name"])

    # --- teardown -------------------------------------------------------------------------

    def teardown(self) -> bool:
        """Delete the load Job and the namespace (foreground: its objects go first); True once both are going."""
        job = self.objects.load_job["metadata"]
        return sandbox_delete(api=self.api, namespace=self.namespace, job=(job["namespace"], job["name"]))


def sandbox_delete(*, api: kubernetes.client.ApiClient, namespace: str, job: tuple[str, str] | None) -> bool:
    """Delete a sandbox's namespace and load Job; True when neither is left standing (gone, or being deleted)."""
    core, batch = kubernetes.client.CoreV1Api(api), kubernetes.client.BatchV1Api(api)
    if job is not None:
        try:
            batch.delete_namespaced_job(name=job[1], namespace=job[0], propagation_policy="Background",
                                        _request_timeout=API_TIMEOUT_S)
        except ApiException as exc:
            if not _absent(exc):
                raise
    try:
        core.delete_namespace(name=namespace, body=kubernetes.client.V1DeleteOptions(propagation_policy="Foreground"),
                              _request_timeout=API_TIMEOUT_S)
    except ApiException as exc:
        if not _absent(exc):
            raise
    return True


def sandboxes_reap(*, api: kubernetes.client.ApiClient, load_namespace: str, now: float) -> list[str]:
    """Delete every sandbox namespace and load Job of the platform past its deadline; the namespaces deleted."""
    core, batch = kubernetes.client.CoreV1Api(api), kubernetes.client.BatchV1Api(api)
    selector = f"{MANAGED_BY_KEY}={MANAGED_BY}"
    reaped = []
    for namespace in core.list_namespace(label_selector=selector, _request_timeout=API_TIMEOUT_S).items or []:
        labels = namespace.metadata.labels or {}
        if not namespace.metadata.name.startswith(NAMESPACE_PREFIX) or not _past(labels.get(LABEL_DEADLINE), now):
            continue
        if namespace.status is not None and namespace.status.phase == "Terminating":
            continue
        sandbox_delete(api=api, namespace=namespace.metadata.name, job=None)
        reaped.append(namespace.metadata.name)
        logger.warning("sandbox %s reaped: past its deadline", labels.get(LABEL_ID, namespace.metadata.name))
    for job in batch.list_namespaced_job(namespace=load_namespace, label_selector=selector,
                                         _request_timeout=API_TIMEOUT_S).items or []:
        if _past((job.metadata.labels or {}).get(LABEL_DEADLINE), now):
            try:
                batch.delete_namespaced_job(name=job.metadata.name, namespace=load_namespace,
                                            propagation_policy="Background", _request_timeout=API_TIMEOUT_S)
            except ApiException as exc:
                if not _absent(exc):
                    raise
    return reaped


def _past(deadline: str | None, now: float) -> bool:
    # A label that is no number is no deadline of ours: leave it for a person.
    return deadline is not None and deadline.isascii() and deadline.isdigit() and int(deadline) <= now


def _state(status) -> str:
    if status is None or status.state is None:
        return "pending"
    if status.state.running is not None:
        return "running"
    if status.state.waiting is not None:
        return f"waiting: {status.state.waiting.reason}"
    if status.state.terminated is not None:
        return f"exited: {status.state.terminated.reason or status.state.terminated.exit_code}"
    return "pending"


def _container_lines(pods: list) -> list[str]:
    lines = []
    for pod in pods:
        for status in [*(pod.status.init_container_statuses or []), *(pod.status.container_statuses or [])]:
            waiting = status.state.waiting if status.state else None
            terminated = (status.last_state.terminated if status.last_state else None) or \
                (status.state.terminated if status.state else None)
            if waiting is not None and waiting.reason not in (None, "ContainerCreating", "PodInitializing"):
                lines.append(f"{pod.metadata.name}/{status.name}: {waiting.reason}: {waiting.message or ''}".rstrip(": "))
            elif terminated is not None and terminated.exit_code:
                lines.append(f"{pod.metadata.name}/{status.name}: exited with code {terminated.exit_code}"
                             f" ({terminated.reason or 'Error'})")
        for condition in pod.status.conditions or []:
            if condition.type == "PodScheduled" and condition.status == "False":
                lines.append(f"{pod.metadata.name}: not scheduled: {condition.message or condition.reason}")
    return lines


def _hopeless(pods: list) -> list[str]:
    found = []
    for pod in pods:
        for status in [*(pod.status.init_container_statuses or []), *(pod.status.container_statuses or [])]:
            waiting = status.state.waiting if status.state else None
            if waiting is not None and waiting.reason in HOPELESS:
                found.append(f"{pod.metadata.name}/{status.name}: {waiting.reason}: {waiting.message or ''}".rstrip(": "))
    return found
