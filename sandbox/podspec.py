"""The policy for a Deployment's pod template: what a sandboxed pod may ask for.

Fields are allowed by list, not refused by list: a pod spec has dozens of
fields and Kubernetes adds more each release, some of which loosen
isolation; a field the sandbox has not considered is refused ("not supported
in the sandbox") rather than passed on. The refusals the platform promises
— privileged, added capabilities, host namespaces, hostPath and other
volumes, host ports, missing limits — have messages of their own.

Input has passed the strict schema, so every value has its schema type or is
null; null means "not set", as it does for the API server.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from common.validation import FieldError
from sandbox.catalogue import NAMES as CATALOGUE_NAMES
from sandbox.catalogue import Catalogue
from sandbox.fieldpath import path_join
from sandbox.names import (
    config_map_key_problem,
    dns_label_problem,
    mount_path_problem,
    port_name_problem,
    relative_path_problem,
)
from sandbox.quantity import cpu_millicores, memory_bytes

POD_FIELDS = {
    "containers",
    "initContainers",
    "volumes",
    "securityContext",
    "restartPolicy",
    "terminationGracePeriodSeconds",
    "dnsPolicy",
    "enableServiceLinks",
    "automountServiceAccountToken",
    "shareProcessNamespace",
    "hostname",
    "subdomain",
    "setHostnameAsFQDN",
    "hostUsers",
    # Allowed only as false; refused with their own message otherwise.
    "hostNetwork",
    "hostPID",
    "hostIPC",
}
CONTAINER_FIELDS = {
    "name",
    "image",
    "imagePullPolicy",
    "command",
    "args",
    "workingDir",
    "env",
    "envFrom",
    "ports",
    "resources",
    "volumeMounts",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
    "securityContext",
    "terminationMessagePath",
    "terminationMessagePolicy",
    "restartPolicy",
    "stdin",
    "stdinOnce",
    "tty",
}
CONTAINER_SECURITY_FIELDS = {
    "privileged",
    "capabilities",
    "allowPrivilegeEscalation",
    "readOnlyRootFilesystem",
    "runAsUser",
    "runAsGroup",
    "runAsNonRoot",
    "seccompProfile",
    "appArmorProfile",
    "procMount",
}
POD_SECURITY_FIELDS = {
    "runAsUser",
    "runAsGroup",
    "runAsNonRoot",
    "fsGroup",
    "fsGroupChangePolicy",
    "supplementalGroups",
    "supplementalGroupsPolicy",
    "seccompProfile",
    "appArmorProfile",
}
VOLUME_SOURCES = {"configMap", "emptyDir"}
RESOURCE_NAMES = {"cpu", "memory"}

_UNSUPPORTED = "is not supported in the sandbox"


@dataclass(frozen=True)
class PodTotals:
    """What one pod of the template asks for (init containers counted as if always running)."""

    cpu_requests: int
    memory_requests: int
    cpu_limits: int
    memory_limits: int
    images: frozenset[str]
    port_names: frozenset[str]


@dataclass(frozen=True)
class BundleRefs:
    """The objects of the bundle a pod may refer to."""

    config_maps: dict[str, dict[str, Any]]  # name → the ConfigMap


def set_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """The fields that are set: null is "not set" to the API server."""
    return {key: value for key, value in obj.items() if value is not None}


def items(value: list | None, *, at: str) -> list[tuple[str, Any]]:
    """(path, item) for each item of a list field; a null item is refused."""
    result = []
    for i, item in enumerate(value or []):
        path = path_join(at, i)
        if item is None:
            raise FieldError(field=path, message="must not be null")
        result.append((path, item))
    return result


def as_int(value: Any) -> int | None:
    """An integer field's value: the schema's "integer" also admits 80.0."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def only_fields(obj: dict[str, Any], allowed: set[str], *, at: str) -> dict[str, Any]:
    fields = set_fields(obj)
    for key in sorted(fields):
        if key not in allowed:
            raise FieldError(field=path_join(at, key), message=_UNSUPPORTED)
    return fields


def pod_spec_check(spec: dict[str, Any], *, at: str, catalogue: Catalogue, refs: BundleRefs) -> tuple[dict, PodTotals]:
    """The normalized pod spec (images pinned) and what one pod asks for."""
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            raise FieldError(field=path_join(at, key), message="host namespaces are not allowed")
    if spec.get("ephemeralContainers"):
        raise FieldError(field=path_join(at, "ephemeralContainers"), message="ephemeral containers are not allowed")
    fields = only_fields(spec, POD_FIELDS, at=at)
    if fields.get("restartPolicy", "Always") != "Always":
        raise FieldError(field=path_join(at, "restartPolicy"), message="a Deployment's pods must use Always")
    if fields.get("dnsPolicy", "ClusterFirst") != "ClusterFirst":
        raise FieldError(field=path_join(at, "dnsPolicy"), message="only ClusterFirst: names resolve inside the sandbox")
    if "securityContext" in fields:
        _security_check(fields["securityContext"], POD_SECURITY_FIELDS, at=path_join(at, "securityContext"))

    volumes = _volumes_check(fields.get("volumes"), at=path_join(at, "volumes"), refs=refs)
    if not fields.get("containers"):
        raise FieldError(field=path_join(at, "containers"), message="a pod needs at least one container")

    normalized = dict(spec)
    names: set[str] = set()
    port_names: set[str] = set()
    images: set[str] = set()
    totals = [0, 0, 0, 0]
    for list_name in ("containers", "initContainers"):
        pinned = []
        for path, container in items(fields.get(list_name), at=path_join(at, list_name)):
            image, usage, ports = _container_check(container, at=path, volumes=volumes, refs=refs)
            if container["name"] in names:
                raise FieldError(field=path_join(path, "name"), message="another container of the pod has this name")
            names.add(container["name"])
            images.add(image)
            port_names |= ports
            totals = [a + b for a, b in zip(totals, usage, strict=True)]
            copy = dict(container)
            copy["image"] = catalogue.pin(image)
            # The catalogue's images are on the engine already and never pulled.
            copy["imagePullPolicy"] = "Never"
            pinned.append(copy)
        if pinned:
            normalized[list_name] = pinned
    return normalized, PodTotals(*totals, images=frozenset(images), port_names=frozenset(port_names))


def _security_check(context: dict[str, Any], allowed: set[str], *, at: str) -> None:
    if context.get("privileged"):
        raise FieldError(field=path_join(at, "privileged"), message="privileged containers are not allowed")
    if context.get("allowPrivilegeEscalation"):
        raise FieldError(
            field=path_join(at, "allowPrivilegeEscalation"),
            message="is not allowed: sandboxed processes never gain privileges",
        )
    capabilities = context.get("capabilities") or {}
    if capabilities.get("add"):
        raise FieldError(field=path_join(at, "capabilities", "add"), message="adding capabilities is not allowed")
    if context.get("sysctls"):
        raise FieldError(field=path_join(at, "sysctls"), message="sysctls are not allowed")
    for key in ("seccompProfile", "appArmorProfile"):
        profile = context.get(key) or {}
        if profile.get("type") not in (None, "RuntimeDefault"):
            raise FieldError(field=path_join(at, key, "type"), message="only RuntimeDefault is allowed")
    if context.get("procMount") not in (None, "Default"):
        raise FieldError(field=path_join(at, "procMount"), message="only Default is allowed")
    only_fields(context, allowed, at=at)


def _volumes_check(value: list | None, *, at: str, refs: BundleRefs) -> set[str]:
    names: set[str] = set()
    for path, volume in items(value, at=at):
        name = volume.get("name")
        problem = dns_label_problem(name) if isinstance(name, str) else "is required"
        if problem:
            raise FieldError(field=path_join(path, "name"), message=problem)
        if name in names:
            raise FieldError(field=path_join(path, "name"), message=f"another volume is already named {name!r}")
        names.add(name)
        sources = sorted(key for key in set_fields(volume) if key != "name")
        for key in sources:
            if key not in VOLUME_SOURCES:
                raise FieldError(
                    field=path_join(path, key), message=f"{key} volumes are not allowed (only configMap and emptyDir)"
                )
        if len(sources) != 1:
            raise FieldError(field=path, message="needs exactly one source: configMap or emptyDir")
        if sources[0] == "configMap":
            _config_map_volume_check(volume["configMap"], at=path_join(path, "configMap"), refs=refs)
        else:
            size = volume["emptyDir"].get("sizeLimit")
            if size is not None:
                memory_bytes(size, field=path_join(path, "emptyDir", "sizeLimit"))
    return names


def _config_map_volume_check(source: dict[str, Any], *, at: str, refs: BundleRefs) -> None:
    config_map = _config_map_ref(source, at=at, refs=refs)
    keys = set(config_map.get("data") or {}) | set(config_map.get("binaryData") or {})
    for path, item in items(source.get("items"), at=path_join(at, "items")):
        if item.get("key") not in keys:
            raise FieldError(field=path_join(path, "key"), message=f"ConfigMap {source['name']!r} has no such key")
        problem = relative_path_problem(item.get("path") or "")
        if problem:
            raise FieldError(field=path_join(path, "path"), message=problem)


def _config_map_ref(source: dict[str, Any], *, at: str, refs: BundleRefs) -> dict[str, Any]:
    name = source.get("name")
    if name not in refs.config_maps:
        raise FieldError(field=path_join(at, "name"), message="names no ConfigMap of this bundle")
    return refs.config_maps[name]


def _container_check(
    container: dict[str, Any], *, at: str, volumes: set[str], refs: BundleRefs
) -> tuple[str, list[int], set[str]]:
    """The catalogue image, [cpu req, mem req, cpu lim, mem lim] and the port names of one container."""
    name = container.get("name")
    problem = dns_label_problem(name) if isinstance(name, str) else "is required"
    if problem:
        raise FieldError(field=path_join(at, "name"), message=problem)
    image = container.get("image")
    if image not in CATALOGUE_NAMES:
        raise FieldError(
            field=path_join(at, "image"),
            message=f"must be one of the platform's images, named without registry or tag: {', '.join(CATALOGUE_NAMES)}",
        )
    if "securityContext" in set_fields(container):
        _security_check(container["securityContext"], CONTAINER_SECURITY_FIELDS, at=path_join(at, "securityContext"))
    port_names = _ports_check(container.get("ports"), at=path_join(at, "ports"))
    fields = only_fields(container, CONTAINER_FIELDS, at=at)
    if fields.get("imagePullPolicy") == "Always":
        raise FieldError(
            field=path_join(at, "imagePullPolicy"),
            message="the platform's images are never pulled: use IfNotPresent or Never, or leave it out",
        )
    usage = _resources_check(fields.get("resources"), at=path_join(at, "resources"))
    _env_check(container, at=at, refs=refs)
    for path, mount in items(fields.get("volumeMounts"), at=path_join(at, "volumeMounts")):
        _mount_check(mount, at=path, volumes=volumes)
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        if fields.get(key):
            _handler_check(fields[key], at=path_join(at, key))
    for key, hook in set_fields(fields.get("lifecycle") or {}).items():
        if isinstance(hook, dict):
            _handler_check(hook, at=path_join(at, "lifecycle", key))
    return image, usage, port_names


def _ports_check(value: list | None, *, at: str) -> set[str]:
    names: set[str] = set()
    for path, port in items(value, at=at):
        if port.get("hostPort"):
            raise FieldError(field=path_join(path, "hostPort"), message="host ports are not allowed")
        if port.get("hostIP"):
            raise FieldError(field=path_join(path, "hostIP"), message="host addresses are not allowed")
        number = as_int(port.get("containerPort"))
        if number is None or not 1 <= number <= 65535:
            raise FieldError(field=path_join(path, "containerPort"), message="must be between 1 and 65535")
        if port.get("protocol") not in (None, "TCP"):
            raise FieldError(field=path_join(path, "protocol"), message="only TCP is supported in the sandbox")
        name = port.get("name")
        if name is not None:
            problem = port_name_problem(name)
            if problem:
                raise FieldError(field=path_join(path, "name"), message=problem)
            if name in names:
                raise FieldError(field=path_join(path, "name"), message=f"another port is already named {name!r}")
            names.add(name)
    return names


def _resources_check(resources: dict[str, Any] | None, *, at: str) -> list[int]:
    resources = only_fields(resources or {}, {"limits", "requests"}, at=at)
    limits = set_fields(resources.get("limits") or {})
    requests = set_fields(resources.get("requests") or {})
    for kind, values in (("limits", limits), ("requests", requests)):
        for key in sorted(values):
            if key not in RESOURCE_NAMES:
                raise FieldError(field=path_join(at, kind, key), message=_UNSUPPORTED + " (only cpu and memory)")
    for key in ("cpu", "memory"):
        if key not in limits:
            raise FieldError(
                field=path_join(at, "limits", key), message="every container needs CPU and memory limits"
            )
    parse = {"cpu": cpu_millicores, "memory": memory_bytes}
    usage = {}
    for key in ("cpu", "memory"):
        limit = parse[key](limits[key], field=path_join(at, "limits", key))
        if limit == 0:
            raise FieldError(field=path_join(at, "limits", key), message="must be more than 0")
        # As the API server does: a request left out is the limit.
        request = parse[key](requests[key], field=path_join(at, "requests", key)) if key in requests else limit
        if request > limit:
            raise FieldError(field=path_join(at, "requests", key), message="must not be more than the limit")
        usage[key] = (request, limit)
    return [usage["cpu"][0], usage["memory"][0], usage["cpu"][1], usage["memory"][1]]


def _env_check(container: dict[str, Any], *, at: str, refs: BundleRefs) -> None:
    for path, var in items(container.get("env"), at=path_join(at, "env")):
        source = set_fields(var.get("valueFrom") or {})
        source_at = path_join(path, "valueFrom")
        for key in sorted(source):
            if key == "configMapKeyRef":
                ref = source[key]
                config_map = _config_map_ref(ref, at=path_join(source_at, key), refs=refs)
                if not ref.get("optional") and ref.get("key") not in (config_map.get("data") or {}):
                    raise FieldError(field=path_join(source_at, key, "key"), message="the ConfigMap has no such key")
            elif key == "secretKeyRef":
                raise FieldError(field=path_join(source_at, key), message="a bundle holds no Secrets")
            elif key not in ("fieldRef", "resourceFieldRef"):
                raise FieldError(field=path_join(source_at, key), message=_UNSUPPORTED)
    for path, source in items(container.get("envFrom"), at=path_join(at, "envFrom")):
        if source.get("secretRef"):
            raise FieldError(field=path_join(path, "secretRef"), message="a bundle holds no Secrets")
        if source.get("configMapRef"):
            ref = source["configMapRef"]
            if not ref.get("optional"):
                _config_map_ref(ref, at=path_join(path, "configMapRef"), refs=refs)
        only_fields(source, {"configMapRef", "prefix"}, at=path)


def _mount_check(mount: dict[str, Any], *, at: str, volumes: set[str]) -> None:
    if mount.get("name") not in volumes:
        raise FieldError(field=path_join(at, "name"), message="names no volume of this pod")
    problem = mount_path_problem(mount.get("mountPath") or "")
    if problem:
        raise FieldError(field=path_join(at, "mountPath"), message=problem)
    if mount.get("subPath"):
        problem = relative_path_problem(mount["subPath"])
        if problem:
            raise FieldError(field=path_join(at, "subPath"), message=problem)
    if mount.get("subPathExpr"):
        raise FieldError(field=path_join(at, "subPathExpr"), message=_UNSUPPORTED)
    if mount.get("mountPropagation") not in (None, "None"):
        raise FieldError(field=path_join(at, "mountPropagation"), message="only None is allowed")


def _handler_check(handler: dict[str, Any], *, at: str) -> None:
    # A probe or hook with a host of its own would make the platform connect
    # to an address the participant chose, from outside the sandbox.
    for key in ("httpGet", "tcpSocket"):
        action = handler.get(key) or {}
        if action.get("host"):
            raise FieldError(field=path_join(at, key, "host"), message="probes and hooks may only reach their own pod")


def config_map_check(obj: dict[str, Any], *, at: str) -> None:
    seen: set[str] = set()
    for field in ("data", "binaryData"):
        for key, value in (obj.get(field) or {}).items():
            path = path_join(at, field, key)
            problem = config_map_key_problem(key)
            if problem:
                raise FieldError(field=path, message=problem)
            if key in seen:
                raise FieldError(field=path, message="is in both data and binaryData")
            seen.add(key)
            if field == "binaryData" and value is not None:
                try:
                    base64.b64decode(value, validate=True)
                except ValueError:
                    raise FieldError(field=path, message="must be base64") from None
