"""The platform API's answers to request bodies it cannot take: its JSON error, never HTML or a 500.

Against the real URLconf and middleware stack, through the submissions API.
"""

from __future__ import annotations

import pytest
from django.test import Client

from leaderboard.tests.conftest import participant_make

pytestmark = pytest.mark.django_db

CREATE = "/api/v1/submissions"


@pytest.fixture
def key(settings):
    settings.LEADERBOARD_CACHE_NAMESPACE = "test-api-bodies"
    return participant_make("bodies")[1]


def post(body: bytes | str, *, key: str, content_type: str = "application/json", **extra):
    client = Client(HTTP_HOST="localhost", raise_request_exception=False)
    return client.post(CREATE, body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {key}", **extra)


def assert_api_error(response, status: int) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "details"}
    assert isinstance(body["error"], str) and body["error"]
    return body


def test_a_body_of_100000_nested_brackets_is_a_json_4xx(key):
    # Larger than the submissions API reads at all, so refused for its size.
    response = post("[" * 100_000, key=key)
    assert_api_error(response, response.status_code)
    assert response.status_code in (400, 413)


@pytest.mark.parametrize("body", ["[" * 10_000, '{"a":' * 3_000, "[" * 5_000 + "]" * 5_000])
def test_nesting_deeper_than_the_json_decoder_follows_is_a_json_400(key, body):
    response = post(body, key=key)
    assert "nested too deeply" in assert_api_error(response, 400)["error"]


def test_a_body_over_djangos_upload_limit_is_a_json_413_before_it_is_read(key, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = assert_api_error(post("x" * 5000, key=key), 413)
    assert "larger than 1000 bytes" in body["error"]


def test_a_form_body_over_the_limit_is_a_json_413_not_an_html_page(key, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = post("a=" + "x" * 5000, key=key, content_type="application/x-www-form-urlencoded")
    assert_api_error(response, 413)


@pytest.mark.parametrize("declared", ["²", "-1", "1e3", " 12", "١٢"])
def test_a_content_length_that_is_not_plain_digits_is_a_json_400(key, declared):
    body = assert_api_error(post('{"challenge": "robust-service"}', key=key, CONTENT_LENGTH=declared), 400)
    assert "Content-Length" in body["error"]


def test_a_chunked_body_is_refused_with_a_json_411_rather_than_read_as_empty(key):
    response = post('{"challenge": "robust-service"}', key=key, CONTENT_LENGTH="", HTTP_TRANSFER_ENCODING="chunked")
    assert_api_error(response, 411)


def test_other_paths_are_left_to_their_own_handling(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = Client(HTTP_HOST="localhost").post("/healthz", "x" * 5000, content_type="text/plain")
    assert response.status_code != 413
