"""Fault injection at run time: each process's cached view of the shared faults, and what they do to a request.

Requests never wait on the store: the cache is refreshed at most every
``ANVIL_FAULT_REFRESH_S`` (by the background ticker under gunicorn, or by the
first request that finds it stale), and a request only walks the usually
empty list of faults that apply to this process.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import signal
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.http import HttpRequest, JsonResponse

from anvil import services
from anvil.faults import KINDS
from anvil.instance import instance_current
from anvil.metrics import ACTIVE_FAULTS, FAULT_INJECTIONS

logger = logging.getLogger(__name__)

# Routes no fault touches: the control API must stay usable to clear faults,
# scrapes must keep working during chaos, and the corpus stands for the outside
# world the anvil fetches from, not for the anvil itself.
EXEMPT_ROUTES = frozenset(
    {"anvil-chaos-faults", "anvil-chaos-fault", "anvil-chaos-instances", "prometheus-django-metrics", "anvil-corpus", "anvil-static"}
)
CRASH_EXIT_CODE = 70


@dataclass(frozen=True)
class ActiveFault:
    id: str
    kind: str
    params: dict
    expires_ts: float


def fault_applies(*, fault: dict, boot_id: str) -> bool:
    scope = fault["scope"]
    if scope == "all":
        return True
    if "instance" in scope:
        return scope["instance"] == boot_id
    # A fraction of the processes, chosen by a stable hash of (fault, process):
    # each process decides alone, and different faults pick different processes.
    digest = hashlib.sha256(f"{fault['id']}:{boot_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < scope["fraction"]


class FaultCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: tuple[ActiveFault, ...] = ()
        self._refreshed_at = float("-inf")
        self._heartbeat_at = float("-inf")
        self.store_error: str | None = None

    def invalidate(self) -> None:
        self._refreshed_at = float("-inf")
        self._heartbeat_at = float("-inf")

    def applicable(self) -> tuple[ActiveFault, ...]:
        """Faults for this process right now (a copy at most ANVIL_FAULT_REFRESH_S old, expiry checked here)."""
        if time.monotonic() - self._refreshed_at >= settings.ANVIL_FAULT_REFRESH_S:
            self.refresh()
        faults = self._faults
        if not faults:
            return faults
        now = time.time()
        return tuple(f for f in faults if f.expires_ts > now)

    def refresh(self, *, wait: bool = False) -> None:
        # One thread refreshes; the others go on with the copy they have.
        if not self._lock.acquire(blocking=wait):
            return
        try:
            monotonic = time.monotonic()
            instance = instance_current()
            try:
                stored = services.fault_list()
                if monotonic - self._heartbeat_at >= settings.ANVIL_HEARTBEAT_S:
                    services.heartbeat_send(instance=instance)
                    self._heartbeat_at = monotonic
            except Exception as exc:  # noqa: BLE001 - any store failure: keep the last copy, report it on /healthz
                if self.store_error is None:
                    logger.warning("anvil state store unreachable: %s", exc)
                self.store_error = f"{type(exc).__name__}: {exc}"
                self._refreshed_at = monotonic
                return
            self.store_error = None
            self._faults = tuple(
                ActiveFault(
                    id=f["id"],
                    kind=f["kind"],
                    params=f["params"],
                    expires_ts=datetime.fromisoformat(f["expires_at"]).timestamp(),
                )
                for f in stored
                if fault_applies(fault=f, boot_id=instance.boot_id)
            )
            counts = dict.fromkeys(KINDS, 0)
            for fault in stored:
                counts[fault["kind"]] += 1
            for kind, count in counts.items():
                ACTIVE_FAULTS.labels(kind).set(count)
            self._refreshed_at = monotonic
        finally:
            self._lock.release()


fault_cache = FaultCache()


def process_crash(*, whole_server: bool = False) -> None:
    """Die the way a real crash does: no response, no cleanup, the worker is gone.

    With ``whole_server`` the gunicorn master goes first (SIGKILL, so it cannot
    respawn anyone); its other workers notice their parent is gone and exit, and
    the instance stays down until something outside restarts it. The master is
    only killed when it is really this process's parent, as recorded by
    ``gunicorn_conf.on_starting``; anywhere else only this process exits.
    """
    master = os.environ.get("ANVIL_SERVER_PID", "")
    kill_master = whole_server and master.isdigit() and int(master) == os.getppid()
    sys.stderr.write(
        f"url-anvil: crash fault, process {os.getpid()} exits" + (f" with its server {master}\n" if kill_master else "\n")
    )
    sys.stderr.flush()
    if kill_master:
        os.kill(int(master), signal.SIGKILL)
    os._exit(CRASH_EXIT_CODE)


def _fires(params: dict) -> bool:
    probability = params.get("probability", 1.0)
    return probability >= 1.0 or random.random() < probability


def faults_apply(*, request: HttpRequest, route: str, faults: tuple[ActiveFault, ...]) -> JsonResponse | None:
    """Carry out the faults on one request; a response replaces the view's, None lets the view run."""
    if route in EXEMPT_ROUTES:
        return None
    delay_s = 0.0
    for fault in faults:
        if fault.kind == "crash" and _fires(fault.params):
            # A one-shot crash belongs to whichever process claims it first.
            if not fault.params.get("once") or services.fault_claim(fault_id=fault.id):
                FAULT_INJECTIONS.labels("crash").inc()
                process_crash(whole_server=fault.params.get("target") == "server")
        elif fault.kind == "hang" and _fires(fault.params):
            FAULT_INJECTIONS.labels("hang").inc()
            delay_s += fault.params["seconds"]
        elif fault.kind == "latency" and _fires(fault.params):
            FAULT_INJECTIONS.labels("latency").inc()
            jitter = fault.params["jitter_ms"]
            delay_s += max(0.0, fault.params["ms"] + random.uniform(-jitter, jitter)) / 1000
    if delay_s:
        time.sleep(delay_s)
    for fault in faults:
        if fault.kind == "error" and _fires(fault.params):
            FAULT_INJECTIONS.labels("error").inc()
            return JsonResponse({"error": "Injected fault.", "fault": fault.id}, status=fault.params["status"])
        if fault.kind == "unhealthy" and route == "anvil-healthz":
            FAULT_INJECTIONS.labels("unhealthy").inc()
            instance = instance_current()
            body = {"status": "unhealthy", "instance": instance.boot_id, "uptime_s": round(instance.uptime_s(), 3)}
            return JsonResponse(body, status=503)
    return None


class Ticker:
    """Keeps the fault copy fresh and the heartbeat going in the background, so idle workers stay listed."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        fault_cache.refresh(wait=True)
        self._thread = threading.Thread(target=self._run, name="anvil-ticker", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        interval = min(settings.ANVIL_FAULT_REFRESH_S, settings.ANVIL_HEARTBEAT_S) / 2
        while not self._stop.wait(interval):
            fault_cache.refresh(wait=True)

    def stop(self) -> None:
        self._stop.set()
        try:
            services.heartbeat_remove(instance=instance_current())
        except Exception as exc:  # noqa: BLE001 - the heartbeat goes stale on its own; just say so
            logger.warning("could not remove the heartbeat: %s", exc)


ticker = Ticker()
