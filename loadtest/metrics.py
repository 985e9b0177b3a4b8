"""Live figures of the running load test as Prometheus metrics.

The process that executes a run (the Celery load-test worker, or
``manage.py run_loadtest``) serves them on ``LOADTEST_METRICS_PORT`` when set.
A worker runs one test at a time, so the metrics carry no run id label (which
would be unbounded); ``loadtest_run_id`` holds the id as a value instead.
Names are documented in docs/loadtest.md; the Grafana dashboard uses them.
"""

from __future__ import annotations

import logging
import threading

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

logger = logging.getLogger(__name__)

registry = CollectorRegistry(auto_describe=True)

RUNNING = Gauge("loadtest_running", "1 while a load test runs in this process", registry=registry)
RUN_ID = Gauge("loadtest_run_id", "Id of the run in progress (0 when idle)", registry=registry)
ELAPSED = Gauge("loadtest_elapsed_seconds", "Seconds since the run's load started", registry=registry)
RPS = Gauge("loadtest_current_rps", "Requests completed in the last full second", registry=registry)
P50 = Gauge("loadtest_current_latency_p50_ms", "p50 latency of the last full second (ms)", registry=registry)
P95 = Gauge("loadtest_current_latency_p95_ms", "p95 latency of the last full second (ms)", registry=registry)
FAILURES = Gauge("loadtest_current_failures", "Failed requests in the last full second", registry=registry)
USERS = Gauge("loadtest_active_users", "Simulated users running now", registry=registry)
FAULTS = Gauge("loadtest_active_faults", "Chaos faults this run has applied and not yet cleared", registry=registry)
TARGET_UP = Gauge("loadtest_target_up", "1 if the last health probe of the target succeeded", registry=registry)
REQUESTS = Counter("loadtest_requests", "Requests made by load tests of this process", registry=registry)
FAILED = Counter("loadtest_failures", "Failed requests by kind (status code or error class)", ["kind"],
                 registry=registry)
RUNS = Counter("loadtest_runs_finished", "Runs finished by this process, by status", ["status"], registry=registry)

_KNOWN_KINDS = {"timeout", "connection", "error"}
_server_lock = threading.Lock()
_server_port: int | None = None


def failure_kind_label(kind: str) -> str:
    """Bounded label values: status classes (``5xx``) and a few error kinds."""
    if kind.isdigit() and len(kind) == 3:
        return f"{kind[0]}xx"
    return kind if kind in _KNOWN_KINDS else "other"


def metrics_serve(*, port: int, addr: str) -> bool:
    """Start the exporter once per process; False if off or the port is taken (another process serves it)."""
    global _server_port
    if port <= 0:
        return False
    with _server_lock:
        if _server_port is not None:
            return _server_port == port
        try:
            start_http_server(port, addr=addr, registry=registry)
        except OSError as exc:
            logger.warning("load-test metrics not served on %s:%s: %s", addr, port, exc)
            return False
        _server_port = port
        return True


def metrics_run_started(*, run_id: int) -> None:
    RUNNING.set(1)
    RUN_ID.set(run_id)
    for gauge in (ELAPSED, RPS, P50, P95, FAILURES, USERS, FAULTS):
        gauge.set(0)


def metrics_second(*, sample: dict, elapsed_s: float) -> None:
    ELAPSED.set(elapsed_s)
    RPS.set(sample.get("rps") or 0)
    P50.set(sample.get("latency_p50_ms") or 0)
    P95.set(sample.get("latency_p95_ms") or 0)
    FAILURES.set(sample.get("failures") or 0)
    USERS.set(sample.get("active_users") or 0)
    REQUESTS.inc(sample.get("requests") or 0)
    for kind, count in (sample.get("failures_by_kind") or {}).items():
        FAILED.labels(kind=failure_kind_label(str(kind))).inc(count)


def metrics_run_finished(*, status: str) -> None:
    # Every live figure goes back to 0: an idle worker must not keep showing the last run's.
    RUNNING.set(0)
    RUN_ID.set(0)
    for gauge in (ELAPSED, RPS, P50, P95, FAILURES, USERS, FAULTS):
        gauge.set(0)
    RUNS.labels(status=status).inc()
