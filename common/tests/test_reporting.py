"""Django's technical 500 page (DEBUG on) with credentials in URLs: rendered for real, checked for the passwords."""

from __future__ import annotations

import sys
import uuid

import pytest
from django.test import RequestFactory
from django.views.debug import technical_500_response

from common.reporting import CredentialMaskingExceptionReporterFilter, url_password_mask

# Made at import time: the page shows the source lines around each frame, so
# a password written out here would appear on it whatever the filter does.
SECRETS = {name: uuid.uuid4().hex for name in ("pg", "tracker", "broker", "redis", "cache", "env", "local")}


def _fail_with_a_url_in_a_local_variable():
    connection_url = f"redis://:{SECRETS['local']}@redis:6379/0"  # noqa: F841 - shown by the debug page's frame view
    raise RuntimeError("the broker is down")


@pytest.fixture
def page(settings) -> str:
    settings.DEBUG = True
    settings.DATABASE_URL = f"postgres://chaos:{SECRETS['pg']}@postgres:5432/chaos"
    settings.TRACKER_DATABASE_URL = f"postgres://chaos:{SECRETS['tracker']}@postgres:5432/chaos_tracker"
    settings.CELERY_BROKER_URL = f"redis://:{SECRETS['broker']}@redis:6379/1"
    settings.REDIS_URL = f"redis://default:{SECRETS['redis']}@redis:6379/0"
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                    "LOCATION": f"redis://:{SECRETS['cache']}@r:1/0"}
    }
    # runserver copies the environment into request META.
    request = RequestFactory().get("/boom", DATABASE_URL=f"postgres://u:{SECRETS['env']}@db/x")
    try:
        _fail_with_a_url_in_a_local_variable()
    except RuntimeError:
        response = technical_500_response(request, *sys.exc_info())
    return response.content.decode()


def test_the_debug_page_shows_no_password_from_any_url(page):
    assert "the broker is down" in page  # it is the real page
    for name, secret in SECRETS.items():
        assert secret not in page, name


def test_the_debug_page_still_shows_where_each_url_points(page):
    assert "postgres://chaos:********@postgres:5432/chaos" in page
    assert "redis://:********@redis:6379/1" in page
    assert "redis://:********@redis:6379/0" in page  # the frame's local variable


def test_the_filter_is_the_projects_default(settings):
    assert settings.DEFAULT_EXCEPTION_REPORTER_FILTER == "common.reporting.CredentialMaskingExceptionReporterFilter"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgres://chaos:s3cret@postgres:5432/chaos", "postgres://chaos:********@postgres:5432/chaos"),
        ("redis://:p@ss@redis:6379/0", "redis://:********@redis:6379/0"),
        ("amqp://guest:guest@rabbit//", "amqp://guest:********@rabbit//"),
        ("two: a://u:1@h/x b://:2@k/y", "two: a://u:********@h/x b://:********@k/y"),
        ("http://127.0.0.1:8080/corpus/x", "http://127.0.0.1:8080/corpus/x"),
        ("postgres://chaos@postgres/chaos", "postgres://chaos@postgres/chaos"),
        ("no url here", "no url here"),
    ],
)
def test_it_masks_only_passwords_inside_urls(text, masked):
    assert url_password_mask(text) == masked


def test_it_masks_inside_nested_structures_and_named_tuples():
    from urllib.parse import urlsplit

    cleansed = CredentialMaskingExceptionReporterFilter().cleanse_setting(
        "OPTIONS", {"a": [("redis://:y-hunter2@r/0",)], "c": urlsplit("redis://:z-hunter2@r/0")}
    )
    assert "hunter2" not in repr(cleansed)
    assert ":********@r" in cleansed["c"]


def test_a_frame_variable_that_contains_itself_is_shown_masked():
    looped: dict = {"url": "redis://:x-hunter2@r/0"}
    looped["self"] = looped
    request = RequestFactory().get("/")
    try:
        raise RuntimeError(looped["url"][:5])
    except RuntimeError:
        frame = sys.exc_info()[2].tb_frame
    shown = dict(CredentialMaskingExceptionReporterFilter().get_traceback_frame_variables(request, frame))
    assert "hunter2" not in repr(shown["looped"])
