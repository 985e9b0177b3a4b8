"""The Kubernetes backend's settings, its image catalogue, and a client of the cluster's API server."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import kubernetes.client
import kubernetes.config
import urllib3.exceptions
from django.conf import settings
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from sandbox.catalogue import NAMES, Catalogue
from sandbox.kube.objects import Placement

# Errors of the API server or of the connection to it.
KUBE_ERRORS = (ApiException, urllib3.exceptions.HTTPError, OSError)
API_TIMEOUT_S = 30
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_USER = re.compile(r"([0-9]{1,10}):([0-9]{1,10})")


class KubeUnavailable(RuntimeError):
    """The cluster cannot be used: no credentials, or settings that do not describe it."""


@dataclass(frozen=True)
class KubeSettings:
    registry: str
    digests: dict[str, str]
    users: dict[str, tuple[int, int]]
    platform_namespace: str
    load_namespace: str
    service_account: str
    kubeconfig: str = ""
    api_url: str = ""
    runner_cpu_millicores: int = 1000
    runner_memory_bytes: int = 512 * 2**20
    problems: list[str] = field(default_factory=list)

    def catalogue(self) -> Catalogue:
        """The catalogue names pinned to ``<registry>/<name>@<digest>``; KubeUnavailable while a setting is wrong."""
        if self.problems:
            raise KubeUnavailable("; ".join(self.problems))
        return Catalogue({name: f"{self.registry}/{name}@{self.digests[name]}" for name in NAMES},
                         {name: f"{uid}:{gid}" for name, (uid, gid) in self.users.items()})

    def placement(self) -> Placement:
        return Placement(platform_namespace=self.platform_namespace, load_namespace=self.load_namespace,
                         service_account=self.service_account, runner_image=self.catalogue().pin("url-anvil"),
                         runner_cpu_millicores=self.runner_cpu_millicores,
                         runner_memory_bytes=self.runner_memory_bytes, users=dict(self.users))


def _pairs(items: list[str], *, setting: str, problems: list[str]) -> dict[str, str]:
    pairs = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in NAMES:
            problems.append(f"{setting}: {item!r} is not <{'|'.join(NAMES)}>=<value>")
            continue
        pairs[name] = value.strip()
    return pairs


def kube_settings() -> KubeSettings:
    """The settings as they are; what is wrong with them is listed in ``problems`` (and refused when used)."""
    problems: list[str] = []
    digests = _pairs(list(getattr(settings, "SANDBOX_K8S_DIGESTS", [])), setting="SANDBOX_K8S_DIGESTS",
                     problems=problems)
    for name in NAMES:
        if name not in digests:
            problems.append(f"SANDBOX_K8S_DIGESTS names no digest for {name}")
        elif not _DIGEST.fullmatch(digests[name]):
            problems.append(f"SANDBOX_K8S_DIGESTS: {name}'s digest is not sha256:<64 hex digits>")
    users = {}
    for name, value in _pairs(list(getattr(settings, "SANDBOX_K8S_USERS", [])), setting="SANDBOX_K8S_USERS",
                              problems=problems).items():
        match = _USER.fullmatch(value)
        if match is None or int(match[1]) == 0:
            problems.append(f"SANDBOX_K8S_USERS: {name} must run as a numeric uid:gid other than root")
            continue
        users[name] = (int(match[1]), int(match[2]))
    for name in NAMES:
        if name not in users:
            problems.append(f"SANDBOX_K8S_USERS names no uid:gid for {name} (copy it from the catalogue.json "
                            "scripts/build-images.sh wrote)")
    registry = str(getattr(settings, "SANDBOX_K8S_REGISTRY", "")).rstrip("/")
    if not registry:
        problems.append("SANDBOX_K8S_REGISTRY is empty")
    return KubeSettings(
        registry=registry, digests=digests, users=users,
        platform_namespace=settings.SANDBOX_K8S_PLATFORM_NAMESPACE,
        load_namespace=settings.SANDBOX_K8S_LOAD_NAMESPACE,
        service_account=settings.SANDBOX_K8S_SERVICE_ACCOUNT,
        kubeconfig=getattr(settings, "SANDBOX_K8S_KUBECONFIG", ""),
        api_url=getattr(settings, "SANDBOX_K8S_API_URL", ""),
        runner_cpu_millicores=int(float(getattr(settings, "SANDBOX_RUNNER_CPUS", 1.0)) * 1000),
        runner_memory_bytes=int(getattr(settings, "SANDBOX_RUNNER_MEMORY_MB", 512)) * 2**20,
        problems=problems,
    )


def kube_api_client(config: KubeSettings) -> kubernetes.client.ApiClient:
    """A client of the API server: a plain URL, else a kubeconfig file, else the pod's own service account."""
    configuration = kubernetes.client.Configuration()
    try:
        if config.api_url:
            configuration.host = config.api_url
        elif config.kubeconfig:
            kubernetes.config.load_kube_config(config_file=config.kubeconfig, client_configuration=configuration)
        else:
            kubernetes.config.load_incluster_config(client_configuration=configuration)
    except (ConfigException, OSError) as exc:
        raise KubeUnavailable(f"no way to the Kubernetes API server: {exc} (set SANDBOX_K8S_KUBECONFIG or "
                              "SANDBOX_K8S_API_URL, or run the worker in the cluster)") from exc
    # Fail rather than hang on a server that stops answering mid-call.
    configuration.retries = 2
    return kubernetes.client.ApiClient(configuration)
