"""The bundle-level policy: names, references between objects, the entry point, the quota.

Runs on objects that passed the strict schema (sandbox.schema); the pod
template's own rules are in sandbox.podspec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.validation import FieldError
from sandbox.catalogue import Catalogue
from sandbox.fieldpath import BUNDLE, path_join, path_of
from sandbox.names import (
    dns_label_problem,
    label_key_problem,
    label_value_problem,
    port_name_problem,
    service_name_problem,
)
from sandbox.podspec import (
    BundleRefs,
    PodTotals,
    as_int,
    config_map_check,
    items,
    only_fields,
    pod_spec_check,
    set_fields,
)
from sandbox.quantity import bytes_text, millicores_text

ENTRYPOINT_SERVICE = "entrypoint"
ENTRYPOINT_PORT = 80

OBJECT_METADATA_FIELDS = {"name", "labels", "annotations"}
TEMPLATE_METADATA_FIELDS = {"labels", "annotations"}
DEPLOYMENT_FIELDS = {
    "replicas",
    "selector",
    "template",
    "strategy",
    "minReadySeconds",
    "revisionHistoryLimit",
    "progressDeadlineSeconds",
    "paused",
}
SERVICE_FIELDS = {"selector", "ports", "type", "clusterIP", "sessionAffinity", "sessionAffinityConfig", "publishNotReadyAddresses"}
SERVICE_PORT_FIELDS = {"name", "protocol", "port", "targetPort", "appProtocol"}


@dataclass(frozen=True)
class Resources:
    cpu_millicores: int
    memory_bytes: int
    pods: int

    def as_text(self) -> dict[str, Any]:
        return {"cpu": millicores_text(self.cpu_millicores), "memory": bytes_text(self.memory_bytes), "pods": self.pods}


@dataclass(frozen=True)
class Checked:
    objects: tuple[dict[str, Any], ...]
    requests: Resources
    limits: Resources
    images: frozenset[str]
    entrypoint_deployments: tuple[str, ...]


@dataclass(frozen=True)
class _Deployment:
    name: str
    labels: dict[str, str]
    replicas: int
    pod: PodTotals


def policy_check(
    objects: list[tuple[str, dict[str, Any]]], *, quota: Resources, catalogue: Catalogue
) -> Checked:
    """objects: (kind, object) in bundle order, each already schema-valid."""
    seen: dict[tuple[str, str], int] = {}
    for index, (kind, obj) in enumerate(objects):
        name = _metadata_check(obj.get("metadata"), kind=kind, at=f"[{index}].metadata")
        if (kind, name) in seen:
            raise FieldError(
                field=path_of(index, ["metadata", "name"]), message=f"object [{seen[kind, name]}] is a {kind} of this name already"
            )
        seen[kind, name] = index

    refs = BundleRefs(config_maps={})
    for index, (kind, obj) in enumerate(objects):
        if kind == "ConfigMap":
            config_map_check(obj, at=f"[{index}]")
            refs.config_maps[obj["metadata"]["name"]] = obj

    normalized = [obj for _, obj in objects]
    deployments = []
    for index, (kind, obj) in enumerate(objects):
        if kind == "Deployment":
            normalized[index], deployment = _deployment_check(obj, index=index, catalogue=catalogue, refs=refs)
            deployments.append(deployment)

    entrypoint: tuple[str, ...] | None = None
    for index, (kind, obj) in enumerate(objects):
        if kind == "Service":
            selected = _service_check(obj, index=index, deployments=deployments)
            if obj["metadata"]["name"] == ENTRYPOINT_SERVICE:
                entrypoint = selected
                if not any(as_int(port.get("port")) == ENTRYPOINT_PORT for port in obj["spec"]["ports"]):
                    raise FieldError(
                        field=path_of(index, ["spec", "ports"]),
                        message=f"the entry point must serve port {ENTRYPOINT_PORT}",
                    )
    if entrypoint is None:
        raise FieldError(
            field=BUNDLE,
            message=f"the bundle needs a Service named {ENTRYPOINT_SERVICE!r} on port {ENTRYPOINT_PORT}: the platform sends its load there",
        )

    requests = Resources(
        cpu_millicores=sum(d.pod.cpu_requests * d.replicas for d in deployments),
        memory_bytes=sum(d.pod.memory_requests * d.replicas for d in deployments),
        pods=sum(d.replicas for d in deployments),
    )
    limits = Resources(
        cpu_millicores=sum(d.pod.cpu_limits * d.replicas for d in deployments),
        memory_bytes=sum(d.pod.memory_limits * d.replicas for d in deployments),
        pods=requests.pods,
    )
    _quota_check(requests, quota=quota)
    return Checked(
        objects=tuple(normalized),
        requests=requests,
        limits=limits,
        images=frozenset().union(*(d.pod.images for d in deployments)),
        entrypoint_deployments=entrypoint,
    )


def _metadata_check(metadata: dict[str, Any] | None, *, kind: str, at: str) -> str:
    metadata = metadata or {}
    if metadata.get("namespace") is not None:
        raise FieldError(field=path_join(at, "namespace"), message="the platform chooses the namespace")
    only_fields(metadata, OBJECT_METADATA_FIELDS, at=at)
    name = metadata.get("name")
    if not isinstance(name, str):
        raise FieldError(field=path_join(at, "name"), message="is required")
    problem = service_name_problem(name) if kind == "Service" else dns_label_problem(name)
    if problem:
        raise FieldError(field=path_join(at, "name"), message=problem)
    _labels_check(metadata.get("labels"), at=path_join(at, "labels"))
    for key in metadata.get("annotations") or {}:
        problem = label_key_problem(key)
        if problem:
            raise FieldError(field=path_join(at, "annotations", key), message=problem)
    return name


def _labels_check(labels: dict[str, Any] | None, *, at: str) -> dict[str, str]:
    labels = set_fields(labels or {})
    for key, value in labels.items():
        problem = label_key_problem(key) or label_value_problem(value)
        if problem:
            raise FieldError(field=path_join(at, key), message=problem)
    return labels


def _deployment_check(
    obj: dict[str, Any], *, index: int, catalogue: Catalogue, refs: BundleRefs
) -> tuple[dict[str, Any], _Deployment]:
    at = f"[{index}].spec"
    spec = only_fields(obj.get("spec") or {}, DEPLOYMENT_FIELDS, at=at)
    replicas = as_int(spec.get("replicas", 1))
    if replicas is None or replicas < 0:
        raise FieldError(field=path_join(at, "replicas"), message="must be 0 or more")
    selector = spec.get("selector") or {}
    if selector.get("matchExpressions"):
        raise FieldError(field=path_join(at, "selector", "matchExpressions"), message="is not supported in the sandbox: use matchLabels")
    match_labels = _labels_check(selector.get("matchLabels"), at=path_join(at, "selector", "matchLabels"))
    if not match_labels:
        raise FieldError(field=path_join(at, "selector", "matchLabels"), message="a Deployment must select its pods by label")

    template = spec.get("template") or {}
    template_at = path_join(at, "template")
    metadata = only_fields(template.get("metadata") or {}, TEMPLATE_METADATA_FIELDS, at=path_join(template_at, "metadata"))
    labels = _labels_check(metadata.get("labels"), at=path_join(template_at, "metadata", "labels"))
    for key, value in match_labels.items():
        if labels.get(key) != value:
            raise FieldError(
                field=path_join(template_at, "metadata", "labels"),
                message=f"must carry the selector's label {key}={value}",
            )
    pod_spec = template.get("spec")
    if pod_spec is None:
        raise FieldError(field=path_join(template_at, "spec"), message="is required")
    pod_spec, pod = pod_spec_check(pod_spec, at=path_join(template_at, "spec"), catalogue=catalogue, refs=refs)

    normalized = {**obj, "spec": {**obj["spec"], "template": {**template, "spec": pod_spec}}}
    return normalized, _Deployment(name=obj["metadata"]["name"], labels=labels, replicas=replicas, pod=pod)


def _service_check(obj: dict[str, Any], *, index: int, deployments: list[_Deployment]) -> tuple[str, ...]:
    """The names of the Deployments the Service sends to."""
    at = f"[{index}].spec"
    raw = obj.get("spec") or {}
    if raw.get("type") not in (None, "ClusterIP"):
        message = (
            "an ExternalName Service points outside the sandbox"
            if raw["type"] == "ExternalName"
            else "only ClusterIP: nothing in a bundle is exposed outside the sandbox"
        )
        raise FieldError(field=path_join(at, "type"), message=message)
    if raw.get("externalIPs"):
        raise FieldError(field=path_join(at, "externalIPs"), message="nothing in a bundle is exposed outside the sandbox")
    spec = only_fields(raw, SERVICE_FIELDS, at=at)
    if spec.get("clusterIP") not in (None, "", "None"):
        raise FieldError(field=path_join(at, "clusterIP"), message="the platform assigns addresses (only 'None', headless, may be given)")

    ports = items(spec.get("ports"), at=path_join(at, "ports"))
    if not ports:
        raise FieldError(field=path_join(at, "ports"), message="a Service needs at least one port")
    names: set[str | None] = set()
    target_names: set[str] = set()
    for path, port in ports:
        only_fields(port, SERVICE_PORT_FIELDS, at=path)
        number = as_int(port.get("port"))
        if number is None or not 1 <= number <= 65535:
            raise FieldError(field=path_join(path, "port"), message="must be between 1 and 65535")
        if port.get("protocol") not in (None, "TCP"):
            raise FieldError(field=path_join(path, "protocol"), message="only TCP is supported in the sandbox")
        name = port.get("name")
        if name in names or (name is None and len(ports) > 1):
            raise FieldError(field=path_join(path, "name"), message="the ports of a Service with several need distinct names")
        names.add(name)
        target = port.get("targetPort")
        if isinstance(target, str):
            problem = port_name_problem(target)
            if problem:
                raise FieldError(field=path_join(path, "targetPort"), message=problem)
            target_names.add(target)
        elif target is not None:
            target_number = as_int(target)
            if target_number is None or not 1 <= target_number <= 65535:
                raise FieldError(field=path_join(path, "targetPort"), message="must be between 1 and 65535")

    selector = _labels_check(spec.get("selector"), at=path_join(at, "selector"))
    if not selector:
        raise FieldError(field=path_join(at, "selector"), message="must select the pods of a Deployment of this bundle")
    selected = [d for d in deployments if all(d.labels.get(key) == value for key, value in selector.items())]
    if not selected:
        raise FieldError(field=path_join(at, "selector"), message="selects no Deployment of this bundle")
    for target in sorted(target_names):
        if not any(target in d.pod.port_names for d in selected):
            raise FieldError(
                field=path_join(at, "ports"), message=f"no container of the selected pods has a port named {target!r}"
            )
    return tuple(d.name for d in selected)


def _quota_check(requests: Resources, *, quota: Resources) -> None:
    if requests.pods > quota.pods:
        raise FieldError(field=BUNDLE, message=f"the bundle runs {requests.pods} pods in all; the quota is {quota.pods}")
    if requests.cpu_millicores > quota.cpu_millicores:
        raise FieldError(
            field=BUNDLE,
            message=(
                f"the bundle requests {millicores_text(requests.cpu_millicores)} CPU in all; "
                f"the quota is {millicores_text(quota.cpu_millicores)}"
            ),
        )
    if requests.memory_bytes > quota.memory_bytes:
        raise FieldError(
            field=BUNDLE,
            message=f"the bundle requests {bytes_text(requests.memory_bytes)} of memory in all; the quota is {bytes_text(quota.memory_bytes)}",
        )
