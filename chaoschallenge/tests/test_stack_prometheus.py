"""Prometheus' configuration and rules: promtool's checks, and a real Prometheus scraping a real anvil."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest
import yaml

from chaoschallenge.tests.stack import PROMETHEUS_DIR, binary_require
from common.testing import free_port, gunicorn_server, process_stop, wait_for_http
from loadtest.scrape_targets import scrape_target_add


def _promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [binary_require("promtool"), *args], cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=60
    )


def test_promtool_accepts_the_configuration(tmp_path):
    # promtool wants every credentials file to exist; the compose stack mounts
    # the platform's token at that path, here a stand-in takes its place.
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    token = tmp_path / "metrics_token"
    token.write_text("stand-in")
    for job in config["scrape_configs"]:
        if "authorization" in job:
            job["authorization"]["credentials_file"] = str(token)
    config["rule_files"] = [str(PROMETHEUS_DIR / pattern) for pattern in config["rule_files"]]
    for job in config["scrape_configs"]:
        for sd in job.get("file_sd_configs", []):
            sd["files"] = [str(PROMETHEUS_DIR / pattern) for pattern in sd["files"]]
    checked = tmp_path / "prometheus.yml"
    checked.write_text(yaml.safe_dump(config))
    result = _promtool("check", "config", str(checked))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_accepts_every_rule_file():
    rule_files = sorted(str(path.relative_to(PROMETHEUS_DIR)) for path in (PROMETHEUS_DIR / "rules").glob("*.yml"))
    assert rule_files
    result = _promtool("check", "rules", *rule_files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alerts_fire_when_they_should_and_stay_quiet_otherwise():
    """deploy/prometheus/tests/*.yml: burn-rate, error-rate, down and fault alerts on synthetic series."""
    tests = sorted(str(path.relative_to(PROMETHEUS_DIR)) for path in (PROMETHEUS_DIR / "tests").glob("*.yml"))
    assert tests
    result = _promtool("test", "rules", *tests)
    assert result.returncode == 0, result.stdout + result.stderr


def _query(base: str, expr: str) -> list[dict]:
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]["result"]


def _wait_for_value(base: str, expr: str, *, timeout_s: float) -> float:
    """The first positive value ``expr`` returns, polling until ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    result: list = []
    while time.monotonic() < deadline:
        try:
            result = _query(base, expr)
        except TimeoutError:
            # A busy machine: Prometheus answers late, which is not an answer yet.
            result = []
        except urllib.error.HTTPError as exc:
            # 503: Prometheus could not answer in time (its query timeout) or not yet; ask again.
            if exc.code != 503:
                raise
            result = []
        if result and float(result[0]["value"][1]) > 0:
            return float(result[0]["value"][1])
        time.sleep(0.5)
    raise AssertionError(f"{expr} returned no positive value within {timeout_s}s (last: {result})")


def _prometheus_config(*, anvil: str, file_sd_dir) -> dict:
    """The playground's real configuration, pointed at local processes and sped up."""
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    config["global"].update({"scrape_interval": "1s", "evaluation_interval": "1s"})
    config["rule_files"] = [str(PROMETHEUS_DIR / pattern) for pattern in config["rule_files"]]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    jobs["anvil"]["static_configs"] = [{"targets": [anvil]}]
    participants = jobs["participants"]
    participants["file_sd_configs"][0]["files"] = [str(file_sd_dir / "*.json")]
    participants["file_sd_configs"][0]["refresh_interval"] = "1s"
    config["scrape_configs"] = [jobs["anvil"], participants]
    return config


@pytest.mark.integration
def test_a_real_prometheus_scrapes_a_real_anvil_and_a_participant_target(tmp_path):
    binary = binary_require("prometheus")
    anvil_env = {"ANVIL_STATE_DIR": str(tmp_path / "anvil-state"), "ANVIL_STORE_PREFIX": f"t-{uuid.uuid4().hex[:8]}:"}
    with gunicorn_server("chaoschallenge.wsgi_anvil", tmp_path=tmp_path, workers=2, env=anvil_env) as anvil:
        address = anvil.url.removeprefix("http://")
        file_sd_dir = tmp_path / "file-sd"
        config_path = tmp_path / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(_prometheus_config(anvil=address, file_sd_dir=file_sd_dir)))
        port = free_port()
        log_path = tmp_path / "prometheus.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config_path}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        stop_traffic = threading.Event()

        def traffic() -> None:
            while not stop_traffic.is_set():
                try:
                    with urllib.request.urlopen(f"{anvil.url}/api/sample-urls", timeout=30) as response:
                        response.read()
                except TimeoutError:
                    # Only load for the anvil to count; a slow answer on a busy machine must not end it.
                    continue
                stop_traffic.wait(0.1)

        sender = threading.Thread(target=traffic, daemon=True)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for_http(f"{base}/-/ready", timeout_s=120, process=process)
            # A participant's application, added the documented way, is picked up without a reload.
            scrape_target_add(name="my-app", addresses=[address], directory=file_sd_dir)
            sender.start()

            requests = _wait_for_value(
                base, 'sum(anvil_request_duration_seconds_count{job="anvil", route="anvil-sample-urls"})', timeout_s=120
            )
            assert requests >= 1
            # The recording rules evaluate on real data, too.
            assert _wait_for_value(base, 'anvil:requests:rate1m{job="anvil"}', timeout_s=120) > 0
            assert _wait_for_value(base, 'up{job="participants", app="my-app"}', timeout_s=120) == 1
        except BaseException:
            print(log_path.read_text()[-4000:])
            raise
        finally:
            stop_traffic.set()
            process_stop(process)
            if sender.is_alive():
                sender.join(timeout=10)
