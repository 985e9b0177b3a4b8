"""The load runner in a container on the sandbox's network: started, read, stopped like a local one.

The url-anvil image holds the whole platform, the engine's runner included,
so the runner is ``python -m loadtest.runner`` in a container of that image,
with the arguments the engine gives it (``hooks.runner_arguments``). Its
standard output — one JSON record per line — comes back through the
engine's log stream and onto ``records`` (``hooks.runner_record_parse``),
ending with ``hooks.RUNNER_END``. The container is as locked down as the
bundle's and carries no setting of the platform: it needs none.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

import docker
import docker.errors
import requests.exceptions

from loadtest import hooks
from sandbox import engine
from sandbox.engine import ENGINE_ERRORS

logger = logging.getLogger(__name__)

STOP_WAIT_S = 5
STDERR_TAIL_LINES = 30


class SandboxRunner:
    """One ``python -m loadtest.runner`` in a container on the sandbox network."""

    def __init__(self, *, sandbox, target_url: str, probe_url: str, profile: dict, processes: int, image: str,
                 cpus: float, memory_bytes: int, pids_limit: int) -> None:
        self.records: queue.SimpleQueue = queue.SimpleQueue()
        self._client = engine.engine_client()
        self._returncode: int | None = None
        self._stderr = ""
        self.name = f"sbx-{sandbox.id}-runner"
        arguments = hooks.runner_arguments(target_url=target_url, profile=profile, processes=processes,
                                           probe_url=probe_url)
        machine = int(self._client.info().get("NCPU") or 1)
        self._container = self._client.containers.create(
            image, entrypoint=["python", "-m", "loadtest.runner"], command=arguments, name=self.name,
            working_dir="/app", network=sandbox.network, init=True,
            labels={**sandbox.labels, engine.LABEL_ROLE: "runner", engine.LABEL_IMAGE: "url-anvil"},
            restart_policy={"Name": "no"},
            # A Locust process per core, as on a host of its own; the master
            # and its workers talk over loopback inside the container.
            nano_cpus=int(min(cpus * processes, machine) * 1e9), mem_limit=memory_bytes * processes,
            memswap_limit=memory_bytes * processes, pids_limit=pids_limit,
            read_only=True, tmpfs={"/tmp": "size=64m,mode=1777"}, cap_drop=["ALL"],
            security_opt=["no-new-privileges:true"], sysctls={"net.ipv6.conf.all.disable_ipv6": "1"},
            environment={"PYTHONUNBUFFERED": "1"},
        )
        self._container.start()
        self.spawned_at = time.monotonic()
        self._reader = threading.Thread(target=self._read, name="sandbox-runner-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        # A client of its own: the stream holds its connection for the whole run.
        client = engine.engine_client(timeout=None)
        buffer = b""
        try:
            for chunk in client.api.logs(self._container.id, stream=True, follow=True, stdout=True, stderr=False):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    line = line.strip()
                    if line:
                        self.records.put(hooks.runner_record_parse(line))
            if buffer.strip():
                self.records.put(hooks.runner_record_parse(buffer.strip()))
        except ENGINE_ERRORS as exc:
            logger.warning("sandbox runner %s: log stream ended: %s", self.name, exc)
        finally:
            client.close()
            self.records.put(hooks.RUNNER_END)

    @property
    def returncode(self) -> int | None:
        if self._returncode is None:
            try:
                state = self._client.api.inspect_container(self._container.id)["State"]
            except ENGINE_ERRORS:
                return None
            if state["Status"] in ("exited", "dead"):
                self._returncode = int(state.get("ExitCode") or 0)
        return self._returncode

    def wait(self, *, timeout_s: float) -> int | None:
        try:
            result = self._client.api.wait(self._container.id, timeout=max(1, int(timeout_s)))
        except (requests.exceptions.RequestException, docker.errors.DockerException):
            return self.returncode
        self._returncode = int(result.get("StatusCode") or 0)
        return self._returncode

    def stop(self) -> None:
        """SIGTERM, SIGKILL after a grace (the engine does both); safe to call twice."""
        self._stderr_keep()
        try:
            self._client.api.stop(self._container.id, timeout=STOP_WAIT_S)
        except ENGINE_ERRORS as exc:
            logger.warning("sandbox runner %s: stop: %s", self.name, exc)
        self._reader.join(timeout=STOP_WAIT_S)

    def _stderr_keep(self) -> None:
        try:
            raw = self._client.api.logs(self._container.id, stdout=False, stderr=True, tail=STDERR_TAIL_LINES)
        except ENGINE_ERRORS:
            return
        lines = [line for line in raw.decode(errors="replace").strip().splitlines() if line.strip()]
        if lines:
            self._stderr = lines[-1][:500]

    def stderr_tail(self) -> str:
        """The last line the runner wrote to stderr (its traceback's last line), or ""."""
        if not self._stderr:
            self._stderr_keep()
        return self._stderr

    def close(self) -> None:
        try:
            self._client.api.remove_container(self._container.id, force=True)
        except ENGINE_ERRORS:
            pass  # the sandbox's teardown removes whatever is left
        self._client.close()
