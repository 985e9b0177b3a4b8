"""The sandbox on Kubernetes as a place of the engine: the same members and life cycle as ``sandbox.place``.

``prepare`` creates the run's namespace and bundle and waits for its
Deployments within the spec's ``ready_s``, or raises ``PlaceUnavailable``
with what the cluster said. The runner is a Job in the load namespace that
also probes (``probes_in_runner``); the worker's own preflight reaches the
entry point through its Service. ``release`` deletes the namespace and the
Job however the run ended, and never raises: a namespace it could not
delete carries its deadline for the reaper.
"""

from __future__ import annotations

import logging
import secrets
import time

from loadtest import hooks
from sandbox.kube.cluster import KubeSandbox, SandboxNotReady
from sandbox.kube.config import KUBE_ERRORS, KubeUnavailable, kube_api_client, kube_settings
from sandbox.kube.objects import Identity, entrypoint_url, sandbox_objects
from sandbox.kube.runner import KubeRunner
from sandbox.kube.spec import quota_of
from sandbox.place import DEFAULT_LIFETIME_S, SandboxPlaceBase, healthz_probe
from sandbox.runtime import sandbox_id_new

logger = logging.getLogger(__name__)

# The load Job may run this much past the run's own duration (start-up, the
# runner's stop) before the cluster ends it.
JOB_ALLOWANCE_S = 120


def run_identity(run, *, sandbox_id: str) -> Identity:
    deadline = run.deadline_at.timestamp() if getattr(run, "deadline_at", None) else time.time() + DEFAULT_LIFETIME_S
    origin = f"{run.origin}-{run.origin_ref}" if run.origin_ref else run.origin
    return Identity(sandbox_id=sandbox_id, deadline=int(deadline), run=str(run.pk or ""), origin=origin,
                    owner=run.owner or "")


class KubePlace(SandboxPlaceBase):
    backend = "kubernetes"

    def __init__(self, *, run) -> None:
        super().__init__(run=run)
        self.identity = run_identity(run, sandbox_id=sandbox_id_new())
        self._api = None

    @property
    def sandbox_id(self) -> str:
        return self.identity.namespace

    def prepare(self) -> None:
        if "objects" not in self.spec or self.spec.get("backend") != "kubernetes":
            raise hooks.PlaceUnavailable("the run's place_spec is not a Kubernetes sandbox's (make it with spec_build)")
        config = kube_settings()
        try:
            self._api = kube_api_client(config)
            placement = config.placement()
        except KubeUnavailable as exc:
            raise hooks.PlaceUnavailable(f"the sandbox is not available: {exc}") from exc
        target = entrypoint_url(self.identity)
        objects = sandbox_objects(
            objects=self.spec["objects"], images=self.spec["images"], quota=quota_of(self.spec),
            identity=self.identity, placement=placement,
            runner_arguments=hooks.runner_arguments(target_url=target, profile=self.run.profile,
                                                    processes=self.run.processes, probe_url=f"{target}/healthz"),
            processes=self.run.processes, active_deadline_s=int((self.run.profile or {}).get("duration_s") or 0) + JOB_ALLOWANCE_S,
            anvil_token=self._token, secret_key=secrets.token_urlsafe(40),
        )
        self.sandbox = KubeSandbox(api=self._api, objects=objects, sandbox_id=self.identity.sandbox_id,
                                   images=self.spec["images"])
        ready_s = float(self.spec.get("ready_s") or 60)
        try:
            self.sandbox.create()
            self.ready_in_s = self.sandbox.wait_ready(ready_s=ready_s)
        except SandboxNotReady as exc:
            raise hooks.PlaceUnavailable(f"sandbox {self.identity.namespace}: {exc}") from exc
        except KUBE_ERRORS as exc:
            raise hooks.PlaceUnavailable(f"sandbox {self.identity.namespace} could not be created: {exc}"[:2000]) from exc
        logger.info("run %s: sandbox %s ready in %.1f s", self.run.pk, self.identity.namespace, self.ready_in_s)

    def probe(self, *, timeout_s: float | None = None) -> dict:
        return healthz_probe(url=f"{entrypoint_url(self.identity)}/healthz",
                             timeout_s=timeout_s or 2.0)

    def runner_start(self) -> KubeRunner:
        assert self.sandbox is not None
        try:
            return KubeRunner(api=self._api, job=self.sandbox.objects.load_job)
        except KUBE_ERRORS as exc:
            raise hooks.PlaceUnavailable(f"sandbox {self.identity.namespace}: the load Job could not start: {exc}") from exc

    def _teardown(self) -> bool:
        return self.sandbox.teardown()

    def _close(self) -> None:
        if self._api is not None:
            self._api.close()
