"""The browsable API docs at /api/docs/: Swagger UI from our own static files, the raw schema one click away."""

from __future__ import annotations

import re

import pytest

DOCS = "/api/docs/"


@pytest.fixture
def page(client, db):
    response = client.get(DOCS)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    return response.content.decode()


def test_the_docs_page_loads_swagger_ui_from_local_static_files_only(client, page):
    assets = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    assert any(a.endswith("swagger-ui.css") for a in assets)
    for asset in assets:
        assert asset.startswith("/static/"), asset
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert b"".join(response.streaming_content)
    # Nothing is fetched from elsewhere: no CDN, and no validator badge from swagger.io.
    assert not re.search(r"https?://|//cdn", page)
    assert '"validatorUrl": null' in page


def test_the_raw_schema_is_one_click_away(client, page):
    links = re.findall(r'<a href="([^"]+)"', page)
    assert "/api/schema/" in links
    assert "/api/schema/?format=json" in links
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.")


def test_the_site_navigation_points_to_the_docs_page(client, db):
    home = client.get("/").content.decode()
    assert f'href="{DOCS}"' in home
    assert 'href="/api/schema/"' not in home
