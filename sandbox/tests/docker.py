"""Helpers for tests that need a real Docker engine (DOCKER_HOST, or the default socket)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from common.env import env_bool

ROOT = Path(__file__).resolve().parents[2]

# Run inside a client container: polls a URL until it answers as wanted or the
# deadline passes, then prints what it saw. The waiting happens next to the
# server, on the sandbox network, where the test process cannot reach.
PROBE = r"""
import json, sys, time, urllib.error, urllib.request
url, want, deadline = sys.argv[1], sys.argv[2], time.monotonic() + float(sys.argv[3])
last = "no answer"
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            body = r.read(65536).decode("utf-8", "replace")
            seen = {"status": r.status, "headers": {k.lower(): v for k, v in r.headers.items()}, "body": body}
            if want in body or not want:
                print(json.dumps(seen))
                sys.exit(0)
            last = seen
    except (urllib.error.URLError, OSError) as exc:
        last = repr(exc)
    time.sleep(0.2)
print(json.dumps({"error": last}))
sys.exit(1)
"""


def engine_required() -> bool:
    """CI (REQUIRE_REAL_SERVICES=true) or a developer who pointed DOCKER_HOST at an engine: fail, never skip."""
    return env_bool("REQUIRE_REAL_SERVICES", False) or bool(os.environ.get("DOCKER_HOST"))


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=check)


def engine_or_skip() -> None:
    problem = None
    if shutil.which("docker") is None:
        problem = "the docker client is not installed"
    else:
        version = docker("version", "--format", "{{.Server.Version}}", timeout=30, check=False)
        if version.returncode != 0:
            problem = f"no Docker engine answers: {version.stderr.strip()[:200]}"
    if problem:
        if engine_required():
            pytest.fail(f"{problem} (start one: source scripts/lib/dockerd.sh; dockerd_start)")
        pytest.skip(f"{problem}; set DOCKER_HOST to run the image tests")


class Network:
    """An --internal network of one test, and the containers started on it."""

    def __init__(self) -> None:
        self.name = f"sandbox-test-{uuid.uuid4().hex[:10]}"
        self.containers: list[str] = []
        docker("network", "create", "--internal", self.name)

    def run(self, image: str, *args: str, alias: str, env: dict[str, str] | None = None, mounts: tuple[str, ...] = ()) -> str:
        name = f"{self.name}-{alias}"
        command = ["run", "--detach", "--name", name, "--network", self.name, "--network-alias", alias]
        for key, value in (env or {}).items():
            command += ["--env", f"{key}={value}"]
        for mount in mounts:
            command += ["--volume", mount]
        docker(*command, image, *args)
        self.containers.append(name)
        return name

    def probe(self, client_image: str, url: str, *, want: str = "", timeout_s: float = 60) -> dict[str, Any]:
        """What ``url`` answered, asked from a container on this network (header names in lower case)."""
        result = docker(
            "run", "--rm", "--network", self.name, "--entrypoint", "python3", client_image,
            "-c", PROBE, url, want, str(timeout_s),
            timeout=timeout_s + 60, check=False,
        )  # fmt: skip
        lines = result.stdout.strip().splitlines()
        seen = json.loads(lines[-1]) if lines else {"error": result.stderr.strip()[-500:]}
        if result.returncode != 0:
            logs = {name: docker("logs", "--tail", "20", name, check=False).stdout[-1500:] for name in self.containers}
            pytest.fail(f"{url} did not answer as wanted within {timeout_s} s: {seen}; logs: {logs}")
        return seen

    def remove(self) -> None:
        if self.containers:
            docker("rm", "--force", *self.containers, check=False)
        docker("network", "rm", self.name, check=False)


def sandbox_ids() -> set[str]:
    """The sandboxes that have any object on the engine (by the platform's label)."""
    from sandbox.engine import engine_client
    from sandbox.selectors import sandboxes_list

    client = engine_client()
    try:
        return {found["id"] for found in sandboxes_list(client=client)}
    finally:
        client.close()
