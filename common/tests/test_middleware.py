from __future__ import annotations

import pytest
from django.http import JsonResponse
from django.test import Client
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

pytestmark = pytest.mark.django_db


def _what_the_view_saw(request):
    return JsonResponse({
        "session": hasattr(request, "session"),
        "user": hasattr(request, "user"),
        "view": request.resolver_match.view_name,
    })


def _fails(request):
    raise RuntimeError("boom")


urlpatterns = [
    path("machine/seen", _what_the_view_saw, name="machine-seen"),
    path("machine/ingest", csrf_exempt(_what_the_view_saw), name="machine-ingest"),
    path("machine/fails", _fails),
    path("browser/seen", _what_the_view_saw, name="browser-seen"),
]


@pytest.fixture(autouse=True)
def shortcut(settings):
    settings.ROOT_URLCONF = __name__
    settings.API_SHORTCUT_PREFIXES = ["/machine/"]
    settings.ALLOWED_HOSTS = ["localhost"]


@pytest.fixture
def client():
    return Client(HTTP_HOST="localhost", enforce_csrf_checks=True)


def test_a_path_under_a_prefix_reaches_its_view_without_the_browser_middleware(client):
    response = client.get("/machine/seen")
    assert response.json() == {"session": False, "user": False, "view": "machine-seen"}
    assert "Cookie" not in response.get("Vary", "")


def test_other_paths_pass_through_every_middleware(client):
    assert client.get("/browser/seen").json() == {"session": True, "user": True, "view": "browser-seen"}


def test_every_path_passes_through_every_middleware_when_no_prefix_is_set(client, settings):
    settings.API_SHORTCUT_PREFIXES = []
    assert client.get("/machine/seen").json()["session"] is True


def test_the_middleware_above_it_still_applies(client):
    # SecurityMiddleware sits above the shortcut.
    assert client.get("/machine/seen")["X-Content-Type-Options"] == "nosniff"


def test_a_post_takes_the_short_way_to_a_csrf_exempt_view(client):
    response = client.post("/machine/ingest", data="{}", content_type="application/json")
    assert response.status_code == 200
    assert response.json()["session"] is False


def test_a_post_to_a_view_that_is_not_csrf_exempt_meets_the_csrf_check(client):
    response = client.post("/machine/seen", data="{}", content_type="application/json")
    assert response.status_code == 403
    assert b"CSRF" in response.content


def test_an_unknown_path_under_a_prefix_gets_the_usual_404(client):
    assert client.get("/machine/nothing-here").status_code == 404


def test_a_host_outside_allowed_hosts_is_refused_with_400():
    assert Client(HTTP_HOST="evil.example").get("/machine/seen").status_code == 400


def test_an_exception_in_the_view_becomes_a_500_response():
    response = Client(HTTP_HOST="localhost", raise_request_exception=False).get("/machine/fails")
    assert response.status_code == 500
