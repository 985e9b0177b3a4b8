"""scripts/healthcheck.py, the container image's health check."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from common.testing import BASE_DIR, child_env, free_port, process_stop

SCRIPT = BASE_DIR / "scripts" / "healthcheck.py"


def _check(role: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run the check with this environment (child_env fills in the rest)."""
    return subprocess.run(
        [sys.executable, str(SCRIPT), role], env=child_env(env), capture_output=True, text=True, timeout=30
    )


@pytest.mark.integration
def test_a_web_role_is_healthy_while_its_healthz_answers_200(anvil_server):
    port = anvil_server.url.rsplit(":", 1)[1]
    assert _check("anvil", {"ANVIL_PORT": port}).returncode == 0


def test_a_web_role_is_unhealthy_when_nothing_answers():
    result = _check("platform", {"PLATFORM_PORT": str(free_port())})
    assert result.returncode == 1
    assert "/healthz" in result.stderr


def test_one_shot_roles_have_nothing_to_check():
    assert _check("migrate", {}).returncode == 0


def test_the_scheduler_is_unhealthy_without_a_running_beat(tmp_path):
    result = _check("scheduler", {"VAR_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert "beat is not running" in result.stderr


@pytest.mark.integration
def test_the_worker_is_healthy_once_a_real_worker_answers_its_ping(tmp_path):
    # The embedded broker under a private VAR_DIR: no other worker can answer for this one.
    env = {"VAR_DIR": str(tmp_path), "CELERY_BROKER_URL": "filesystem://", "REDIS_URL": ""}
    assert _check("worker", env).returncode == 1

    log = open(tmp_path / "worker.log", "wb")
    worker = subprocess.Popen(
        [str(BASE_DIR / ".venv" / "bin" / "celery"), "-A", "chaoschallenge", "worker", "--queues", f"hc-{free_port()}",
         "--concurrency", "1", "--hostname", "worker@%h", "--without-mingle", "--without-gossip"],
        cwd=BASE_DIR, env=child_env(env), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if _check("worker", env).returncode == 0:
                break
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
        else:
            pytest.fail("the worker never answered: " + (tmp_path / "worker.log").read_text()[-2000:])
    finally:
        process_stop(worker, timeout_s=20)
        log.close()
