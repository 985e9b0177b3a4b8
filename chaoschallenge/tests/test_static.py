from __future__ import annotations

import urllib.request

import pytest

from common.testing import gunicorn_server


def test_the_platform_serves_its_stylesheet(client):
    response = client.get("/static/css/site.css")
    assert response.status_code == 200
    assert b"--accent" in b"".join(response.streaming_content)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_the_platform_serves_its_stylesheet_under_gunicorn(tmp_path):
    from common.testing import database_url_of_tests

    env = {"DATABASE_URL": database_url_of_tests()}
    with gunicorn_server("chaoschallenge.wsgi", tmp_path=tmp_path, workers=1, env=env) as server:
        with urllib.request.urlopen(server.url + "/static/css/site.css", timeout=10) as response:
            assert response.status == 200
            assert "text/css" in response.headers["Content-Type"]
