from __future__ import annotations

import urllib.request

from common.testing import free_port
from loadtest import metrics


def test_failure_kinds_become_bounded_label_values():
    assert [metrics.failure_kind_label(kind) for kind in ("503", "404", "timeout", "connection", "weird", "12")] == [
        "5xx", "4xx", "timeout", "connection", "other", "other"]


def test_a_second_of_a_run_shows_in_the_exported_metrics():
    port = free_port()
    assert metrics.metrics_serve(port=port, addr="127.0.0.1") is True
    metrics.metrics_run_started(run_id=42)
    metrics.metrics_second(sample={"rps": 120.0, "latency_p50_ms": 8.5, "latency_p95_ms": 31.0, "failures": 3,
                                   "active_users": 10, "requests": 120, "failures_by_kind": {"503": 3}},
                           elapsed_s=5)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    assert "loadtest_running 1.0" in text
    assert "loadtest_run_id 42.0" in text
    assert "loadtest_current_rps 120.0" in text
    assert "loadtest_current_latency_p95_ms 31.0" in text
    assert 'loadtest_failures_total{kind="5xx"}' in text
    metrics.metrics_run_finished(status="completed")
    assert metrics.RUNNING._value.get() == 0


def test_an_idle_worker_shows_no_elapsed_time_once_its_run_has_ended():
    metrics.metrics_run_started(run_id=7)
    metrics.metrics_second(sample={"rps": 10.0, "requests": 10}, elapsed_s=12)
    assert metrics.registry.get_sample_value("loadtest_elapsed_seconds") == 12
    metrics.metrics_run_finished(status="completed")
    assert metrics.registry.get_sample_value("loadtest_elapsed_seconds") == 0
    assert metrics.registry.get_sample_value("loadtest_current_rps") == 0
