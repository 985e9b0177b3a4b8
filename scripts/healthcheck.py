#!/usr/bin/env python
"""Container health check: exit 0 when the role in this container is healthy.

    python scripts/healthcheck.py [ROLE]

ROLE defaults to what ``scripts/docker-entrypoint.sh`` recorded in
/tmp/chaos-role. Web roles must answer 200 on /healthz (the platform's checks
its database and cache; the anvil's turns 503 under an "unhealthy" fault, which
is the point). The worker must answer a Celery ping addressed to it alone; the
scheduler must be alive and reach the broker it sends to.
"""

from __future__ import annotations

import os
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def _http_ok(port: str) -> str | None:
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return None if response.status == 200 else f"{url} answered {response.status}"
    except urllib.error.HTTPError as exc:
        return f"{url} answered {exc.code}"
    except OSError as exc:
        return f"{url}: {exc}"


def _celery_app():
    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chaoschallenge.settings")
    from chaoschallenge.celery import app

    return app


def _worker_ok() -> str | None:
    name = f"worker@{socket.gethostname()}"
    replies = _celery_app().control.ping(destination=[name], timeout=4)
    return None if replies else f"{name} did not answer a ping"


def _scheduler_ok() -> str | None:
    pidfile = Path("/tmp/celerybeat.pid")
    try:
        os.kill(int(pidfile.read_text().strip()), 0)
    except (OSError, ValueError) as exc:
        return f"beat is not running ({pidfile}: {exc})"
    with _celery_app().connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=4)
    return None


def main(argv: list[str]) -> int:
    role = argv[1] if len(argv) > 1 else Path("/tmp/chaos-role").read_text().strip()
    if role == "platform":
        problem = _http_ok(os.environ.get("PLATFORM_PORT", "8000"))
    elif role == "anvil":
        problem = _http_ok(os.environ.get("ANVIL_PORT", "8080"))
    elif role == "worker":
        problem = _worker_ok()
    elif role == "scheduler":
        problem = _scheduler_ok()
    else:
        # One-shot roles (migrate, manage …) have nothing to serve.
        problem = None
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
