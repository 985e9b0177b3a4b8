"""Fixtures of the load-test engine's tests: a real anvil, a real Celery worker, small profiles."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psutil
import pytest
from django.db import connection

from common.testing import BASE_DIR, VENV_BIN, child_env, free_port, gunicorn_server


def tiny_profile(**overrides) -> dict:
    """A short, light profile: a few users for a few seconds, GET-only tasks."""
    profile = {
        "shape": "constant",
        "users": 3,
        "spawn_rate": 50,
        "duration_s": 4,
        "timeout_s": 3,
        "connect_timeout_s": 2,
        "wait_min_s": 0.05,
        "wait_max_s": 0.15,
        "tasks": {"sample_urls": 3, "history": 1, "index": 1},
    }
    profile.update(overrides)
    return profile


@pytest.fixture
def anvil_store(settings, tmp_path):
    """A fault store of this test alone (own Redis prefix / own state folder), shared with its anvil."""
    prefix = f"lt-test-{uuid.uuid4().hex[:10]}:"
    state_dir = tmp_path / "anvil-state"
    state_dir.mkdir()
    settings.ANVIL_STORE_PREFIX = prefix
    settings.ANVIL_STATE_DIR = state_dir
    yield {"ANVIL_STORE_PREFIX": prefix, "ANVIL_STATE_DIR": str(state_dir), "ANVIL_FAULT_REFRESH_S": "0.2"}
    from anvil.services import fault_clear

    fault_clear()


@contextlib.contextmanager
def anvil_running(*, tmp_path: Path, store_env: dict, workers: int = 2, extra_env: dict | None = None):
    port = free_port()
    env = {**store_env, "ANVIL_CORPUS_BASE_URL": f"http://127.0.0.1:{port}", **(extra_env or {})}
    with gunicorn_server("chaoschallenge.wsgi_anvil", tmp_path=tmp_path, workers=workers, env=env, port=port) as server:
        yield server


@pytest.fixture
def anvil(tmp_path, anvil_store):
    """A real url-anvil under gunicorn (2 workers) using this test's fault store."""
    with anvil_running(tmp_path=tmp_path, store_env=anvil_store) as server:
        yield server


def runner_processes() -> list[psutil.Process]:
    """Load runners started by this test process (and their workers)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "loadtest.runner" in " ".join(child.cmdline()):
                found.append(child)
    return found


def database_url_of_tests() -> str:
    """A DATABASE_URL that points a child process at the test database in use."""
    config = connection.settings_dict
    if config["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(config['NAME']).resolve()}"
    user = quote(config.get("USER") or "")
    password = quote(config.get("PASSWORD") or "")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = config.get("HOST") or "127.0.0.1"
    port = f":{config['PORT']}" if config.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{config['NAME']}"


@contextlib.contextmanager
def celery_worker(*, tmp_path: Path, queue: str, env: dict | None = None) -> Iterator[subprocess.Popen]:
    """A real Celery worker (prefork, concurrency 1) consuming ``queue`` against the test database."""
    log_path = tmp_path / f"celery-{queue}.log"
    full_env = child_env({"DATABASE_URL": database_url_of_tests(), "LOADTEST_QUEUE": queue, **(env or {})})
    cmd = [str(VENV_BIN / "celery"), "-A", "chaoschallenge", "worker", "-Q", queue, "-c", "1",
           "--pool", "prefork", "--without-gossip", "--without-mingle", "--without-heartbeat",
           "-n", f"{queue}@%h", "--loglevel", "INFO"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(cmd, cwd=BASE_DIR, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while b"ready." not in log_path.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"celery worker did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield process
    except BaseException:
        print(log_path.read_text(errors="replace")[-4000:])
        raise
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 15)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait(timeout=5)


def wait_until(predicate, *, timeout_s: float, interval_s: float = 0.2, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval_s)
    raise AssertionError(f"{message} not reached within {timeout_s}s")
