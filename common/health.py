"""``/healthz`` of the platform: answers 200 only when what it depends on answers."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.http import HttpRequest, JsonResponse


def _check_database(alias: str) -> str | None:
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means "not healthy", reported below
        return f"{type(exc).__name__}: {exc}"
    return None


def _check_cache() -> str | None:
    # A read only: health checks arrive every few seconds from every prober
    # and load balancer, and must not each write to the shared cache (a
    # round trip plus a write for Redis; a new file for the file cache). A
    # read of a key nobody writes still reaches the server and fails when it
    # is down; a miss is the expected answer.
    try:
        cache.get("healthz-probe")
    except Exception as exc:  # noqa: BLE001 - reported below
        return f"{type(exc).__name__}: {exc}"
    return None


def healthz(request: HttpRequest) -> JsonResponse:
    started = time.monotonic()
    checks = {"database": _check_database("default"), "cache": _check_cache()}
    if settings.ENABLE_LOCAL_TRACKER:
        # Only when on: with the tracker off its database must never be opened.
        checks["tracker_database"] = _check_database("tracker")
    problems = {name: why for name, why in checks.items() if why}
    body = {
        "status": "ok" if not problems else "unhealthy",
        "checks": {name: why or "ok" for name, why in checks.items()},
        "took_ms": round((time.monotonic() - started) * 1000, 2),
    }
    return JsonResponse(body, status=200 if not problems else 503)
