"""Fault injection inside one process: which faults apply, what they do, and how the cache behaves."""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime, timedelta

import pytest

from anvil import fault_injection, services
from anvil.fault_injection import fault_applies, fault_cache


@pytest.fixture
def sleeps(monkeypatch):
    recorded: list[float] = []
    monkeypatch.setattr(fault_injection.time, "sleep", recorded.append)
    return recorded


@pytest.fixture
def crashes(monkeypatch):
    recorded: list[int] = []
    monkeypatch.setattr(fault_injection, "process_crash", lambda *, whole_server: recorded.append(2 if whole_server else 1))
    return recorded


def add(spec: dict, **kwargs) -> dict:
    fault = services.fault_add(spec=spec, **kwargs)
    fault_cache.invalidate()
    return fault


def test_scope_all_and_instance_pick_the_right_processes():
    assert fault_applies(fault={"id": "f1", "scope": "all"}, boot_id="abc")
    assert fault_applies(fault={"id": "f1", "scope": {"instance": "abc"}}, boot_id="abc")
    assert not fault_applies(fault={"id": "f1", "scope": {"instance": "abc"}}, boot_id="def")


def test_a_fraction_scope_hits_about_that_share_of_processes_and_stays_stable():
    boot_ids = [f"{n:016x}" for n in range(1000)]
    fault = {"id": "f42", "scope": {"fraction": 0.3}}
    hit = [boot_id for boot_id in boot_ids if fault_applies(fault=fault, boot_id=boot_id)]
    assert 220 <= len(hit) <= 380
    assert hit == [boot_id for boot_id in boot_ids if fault_applies(fault=fault, boot_id=boot_id)]
    other = {"id": "f43", "scope": {"fraction": 0.3}}
    assert hit != [boot_id for boot_id in boot_ids if fault_applies(fault=other, boot_id=boot_id)]


def test_a_latency_fault_delays_requests(anvil_client, sleeps):
    add({"kind": "latency", "params": {"ms": 300}})
    assert anvil_client.get("/api/sample-urls").status_code == 200
    assert sleeps == [pytest.approx(0.3)]


def test_latency_jitter_stays_within_its_bounds(anvil_client, sleeps):
    add({"kind": "latency", "params": {"ms": 100, "jitter_ms": 50}})
    for _ in range(30):
        anvil_client.get("/api/sample-urls")
    assert len(sleeps) == 30
    assert all(0.05 <= delay <= 0.15 for delay in sleeps)
    assert len(set(sleeps)) > 1


def test_a_fault_with_probability_zero_never_fires(anvil_client, sleeps):
    add({"kind": "latency", "params": {"ms": 300, "probability": 0}})
    add({"kind": "error", "params": {"probability": 0}})
    for _ in range(20):
        assert anvil_client.get("/api/sample-urls").status_code == 200
    assert sleeps == []


def test_an_error_fault_answers_its_status(anvil_client):
    fault = add({"kind": "error", "params": {"status": 503}})
    response = anvil_client.get("/api/sample-urls")
    assert response.status_code == 503
    assert response.json() == {"error": "Injected fault.", "fault": fault["id"]}
    assert response["X-Anvil-Instance"]


def test_a_hang_fault_holds_the_request_for_its_duration(anvil_client, sleeps):
    add({"kind": "hang", "params": {"seconds": 45}})
    assert anvil_client.get("/api/history").status_code == 200
    assert sleeps == [45]


def test_a_crash_fault_takes_the_process_down(anvil_client, crashes):
    add({"kind": "crash", "params": {"probability": 1.0}})
    anvil_client.get("/api/sample-urls")
    anvil_client.get("/api/sample-urls")
    assert crashes == [1, 1]  # the worker alone
    assert len(services.fault_list()) == 1


def test_a_server_crash_fault_asks_for_the_whole_instance_to_go(anvil_client, crashes):
    add({"kind": "crash", "params": {"target": "server"}})
    anvil_client.get("/api/sample-urls")
    assert crashes == [2]


def test_a_server_crash_outside_gunicorn_kills_no_parent(monkeypatch):
    # Not under our gunicorn master: only this process may exit, never its parent.
    monkeypatch.setenv("ANVIL_SERVER_PID", str(os.getppid() + 1))
    killed, exited = [], []
    monkeypatch.setattr(fault_injection.os, "kill", lambda pid, sig: killed.append(pid))
    monkeypatch.setattr(fault_injection.os, "_exit", exited.append)
    fault_injection.process_crash(whole_server=True)
    assert killed == []
    assert exited == [fault_injection.CRASH_EXIT_CODE]


def test_a_server_crash_under_gunicorn_kills_the_master_first(monkeypatch):
    monkeypatch.setenv("ANVIL_SERVER_PID", str(os.getppid()))
    killed, exited = [], []
    monkeypatch.setattr(fault_injection.os, "kill", lambda pid, sig: killed.append((pid, sig)))
    monkeypatch.setattr(fault_injection.os, "_exit", exited.append)
    fault_injection.process_crash(whole_server=True)
    assert killed == [(os.getppid(), signal.SIGKILL)]
    assert exited == [fault_injection.CRASH_EXIT_CODE]


def test_a_once_crash_fault_is_used_up_by_the_first_crash(anvil_client, crashes):
    add({"kind": "crash"})
    anvil_client.get("/api/sample-urls")
    fault_cache.invalidate()
    anvil_client.get("/api/sample-urls")
    assert len(crashes) == 1
    assert services.fault_list() == []


def test_a_once_crash_claimed_elsewhere_does_not_crash_this_process(anvil_client, crashes):
    fault = add({"kind": "crash"})
    services.fault_clear(fault_id=fault["id"])  # another process claimed it meanwhile
    anvil_client.get("/api/sample-urls")  # this process still holds its cached copy
    assert crashes == []


def test_an_unhealthy_fault_fails_healthz_only(anvil_client):
    add({"kind": "unhealthy"})
    response = anvil_client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unhealthy"
    assert response.json()["instance"] == response["X-Anvil-Instance"]
    assert anvil_client.get("/api/sample-urls").status_code == 200


def test_faults_leave_the_control_api_metrics_and_corpus_alone(anvil_client, chaos_token, sleeps):
    add({"kind": "error", "params": {"status": 500}})
    add({"kind": "latency", "params": {"ms": 100}})
    auth = {"HTTP_AUTHORIZATION": f"Bearer {chaos_token}"}
    assert anvil_client.get("/chaos/faults", **auth).status_code == 200
    assert anvil_client.get("/metrics").status_code == 200
    assert anvil_client.get("/corpus/us-constitution").status_code == 200
    assert sleeps == []
    assert anvil_client.get("/api/sample-urls").status_code == 500


def test_a_fault_for_another_instance_does_not_apply_here(anvil_client):
    add({"kind": "error", "scope": {"instance": "someone-else"}})
    assert anvil_client.get("/api/sample-urls").status_code == 200


def test_an_expired_fault_stops_applying(anvil_client, monkeypatch):
    add({"kind": "error", "ttl_s": 60}, now=datetime.now(tz=UTC) - timedelta(seconds=61))
    assert services.fault_list() == []
    assert anvil_client.get("/api/sample-urls").status_code == 200


def test_a_cached_fault_expires_without_a_store_read(anvil_client, monkeypatch):
    add({"kind": "error", "ttl_s": 60})
    assert anvil_client.get("/api/sample-urls").status_code == 500
    real_time = time.time
    monkeypatch.setattr(fault_injection.time, "time", lambda: real_time() + 61)
    assert anvil_client.get("/api/sample-urls").status_code == 200


def test_the_cache_reads_the_store_at_most_once_per_refresh_interval(anvil_client, monkeypatch, settings):
    settings.ANVIL_FAULT_REFRESH_S = 60
    reads = []
    real = services.fault_list
    monkeypatch.setattr(services, "fault_list", lambda **kw: reads.append(1) or real(**kw))
    for _ in range(25):
        anvil_client.get("/api/sample-urls")
    assert len(reads) == 1


def test_a_new_fault_is_seen_after_the_refresh_interval(anvil_client, settings):
    settings.ANVIL_FAULT_REFRESH_S = 0.2
    anvil_client.get("/api/sample-urls")
    services.fault_add(spec={"kind": "error", "params": {"status": 418}})
    time.sleep(0.25)
    assert anvil_client.get("/api/sample-urls").status_code == 418


def test_a_store_failure_keeps_the_last_known_faults(anvil_client, monkeypatch):
    add({"kind": "error", "params": {"status": 503}})
    assert anvil_client.get("/api/sample-urls").status_code == 503

    def broken(**kwargs):
        raise OSError("store gone")

    monkeypatch.setattr(services, "fault_list", broken)
    fault_cache.invalidate()
    assert anvil_client.get("/api/sample-urls").status_code == 503
    assert fault_cache.store_error == "OSError: store gone"


def test_the_active_faults_gauge_counts_faults_by_kind(anvil_client):
    add({"kind": "latency", "params": {"ms": 0}})
    add({"kind": "latency", "params": {"ms": 0}})
    add({"kind": "unhealthy"})
    anvil_client.get("/api/history")
    text = anvil_client.get("/metrics").content.decode()
    assert 'anvil_active_faults{kind="latency"} 2.0' in text
    assert 'anvil_active_faults{kind="unhealthy"} 1.0' in text
