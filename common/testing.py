"""Helpers for tests that start real processes (gunicorn, Celery, Locust …).

Every server binds a free port chosen at start so that test runs, dev
instances and parallel sessions never collide on a fixed port.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


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
) -> Iterator[ServerProcess]:
    """Start gunicorn with the project's config on a free port and stop it afterwards."""
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
        process = subprocess.Popen(cmd, cwd=BASE_DIR, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    server = ServerProcess(process=process, url=f"http://127.0.0.1:{port}", log_path=log_path, env=full_env)
    try:
        wait_for_http(server.url + health_path, process=process, timeout_s=30)
        yield server
    except BaseException:
        print(server.log()[-4000:])
        raise
    finally:
        server.stop()
