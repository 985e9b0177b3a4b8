"""Health probes of the target's ``/healthz``, once a second, apart from the load users."""

from __future__ import annotations

import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime

from common.contract import INSTANCE_HEADER
from loadtest.answers import healthz_check, instance_problem, redirect_problem

PROBE_PATH = "/healthz"
PROBE_TIMEOUT_S = 0.9

Probe = Callable[[], dict]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # The run's target is fixed: a probe never follows a redirect anywhere else.
    def redirect_request(self, *args, **kwargs) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def probe_once(*, url: str, timeout_s: float = PROBE_TIMEOUT_S) -> dict:
    """One GET of ``url``: up (a right ``/healthz`` answer), status, latency, instance id, error.

    Up means HTTP 200 from url-anvil (its instance header) saying
    ``{"status": "ok"}``; a redirect is down with ``error`` saying so.
    """
    started = time.perf_counter()
    status = None
    instance = ""
    error = ""
    problem = None
    try:
        with _opener.open(urllib.request.Request(url, headers={"Connection": "close"}), timeout=timeout_s) as response:
            status = response.status
            instance = response.headers.get(INSTANCE_HEADER, "") or ""
            body = response.read(65536)
            problem = instance_problem(instance=instance) or healthz_check(body=body)
    except urllib.error.HTTPError as exc:
        status = exc.code
        instance = exc.headers.get(INSTANCE_HEADER, "") or ""
        problem = redirect_problem(status=status, location=exc.headers.get("Location"))
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        error = f"{type(reason).__name__}: {reason}"[:300]
    if problem is not None:
        error = f"{problem.failure_kind}: {problem}"[:300]
    latency_ms = (time.perf_counter() - started) * 1000.0
    return {"up": status == 200 and problem is None, "status_code": status, "latency_ms": round(latency_ms, 3),
            "instance": instance[:100], "error": error}


class Prober(threading.Thread):
    """Calls ``probe`` near the start of each second of the run and queues the results.

    Each result gets ``second`` (of the run, from ``t0``) and ``probed_at``.
    """

    def __init__(self, *, probe: Probe, t0: float, duration_s: int) -> None:
        super().__init__(name="loadtest-prober", daemon=True)
        self.probe = probe
        self.t0 = t0
        self.duration_s = duration_s
        self.results: queue.SimpleQueue = queue.SimpleQueue()
        self.stopping = threading.Event()

    def run(self) -> None:
        second = max(0, int(time.time() - self.t0))
        while not self.stopping.is_set() and second < self.duration_s:
            # Aim at the start of each second so a probe belongs to one second.
            moment = self.t0 + second + 0.05
            if self.stopping.wait(max(0.0, moment - time.time())):
                return
            probed_at = datetime.now(tz=UTC)
            result = self.probe()
            result["second"] = int(max(0.0, probed_at.timestamp() - self.t0))
            result["probed_at"] = probed_at
            self.results.put(result)
            second = max(second + 1, int(time.time() - self.t0))

    def drain(self) -> list[dict]:
        results = []
        while True:
            try:
                results.append(self.results.get_nowait())
            except queue.Empty:
                return results

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=PROBE_TIMEOUT_S + 1)
