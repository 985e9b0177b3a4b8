"""A participant's bundle: Kubernetes manifests the sandbox will run.

``bundle_parse`` is the one way in. It turns untrusted text into a
``Bundle`` or raises ``FieldError`` naming the offending field by its dotted
path (``[1].spec.template.spec.containers[0].securityContext.privileged``),
never another exception. In order:

1. size, then YAML / JSON, object count, nodes and depth (sandbox.documents);
2. kind and apiVersion: apps/v1 Deployment, v1 Service, v1 ConfigMap;
3. every object against the strict Kubernetes schema (sandbox.schema), so
   the policy only sees what a real API server would accept;
4. the policy (sandbox.policy, sandbox.podspec): catalogue images, no
   privilege or host access, limits on every container, the ``entrypoint``
   Service on port 80, the quota.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandbox.catalogue import DEFAULT_CATALOGUE, Catalogue
from sandbox.documents import documents_parse
from sandbox.policy import ENTRYPOINT_PORT, ENTRYPOINT_SERVICE, Resources, policy_check
from sandbox.schema import KUBERNETES_VERSION, object_check_kind, object_check_schema

MAX_BYTES = 256 * 1024
MAX_OBJECTS = 32


@dataclass(frozen=True)
class Quota(Resources):
    """What a bundle may ask for in all: the sum of its pods' requests, and their number."""

    def __post_init__(self) -> None:
        for name in ("cpu_millicores", "memory_bytes", "pods"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"Quota.{name} must be an integer ≥ 0, not {value!r}")


# Until a challenge carries its own: room for the reference resilient bundle
# (a load balancer and three replicas) on a two-core machine with some to spare.
DEFAULT_QUOTA = Quota(cpu_millicores=2000, memory_bytes=2 * 2**30, pods=8)


@dataclass(frozen=True)
class Bundle:
    """A bundle that passed every check, with its images pinned."""

    objects: tuple[dict[str, Any], ...]
    requests: Resources
    limits: Resources
    images: dict[str, str]  # catalogue name → the pinned image it runs
    entrypoint_deployments: tuple[str, ...]
    kubernetes_version: str

    def summary(self) -> dict[str, Any]:
        return {
            "objects": [
                {"kind": obj["kind"], "name": obj["metadata"]["name"], **_replicas(obj)} for obj in self.objects
            ],
            "images": dict(sorted(self.images.items())),
            "requests": self.requests.as_text(),
            "limits": self.limits.as_text(),
            "entrypoint": {
                "service": ENTRYPOINT_SERVICE,
                "port": ENTRYPOINT_PORT,
                "deployments": list(self.entrypoint_deployments),
            },
            "kubernetes_version": self.kubernetes_version,
        }


def _replicas(obj: dict[str, Any]) -> dict[str, int]:
    if obj["kind"] != "Deployment":
        return {}
    replicas = obj["spec"].get("replicas")
    return {"replicas": 1 if replicas is None else int(replicas)}


def bundle_parse(
    text: str,
    *,
    quota: Quota = DEFAULT_QUOTA,
    catalogue: Catalogue = DEFAULT_CATALOGUE,
    max_bytes: int = MAX_BYTES,
    max_objects: int = MAX_OBJECTS,
    kubernetes_version: str = KUBERNETES_VERSION,
) -> Bundle:
    documents = documents_parse(text, max_bytes=max_bytes, max_objects=max_objects)
    kinds = [object_check_kind(obj, index=index) for index, obj in enumerate(documents)]
    for index, obj in enumerate(documents):
        object_check_schema(obj, index=index, kubernetes_version=kubernetes_version)
    checked = policy_check(list(zip(kinds, documents, strict=True)), quota=quota, catalogue=catalogue)
    return Bundle(
        objects=checked.objects,
        requests=checked.requests,
        limits=checked.limits,
        images={name: catalogue.pin(name) for name in checked.images},
        entrypoint_deployments=checked.entrypoint_deployments,
        kubernetes_version=kubernetes_version,
    )
