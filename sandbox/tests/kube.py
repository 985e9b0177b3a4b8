"""Helpers of the Kubernetes backend's tests: its settings, and the objects it makes for a bundle."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.test import override_settings
from kubernetes_validate.utils import all_versions, major_minor
from packaging.version import Version

from sandbox.bundle import Quota
from sandbox.kube.config import kube_settings
from sandbox.kube.objects import Identity, SandboxObjects, sandbox_objects
from sandbox.kube.spec import kube_spec_build, quota_of

DIGESTS = [f"{name}=sha256:{digit * 64}" for name, digit in (("url-anvil", "a"), ("haproxy", "b"), ("nginx", "c"))]
USERS = ["url-anvil=10001:10001", "haproxy=100:101", "nginx=33:33"]


def kube_schema_versions(count: int = 3) -> list[str]:
    """The ``count`` newest Kubernetes versions (major.minor) whose schemas kubernetes-validate ships."""
    return sorted({major_minor(version) for version in all_versions()}, key=Version)[-count:]


@contextlib.contextmanager
def kube_configured(**extra) -> Iterator[None]:
    with override_settings(SANDBOX_BACKEND="kubernetes", SANDBOX_K8S_DIGESTS=DIGESTS, SANDBOX_K8S_USERS=USERS,
                           SANDBOX_K8S_REGISTRY="registry.example.org/sre-chaos", **extra):
        yield


def kube_objects(text: str, *, quota: Quota, identity: Identity | None = None, token: str = "t0ken",
                 runner_arguments: list[str] | None = None) -> SandboxObjects:
    """What the backend creates for one run of the bundle ``text`` (call inside ``kube_configured``)."""
    spec = kube_spec_build(bundle_text=text, quota=quota, ready_s=60)
    return sandbox_objects(
        objects=spec["objects"], images=spec["images"], quota=quota_of(spec),
        identity=identity or Identity(sandbox_id="t1", deadline=2_000_000_000, run="7", origin="submission-3",
                                      owner="alice"),
        placement=kube_settings().placement(), runner_arguments=runner_arguments or ["--target", "http://x"],
        anvil_token=token, secret_key="k" * 40,
    )
