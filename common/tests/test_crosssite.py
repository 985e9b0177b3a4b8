from __future__ import annotations

import pytest
from django.test import RequestFactory

from common.crosssite import cross_site_reason


@pytest.fixture(autouse=True)
def hosts(settings):
    settings.ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]", "tracker.example"]


def request_with(host: str = "localhost:8000", secure: bool = False, **headers):
    return RequestFactory().post("/tracker/api/track", HTTP_HOST=host, secure=secure, **headers)


@pytest.mark.parametrize(
    ("host", "secure", "origin"),
    [
        ("localhost:8000", False, "http://localhost:8000"),
        ("127.0.0.1:8000", False, "http://127.0.0.1:8000"),
        ("[::1]:8000", False, "http://[::1]:8000"),
        ("tracker.example", True, "https://tracker.example"),
        ("tracker.example", True, "https://tracker.example:443"),
        ("tracker.example:443", True, "https://tracker.example"),
    ],
)
def test_an_origin_of_this_site_passes(host, secure, origin):
    assert cross_site_reason(request_with(host, secure, HTTP_ORIGIN=origin)) is None


@pytest.mark.parametrize(
    "origin",
    ["http://evil.example", "http://localhost:8001", "https://localhost:8000", "null", "", "localhost:8000",
     "http://localhost:8000/path", "http://user@localhost:8000x", "file://"],
)
def test_any_other_origin_is_another_site(origin):
    assert "is not this site" in cross_site_reason(request_with(HTTP_ORIGIN=origin))


@pytest.mark.parametrize(("value", "refused"), [("same-origin", False), ("none", False), ("NONE", False),
                                                ("same-site", True), ("cross-site", True), ("bogus", True)])
def test_sec_fetch_site_other_than_same_origin_or_none_is_another_site(value, refused):
    assert (cross_site_reason(request_with(HTTP_SEC_FETCH_SITE=value)) is not None) is refused


def test_a_request_without_either_header_is_a_programs_and_passes():
    assert cross_site_reason(request_with()) is None
