"""Which requests the tracker API takes at all: JSON bodies from this site or from programs, never another site's."""

from __future__ import annotations

import json

import pytest
from django.test import Client, override_settings

from tracker.models import TrackedRun
from tracker.tests.conftest import BOTH_DATABASES, client_payload

pytestmark = [pytest.mark.django_db(databases=BOTH_DATABASES), pytest.mark.usefixtures("tracker_on")]

TRACK = "/tracker/api/track"
BATCH = "/tracker/api/runs/batch"


def stored() -> int:
    return TrackedRun.objects.using("tracker").count()


def post(client: Client, path: str, *, content_type: str = "application/json", body: object = None, **headers):
    data = json.dumps(client_payload() if body is None else body)
    return client.post(path, data, content_type=content_type, **headers)


def test_a_text_plain_post_from_another_site_is_refused_and_stores_nothing(client):
    # What a page on evil.example can send without a preflight, from the user's own (loopback) browser.
    response = post(client, TRACK, content_type="text/plain", HTTP_ORIGIN="http://evil.example",
                    HTTP_SEC_FETCH_SITE="cross-site")
    assert response.status_code == 403
    assert response.json()["status"] == "error"
    assert "cross-site" in response.json()["message"]
    assert stored() == 0


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx"]
)
def test_a_post_that_is_not_json_is_refused_with_415(client, content_type):
    response = post(client, TRACK, content_type=content_type)
    assert response.status_code == 415
    assert response.json()["message"].startswith("Content-Type must be application/json")
    assert stored() == 0


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", "APPLICATION/JSON",
                                          "application/vnd.tracker+json"])
def test_json_content_types_are_accepted(client, content_type):
    assert post(client, TRACK, content_type=content_type).status_code == 200
    assert stored() == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_ORIGIN": "http://evil.example"},
        {"HTTP_ORIGIN": "null"},
        {"HTTP_ORIGIN": "https://localhost"},  # another scheme
        {"HTTP_ORIGIN": "http://localhost:8001"},  # another port
        {"HTTP_ORIGIN": "http://localhost.evil.example"},
        {"HTTP_SEC_FETCH_SITE": "cross-site"},
        {"HTTP_SEC_FETCH_SITE": "same-site"},  # a sibling subdomain is another site's page too
        {"HTTP_SEC_FETCH_SITE": "same-origin", "HTTP_ORIGIN": "http://evil.example"},
    ],
)
def test_json_from_another_site_is_refused_even_from_loopback(client, headers):
    response = post(client, TRACK, **headers)
    assert response.status_code == 403
    assert "cross-site requests are refused" in response.json()["message"]
    assert stored() == 0


def test_another_sites_request_is_refused_even_with_the_right_key(client):
    with override_settings(LOCAL_TRACKER_API_KEY="k3y"):
        response = post(client, BATCH, body=[client_payload()], HTTP_X_API_KEY="k3y",
                        HTTP_ORIGIN="http://evil.example", REMOTE_ADDR="203.0.113.9")
        assert response.status_code == 403
        assert post(client, BATCH, body=[client_payload()], HTTP_X_API_KEY="k3y", REMOTE_ADDR="203.0.113.9").status_code == 200
    assert stored() == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},  # programs: curl, the load-test client
        {"HTTP_SEC_FETCH_SITE": "same-origin", "HTTP_ORIGIN": "http://localhost"},
        {"HTTP_SEC_FETCH_SITE": "none"},  # typed by the user
        {"HTTP_ORIGIN": "http://localhost:80"},
        {"HTTP_ORIGIN": "HTTP://LOCALHOST"},
    ],
)
def test_this_sites_pages_and_programs_are_accepted(client, headers):
    assert post(client, TRACK, **headers).status_code == 200
    assert stored() == 1


def test_the_site_compared_with_includes_the_port_the_request_came_to():
    client = Client(HTTP_HOST="localhost:8000")
    assert post(client, TRACK, HTTP_ORIGIN="http://localhost:8000").status_code == 200
    assert post(client, TRACK, HTTP_ORIGIN="http://localhost").status_code == 403


def test_reading_the_notebook_from_another_site_is_refused(client):
    post(client, TRACK)
    assert client.get("/tracker/api/track/alice").status_code == 200
    response = client.get("/tracker/api/track/alice", HTTP_SEC_FETCH_SITE="cross-site")
    assert response.status_code == 403
    assert client.get("/tracker/api/track/alice", HTTP_ORIGIN="http://evil.example").status_code == 403
