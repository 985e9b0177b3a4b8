"""``scripts/dev-setup.sh``: a rerun applies changed settings, status tells the truth, a taken port is handled.

Starts the real quickstart stack (gunicorn, Celery workers, beat) on free
ports under a VAR_DIR of the test's own, and stops it however the test ends.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import urllib.error
import urllib.request

import pytest

from common.net import free_port
from common.testing import BASE_DIR

pytestmark = pytest.mark.integration

SCRIPT = BASE_DIR / "scripts" / "dev-setup.sh"


def _setup(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([str(SCRIPT), *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture
def stack_env(tmp_path):
    env = {key: value for key, value in os.environ.items()
           if key not in {"DATABASE_URL", "TRACKER_DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL",
                          "ENABLE_LOCAL_TRACKER", "LOADTEST_METRICS_PORT"}}
    env.update(VAR_DIR=str(tmp_path / "var"), PLATFORM_PORT=str(free_port()), ANVIL_PORT=str(free_port()))
    try:
        yield env
    finally:
        subprocess.run([str(SCRIPT), "stop"], cwd=BASE_DIR, env=env, capture_output=True, timeout=120)


def test_a_rerun_restarts_what_changed_and_status_shows_the_ports_in_use(stack_env):
    platform = f"http://127.0.0.1:{stack_env['PLATFORM_PORT']}"
    with contextlib.closing(socket.socket()) as holder:
        # Something else holds the load-test worker's default metrics port.
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            holder.bind(("127.0.0.1", 9109))
            holder.listen()
            held = True
        except OSError:
            held = False  # taken already: by another program, which serves the test as well
        first = _setup(stack_env)
    assert "port 9109 is taken: the load-test worker's metrics are on" in first or not held
    status = _setup(stack_env, "status")
    assert "platform: running (pid " in status and f"{platform}/healthz" in status
    assert f"http://127.0.0.1:{stack_env['ANVIL_PORT']}/healthz" in status
    assert "127.0.0.1:8000" not in status and _status(f"{platform}/tracker/") == 404

    second = _setup({**stack_env, "ENABLE_LOCAL_TRACKER": "true"})
    assert "restarting platform: its settings changed (ENABLE_LOCAL_TRACKER)" in second
    assert _status(f"{platform}/tracker/") == 200

    third = _setup({**stack_env, "ENABLE_LOCAL_TRACKER": "true"})
    assert "restarting" not in third and "platform already running" in third


def test_a_taken_platform_port_is_refused_naming_the_variable_that_moves_it(stack_env):
    with contextlib.closing(socket.socket()) as holder:
        holder.bind(("127.0.0.1", int(stack_env["PLATFORM_PORT"])))
        holder.listen()
        result = subprocess.run([str(SCRIPT)], cwd=BASE_DIR, env=stack_env, capture_output=True, text=True,
                                timeout=600)
    assert result.returncode == 1
    assert f"port {stack_env['PLATFORM_PORT']} is taken by another program; set PLATFORM_PORT" in result.stderr
    assert "started" not in result.stdout
