"""Every object the Kubernetes backend creates for one run, as plain dicts (no API calls here).

``sandbox_objects(...)`` takes a bundle's checked objects (images already
pinned to ``<registry>/<name>@<digest>`` by ``bundle_parse``) and returns:

* the namespace ``sbx-<id>``, labelled with the platform, the run and a
  deadline, and enforcing the ``restricted`` Pod Security Standard;
* a RoleBinding that gives the platform's worker the tenant role there (the
  worker holds no such rights anywhere else; deploy/kubernetes);
* a ResourceQuota from the challenge's quota and a LimitRange;
* NetworkPolicies: deny everything, then allow only what the run needs;
* the participant's objects, rewritten: namespace forced, labels added, the
  pod templates completed to what ``restricted`` demands, no token mounted,
  url-anvil's settings forced as in the Docker sandbox;
* the load generator: a Job in the platform's load namespace.

Why a label and not a NetworkPolicy cuts a pod off (``partition``):
NetworkPolicies only ever add what is allowed, so a policy cannot take away
what another allows. Every allowing policy here selects only pods *without*
``PARTITIONED``; labelling a pod leaves it under the default deny alone, and
removing the label lets it back. The ReplicaSet ignores the extra label.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sandbox.bundle import Quota
from sandbox.plan import ANVIL_DEFAULT_PORT, ANVIL_ENV_FORCED, EMPTY_DIR_DEFAULT_BYTES, IMAGE_SCRATCH
from sandbox.policy import ENTRYPOINT_PORT, ENTRYPOINT_SERVICE
from sandbox.quantity import bytes_text, millicores_text

MANAGED_BY_KEY = "app.kubernetes.io/managed-by"
MANAGED_BY = "sre-chaos-challenge"
FIELD_MANAGER = "sre-chaos-challenge"
_PREFIX = "sandbox.sre-chaos.org/"
LABEL_ID = _PREFIX + "id"
LABEL_DEADLINE = _PREFIX + "deadline"
LABEL_RUN = _PREFIX + "run"
LABEL_ORIGIN = _PREFIX + "origin"
LABEL_DEPLOYMENT = _PREFIX + "deployment"
LABEL_OWNER = _PREFIX + "owner"
LABEL_ROLE = _PREFIX + "role"
LABEL_ANVIL = _PREFIX + "anvil"
LABEL_PARTITIONED = _PREFIX + "partitioned"
ANNOTATION_IMAGE = _PREFIX + "image"

TENANT_ROLE = "sre-chaos-sandbox-tenant"
WORKER_BINDING = "sre-chaos-worker"
NAMESPACE_PREFIX = "sbx-"
# Objects of the participant per kind that the quota admits, beyond the
# bundle's own (each namespace gets a kube-root-ca.crt ConfigMap of its own).
QUOTA_SERVICES = 16
QUOTA_CONFIG_MAPS = 33
# A container that names no resources (none of the participant's: the
# policy demands limits) gets these; the maximum is the whole quota.
DEFAULT_LIMIT = {"cpu": "500m", "memory": "256Mi"}
DEFAULT_REQUEST = {"cpu": "100m", "memory": "128Mi"}
JOB_TTL_S = 600
RUNNER_WORKDIR = "/app"

_LABEL_VALUE_BAD = re.compile(r"[^-_.A-Za-z0-9]")


@dataclass(frozen=True)
class Identity:
    """Who and what a sandbox is for; every value lands in a label."""

    sandbox_id: str
    deadline: int
    run: str = ""
    origin: str = ""  # who asked for the run, in its own terms ("submission-12")
    owner: str = ""

    @property
    def namespace(self) -> str:
        return NAMESPACE_PREFIX + self.sandbox_id


@dataclass(frozen=True)
class Placement:
    """The cluster's side: namespaces, the worker's account, the runner's resources."""

    platform_namespace: str = "sre-chaos"
    load_namespace: str = "sre-chaos-load"
    service_account: str = "loadtest-worker"
    runner_image: str = ""
    runner_cpu_millicores: int = 1000
    runner_memory_bytes: int = 512 * 2**20
    users: Mapping[str, tuple[int, int]] | None = None


@dataclass(frozen=True)
class SandboxObjects:
    namespace: dict[str, Any]
    setup: list[dict[str, Any]]  # RoleBinding, ResourceQuota, LimitRange, NetworkPolicies
    bundle: list[dict[str, Any]]  # the participant's, rewritten: ConfigMaps, Services, Deployments
    load_job: dict[str, Any]

    def all(self) -> list[dict[str, Any]]:
        """In the order they are created."""
        return [self.namespace, *self.setup, *self.bundle, self.load_job]


def label_value(text: str) -> str:
    """``text`` as a valid label value: at most 63 characters of [-_.A-Za-z0-9], alphanumeric at both ends."""
    value = _LABEL_VALUE_BAD.sub("_", str(text))[:63]
    return value.strip("-_.")


def identity_labels(identity: Identity) -> dict[str, str]:
    labels = {MANAGED_BY_KEY: MANAGED_BY, LABEL_ID: label_value(identity.sandbox_id),
              LABEL_DEADLINE: str(int(identity.deadline))}
    for key, value in ((LABEL_RUN, identity.run), (LABEL_ORIGIN, identity.origin),
                       (LABEL_OWNER, identity.owner)):
        if label_value(value):
            labels[key] = label_value(value)
    return labels


def sandbox_objects(*, objects: Sequence[dict[str, Any]], images: Mapping[str, str], quota: Quota,
                    identity: Identity, placement: Placement, runner_arguments: list[str], processes: int = 1,
                    active_deadline_s: int = 3600, anvil_token: str = "", secret_key: str = "") -> SandboxObjects:
    """Everything to create for one run of a checked bundle (``images``: catalogue name → pinned reference)."""
    names = {ref: name for name, ref in images.items()}
    labels = identity_labels(identity)
    bundle = [_rewrite(obj, identity=identity, labels=labels, names=names, placement=placement,
                       anvil_token=anvil_token, secret_key=secret_key) for obj in objects]
    # ConfigMaps before the Deployments that mount them, Services before the pods that look them up.
    order = {"ConfigMap": 0, "Service": 1, "Deployment": 2}
    bundle.sort(key=lambda obj: order[obj["kind"]])
    return SandboxObjects(
        namespace=_namespace(identity, labels=labels),
        setup=[_role_binding(identity, labels=labels, placement=placement),
               _quota(identity, labels=labels, quota=quota),
               _limit_range(identity, labels=labels, quota=quota),
               *_network_policies(objects, identity=identity, labels=labels, placement=placement, names=names)],
        bundle=bundle,
        load_job=_load_job(identity, labels=labels, placement=placement, runner_arguments=runner_arguments,
                           processes=processes, active_deadline_s=active_deadline_s),
    )


def entrypoint_url(identity: Identity) -> str:
    """The entry point as the load Job and the platform's pods reach it: its Service's cluster name."""
    return f"http://{ENTRYPOINT_SERVICE}.{identity.namespace}.svc:{ENTRYPOINT_PORT}"


def load_job_name(identity: Identity) -> str:
    return f"load-{identity.sandbox_id}"


# --- the namespace and what bounds it ------------------------------------------------


def _meta(name: str, *, namespace: str | None, labels: dict[str, str]) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(labels)}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def _namespace(identity: Identity, *, labels: dict[str, str]) -> dict[str, Any]:
    pod_security = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")}
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": _meta(identity.namespace, namespace=None,
                              labels={**labels, **pod_security, "pod-security.kubernetes.io/enforce-version": "latest"})}


def _role_binding(identity: Identity, *, labels: dict[str, str], placement: Placement) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": _meta(WORKER_BINDING, namespace=identity.namespace, labels=labels),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": TENANT_ROLE},
        "subjects": [{"kind": "ServiceAccount", "name": placement.service_account,
                      "namespace": placement.platform_namespace}],
    }


def _quota(identity: Identity, *, labels: dict[str, str], quota: Quota) -> dict[str, Any]:
    cpu, memory = millicores_text(quota.cpu_millicores), bytes_text(quota.memory_bytes)
    return {
        "apiVersion": "v1", "kind": "ResourceQuota",
        "metadata": _meta("sandbox", namespace=identity.namespace, labels=labels),
        "spec": {"hard": {
            # The challenge's quota is on requests, as the bundle check sums
            # them; limits may reach twice that (a burst, not a reservation).
            "requests.cpu": cpu, "requests.memory": memory,
            "limits.cpu": millicores_text(2 * quota.cpu_millicores), "limits.memory": bytes_text(2 * quota.memory_bytes),
            "pods": str(quota.pods), "services": str(QUOTA_SERVICES), "configmaps": str(QUOTA_CONFIG_MAPS),
            "services.loadbalancers": "0", "services.nodeports": "0",
            "secrets": "0", "persistentvolumeclaims": "0", "replicationcontrollers": "0",
        }},
    }


def _limit_range(identity: Identity, *, labels: dict[str, str], quota: Quota) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "LimitRange",
        "metadata": _meta("sandbox", namespace=identity.namespace, labels=labels),
        "spec": {"limits": [{
            "type": "Container",
            "default": dict(DEFAULT_LIMIT),
            "defaultRequest": dict(DEFAULT_REQUEST),
            "max": {"cpu": millicores_text(2 * quota.cpu_millicores), "memory": bytes_text(2 * quota.memory_bytes)},
        }]},
    }


# --- isolation ---------------------------------------------------------------------------------

_NOT_PARTITIONED = {"matchExpressions": [{"key": LABEL_PARTITIONED, "operator": "DoesNotExist"}]}


def _selector(match: Mapping[str, str]) -> dict[str, Any]:
    return {"matchLabels": dict(match), **copy.deepcopy(_NOT_PARTITIONED)}


def _policy(name: str, *, identity: Identity, labels: dict[str, str], spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": _meta(name, namespace=identity.namespace, labels=labels), "spec": spec}


def _from_namespace(namespace: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}


def _network_policies(objects: Sequence[dict[str, Any]], *, identity: Identity, labels: dict[str, str],
                      placement: Placement, names: Mapping[str, str]) -> list[dict[str, Any]]:
    policies = [
        # Nothing in, nothing out: every pod of the namespace, both ways.
        _policy("default-deny", identity=identity, labels=labels,
                spec={"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        # The bundle's pods talk to each other (a load balancer to its replicas).
        _policy("within-sandbox", identity=identity, labels=labels, spec={
            "podSelector": copy.deepcopy(_NOT_PARTITIONED), "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"podSelector": copy.deepcopy(_NOT_PARTITIONED)}]}],
            "egress": [{"to": [{"podSelector": copy.deepcopy(_NOT_PARTITIONED)}]}],
        }),
        # Service names resolve: cluster DNS and nothing else of kube-system.
        _policy("cluster-dns", identity=identity, labels=labels, spec={
            "podSelector": copy.deepcopy(_NOT_PARTITIONED), "policyTypes": ["Egress"],
            "egress": [{"to": [{**_from_namespace("kube-system"),
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}],
        }),
    ]
    entry = next((obj for obj in objects if obj["kind"] == "Service" and obj["metadata"]["name"] == ENTRYPOINT_SERVICE),
                 None)
    if entry is not None:
        ports = [{"protocol": port.get("protocol") or "TCP", "port": port.get("targetPort") or port["port"]}
                 for port in entry["spec"]["ports"] if port["port"] == ENTRYPOINT_PORT]
        # The load generator loads the entry point; the worker checks it is up before the load starts.
        policies.append(_policy("entrypoint-from-platform", identity=identity, labels=labels, spec={
            "podSelector": _selector(entry["spec"].get("selector") or {}), "policyTypes": ["Ingress"],
            "ingress": [{"from": [_from_namespace(placement.load_namespace),
                                  _from_namespace(placement.platform_namespace)], "ports": ports}],
        }))
    anvil_ports = sorted({port for obj in objects if obj["kind"] == "Deployment"
                          for port in _anvil_ports(obj, names=names)})
    if anvil_ports:
        # The fault API of the bundle's url-anvil replicas: the platform's worker only.
        policies.append(_policy("faults-from-platform", identity=identity, labels=labels, spec={
            "podSelector": _selector({LABEL_ANVIL: "true"}), "policyTypes": ["Ingress"],
            "ingress": [{"from": [_from_namespace(placement.platform_namespace)],
                         "ports": [{"protocol": "TCP", "port": port} for port in anvil_ports]}],
        }))
    return policies


def _anvil_ports(deployment: dict[str, Any], *, names: Mapping[str, str]) -> list[int]:
    ports = []
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        if names.get(container["image"]) == "url-anvil":
            env = {var["name"]: var.get("value") for var in container.get("env") or []}
            ports.append(int(env.get("ANVIL_PORT") or ANVIL_DEFAULT_PORT))
    return ports


# --- the participant's objects --------------------------------------------------------------


def _rewrite(obj: dict[str, Any], *, identity: Identity, labels: dict[str, str], names: Mapping[str, str],
             placement: Placement, anvil_token: str, secret_key: str) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    meta = obj.setdefault("metadata", {})
    meta["namespace"] = identity.namespace
    meta["labels"] = {**(meta.get("labels") or {}), **labels}
    if obj["kind"] == "Service":
        # The policy admits ClusterIP only; say so, so no default of a cluster can differ.
        obj["spec"]["type"] = "ClusterIP"
    if obj["kind"] == "Deployment":
        _pod_template(obj["spec"]["template"], names=names, placement=placement, anvil_token=anvil_token,
                      secret_key=secret_key, sandbox_labels={MANAGED_BY_KEY: MANAGED_BY, LABEL_ID: labels[LABEL_ID],
                                                             LABEL_DEPLOYMENT: meta["name"]})
    return obj


def _pod_template(template: dict[str, Any], *, names: Mapping[str, str], placement: Placement, anvil_token: str,
                  secret_key: str, sandbox_labels: dict[str, str]) -> None:
    meta = template.setdefault("metadata", {})
    pod_labels = {**(meta.get("labels") or {}), **sandbox_labels}
    spec = template["spec"]
    containers = spec["containers"]
    if any(names.get(c["image"]) == "url-anvil" for c in containers):
        pod_labels[LABEL_ANVIL] = "true"
    meta["labels"] = pod_labels
    spec["automountServiceAccountToken"] = False
    spec["enableServiceLinks"] = False
    security = spec.setdefault("securityContext", {})
    security["runAsNonRoot"] = True
    security["seccompProfile"] = {"type": "RuntimeDefault"}
    volumes = spec.setdefault("volumes", [])
    for index, container in enumerate([*spec.get("initContainers", []), *containers]):
        image = names.get(container["image"], "")
        _container_lock(container, image=image, placement=placement)
        _scratch_mount(container, image=image, volumes=volumes, index=index)
        if image == "url-anvil":
            _anvil_env(container, anvil_token=anvil_token, secret_key=secret_key)
    if not volumes:
        del spec["volumes"]


def _container_lock(container: dict[str, Any], *, image: str, placement: Placement) -> None:
    """What ``restricted`` demands of every container, over whatever the bundle said."""
    security = container.setdefault("securityContext", {})
    security["allowPrivilegeEscalation"] = False
    security["privileged"] = False
    security["capabilities"] = {"drop": ["ALL"]}
    security["readOnlyRootFilesystem"] = True
    security["runAsNonRoot"] = True
    security["seccompProfile"] = {"type": "RuntimeDefault"}
    user = (placement.users or {}).get(image)
    if user is not None and "runAsUser" not in security:
        security["runAsUser"], security["runAsGroup"] = user
    container["imagePullPolicy"] = "IfNotPresent"


def _scratch_mount(container: dict[str, Any], *, image: str, volumes: list[dict[str, Any]], index: int) -> None:
    # The folders the image writes to, under a read-only root (as the Docker sandbox's tmpfs).
    taken = {mount["mountPath"] for mount in container.get("volumeMounts") or []}
    for number, path in enumerate(IMAGE_SCRATCH.get(image, ("/tmp",))):
        if path in taken:
            continue
        name = f"sbx-scratch-{index}-{number}"
        volumes.append({"name": name, "emptyDir": {"medium": "Memory", "sizeLimit": bytes_text(EMPTY_DIR_DEFAULT_BYTES)}})
        container.setdefault("volumeMounts", []).append({"name": name, "mountPath": path})


def _anvil_env(container: dict[str, Any], *, anvil_token: str, secret_key: str) -> None:
    forced = dict(ANVIL_ENV_FORCED)
    if secret_key:
        forced["SECRET_KEY"] = secret_key
    if anvil_token:
        forced["ANVIL_CHAOS_TOKEN"] = anvil_token
    env = [var for var in container.get("env") or [] if var["name"] not in forced]
    container["env"] = env + [{"name": name, "value": value} for name, value in forced.items()]


# --- the load generator ------------------------------------------------------------------


def _load_job(identity: Identity, *, labels: dict[str, str], placement: Placement, runner_arguments: list[str],
              processes: int, active_deadline_s: int) -> dict[str, Any]:
    cpu = millicores_text(placement.runner_cpu_millicores * processes)
    memory = bytes_text(placement.runner_memory_bytes * processes)
    pod_labels = {**labels, LABEL_ROLE: "runner"}
    uid, gid = (placement.users or {}).get("url-anvil", (10001, 10001))
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": _meta(load_job_name(identity), namespace=placement.load_namespace, labels=pod_labels),
        "spec": {
            "activeDeadlineSeconds": int(active_deadline_s),
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": JOB_TTL_S,
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": gid,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{
                        "name": "runner",
                        "image": placement.runner_image,
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["python", "-m", "loadtest.runner"],
                        "args": list(runner_arguments),
                        "workingDir": RUNNER_WORKDIR,
                        "env": [{"name": "PYTHONUNBUFFERED", "value": "1"}],
                        "resources": {"requests": {"cpu": cpu, "memory": memory},
                                      "limits": {"cpu": cpu, "memory": memory}},
                        "securityContext": {"allowPrivilegeEscalation": False, "privileged": False,
                                            "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True,
                                            "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                    }],
                    "volumes": [{"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}],
                },
            },
        },
    }
