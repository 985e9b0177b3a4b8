"""The browsable API docs: Swagger UI from the platform's own static files, every operation listed, the raw schema a click away."""

from __future__ import annotations

import json

import pytest
import yaml
from playwright.sync_api import expect

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

METHODS = {"get", "post", "put", "patch", "delete"}


def test_the_api_docs_list_every_operation_and_link_to_the_raw_schema(platform_server, page):
    failed_requests = []
    page.on("requestfailed", lambda request: failed_requests.append(request.url))
    page.goto(f"{platform_server.url}/api/docs/")

    # The raw schema, as the page's links give it.
    yaml_link = page.get_by_role("link", name="YAML", exact=True)
    json_link = page.get_by_role("link", name="JSON", exact=True)
    answer = page.request.get(yaml_link.evaluate("link => link.href"))
    assert answer.ok, answer.status
    schema = yaml.safe_load(answer.text())
    assert schema["openapi"].startswith("3.")
    answer = page.request.get(json_link.evaluate("link => link.href"))
    assert answer.ok, answer.status
    assert json.loads(answer.text()) == schema

    operations = [
        (method.upper(), path) for path, item in schema["paths"].items() for method in item if method in METHODS
    ]
    assert ("POST", "/api/v1/submissions") in operations
    # Swagger UI draws one block per operation, its method and path on it.
    blocks = page.locator(".opblock-summary")
    expect(blocks).to_have_count(len(operations))
    for method, path in operations:
        block = blocks.filter(has_text=method).filter(has=page.get_by_text(path, exact=True))
        expect(block).to_have_count(1)

    # Opening one shows what it takes.
    submit = blocks.filter(has_text="POST").filter(has=page.get_by_text("/api/v1/submissions", exact=True))
    submit.click()
    expect(page.get_by_text("Request body", exact=False).first).to_be_visible()
    assert failed_requests == []
