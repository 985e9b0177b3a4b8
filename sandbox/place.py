"""The sandbox as a place of the engine (``LoadTestRun.place == "sandbox"``): the RunPlace members.

``prepare`` seals the host off (``sandbox.firewall``), starts the bundle of
``run.place_spec`` (``sandbox.runtime``) and waits for it within the spec's
``ready_s``, or raises ``hooks.PlaceUnavailable`` with what the containers
said. The runner runs on the sandbox network (``sandbox.runner``) and probes
from there (``probes_in_runner``): nothing of the sandbox is published on
the host. Faults go to the sandbox's own replicas (``sandbox.faults``).
``release`` removes everything however the run ended, and never raises:
whatever it cannot remove carries its deadline label for the reaper.
``describe``, which the engine asks after ``release``, tells the containers
as they were just before they went, and whether they all went.
"""

from __future__ import annotations

import logging
import secrets
import time
import urllib.error
import urllib.request

from common.contract import INSTANCE_HEADER
from loadtest import hooks
from sandbox import engine
from sandbox.engine import ENGINE_ERRORS, EngineUnavailable, sandbox_settings
from sandbox.faults import SandboxFaultControl
from sandbox.firewall import FirewallError, firewall_ensure
from sandbox.runner import SandboxRunner
from sandbox.runtime import Sandbox, SandboxNotReady, sandbox_id_new, sandbox_remove

logger = logging.getLogger(__name__)

ENTRYPOINT_SERVICE = "entrypoint"
ENTRYPOINT_PORT = 80
TARGET_URL = f"http://{ENTRYPOINT_SERVICE}:{ENTRYPOINT_PORT}"
PROBE_URL = f"{TARGET_URL}/healthz"
# After its run, a sandbox is past its deadline this much later at most
# (when the run's own deadline is not known).
DEFAULT_LIFETIME_S = 3600


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def healthz_probe(*, url: str, timeout_s: float) -> dict:
    """One GET of ``url``, in the shape of the engine's probe results (up, status_code, latency_ms, instance, error)."""
    started = time.perf_counter()
    status, instance, error, body = None, "", "", b""
    try:
        with _opener.open(urllib.request.Request(url, headers={"Connection": "close"}), timeout=timeout_s) as response:
            status, instance, body = response.status, response.headers.get(INSTANCE_HEADER, "") or "", response.read(65536)
    except urllib.error.HTTPError as exc:
        status, instance = exc.code, exc.headers.get(INSTANCE_HEADER, "") or ""
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        error = f"{type(reason).__name__}: {reason}"[:300]
    up = status == 200 and bool(instance) and b'"ok"' in body
    if status is not None and not up and not error:
        error = f"answered {status}" + ("" if instance else " without url-anvil's instance header")
    return {"up": up, "status_code": status, "latency_ms": round((time.perf_counter() - started) * 1000, 3),
            "instance": instance[:100], "error": error}


class SandboxPlaceBase:
    """What the sandbox's places share, whichever backend: faults, the description of what ran, the release.

    A backend sets ``backend``, makes ``self.sandbox`` in ``prepare`` (an
    object with the members ``SandboxFaultControl`` uses, ``containers()``
    and ``errors``), and says how it is removed (``_teardown``).
    """

    name = "sandbox"
    probes_in_runner = True
    backend = ""

    def __init__(self, *, run) -> None:
        self.run = run
        self.spec = run.place_spec or {}
        self.sandbox = None
        self.faults: SandboxFaultControl | None = None
        self.ready_in_s: float | None = None
        self.torn_down = False
        self._token = secrets.token_urlsafe(24)
        self._containers: list[dict] | None = None

    @property
    def sandbox_id(self) -> str | None:
        return self.sandbox.id if self.sandbox is not None else None

    def fault_control(self) -> SandboxFaultControl:
        assert self.sandbox is not None
        if self.faults is None:
            self.faults = SandboxFaultControl(sandbox=self.sandbox, token=self._token)
        return self.faults

    def describe(self) -> dict:
        """What ran, merged into the run's ``generator``: asked after ``release``, so the containers as they were then."""
        containers = self._containers if self._containers is not None else (
            self.sandbox.containers() if self.sandbox is not None else [])
        bundle = [c for c in containers if c["role"] == "app"]
        return {
            "place": self.name,
            "sandbox": {
                "backend": self.backend,
                "id": self.sandbox_id,
                "ready_s": round(self.ready_in_s, 2) if self.ready_in_s is not None else None,
                "containers": [{key: c[key] for key in ("name", "pod", "role", "image", "state", "restarts",
                                                         "oom_killed")} for c in containers],
                "restarts": sum(c["restarts"] for c in bundle),
                "pod_kills": self.faults.restarts_caused if self.faults is not None else 0,
                "torn_down": self.torn_down,
            },
        }

    def release(self) -> None:
        """Remove everything however the run ended; never raises (what is left carries its deadline for the reaper)."""
        if self.faults is not None:
            self.faults.close()
        try:
            if self.sandbox is None:
                self.torn_down = True
                return
            # The last look at the containers (restarts, states) before they go.
            self._containers = self.sandbox.containers()
            try:
                self.torn_down = self._teardown()
            except self.sandbox.errors as exc:
                logger.warning("sandbox %s: teardown failed (the reaper removes it after its deadline): %s",
                               self.sandbox_id, exc)
                self.torn_down = False
        finally:
            self._close()

    def _teardown(self) -> bool:
        """Remove the sandbox; whether nothing of it is left standing."""
        raise NotImplementedError

    def _close(self) -> None:
        """Let go of the backend's client, once everything is removed."""


class SandboxPlace(SandboxPlaceBase):
    backend = "docker"

    def __init__(self, *, run) -> None:
        super().__init__(run=run)
        self._entry: tuple[str, int] | None = None

    # --- before the load -----------------------------------------------------------

    def prepare(self) -> None:
        config = sandbox_settings()
        if "plan" not in self.spec:
            raise hooks.PlaceUnavailable("the run's place_spec holds no sandbox plan (make it with the sandbox's spec_build)")
        try:
            engine.engine_check().close()
        except EngineUnavailable as exc:
            raise hooks.PlaceUnavailable(f"the sandbox is not available: {exc}") from exc
        if config.firewall != "off":
            try:
                firewall_ensure(lock_dir=config.state_dir, install=config.firewall == "install")
            except FirewallError as exc:
                raise hooks.PlaceUnavailable(f"the sandbox is not available: {exc}") from exc
        deadline = self.run.deadline_at.timestamp() if getattr(self.run, "deadline_at", None) else \
            time.time() + DEFAULT_LIFETIME_S
        self.sandbox = Sandbox(
            sandbox_id=sandbox_id_new(), plan=self.spec["plan"], state_dir=config.state_dir, deadline=deadline,
            run_id=str(self.run.pk or ""), origin=f"{self.run.origin}:{self.run.origin_ref}".rstrip(":"),
            anvil_token=self._token, pids_limit=config.pids_limit, subnet_pool=config.subnet_pool,
        )
        ready_s = float(self.spec.get("ready_s") or config.ready_s)
        try:
            self.sandbox.create(ready_s=ready_s)
            self.ready_in_s = self.sandbox.wait_ready()
        except SandboxNotReady as exc:
            raise hooks.PlaceUnavailable(f"sandbox {self.sandbox.id}: {exc}") from exc
        except ENGINE_ERRORS as exc:
            raise hooks.PlaceUnavailable(f"sandbox {self.sandbox.id} could not be started: {exc}"[:2000]) from exc
        logger.info("run %s: sandbox %s ready in %.1f s", self.run.pk, self.sandbox.id, self.ready_in_s)

    def probe(self, *, timeout_s: float | None = None) -> dict:
        """The preflight, from the host to the entry point's address on the bridge."""
        assert self.sandbox is not None
        if self._entry is None or not self._entry[0]:
            self._entry = self.sandbox.entrypoint(service=ENTRYPOINT_SERVICE, port=ENTRYPOINT_PORT)
        host, port = self._entry
        return healthz_probe(url=f"http://{host}:{port}/healthz", timeout_s=timeout_s or 2.0)

    # --- during ------------------------------------------------------------------------

    def runner_start(self) -> SandboxRunner:
        assert self.sandbox is not None
        config = sandbox_settings()
        plan = self.spec["plan"]
        try:
            return SandboxRunner(sandbox=self.sandbox, target_url=self.spec.get("target_url") or TARGET_URL,
                                 probe_url=PROBE_URL, profile=self.run.profile, processes=self.run.processes,
                                 image=plan["runner_image"], cpus=config.runner_cpus,
                                 memory_bytes=config.runner_memory_bytes, pids_limit=config.pids_limit)
        except ENGINE_ERRORS as exc:
            raise hooks.PlaceUnavailable(f"sandbox {self.sandbox.id}: the load runner could not start: {exc}") from exc

    # --- after ---------------------------------------------------------------------------

    def _teardown(self) -> bool:
        sandbox_remove(client=self.sandbox.client, sandbox_id=self.sandbox.id, state_dir=self.sandbox.files.parent)
        left = self.sandbox.client.api.containers(all=True, filters={"label": f"{engine.LABEL}={self.sandbox.id}"})
        return not left


def sandbox_place_make(*, run):
    """The place of the backend the run's spec was made for (a spec keeps its backend if the setting changes)."""
    if (run.place_spec or {}).get("backend") == "kubernetes":
        from sandbox.kube.place import KubePlace

        return KubePlace(run=run)
    return SandboxPlace(run=run)
