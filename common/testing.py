"""Helpers for tests that start real processes (gunicorn, Celery, Locust …).

Every server binds a free port chosen at start so that test runs, dev
instances and parallel sessions never collide on a fixed port.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from common.net import free_port

__all__ = ["free_port"]

BASE_DIR = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def wait_for_http(url: str, *, timeout_s: float = 20.0, process: subprocess.Popen | None = None) -> None:
    """Poll ``url`` until it answers with any HTTP status, or fail with the reason."""
    deadline = time.monotonic() + timeout_s
    last_error = "no attempt"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError as exc:
            last_error = str(exc)
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout_s}s: {last_error}")


def http_json(method: str, url: str, body: object | None = None, *, headers: dict | None = None, timeout: float = 10):
    """Return ``(status, headers, parsed JSON or raw text)`` without raising on 4xx/5xx."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, response_headers, raw = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        status, response_headers, raw = exc.code, dict(exc.headers), exc.read()
    try:
        return status, response_headers, json.loads(raw)
    except ValueError:
        return status, response_headers, raw.decode(errors="replace")


@dataclass
class ServerProcess:
    process: subprocess.Popen
    url: str
    log_path: Path
    env: dict = field(default_factory=dict)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        process_stop(self.process)


def process_stop(process: subprocess.Popen, *, timeout_s: float = 15) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout_s``."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process: this one's, with the test settings' databases made explicit."""
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "chaoschallenge.settings")
    env["PYTHONPATH"] = str(BASE_DIR)
    env.update(extra or {})
    return env


@contextlib.contextmanager
def gunicorn_server(
    wsgi: str,
    *,
    tmp_path: Path,
    workers: int = 2,
    env: dict[str, str] | None = None,
    extra_args: list[str] | None = None,
    port: int | None = None,
    health_path: str = "/healthz",
    cwd: Path = BASE_DIR,
) -> Iterator[ServerProcess]:
    """Start gunicorn with the project's config on a free port and stop it afterwards.

    ``cwd`` is where gunicorn imports ``wsgi`` from: another checkout of the
    project can be served with this one's config (benchmarks compare them).
    """
    port = port or free_port()
    log_path = tmp_path / f"gunicorn-{port}.log"
    full_env = child_env(env)
    full_env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / f"prom-{port}"))
    Path(full_env["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
    cmd = [
        str(VENV_BIN / "gunicorn"),
        "-c",
        str(BASE_DIR / "chaoschallenge" / "gunicorn_conf.py"),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        *(extra_args or []),
        wsgi,
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(cmd, cwd=cwd, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    server = ServerProcess(process=process, url=f"http://127.0.0.1:{port}", log_path=log_path, env=full_env)
    try:
        wait_for_http(server.url + health_path, process=process, timeout_s=30)
        yield server
    except BaseException:
        print(server.log()[-4000:])
        raise
    finally:
        server.stop()


def wait_until(predicate, *, timeout_s: float, interval_s: float = 0.2, message: str = "condition"):
    """Poll ``predicate`` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"{message} not reached within {timeout_s}s")


def tiny_profile(**overrides) -> dict:
    """A short, light load profile: a few users for a few seconds, GET-only tasks."""
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


ANVIL_TEST_TOKEN = "test-chaos-token"


@contextlib.contextmanager
def anvil_running(
    *, tmp_path: Path, store_env: dict, workers: int = 2, extra_env: dict | None = None
) -> Iterator[ServerProcess]:
    """A real url-anvil under gunicorn on a free port, using the fault/history store in ``store_env``.

    The corpus base URL is the server itself and the control API is on with
    ``ANVIL_TEST_TOKEN`` unless ``extra_env`` says otherwise.
    """
    port = free_port()
    env = {
        "ANVIL_PORT": str(port),
        "ANVIL_CORPUS_BASE_URL": f"http://127.0.0.1:{port}",
        "ANVIL_CHAOS_TOKEN": ANVIL_TEST_TOKEN,
        **store_env,
        **(extra_env or {}),
    }
    with gunicorn_server("chaoschallenge.wsgi_anvil", tmp_path=tmp_path, workers=workers, env=env, port=port) as server:
        yield server


def redis_keys_delete(*, url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def runner_processes() -> list:
    """Load runners started by this test process (and their workers)."""
    import psutil

    found = []
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "loadtest.runner" in " ".join(child.cmdline()):
                found.append(child)
    return found


def database_url_of_tests(alias: str = "default") -> str:
    """A DATABASE_URL (or TRACKER_DATABASE_URL) that points a child process at the test database of ``alias``."""
    from urllib.parse import quote

    from django.db import connections

    config = connections[alias].settings_dict
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
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


class FakeTTY(io.StringIO):
    """A text stream that says it is a terminal, and keeps what was written to it."""

    def isatty(self) -> bool:
        return True


def terminal_lines(output: str) -> list[str]:
    """The lines a terminal shows after ``output``: ``\\r``, erase to end of line (``ESC [ K``) and ``\\n`` applied."""
    lines: list[list[str]] = [[]]
    column = 0
    index = 0
    while index < len(output):
        if output.startswith("\x1b[K", index):
            del lines[-1][column:]
            index += 3
            continue
        char = output[index]
        index += 1
        if char == "\r":
            column = 0
        elif char == "\n":
            lines.append([])
            column = 0
        else:
            line = lines[-1]
            if column < len(line):
                line[column] = char
            else:
                line.append(char)
            column += 1
    return ["".join(line) for line in lines]
