from __future__ import annotations

import json

import pytest
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.test import Client
from django.urls import path

pytestmark = pytest.mark.django_db


def _reads_body(request):
    return JsonResponse({"length": len(request.body)})


def _parses_json(request):
    return JsonResponse({"parsed": type(json.loads(request.body)).__name__})


def _form_too_big(request):
    # What Django raises while parsing a form whose fields pass the limit.
    raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")


def _recursion_bug(request):
    def forever(n):
        return forever(n + 1)

    return forever(0)


urlpatterns = [
    path("api/body", _reads_body),
    path("api/json", _parses_json),
    path("api/bug", _recursion_bug),
    path("api/form", _form_too_big),
    path("other/body", _reads_body),
]


@pytest.fixture(autouse=True)
def urls(settings):
    settings.ROOT_URLCONF = __name__
    settings.ALLOWED_HOSTS = ["localhost"]
    settings.API_BODY_CHECK_PREFIXES = ["/api/"]


@pytest.fixture
def client():
    return Client(HTTP_HOST="localhost", raise_request_exception=False)


def error_of(response, status: int) -> str:
    assert response.status_code == status, response.content[:200]
    body = response.json()
    assert body["details"] == {}
    return body["error"]


def test_a_body_within_the_limit_reaches_the_view(client):
    assert client.post("/api/body", "x" * 100, content_type="text/plain").json() == {"length": 100}


def test_a_declared_length_over_the_upload_limit_is_a_json_413(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    assert "larger than 1000 bytes" in error_of(client.post("/api/body", "x" * 2000, content_type="text/plain"), 413)


def test_request_data_too_big_raised_by_django_is_a_json_413(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    assert "larger than 1000 bytes" in error_of(client.post("/api/form", {"a": "b"}), 413)


def test_the_same_bodies_elsewhere_are_left_to_django(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client.post("/other/body", "x" * 2000, content_type="text/plain")
    assert response.status_code == 400
    assert not response["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("declared", ["²", "-1", "1e3", "12abc", " 7"])
def test_a_content_length_that_is_not_plain_digits_is_a_json_400_not_a_500(client, declared):
    response = client.post("/api/body", "x" * 7, content_type="text/plain", CONTENT_LENGTH=declared)
    assert "Content-Length" in error_of(response, 400)


def test_a_chunked_body_is_a_json_411(client):
    response = client.post("/api/body", "x" * 7, content_type="text/plain", CONTENT_LENGTH="",
                           HTTP_TRANSFER_ENCODING="chunked")
    assert "Content-Length" in error_of(response, 411)


def test_json_nested_too_deeply_for_the_decoder_is_a_json_400(client):
    response = client.post("/api/json", "[" * 100_000, content_type="application/json")
    assert "nested too deeply" in error_of(response, 400)


def test_a_recursion_error_of_the_code_itself_stays_a_500(client):
    assert client.get("/api/bug").status_code == 500
