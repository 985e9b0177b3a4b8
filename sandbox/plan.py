"""A checked bundle → the plan of what the sandbox runs: pods, containers, Services.

``sandbox_plan(bundle, catalogue=…)`` is pure (no Docker): it decides every
container's command, environment, files, limits and probes from the
manifests, the way a kubelet would read them, and raises ``FieldError`` for
what passed the policy but the sandbox cannot do faithfully (a field a
kubelet would act on and the sandbox would silently ignore is refused
instead). The plan is plain JSON, stored in the run's ``place_spec`` so the
worker that runs it needs neither the bundle text nor the catalogue file.

Shape (``Plan``)::

    {"pods": [Pod], "services": [Service], "config_maps": {name: {"data": {}, "binary": {}}}}
    Pod       = {"name": "anvil-0", "deployment", "ordinal", "labels", "hostname", "net_alias",
                 "containers": [Container], "init_containers": [Container], "shared_volumes": {volume: size}}
    Container = {"name", "image" (catalogue name), "image_ref" (pinned id), "user": [uid, gid],
                 "run_as": "uid:gid" | None, "group_add": [gid], "entrypoint", "command", "env": {},
                 "working_dir", "ports": {name: number}, "nano_cpus", "mem_limit", "cpu_shares",
                 "config_mounts": [{"volume", "config_map", "items", "target", "sub_path"}],
                 "tmpfs": {path: size}, "volume_mounts": [{"volume", "target", "sub_path"}],
                 "readiness": Probe | None, "startup": Probe | None, "anvil": bool}
    Probe     = {"kind": "http" | "tcp" | "exec", "port", "path", "scheme", "headers", "command",
                 "initial_delay_s", "period_s", "timeout_s", "success_threshold", "failure_threshold"}
    Service   = {"name", "ports": [{"name", "port", "targets": {pod name: number}}], "pods": [pod name],
                 "proxy": bool}

A Service whose ports all lead to the same port number on its pods, and
whose pods have no readiness probe, is a set of DNS aliases on those pods;
any other is a small TCP proxy container of the platform's (see
``sandbox.proxy``), the way kube-proxy stands between a Service's port and
its pods' target ports and leaves out pods that are not ready.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from common.validation import FieldError
from sandbox.bundle import Bundle
from sandbox.catalogue import Catalogue
from sandbox.fieldpath import path_join, path_of
from sandbox.quantity import cpu_millicores, memory_bytes

# Writable scratch folders of each catalogue image under a read-only root
# file system: what the image's own processes write (url-anvil's state and
# metrics folders, nginx's pid and temp files, temp files of anyone).
IMAGE_SCRATCH = {
    "url-anvil": ("/tmp", "/var/lib/chaos"),
    "haproxy": ("/tmp",),
    "nginx": ("/tmp",),
}
SCRATCH_BYTES = 64 * 2**20
EMPTY_DIR_DEFAULT_BYTES = 64 * 2**20

# url-anvil runs as the platform built it: its command is the image's own,
# its role the anvil, and of its environment a bundle sets only the tuning
# below. Anything else (PYTHONPATH, LD_PRELOAD, another fault store, a fault
# refresh of a day, files mounted over its code) could make the standard
# service ignore the faults it is scored against.
ANVIL_ARGS = ["anvil"]
ANVIL_ENV_ALLOWED = frozenset({
    "ALLOWED_HOSTS", "WEB_WORKERS", "WEB_THREADS", "WEB_TIMEOUT", "WEB_ACCESS_LOG", "LOG_LEVEL",
    "ANVIL_PORT", "ANVIL_WORKER_CLASS", "ANVIL_WORKER_CONNECTIONS", "ANVIL_CORPUS_BASE_URL",
    "ANVIL_FETCH_ALLOWED_HOSTS", "ANVIL_FETCH_ALLOW_LINK_LOCAL", "ANVIL_FETCH_TIMEOUT_S", "ANVIL_FETCH_MAX_BYTES",
    "ANVIL_FETCH_CONCURRENCY", "ANVIL_FETCH_MAX_REDIRECTS", "ANVIL_MAX_URLS", "ANVIL_MAX_BODY_BYTES",
    "ANVIL_HEARTBEAT_S", "ANVIL_HEARTBEAT_STALE_S",
})
# What the platform sets in every url-anvil replica, over the bundle's values
# (the chaos token and the secret key are added per sandbox when it starts).
ANVIL_ENV_FORCED = {
    # A replica of the standard service, not a developer's: no debug pages
    # (and a secret key of the sandbox's own, added when it starts).
    "DEBUG": "false",
    "VAR_DIR": "/var/lib/chaos",
    "ANVIL_STATE_DIR": "/var/lib/chaos/anvil",
    "ANVIL_FAULT_REFRESH_S": "1",
    "ANVIL_STORE_PREFIX": "anvil:",
    "REDIS_URL": "",
}
ANVIL_DEFAULT_PORT = 8080

_ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
_EXPANSION = re.compile(r"\$\(([-._a-zA-Z][-._a-zA-Z0-9]*)\)|\$\$")
_UNSUPPORTED = "is not supported in the sandbox"

Plan = dict[str, Any]


def sandbox_plan(bundle: Bundle, *, catalogue: Catalogue) -> Plan:
    """What to run for ``bundle`` (already checked by ``bundle_parse``); FieldError for what cannot be run as written."""
    objects = list(bundle.objects)
    config_maps = {
        obj["metadata"]["name"]: {
            "data": dict(obj.get("data") or {}),
            "binary": {key: value for key, value in (obj.get("binaryData") or {}).items() if value is not None},
        }
        for obj in objects if obj["kind"] == "ConfigMap"
    }
    # The checked bundle names its images by their pinned ids already.
    names = {ref: name for name, ref in bundle.images.items()}
    pods: list[dict[str, Any]] = []
    for index, obj in enumerate(objects):
        if obj["kind"] == "Deployment":
            pods += _deployment_pods(obj, index=index, catalogue=catalogue, names=names, config_maps=config_maps,
                                     first=len(pods))
    services = [_service(obj, index=index, pods=pods) for index, obj in enumerate(objects) if obj["kind"] == "Service"]
    return {"pods": pods, "services": services, "config_maps": config_maps}


def _deployment_pods(obj: dict, *, index: int, catalogue: Catalogue, names: dict[str, str], config_maps: dict,
                     first: int) -> list[dict]:
    name = obj["metadata"]["name"]
    spec = obj["spec"]
    replicas = 1 if spec.get("replicas") is None else int(spec["replicas"])
    template = spec["template"]
    labels = {k: v for k, v in ((template.get("metadata") or {}).get("labels") or {}).items() if v is not None}
    pod_spec = template["spec"]
    at = path_of(index, ["spec", "template", "spec"])
    _pod_fields_check(pod_spec, at=at)
    volumes = {volume["name"]: volume for volume in pod_spec.get("volumes") or []}
    security = pod_spec.get("securityContext") or {}
    containers = [
        _container(c, at=path_join(at, "containers", i), catalogue=catalogue, names=names, config_maps=config_maps,
                   volumes=volumes, pod_security=security)
        for i, c in enumerate(pod_spec["containers"])
    ]
    init_containers = [
        _container(c, at=path_join(at, "initContainers", i), catalogue=catalogue, names=names,
                   config_maps=config_maps, volumes=volumes, pod_security=security, init=True)
        for i, c in enumerate(pod_spec.get("initContainers") or [])
    ]
    shared = _shared_volumes(containers + init_containers, volumes=volumes)
    for container in containers + init_containers:
        # An emptyDir that several containers of the pod use is one volume of
        # the pod; one used by a single container is that container's tmpfs.
        mounts = container.pop("_empty_dirs")
        container["volume_mounts"] = [m for m in mounts if m["volume"] in shared]
        for mount in mounts:
            if mount["volume"] not in shared:
                if mount.get("sub_path"):
                    raise FieldError(field=mount["at"], message="subPath into an emptyDir " + _UNSUPPORTED)
                container["tmpfs"][mount["target"]] = mount["size"]
        for mount in container["volume_mounts"]:
            mount.pop("at", None)
            mount.pop("size", None)
    pods = []
    for ordinal in range(replicas):
        pod_name = f"{name}-{ordinal}"
        pods.append({
            "name": pod_name,
            "deployment": name,
            "ordinal": first + ordinal,
            "labels": labels,
            "hostname": pod_spec.get("hostname") or pod_name,
            # An alias of the platform's own, which no Service name can be
            # (Service names have no dots): how proxies find this pod.
            "net_alias": f"p{first + ordinal}.pods.sandbox",
            "containers": [dict(c) for c in containers],
            "init_containers": [dict(c) for c in init_containers],
            "shared_volumes": shared,
        })
    return pods


def _pod_fields_check(pod_spec: dict, *, at: str) -> None:
    if pod_spec.get("shareProcessNamespace"):
        raise FieldError(field=path_join(at, "shareProcessNamespace"), message=_UNSUPPORTED)
    if pod_spec.get("subdomain"):
        raise FieldError(field=path_join(at, "subdomain"), message=_UNSUPPORTED + " (no headless Service domains)")
    if pod_spec.get("setHostnameAsFQDN"):
        raise FieldError(field=path_join(at, "setHostnameAsFQDN"), message=_UNSUPPORTED)
    if pod_spec.get("hostUsers") is False:
        raise FieldError(field=path_join(at, "hostUsers"), message=_UNSUPPORTED + " (no user namespaces)")


def _shared_volumes(containers: list[dict], *, volumes: dict) -> dict[str, int]:
    users: dict[str, int] = {}
    for container in containers:
        for name in {m["volume"] for m in container["_empty_dirs"]}:
            users[name] = users.get(name, 0) + 1
    return {name: _empty_dir_size(volumes[name]) for name, count in users.items() if count > 1}


def _empty_dir_size(volume: dict) -> int:
    size = (volume.get("emptyDir") or {}).get("sizeLimit")
    return EMPTY_DIR_DEFAULT_BYTES if size is None else max(1, memory_bytes(size, field="sizeLimit"))


def _container(container: dict, *, at: str, catalogue: Catalogue, names: dict[str, str], config_maps: dict,
               volumes: dict, pod_security: dict, init: bool = False) -> dict:
    image_ref = container["image"]
    image = names[image_ref]
    for key in ("lifecycle", "livenessProbe"):
        if container.get(key):
            raise FieldError(field=path_join(at, key), message=_UNSUPPORTED + " yet")
    if init and (container.get("readinessProbe") or container.get("startupProbe")):
        key = "readinessProbe" if container.get("readinessProbe") else "startupProbe"
        raise FieldError(field=path_join(at, key), message="an init container has no probes")
    if container.get("restartPolicy") is not None:
        raise FieldError(field=path_join(at, "restartPolicy"), message=_UNSUPPORTED + " (no sidecar containers)")
    anvil = image == "url-anvil" and not init
    if anvil:
        _anvil_check(container, at=at)
    ports = _ports(container)
    env = _environment(container, at=at, config_maps=config_maps)
    if anvil:
        env.update(ANVIL_ENV_FORCED)
    limits = (container.get("resources") or {}).get("limits") or {}
    requests = (container.get("resources") or {}).get("requests") or {}
    cpu_limit = cpu_millicores(limits["cpu"], field=path_join(at, "resources", "limits", "cpu"))
    cpu_request = cpu_millicores(requests["cpu"], field="cpu") if requests.get("cpu") is not None else cpu_limit
    memory = memory_bytes(limits["memory"], field=path_join(at, "resources", "limits", "memory"))
    uid, gid, group_add = _identity(container.get("securityContext") or {}, pod_security, at=at)
    image_user = catalogue.user(image)
    if image_user is None:
        raise FieldError(field=path_join(at, "image"),
                         message="the platform's catalogue does not record this image's user (run scripts/build-images.sh)")
    # A uid without a group would run in group 0 (Docker's default for a uid
    # the image does not know): the image's group instead.
    user = [image_user[0] if uid is None else uid, image_user[1] if gid is None else gid]
    run_as = None if uid is None and gid is None else f"{user[0]}:{user[1]}"
    config_mounts, empty_dirs = _mounts(container, at=at, volumes=volumes)
    return {
        "name": container["name"],
        "image": image,
        "image_ref": image_ref,
        "user": user,
        "run_as": run_as,
        "group_add": group_add,
        "entrypoint": _expand_list(container.get("command"), env),
        "command": _expand_list(container.get("args"), env),
        "env": env,
        "working_dir": container.get("workingDir") or None,
        "ports": ports,
        "nano_cpus": cpu_limit * 1_000_000,
        "mem_limit": memory,
        # Docker's relative weight, from the request as a kubelet derives cgroup shares.
        "cpu_shares": max(2, cpu_request * 1024 // 1000),
        "config_mounts": config_mounts,
        "_empty_dirs": empty_dirs,
        "tmpfs": {path: SCRATCH_BYTES for path in IMAGE_SCRATCH[image]},
        "readiness": _probe(container.get("readinessProbe"), at=path_join(at, "readinessProbe"), ports=ports),
        "startup": _probe(container.get("startupProbe"), at=path_join(at, "startupProbe"), ports=ports),
        "anvil": anvil,
        "anvil_port": int(env.get("ANVIL_PORT") or ANVIL_DEFAULT_PORT) if anvil else None,
    }


def _anvil_check(container: dict, *, at: str) -> None:
    if container.get("command") is not None:
        raise FieldError(field=path_join(at, "command"),
                         message="url-anvil runs with the image's own command; give only args: [\"anvil\"]")
    if container.get("args") != ANVIL_ARGS:
        raise FieldError(field=path_join(at, "args"), message='url-anvil runs its anvil role: args must be ["anvil"]')
    if container.get("envFrom"):
        raise FieldError(field=path_join(at, "envFrom"),
                         message="url-anvil takes only its tuning settings, one by one in env")
    for i, var in enumerate(container.get("env") or []):
        if var["name"] not in ANVIL_ENV_ALLOWED:
            raise FieldError(field=path_join(at, "env", i, "name"),
                             message=f"is not a url-anvil setting a bundle may set (allowed: {', '.join(sorted(ANVIL_ENV_ALLOWED))})")
    if container.get("volumeMounts"):
        raise FieldError(field=path_join(at, "volumeMounts"),
                         message="url-anvil runs as the platform built it: nothing may be mounted into it")
    if container.get("workingDir"):
        raise FieldError(field=path_join(at, "workingDir"), message="url-anvil runs as the platform built it")


def _ports(container: dict) -> dict[str, int]:
    ports: dict[str, int] = {}
    for port in container.get("ports") or []:
        number = int(port["containerPort"])
        ports[port.get("name") or str(number)] = number
    return ports


def _environment(container: dict, *, at: str, config_maps: dict) -> dict[str, str]:
    """The container's environment as a kubelet builds it: envFrom in order, then env, with $(VAR) expanded."""
    env: dict[str, str] = {}
    for i, source in enumerate(container.get("envFrom") or []):
        ref = source.get("configMapRef") or {}
        config_map = config_maps.get(ref.get("name"))
        if config_map is None:
            continue  # optional and absent: the policy refused every other case
        prefix = source.get("prefix") or ""
        for key, value in config_map["data"].items():
            name = prefix + key
            if not _ENV_NAME.fullmatch(name):
                raise FieldError(field=path_join(at, "envFrom", i), message=f"{name!r} is no environment variable name")
            env[name] = "" if value is None else str(value)
    for i, var in enumerate(container.get("env") or []):
        name = var["name"]
        if not _ENV_NAME.fullmatch(name):
            raise FieldError(field=path_join(at, "env", i, "name"), message="is no environment variable name")
        source = var.get("valueFrom")
        if source:
            value = _env_from(source, at=path_join(at, "env", i, "valueFrom"), container=container,
                              config_maps=config_maps)
            if value is None:
                continue
        else:
            value = _expand(var.get("value") or "", env)
        env[name] = value
    return env


def _env_from(source: dict, *, at: str, container: dict, config_maps: dict) -> str | None:
    if source.get("configMapKeyRef"):
        ref = source["configMapKeyRef"]
        data = (config_maps.get(ref["name"]) or {}).get("data") or {}
        return None if ref["key"] not in data else str(data[ref["key"]] or "")
    if source.get("resourceFieldRef"):
        ref = source["resourceFieldRef"]
        if ref.get("containerName") not in (None, "", container["name"]):
            raise FieldError(field=path_join(at, "resourceFieldRef", "containerName"),
                             message="only the container's own resources " + _UNSUPPORTED.replace("is ", "are "))
        return _resource_value(ref, container=container, at=path_join(at, "resourceFieldRef"))
    raise FieldError(field=path_join(at, "fieldRef"),
                     message=_UNSUPPORTED + ": a sandboxed pod's metadata is the platform's (use a plain value)")


def _resource_value(ref: dict, *, container: dict, at: str) -> str:
    resource = ref.get("resource") or ""
    kind, _, name = resource.partition(".")
    resources = container.get("resources") or {}
    values = resources.get(kind) if kind in ("limits", "requests") else None
    if values is None or name not in ("cpu", "memory"):
        raise FieldError(field=path_join(at, "resource"), message="must be limits.cpu, limits.memory, requests.cpu or requests.memory")
    value = values.get(name) if values.get(name) is not None else (resources.get("limits") or {}).get(name)
    divisor = ref.get("divisor")
    if name == "cpu":
        amount = cpu_millicores(value, field=path_join(at, "resource"))
        unit = cpu_millicores(divisor, field=path_join(at, "divisor")) if divisor is not None else 1000
    else:
        amount = memory_bytes(value, field=path_join(at, "resource"))
        unit = memory_bytes(divisor, field=path_join(at, "divisor")) if divisor is not None else 1
    if unit <= 0:
        raise FieldError(field=path_join(at, "divisor"), message="must be more than 0")
    # Rounded up, as the kubelet does.
    return str(-(-amount // unit))


def _expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: a defined variable is replaced, "$$" is "$", anything else stays as written."""

    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env[name] if name in env else match.group(0)

    return _EXPANSION.sub(replace, text)


def _expand_list(values: list | None, env: dict[str, str]) -> list[str] | None:
    return None if values is None else [_expand(str(value), env) for value in values]


def _identity(context: dict, pod: dict, *, at: str) -> tuple[int | None, int | None, list[int]]:
    """uid, gid (None: the image's) and extra groups from the container's and the pod's securityContext."""
    uid = context.get("runAsUser", pod.get("runAsUser"))
    gid = context.get("runAsGroup", pod.get("runAsGroup"))
    non_root = context.get("runAsNonRoot", pod.get("runAsNonRoot"))
    field = path_join(at, "securityContext", "runAsUser")
    if uid is not None and int(uid) == 0:
        raise FieldError(field=field, message="the sandbox runs nothing as root")
    if gid is not None and int(gid) == 0:
        raise FieldError(field=path_join(at, "securityContext", "runAsGroup"), message="the sandbox runs nothing as root")
    if non_root is False:
        raise FieldError(field=path_join(at, "securityContext", "runAsNonRoot"), message="the sandbox runs nothing as root")
    groups = [int(g) for g in pod.get("supplementalGroups") or [] if g is not None]
    if pod.get("fsGroup") is not None:
        groups.append(int(pod["fsGroup"]))
    if any(g == 0 for g in groups):
        raise FieldError(field=path_join(at, "securityContext"), message="the sandbox adds no process to group 0")
    return (None if uid is None else int(uid)), (None if gid is None else int(gid)), groups


def _mounts(container: dict, *, at: str, volumes: dict) -> tuple[list[dict], list[dict]]:
    config_mounts, empty_dirs = [], []
    targets: set[str] = set()
    for i, mount in enumerate(container.get("volumeMounts") or []):
        path = path_join(at, "volumeMounts", i)
        target = mount["mountPath"].rstrip("/") or "/"
        if target == "/" or target in targets:
            raise FieldError(field=path_join(path, "mountPath"), message="another mount, or the root, is already there")
        targets.add(target)
        volume = volumes[mount["name"]]
        sub_path = mount.get("subPath") or None
        if volume.get("configMap") is not None:
            source = volume["configMap"]
            items = [{"key": item["key"], "path": item["path"]} for item in source.get("items") or []] or None
            config_mounts.append({"volume": mount["name"], "config_map": source["name"], "items": items,
                                  "target": target, "sub_path": sub_path})
        else:
            empty_dirs.append({"volume": mount["name"], "target": target, "sub_path": sub_path,
                               "size": _empty_dir_size(volume), "at": path})
    return config_mounts, empty_dirs


def _probe(probe: dict | None, *, at: str, ports: dict[str, int]) -> dict | None:
    if not probe:
        return None
    common = {
        "initial_delay_s": int(probe.get("initialDelaySeconds") or 0),
        "period_s": int(probe.get("periodSeconds") or 10),
        "timeout_s": int(probe.get("timeoutSeconds") or 1),
        "success_threshold": int(probe.get("successThreshold") or 1),
        "failure_threshold": int(probe.get("failureThreshold") or 3),
    }
    if probe.get("httpGet"):
        action = probe["httpGet"]
        headers = {h["name"]: h.get("value") or "" for h in action.get("httpHeaders") or []}
        path = action.get("path") or "/"
        if not path.startswith("/"):
            path = "/" + path
        return {"kind": "http", "port": _probe_port(action.get("port"), at=path_join(at, "httpGet", "port"), ports=ports),
                "path": path, "scheme": (action.get("scheme") or "HTTP").lower(), "headers": headers, **common}
    if probe.get("tcpSocket"):
        action = probe["tcpSocket"]
        return {"kind": "tcp", "port": _probe_port(action.get("port"), at=path_join(at, "tcpSocket", "port"), ports=ports),
                **common}
    if probe.get("exec"):
        command = [str(part) for part in (probe["exec"].get("command") or [])]
        if not command:
            raise FieldError(field=path_join(at, "exec", "command"), message="must not be empty")
        return {"kind": "exec", "command": command, **common}
    raise FieldError(field=at, message="needs httpGet, tcpSocket or exec in the sandbox")


def _probe_port(port: object, *, at: str, ports: dict[str, int]) -> int:
    if isinstance(port, str) and not port.isascii():
        raise FieldError(field=at, message="must be a port number or the name of a port of the container")
    if isinstance(port, str) and not port.isdigit():
        if port not in ports:
            raise FieldError(field=at, message=f"names no port of the container ({port!r})")
        return ports[port]
    number = int(port) if isinstance(port, int | str) else 0
    if not 1 <= number <= 65535:
        raise FieldError(field=at, message="must be between 1 and 65535")
    return number


def _service(obj: dict, *, index: int, pods: list[dict]) -> dict:
    spec = obj["spec"]
    selector = {k: v for k, v in (spec.get("selector") or {}).items() if v is not None}
    selected = [pod for pod in pods if all(pod["labels"].get(k) == v for k, v in selector.items())]
    ports = []
    for i, port in enumerate(spec["ports"]):
        number = int(port["port"])
        target = port.get("targetPort")
        targets = {}
        for pod in selected:
            resolved = _target_port(target, default=number, pod=pod)
            if resolved is not None:
                targets[pod["name"]] = resolved
        ports.append({"name": port.get("name") or str(number), "port": number, "targets": targets})
        if not 1 <= number <= 65535:
            raise FieldError(field=path_of(index, ["spec", "ports", i, "port"]), message="must be between 1 and 65535")
    direct = all(target == port["port"] for port in ports for target in port["targets"].values())
    probed = any(c["readiness"] for pod in selected for c in pod["containers"])
    return {"name": obj["metadata"]["name"], "ports": ports, "pods": [pod["name"] for pod in selected],
            "proxy": not direct or probed}


def _target_port(target: object, *, default: int, pod: dict) -> int | None:
    """The port a Service's targetPort means on one pod (a named port may be missing there: no endpoint)."""
    if target is None:
        return default
    if isinstance(target, str) and not target.isdigit():
        for container in pod["containers"]:
            if target in container["ports"]:
                return container["ports"][target]
        return None
    return int(target)


def config_map_files(config_map: dict, *, items: list[dict] | None) -> dict[str, bytes]:
    """Relative path → content of a ConfigMap volume (all keys, or the given items)."""
    contents = {key: str(value or "").encode() for key, value in config_map["data"].items()}
    contents.update({key: base64.b64decode(value) for key, value in config_map["binary"].items()})
    if items is None:
        return contents
    return {item["path"]: contents[item["key"]] for item in items if item["key"] in contents}
