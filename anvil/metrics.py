"""The anvil's own Prometheus metrics, next to django-prometheus's.

Label values are bounded: route names from the URLconf, a fixed set of
methods, HTTP status codes and fault kinds; never URLs or ids.
Under gunicorn, ``PROMETHEUS_MULTIPROC_DIR`` is set (``gunicorn_conf.py``) and
every worker writes to files that ``/metrics`` adds up.
"""

from __future__ import annotations

import os
import time

from prometheus_client import Counter, Gauge, Histogram

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUEST_SECONDS = Histogram(
    "anvil_request_duration_seconds",
    "Time url-anvil took to answer, fault delays included, by route, method and status.",
    ["route", "method", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
FAULT_INJECTIONS = Counter(
    "anvil_fault_injections",
    "Faults that took effect on a request, by kind.",
    ["kind"],
)
ACTIVE_FAULTS = Gauge(
    "anvil_active_faults",
    "Unexpired faults in the shared store, by kind (as the live processes last read it).",
    ["kind"],
    multiprocess_mode="livemax",
)

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # The default registry's process collector (which provides this metric) is
    # not part of multiprocess exposition, so each live worker reports its own
    # start, labelled by pid; a restarted worker shows up as a new series.
    PROCESS_START = Gauge(
        "process_start_time_seconds",
        "Start time of the process since the Unix epoch in seconds.",
        multiprocess_mode="liveall",
        registry=None,
    )
    PROCESS_START.set(time.time())


def method_label(method: str) -> str:
    return method if method in METHODS else "other"
