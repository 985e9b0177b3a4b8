"""ENABLE_LOCAL_TRACKER: off means no tracker URL at all and an unopened tracker database."""

from __future__ import annotations

import logging
import subprocess
import sys
from unittest import mock

import pytest
from django.apps import apps
from django.test import override_settings
from django.urls import resolve

from common.testing import BASE_DIR, child_env, gunicorn_server, http_json
from tracker.tests.conftest import BOTH_DATABASES, client_payload, post_json

# Every route of tracker.urls, with plausible arguments.
ROUTES = [
    ("get", "/tracker/"),
    ("get", "/tracker/targets/0123456789abcdef/"),
    ("post", "/tracker/targets/0123456789abcdef/baseline"),
    ("post", "/tracker/targets/0123456789abcdef/baseline/clear"),
    ("get", "/tracker/compare/?a=1&b=2"),
    ("post", "/tracker/recordings/start"),
    ("post", "/tracker/recordings/1/stop"),
    ("post", "/tracker/api/track"),
    ("post", "/tracker/api/runs/batch"),
    ("get", "/tracker/api/track/alice"),
]


def test_the_route_list_covers_every_tracker_url():
    from tracker import urls

    assert len(urls.urlpatterns) == len(ROUTES)


@pytest.mark.django_db(databases=["default"])
@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_tracker_route_is_404_when_the_tracker_is_off(tracker_off, client, method, path):
    # Only "default" is declared: any touch of the tracker database would fail the test.
    response = getattr(client, method)(path, data=client_payload() if method == "post" else None,
                                       content_type="application/json")
    assert response.status_code == 404


@pytest.mark.django_db(databases=BOTH_DATABASES)
@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_tracker_route_exists_when_the_tracker_is_on(tracker_on, client, method, path):
    # Unknown objects may still 404, but through the view, not the URLconf.
    assert resolve(path.split("?")[0]).namespace == "tracker"
    response = getattr(client, method)(path, data={}, content_type="application/json")
    assert response.status_code < 500


@pytest.mark.django_db(databases=["default"])
def test_the_recording_scheduler_does_nothing_when_the_tracker_is_off():
    from tracker.receivers import recording_follow_run_end
    from tracker.tasks import recording_tick_task

    with override_settings(ENABLE_LOCAL_TRACKER=False):
        assert recording_tick_task() == 0
        # An announced recording run does not open the tracker database either.
        with mock.patch("tracker.services.recording_run_record") as record:
            recording_follow_run_end(sender=object, run=mock.Mock(origin="tracker", pk=1))
        record.assert_not_called()


def test_no_recording_schedule_is_declared_when_the_tracker_is_off():
    script = "from django.conf import settings; print(sorted(settings.CELERY_BEAT_SCHEDULE))"
    for flag, expected in (("false", False), ("true", True)):
        result = subprocess.run(
            [sys.executable, "-c", f"import django; django.setup(); {script}"], cwd=BASE_DIR,
            env=child_env({"ENABLE_LOCAL_TRACKER": flag, "LOG_LEVEL": "ERROR"}), capture_output=True, text=True,
            timeout=60, check=True,
        )
        assert ("tracker-recording-tick" in result.stdout) is expected


def test_it_warns_at_start_up_when_the_tracker_is_on(caplog):
    with override_settings(ENABLE_LOCAL_TRACKER=True), caplog.at_level(logging.WARNING, logger="tracker"):
        apps.get_app_config("tracker").ready()
    assert "local tracker" in caplog.text
    assert "never affects the leaderboard" in caplog.text


def test_it_says_nothing_at_start_up_when_the_tracker_is_off(caplog):
    with override_settings(ENABLE_LOCAL_TRACKER=False), caplog.at_level(logging.WARNING, logger="tracker"):
        apps.get_app_config("tracker").ready()
    assert caplog.records == []


def test_a_management_command_logs_the_warning_only_when_the_tracker_is_on(tmp_path):
    for flag in ("true", "false"):
        result = subprocess.run(
            [sys.executable, "manage.py", "check"], cwd=BASE_DIR, capture_output=True, text=True, timeout=60,
            env=child_env({"ENABLE_LOCAL_TRACKER": flag, "VAR_DIR": str(tmp_path / flag)}), check=True,
        )
        assert ("ENABLE_LOCAL_TRACKER is on" in result.stderr) is (flag == "true")
        # Starting up never creates or opens the tracker database.
        assert not (tmp_path / flag / "tracker.sqlite3").exists()


@pytest.mark.integration
def test_a_real_server_with_the_tracker_off_never_opens_the_tracker_database(tmp_path):
    tracker_file = tmp_path / "tracker-never.sqlite3"
    env = {
        "ENABLE_LOCAL_TRACKER": "false",
        "VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'platform.sqlite3'}",
        "TRACKER_DATABASE_URL": f"sqlite:///{tracker_file}",
    }
    with gunicorn_server("chaoschallenge.wsgi", tmp_path=tmp_path, workers=1, env=env) as server:
        for method, path in ROUTES:
            status, _, _ = http_json(method.upper(), server.url + path, client_payload() if method == "post" else None)
            assert status == 404, path
        status, _, body = http_json("GET", server.url + "/healthz")
        assert status == 200, body
        log = server.log()
    assert not tracker_file.exists()
    assert "ENABLE_LOCAL_TRACKER is on" not in log


@pytest.mark.django_db(databases=BOTH_DATABASES)
def test_the_banner_is_on_every_tracker_page(tracker_on, client):
    post_json(client, "/tracker/api/track", client_payload())
    from tracker.models import TrackedRun

    run = TrackedRun.objects.using("tracker").get()
    pages = [
        "/tracker/",
        f"/tracker/targets/{run.target_key}/",
        f"/tracker/compare/?a={run.pk}&b={run.pk}",
        "/tracker/compare/?a=x",  # the error page
        "/tracker/targets/ffffffffffffffff/",  # a 404 of the tracker
    ]
    for path in pages:
        response = client.get(path)
        assert "local and unofficial: never affects the leaderboard" in response.content.decode(), path
