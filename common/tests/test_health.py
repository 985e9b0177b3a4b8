from __future__ import annotations

import pytest
from django.db import connections
from django.db.utils import OperationalError

pytestmark = pytest.mark.django_db(databases=["default", "tracker"])


def test_it_answers_ok_when_the_database_and_cache_answer(client, settings):
    settings.ENABLE_LOCAL_TRACKER = False
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "cache": "ok"}


def test_it_checks_the_tracker_database_only_when_the_tracker_is_on(client, settings):
    settings.ENABLE_LOCAL_TRACKER = True
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"]["tracker_database"] == "ok"


def test_it_answers_503_naming_the_database_when_it_is_down(client, settings, monkeypatch):
    settings.ENABLE_LOCAL_TRACKER = False

    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(connections["default"], "cursor", refuse)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert "connection refused" in body["checks"]["database"]
    assert body["checks"]["cache"] == "ok"


def test_it_writes_nothing_to_the_cache(client, settings, monkeypatch):
    from django.core.cache import cache

    settings.ENABLE_LOCAL_TRACKER = False

    def no_writes(*args, **kwargs):
        raise AssertionError("/healthz wrote to the cache")

    for method in ("set", "add", "delete", "touch", "incr", "set_many", "delete_many", "clear"):
        monkeypatch.setattr(cache, method, no_writes)
    for _ in range(3):
        response = client.get("/healthz")
        assert response.status_code == 200
        assert response.json()["checks"]["cache"] == "ok"


def test_it_answers_503_naming_the_cache_when_it_cannot_be_read(client, settings, monkeypatch):
    from django.core.cache import cache

    settings.ENABLE_LOCAL_TRACKER = False

    def unreachable(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to redis:6379. Connection refused.")

    monkeypatch.setattr(cache, "get", unreachable)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert "Connection refused" in response.json()["checks"]["cache"]
    assert response.json()["checks"]["database"] == "ok"
