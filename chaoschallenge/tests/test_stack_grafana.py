"""Grafana's provisioned dashboards: valid JSON, and every query names a metric the project really exports."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest
import yaml
from prometheus_client import generate_latest

from chaoschallenge.tests.stack import (
    GRAFANA_DIR,
    binary_require,
    exposition_names,
    grafana_variable_metric,
    metric_names_resolved,
    promql_metric_names,
    recording_rules,
)
from common.testing import BASE_DIR, free_port, gunicorn_server, http_json, wait_for_http

DASHBOARDS = sorted((GRAFANA_DIR / "dashboards").glob("*.json"))
# Series Prometheus makes itself for every target.
PROMETHEUS_SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped", "ALERTS"}


def _panels(dashboard: dict) -> list[dict]:
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def _queries(dashboard: dict) -> list[str]:
    exprs = [target["expr"] for panel in _panels(dashboard) for target in panel.get("targets", [])]
    exprs += [a["expr"] for a in dashboard["annotations"]["list"] if "expr" in a]
    return exprs


def _variable_metrics(dashboard: dict) -> set[str]:
    metrics = set()
    for variable in dashboard["templating"]["list"]:
        query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        metric = grafana_variable_metric(query)
        assert metric, f"variable {variable['name']}: only label_values(metric, label) queries are expected"
        metrics.add(metric)
    return metrics


def _dashboard_metrics() -> set[str]:
    names = set()
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        for expr in _queries(dashboard):
            names |= promql_metric_names(expr)
        names |= _variable_metrics(dashboard)
    return metric_names_resolved(names) - PROMETHEUS_SYNTHETIC


def test_the_promql_name_parser_skips_functions_labels_and_variables():
    expr = (
        'histogram_quantile(0.95, sum by (instance, le) (rate(a_bucket{job=~"$job", x="y(z)"}[$__rate_interval])))'
        " / on (instance) group_left b_total offset 5m * 1e3 + anvil:requests:rate1m and bool c"
    )
    assert promql_metric_names(expr) == {"a_bucket", "b_total", "anvil:requests:rate1m", "c"}
    assert grafana_variable_metric('label_values(m_count{job=~"$job"}, instance)') == "m_count"


def test_there_are_at_least_two_dashboards_with_valid_json_and_unique_ids():
    assert {path.stem for path in DASHBOARDS} >= {"url-anvil-red", "live-load-test", "haproxy-resilient-anvil"}
    uids = set()
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        assert dashboard["uid"] not in uids
        uids.add(dashboard["uid"])
        assert dashboard["title"] and dashboard["panels"]
        ids = [panel["id"] for panel in _panels(dashboard)]
        assert len(ids) == len(set(ids)), path.name
        for panel in _panels(dashboard):
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24, (path.name, panel["title"])
            if panel["type"] != "row":
                assert panel["targets"], (path.name, panel["title"])


def test_every_query_uses_the_provisioned_prometheus_data_source():
    provisioned = yaml.safe_load((GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uid = provisioned["datasources"][0]["uid"]
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        for panel in _panels(dashboard):
            for target in panel.get("targets", []):
                assert target["datasource"]["uid"] == uid, (path.name, panel["title"])
        for variable in dashboard["templating"]["list"]:
            assert variable["datasource"]["uid"] == uid


def test_the_anvil_dashboard_marks_faults_and_breaks_figures_down_per_instance():
    dashboard = json.loads((GRAFANA_DIR / "dashboards" / "url-anvil-red.json").read_text())
    annotations = [a for a in dashboard["annotations"]["list"] if "expr" in a]
    assert any("anvil_active_faults" in a["expr"] and a["enable"] for a in annotations)
    per_instance = [expr for expr in _queries(dashboard) if "by (instance" in expr]
    assert len(per_instance) >= 5


def test_recording_rules_used_by_dashboards_exist():
    used = {
        name
        for path in DASHBOARDS
        for expr in _queries(json.loads(path.read_text()))
        for name in promql_metric_names(expr)
        if ":" in name
    }
    assert used
    assert used <= set(recording_rules())


def _loadtest_exposition() -> str:
    """What loadtest/metrics.py's exporter serves once a run has reported a second and finished."""
    from loadtest import metrics

    metrics.metrics_run_started(run_id=1)
    metrics.metrics_second(
        sample={"rps": 5, "latency_p50_ms": 3, "latency_p95_ms": 9, "failures": 1, "active_users": 2, "requests": 5,
                "failures_by_kind": {"500": 1}},
        elapsed_s=1.0,
    )  # fmt: skip
    metrics.metrics_run_finished(status="completed")
    return generate_latest(metrics.registry).decode()


def _haproxy_exposition(*, anvil_port: int, tmp_path) -> str:
    """HAProxy's own /metrics, configured the way examples/resilient-anvil configures it."""
    binary = binary_require("haproxy")
    name = "resilient_anvil_supervisor"
    spec = importlib.util.spec_from_file_location(name, BASE_DIR / "examples" / "resilient-anvil" / "supervisor.py")
    supervisor = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the module executes.
    sys.modules[name] = supervisor
    spec.loader.exec_module(supervisor)
    stats = free_port()
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        supervisor.haproxy_config_render(
            listen=f"127.0.0.1:{free_port()}",
            replica_ports=[anvil_port],
            stats=f"127.0.0.1:{stats}",
            server_timeout="3s",
        )
    )
    process = subprocess.Popen([binary, "-db", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_http(f"http://127.0.0.1:{stats}/metrics", timeout_s=20, process=process)
        return _scrape(f"http://127.0.0.1:{stats}")
    finally:
        process.terminate()
        process.wait(timeout=10)


def _scrape(url: str) -> str:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        return response.read().decode()


@pytest.mark.integration
@pytest.mark.django_db
def test_every_metric_a_dashboard_queries_is_exported_by_a_real_process(tmp_path):
    token = uuid.uuid4().hex
    anvil_env = {
        "ANVIL_CHAOS_TOKEN": token,
        "ANVIL_STATE_DIR": str(tmp_path / "anvil-state"),
        "ANVIL_STORE_PREFIX": f"t-{uuid.uuid4().hex[:8]}:",
    }
    exported = set(PROMETHEUS_SYNTHETIC)
    with gunicorn_server("chaoschallenge.wsgi_anvil", tmp_path=tmp_path, workers=2, env=anvil_env) as anvil:
        auth = {"Authorization": f"Bearer {token}"}
        status, _, fault = http_json(
            "POST",
            f"{anvil.url}/chaos/faults",
            {"kind": "latency", "params": {"ms": 1, "probability": 1}, "scope": "all", "ttl_s": 30},
            headers=auth,
        )
        assert status == 201, fault
        try:
            # Each process picks the fault up within ANVIL_FAULT_REFRESH_S; keep
            # asking until the fault gauge and the injection counter show.
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                for _ in range(4):
                    http_json("GET", f"{anvil.url}/api/sample-urls")
                text = _scrape(anvil.url)
                if "anvil_fault_injections_total" in text and "anvil_active_faults{" in text:
                    break
                time.sleep(0.5)
            exported |= exposition_names(text)
        finally:
            http_json("DELETE", f"{anvil.url}/chaos/faults", headers=auth)

        exported |= exposition_names(
            _haproxy_exposition(anvil_port=int(anvil.url.rsplit(":", 1)[1]), tmp_path=tmp_path)
        )

    with gunicorn_server("chaoschallenge.wsgi", tmp_path=tmp_path, workers=1) as platform:
        http_json("GET", f"{platform.url}/healthz")
        exported |= exposition_names(_scrape(platform.url))

    exported |= exposition_names(_loadtest_exposition())

    missing = _dashboard_metrics() - exported
    assert not missing, f"dashboards query metrics nothing exports: {sorted(missing)}"
