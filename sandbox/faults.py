"""A sandbox's faults: url-anvil's own, fanned out over its replicas, and the two a container engine makes real.

Each url-anvil replica of a bundle keeps its faults in its own store (a
tmpfs of its container), so a fault of the run goes to every replica it
concerns, through the replica's control API on its address on the bridge
(the host reaches it; the token is the sandbox's own). Where a shared store
would hand a fault to one process only — a ``crash`` that is ``once`` — one
replica is chosen. A replica that restarts comes back with an empty store;
the keeper thread gives it the faults still running (once-only crashes
excepted: they are used up), as a store shared by the replicas would.

``pod_kill`` kills a replica's processes (Docker's restart policy brings it
back and counts it); ``partition`` disconnects a replica from the sandbox
network until the event ends. Their scope chooses replicas: "one", "all" or
{"fraction": f}.

The sandbox is either backend's (``sandbox.runtime.Sandbox`` on Docker,
``sandbox.kube.cluster.KubeSandbox`` on Kubernetes): both offer the same
members, and ``errors``, what their calls raise when the engine fails.

The interface is the engine's ``FaultControl``: ``add(spec) -> {"id", …}``,
``clear(fault_id) -> bool``, ``active() -> [fault]``.
"""

from __future__ import annotations

import itertools
import logging
import math
import random
import threading
import time
from dataclasses import dataclass, field

from loadtest.hooks import FaultControlError, HttpFaultControl

logger = logging.getLogger(__name__)

CONTAINER_KINDS = ("pod_kill", "partition")
KEEP_EVERY_S = 0.5
_ids = itertools.count(1)


@dataclass
class _Applied:
    id: str
    spec: dict
    kind: str
    expires_at: float
    # url-anvil faults: replica container → (fault id in that replica's store, its restart count then)
    placed: dict[str, tuple[str, int]] = field(default_factory=dict)
    # the replicas the fault concerns (all of them, or the one chosen)
    targets: list[str] = field(default_factory=list)
    pods: list[str] = field(default_factory=list)  # pod_kill / partition
    renewable: bool = True


class SandboxFaultControl:
    def __init__(self, *, sandbox, token: str, rng: random.Random | None = None) -> None:
        self.sandbox = sandbox
        self.errors: tuple[type[BaseException], ...] = sandbox.errors
        self.token = token
        self.rng = rng or random.Random()
        self._faults: dict[str, _Applied] = {}
        self._pending_clears: list[tuple[str, str]] = []  # (replica container, fault id there)
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._keeper: threading.Thread | None = None
        self.restarts_caused = 0

    # --- the engine's interface ------------------------------------------------------

    def add(self, *, spec: dict) -> dict:
        kind = spec.get("kind")
        fault_id = f"sbx-{next(_ids)}"
        expires_at = time.time() + float(spec.get("ttl_s") or 60)
        with self._lock:
            if kind in CONTAINER_KINDS:
                applied = self._container_fault(fault_id, spec=spec, expires_at=expires_at)
            else:
                applied = self._anvil_fault(fault_id, spec=spec, expires_at=expires_at)
            self._faults[fault_id] = applied
        self._keeper_start()
        return {"id": fault_id, "kind": kind, "spec": spec, "replicas": sorted(applied.placed) or applied.pods,
                "missed": sorted(set(applied.targets) - set(applied.placed)) if kind not in CONTAINER_KINDS else []}

    def clear(self, *, fault_id: str) -> bool:
        with self._lock:
            if "/" in fault_id:
                # A fault found on a replica (``active``): "<container>/<its id>".
                container, _, inner = fault_id.partition("/")
                return self._replica_clear(container, inner)
            applied = self._faults.pop(fault_id, None)
            if applied is None:
                return False
            if applied.kind == "partition":
                for pod in applied.pods:
                    self._reconnect(pod)
            for container, (inner, _) in applied.placed.items():
                if not self._replica_clear(container, inner):
                    self._pending_clears.append((container, inner))
            return True

    def active(self) -> list[dict]:
        found = []
        for replica in self.sandbox.anvil_replicas():
            if not replica["address"]:
                continue
            try:
                faults = self._control(replica).active()
            except FaultControlError as exc:
                if _unreachable(exc):
                    continue
                raise
            found += [{**fault, "id": f"{replica['container']}/{fault.get('id', '')}"} for fault in faults]
        with self._lock:
            found += [{"id": a.id, "kind": a.kind, "pods": a.pods} for a in self._faults.values()
                      if a.kind == "partition"]
        return found

    def close(self) -> None:
        self._stop.set()
        if self._keeper is not None:
            self._keeper.join(timeout=5)

    # --- url-anvil's faults ----------------------------------------------------------

    def _control(self, replica: dict) -> HttpFaultControl:
        return HttpFaultControl(base_url=f"http://{replica['address']}:{replica['port']}", token=self.token)

    def _anvil_fault(self, fault_id: str, *, spec: dict, expires_at: float) -> _Applied:
        replicas = self.sandbox.anvil_replicas()
        if not replicas:
            raise FaultControlError("the bundle runs no url-anvil replica to break")
        once = spec.get("kind") == "crash" and bool((spec.get("params") or {}).get("once"))
        scope = spec.get("scope")
        applied = _Applied(id=fault_id, spec=spec, kind=str(spec.get("kind")), expires_at=expires_at,
                           renewable=not once)
        if once and not (isinstance(scope, dict) and "instance" in scope):
            up = [r for r in replicas if r["address"]] or replicas
            applied.targets = [self.rng.choice(up)["container"]]
        else:
            applied.targets = [r["container"] for r in replicas]
        by_name = {r["container"]: r for r in replicas}
        for name in applied.targets:
            self._place(applied, by_name[name])
        return applied

    def _place(self, applied: _Applied, replica: dict) -> bool:
        """Put the fault on one replica; False when the replica is down (it gets it when it is back)."""
        if not replica["address"]:
            return False
        spec = dict(applied.spec)
        spec["ttl_s"] = max(1.0, math.ceil(applied.expires_at - time.time()))
        try:
            stored = self._control(replica).add(spec=spec)
        except FaultControlError as exc:
            if _unreachable(exc):
                return False
            raise
        applied.placed[replica["container"]] = (str(stored.get("id", "")), self._restarts(replica["container"]))
        return True

    def _replica_clear(self, container: str, inner: str) -> bool:
        replica = next((r for r in self.sandbox.anvil_replicas() if r["container"] == container), None)
        if replica is None:
            return True  # the container is gone, and its faults with it
        if not replica["address"]:
            return False
        try:
            self._control(replica).clear(fault_id=inner)
        except FaultControlError as exc:
            if _unreachable(exc):
                return False
            raise
        return True

    def _restarts(self, container: str) -> int:
        return self.sandbox.restarts(container)

    # --- pod_kill and partition --------------------------------------------------

    def _container_fault(self, fault_id: str, *, spec: dict, expires_at: float) -> _Applied:
        kind = spec["kind"]
        replicas = self.sandbox.anvil_replicas()
        pods = sorted({r["pod"] for r in replicas})
        if not pods:
            raise FaultControlError(f"{kind}: the bundle runs no url-anvil replica")
        up = sorted({r["pod"] for r in replicas if r["address"]})
        chosen = self._choose(up, scope=spec.get("scope", "one"))
        applied = _Applied(id=fault_id, spec=spec, kind=kind, expires_at=expires_at, pods=chosen, renewable=False)
        try:
            for pod in chosen:
                if kind == "pod_kill":
                    self.sandbox.pod_kill(pod)
                    self.restarts_caused += 1
                else:
                    self.sandbox.pod_disconnect(pod)
        except (*self.errors, RuntimeError) as exc:
            raise FaultControlError(f"{kind} of {', '.join(chosen)}: {exc}") from exc
        return applied

    def _choose(self, pods: list[str], *, scope: object) -> list[str]:
        if not pods:
            return []
        if scope == "all":
            return list(pods)
        if isinstance(scope, dict) and "fraction" in scope:
            count = max(1, math.ceil(float(scope["fraction"]) * len(pods)))
            return sorted(self.rng.sample(pods, min(count, len(pods))))
        return [self.rng.choice(pods)]

    def _reconnect(self, pod: str) -> None:
        try:
            self.sandbox.pod_reconnect(pod)
        except (*self.errors, RuntimeError) as exc:
            # Already connected again (or gone): nothing is cut off any more.
            logger.info("sandbox %s: reconnect %s: %s", self.sandbox.id, pod, exc)

    # --- the keeper ------------------------------------------------------------------

    def _keeper_start(self) -> None:
        with self._lock:
            if self._keeper is None:
                self._keeper = threading.Thread(target=self._keep, name="sandbox-fault-keeper", daemon=True)
                self._keeper.start()

    def _keep(self) -> None:
        while not self._stop.wait(KEEP_EVERY_S):
            try:
                self._keep_once()
            except (FaultControlError, RuntimeError, *self.errors) as exc:
                logger.warning("sandbox %s: fault keeper: %s", self.sandbox.id, exc)

    def _keep_once(self) -> None:
        with self._lock:
            now = time.time()
            replicas = {r["container"]: r for r in self.sandbox.anvil_replicas()}
            for applied in list(self._faults.values()):
                if applied.kind in CONTAINER_KINDS or applied.expires_at <= now:
                    continue
                for name in applied.targets:
                    replica = replicas.get(name)
                    if replica is None or not replica["address"]:
                        continue
                    placed = applied.placed.get(name)
                    if placed is not None and (not applied.renewable or placed[1] == self._restarts(name)):
                        continue
                    # Back from a restart (an empty store), or up again after
                    # being down when the fault began: it gets what is left of it.
                    self._place(applied, replica)
            for container, inner in list(self._pending_clears):
                if self._replica_clear(container, inner):
                    self._pending_clears.remove((container, inner))


def _unreachable(exc: FaultControlError) -> bool:
    # HttpFaultControl's words for a replica that did not answer at all (down,
    # restarting, cut off) as opposed to one that answered with a refusal.
    return "unreachable" in str(exc)
