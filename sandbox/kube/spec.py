"""A Kubernetes sandbox run's ``place_spec``: the checked bundle, its pinned images, the quota.

The same checks as the Docker backend's, the plan included: a bundle that
runs on one backend runs on the other, and is refused by both for the same
field. The namespace's objects are made when the run starts (they carry the
run's id and deadline), from what is stored here.
"""

from __future__ import annotations

from typing import Any

from common.validation import FieldError
from sandbox.bundle import Quota, bundle_parse
from sandbox.kube.config import KubeUnavailable, kube_settings
from sandbox.kube.objects import Identity, Placement, sandbox_objects
from sandbox.kube.pod_security import restricted_problems
from sandbox.place import ENTRYPOINT_PORT, ENTRYPOINT_SERVICE, TARGET_URL
from sandbox.plan import sandbox_plan


def kube_spec_build(*, bundle_text: str, quota: Quota, ready_s: int) -> dict[str, Any]:
    """FieldError("bundle…") for the bundle, FieldError("place") for what the platform lacks."""
    config = kube_settings()
    try:
        catalogue = config.catalogue()
    except KubeUnavailable as exc:
        raise FieldError("place", f"runs in a sandbox are not available: {exc}") from None
    bundle = bundle_parse(bundle_text, quota=quota, catalogue=catalogue)
    sandbox_plan(bundle, catalogue=catalogue)
    _restricted_check(bundle.objects, images=bundle.images, quota=quota, placement=config.placement())
    return {
        "backend": "kubernetes",
        "target_url": TARGET_URL,
        "ready_s": ready_s,
        "entrypoint": {"service": ENTRYPOINT_SERVICE, "port": ENTRYPOINT_PORT},
        "objects": list(bundle.objects),
        "images": dict(bundle.images),
        "summary": bundle.summary(),
        "quota": {"cpu_millicores": quota.cpu_millicores, "memory_bytes": quota.memory_bytes, "pods": quota.pods},
    }


def _restricted_check(objects: tuple[dict[str, Any], ...], *, images: dict[str, str], quota: Quota,
                      placement: Placement) -> None:
    """FieldError at the first field of a pod template that ``restricted`` refuses, once the platform completed it."""
    rewritten = sandbox_objects(objects=objects, images=images, quota=quota, placement=placement,
                                identity=Identity(sandbox_id="check", deadline=0), runner_arguments=[]).bundle
    index_of = {(obj["kind"], obj["metadata"]["name"]): index for index, obj in enumerate(objects)}
    for obj in rewritten:
        if obj["kind"] != "Deployment":
            continue
        index = index_of[(obj["kind"], obj["metadata"]["name"])]
        problems = restricted_problems(obj["spec"]["template"]["spec"], at=f"[{index}].spec.template.spec")
        if problems:
            field, message = problems[0]
            raise FieldError(field, f"{message} (the namespace enforces the restricted Pod Security Standard)")


def quota_of(spec: dict[str, Any]) -> Quota:
    return Quota(**spec["quota"])
