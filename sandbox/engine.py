"""The container engine the sandbox runs on (Docker, through its official SDK), and its settings.

Every object the sandbox makes — network, containers, volumes — carries the
platform's label ``org.sre-chaos.sandbox=<sandbox id>`` and a deadline, so
that whatever a run leaves behind (a worker killed mid-run) can be found by
label alone and removed (``sandbox.services.sandboxes_reap``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import requests.exceptions
from django.conf import settings

LABEL = "org.sre-chaos.sandbox"
LABEL_DEADLINE = "org.sre-chaos.sandbox.deadline"
LABEL_RUN = "org.sre-chaos.sandbox.run"
LABEL_ORIGIN = "org.sre-chaos.sandbox.origin"
LABEL_ROLE = "org.sre-chaos.sandbox.role"
LABEL_POD = "org.sre-chaos.sandbox.pod"
LABEL_CONTAINER = "org.sre-chaos.sandbox.container"
LABEL_IMAGE = "org.sre-chaos.sandbox.image"
LABEL_DATABASE = "org.sre-chaos.sandbox.database"

# Errors of the engine or of the connection to it.
ENGINE_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException, OSError)
API_TIMEOUT_S = 60


@dataclass(frozen=True)
class SandboxSettings:
    backend: str
    docker_host: str
    ready_s: int
    catalogue_file: Path
    state_dir: Path
    firewall: str
    pids_limit: int
    runner_cpus: float
    runner_memory_bytes: int
    up_ttl_s: int
    subnet_pool: str


def sandbox_settings() -> SandboxSettings:
    var_dir = Path(settings.VAR_DIR)
    return SandboxSettings(
        backend=getattr(settings, "SANDBOX_BACKEND", "docker"),
        docker_host=getattr(settings, "SANDBOX_DOCKER_HOST", ""),
        ready_s=int(getattr(settings, "SANDBOX_READY_S", 60)),
        catalogue_file=Path(getattr(settings, "SANDBOX_CATALOGUE_FILE", var_dir / "sandbox" / "catalogue.json")),
        state_dir=Path(getattr(settings, "SANDBOX_STATE_DIR", var_dir / "sandbox" / "runs")),
        firewall=getattr(settings, "SANDBOX_FIREWALL", "install"),
        pids_limit=int(getattr(settings, "SANDBOX_PIDS_LIMIT", 512)),
        runner_cpus=float(getattr(settings, "SANDBOX_RUNNER_CPUS", 1.0)),
        runner_memory_bytes=int(getattr(settings, "SANDBOX_RUNNER_MEMORY_MB", 512)) * 2**20,
        up_ttl_s=int(getattr(settings, "SANDBOX_UP_TTL_S", 3600)),
        subnet_pool=getattr(settings, "SANDBOX_SUBNET_POOL", ""),
    )


class EngineUnavailable(RuntimeError):
    """No container engine answers (or the sandbox is switched off)."""


def engine_client(*, timeout: int = API_TIMEOUT_S) -> docker.DockerClient:
    """A client of the configured engine (``SANDBOX_DOCKER_HOST``, else the SDK's default: DOCKER_HOST or the local socket)."""
    config = sandbox_settings()
    if config.backend != "docker":
        raise EngineUnavailable(f"the sandbox is switched off (SANDBOX_BACKEND={config.backend!r})")
    try:
        if config.docker_host:
            return docker.DockerClient(base_url=config.docker_host, timeout=timeout)
        return docker.from_env(timeout=timeout)
    except ENGINE_ERRORS as exc:
        raise EngineUnavailable(f"no Docker engine answers: {exc}") from exc


def engine_check() -> docker.DockerClient:
    """A client whose engine answered a ping, or EngineUnavailable saying why not."""
    client = engine_client(timeout=10)
    where = sandbox_settings().docker_host or "the default Docker socket (DOCKER_HOST)"
    try:
        client.ping()
    except ENGINE_ERRORS as exc:
        client.close()
        raise EngineUnavailable(f"no Docker engine answers at {where}: {type(exc).__name__}: {exc}"[:500]) from exc
    return client


def database_label() -> str:
    """Which database a sandbox's run id belongs to (a short hash of where it is, never its credentials)."""
    from django.db import connections

    config = connections["default"].settings_dict
    where = f"{config.get('ENGINE')}|{config.get('HOST')}|{config.get('PORT')}|{config.get('NAME')}"
    return hashlib.sha256(where.encode()).hexdigest()[:16]
