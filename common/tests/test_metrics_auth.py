from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def client():
    return Client(HTTP_HOST="localhost")


def test_without_a_token_metrics_are_open(client, settings):
    settings.METRICS_TOKEN = None
    response = client.get("/metrics")
    assert response.status_code == 200
    assert b"django_http_requests" in response.content or b"# HELP" in response.content


def test_with_a_token_a_request_without_it_is_a_401(client, settings):
    settings.METRICS_TOKEN = "scrape-me"
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert set(response.json()) == {"error", "details"}
    assert client.get("/metrics", HTTP_AUTHORIZATION="Basic c2NyYXBlLW1l").status_code == 401


def test_with_a_token_a_wrong_one_is_a_403(client, settings):
    settings.METRICS_TOKEN = "scrape-me"
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-you")
    assert response.status_code == 403
    assert b"# HELP" not in response.content


def test_with_a_token_the_right_one_gets_the_exposition(client, settings):
    settings.METRICS_TOKEN = "scrape-me"
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me")
    assert response.status_code == 200
    assert b"# HELP" in response.content


def test_the_token_can_come_from_a_file(monkeypatch, tmp_path):
    import runpy
    from pathlib import Path

    token_file = tmp_path / "metrics-token"
    token_file.write_text("from-a-file\n")
    monkeypatch.setenv("METRICS_TOKEN_FILE", str(token_file))
    settings_file = Path(__file__).resolve().parents[2] / "chaoschallenge" / "settings.py"
    assert runpy.run_path(str(settings_file))["METRICS_TOKEN"] == "from-a-file"
