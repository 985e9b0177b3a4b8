"""Fixtures of the tracker's tests.

Settings read ``ENABLE_LOCAL_TRACKER`` once, when ``chaoschallenge.urls`` is
imported. To test both states, each state gets its own fresh copy of that
URLconf module, built while the flag is overridden and registered under its
own name; the real module is never touched.
"""

from __future__ import annotations

import copy
import importlib.util
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connections
from django.test import Client, override_settings

BOTH_DATABASES = ["default", "tracker"]


def urlconf_for(*, enabled: bool) -> str:
    name = f"tracker_tests_urlconf_{'on' if enabled else 'off'}"
    if name not in sys.modules:
        spec = importlib.util.find_spec("chaoschallenge.urls")
        module = importlib.util.module_from_spec(spec)
        with override_settings(ENABLE_LOCAL_TRACKER=enabled):
            spec.loader.exec_module(module)
        sys.modules[name] = module
    return name


@pytest.fixture
def tracker_on():
    # The API takes the short way through the middleware, as it does when
    # settings turn the tracker on.
    with override_settings(ENABLE_LOCAL_TRACKER=True, ROOT_URLCONF=urlconf_for(enabled=True),
                           API_SHORTCUT_PREFIXES=["/tracker/api/"], LOCAL_TRACKER_API_KEY=None):
        yield


@pytest.fixture
def tracker_off():
    with override_settings(ENABLE_LOCAL_TRACKER=False, ROOT_URLCONF=urlconf_for(enabled=False)):
        yield


@pytest.fixture
def client():
    # ALLOWED_HOSTS in DEBUG lists localhost names, not Django's "testserver".
    return Client(HTTP_HOST="localhost")


def client_payload(**overrides) -> dict:
    """A run exactly as the original tracker clients send it: naive timestamp, null commit hash."""
    payload = {
        "schema_version": "1.0",
        "userId": "alice",
        "challengeType": "robust-service",
        "metricName": "rps",
        "value": 412.5,
        "timestamp": "2026-03-01T12:00:00",
        "labels": {"host": "laptop"},
        "runDetails": {
            "target_url": "http://127.0.0.1:8080",
            "request_count": 1000,
            "method": "POST",
            "payload_urls": ["http://127.0.0.1:8080/corpus/constitution"],
            "total_requests": 1000,
            "successful_requests": 990,
            "failed_requests": 10,
            "avg_latency_ms": 38.2,
            "error_rate": 1.0,
            "rps": 412.5,
            "duration_s": 2.42,
            "test_type": "standard",
            "commit_hash": None,
            "session_id": "session-1",
        },
    }
    details = overrides.pop("runDetails", {})
    payload.update(overrides)
    payload["runDetails"] = {**payload["runDetails"], **details}
    return copy.deepcopy(payload)


def post_json(client: Client, path: str, body, **extra):
    import json

    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(path, data, content_type="application/json", **extra)


def database_url(alias: str) -> str:
    """A DATABASE_URL-style address of the *test* database behind ``alias``, for child processes."""
    settings_dict = connections[alias].settings_dict
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(settings_dict['NAME']).resolve()}"
    user = quote(settings_dict["USER"] or "")
    password = f":{quote(settings_dict['PASSWORD'])}" if settings_dict["PASSWORD"] else ""
    auth = f"{user}{password}@" if user else ""
    port = f":{settings_dict['PORT']}" if settings_dict["PORT"] else ""
    return f"postgres://{auth}{settings_dict['HOST']}{port}/{settings_dict['NAME']}"
