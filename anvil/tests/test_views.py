"""url-anvil's HTTP contract, in process (the anvil role's URLconf and middleware, no database)."""

from __future__ import annotations

import hashlib
import io
import json
import re
from datetime import datetime

import pytest

from anvil import services
from anvil.corpus import corpus_documents, master_urls
from anvil.fetcher import Fetched, FetchError
from anvil.tests.conftest import send_body

INVALID = {"error": "Invalid or empty URL array provided."}
CORPUS = "http://127.0.0.1:8080/corpus"


def post_json(client, path, body, **extra):
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(path, raw, content_type="application/json", **extra)


@pytest.fixture
def fake_fetch(monkeypatch):
    """Replace the network: each URL answers with its own name as the body."""
    calls = []

    def fetch_many(*, urls):
        calls.append(list(urls))
        return [Fetched(url=url, status=200, body=url.encode(), elapsed_ms=1.5 + i) for i, url in enumerate(urls)]

    monkeypatch.setattr(services, "fetch_many", fetch_many)
    return calls


def test_the_page_renders_sample_urls_and_history_without_a_cdn(anvil_client, fake_fetch):
    post_json(anvil_client, "/api/test", {"urls": [f"{CORPUS}/us-constitution"]})
    response = anvil_client.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "url-anvil" in page and "SRE Chaos Challenge" in page  # extends base.html
    assert f"{CORPUS}/" in page
    assert 'id="history"' in page and '<tr class="empty">' not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)


def test_the_history_shows_each_time_compactly_and_on_one_line(anvil_client, fake_fetch):
    body = post_json(anvil_client, "/api/test", {"urls": [f"{CORPUS}/us-constitution"]}).json()
    page = anvil_client.get("/").content.decode()
    stamp = body["timestamp"]  # 2026-03-01T12:00:00.123Z
    shown = f"{stamp[:10]} {stamp[11:19]}"
    assert f'<td class="when"><time datetime="{stamp}">{shown}</time></td>' in page
    # The same compact form when the page redraws the table after a test.
    assert "timestamp.slice(0, 10) + \" \" + timestamp.slice(11, 19)" in page
    css = b"".join(anvil_client.get("/static/css/site.css").streaming_content).decode()
    assert re.search(r"td\.when[^{]*\{[^}]*white-space: nowrap", css)


def test_the_pages_buttons_are_styled_like_the_rest_of_the_site(anvil_client, fake_fetch):
    page = anvil_client.get("/").content.decode()
    assert '<button type="button" id="pick">Pick sample URLs</button>' in page
    assert '<button type="submit" id="run-test">Run test</button>' in page
    assert '/static/css/site.css' in page
    css = b"".join(anvil_client.get("/static/css/site.css").streaming_content).decode()
    rule = re.search(r"\nbutton, \.button \{([^}]*)\}", css).group(1)
    assert "border-radius" in rule and "var(--button-bg)" in rule
    assert re.search(r'button\[type="submit"\][^{]*\{[^}]*var\(--primary-bg\)', css)


def test_sample_urls_are_five_distinct_absolute_corpus_urls(anvil_client):
    before = master_urls()
    for _ in range(20):
        urls = anvil_client.get("/api/sample-urls").json()
        assert len(urls) == 5 and len(set(urls)) == 5
        assert all(url.startswith(f"{CORPUS}/") and url in before for url in urls)
    assert master_urls() == before


def test_sample_urls_follow_the_corpus_base_url(anvil_client, settings):
    settings.ANVIL_CORPUS_BASE_URL = "http://anvil:8080"
    assert all(url.startswith("http://anvil:8080/corpus/") for url in anvil_client.get("/api/sample-urls").json())


def test_every_corpus_document_is_served_and_between_10_and_30_kb(anvil_client):
    documents = corpus_documents()
    assert len(documents) >= 6
    for slug, body in documents.items():
        response = anvil_client.get(f"/corpus/{slug}")
        assert response.status_code == 200
        assert response["Content-Type"] == "text/plain; charset=utf-8"
        assert response.content == body
        assert 10_000 <= len(body) <= 30_000, slug


def test_an_unknown_corpus_document_is_a_json_404(anvil_client):
    response = anvil_client.get("/corpus/no-such-text")
    assert response.status_code == 404
    assert "no-such-text" in response.json()["error"]


def test_a_url_test_answers_the_documented_shape_and_records_history(anvil_client, fake_fetch):
    urls = [f"{CORPUS}/us-constitution", f"{CORPUS}/bill-of-rights"]
    response = post_json(anvil_client, "/api/test", {"urls": urls})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"urls_tested", "total_fetch_time_ms", "average_fetch_time_ms", "content_hash", "timestamp"}
    assert body["urls_tested"] == 2
    assert body["content_hash"] == hashlib.sha256(b"\n---\n".join(url.encode() for url in urls)).hexdigest()
    assert body["average_fetch_time_ms"] == 2.0
    assert isinstance(body["total_fetch_time_ms"], float)
    assert round(body["total_fetch_time_ms"], 2) == body["total_fetch_time_ms"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["timestamp"])
    datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00"))
    assert anvil_client.get("/api/history").json() == [body]


def test_history_keeps_the_ten_newest_results_newest_first(anvil_client, fake_fetch):
    results = [post_json(anvil_client, "/api/test", {"urls": [f"{CORPUS}/us-constitution"] * (n + 1)}).json() for n in range(12)]
    history = anvil_client.get("/api/history").json()
    assert [entry["urls_tested"] for entry in history] == list(range(12, 2, -1))
    assert history[0] == results[-1]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"urls": []},
        {"urls": "http://127.0.0.1:8080/corpus/us-constitution"},
        {"urls": None},
        {"urls": [1, 2]},
        {"urls": [f"{CORPUS}/us-constitution", None]},
        {"urls": [""]},
        ["http://127.0.0.1:8080/corpus/us-constitution"],
        "\"just a string\"",
        42,
    ],
)
def test_it_refuses_a_missing_empty_or_malformed_url_array(anvil_client, fake_fetch, body):
    response = post_json(anvil_client, "/api/test", body)
    assert response.status_code == 400
    assert response.json() == INVALID
    assert fake_fetch == []


@pytest.mark.parametrize("raw", ["{not json", "", '{"urls": [', b"\xff\xfe", "[" * 30000 + "]" * 30000])
def test_it_refuses_a_malformed_json_body(anvil_client, raw):
    response = post_json(anvil_client, "/api/test", raw)
    assert response.status_code == 400
    assert response.json()["error"].startswith("Malformed JSON body")


def test_it_refuses_more_urls_than_the_limit(anvil_client, fake_fetch, settings):
    settings.ANVIL_MAX_URLS = 20
    response = post_json(anvil_client, "/api/test", {"urls": [f"{CORPUS}/us-constitution"] * 21})
    assert response.status_code == 413
    assert "at most 20" in response.json()["error"]
    assert fake_fetch == []


def test_it_refuses_a_body_over_the_size_limit(anvil_client, settings):
    settings.ANVIL_MAX_BODY_BYTES = 2048
    response = post_json(anvil_client, "/api/test", {"urls": ["x" * 5000]})
    assert response.status_code == 413
    assert "larger than 2048 bytes" in response.json()["error"]


@pytest.mark.parametrize("declared", ["²", "١٢", "-1", "1e3", " 12", "12 ", "0x10", "1" * 30])
def test_a_content_length_that_is_not_plain_ascii_digits_is_a_json_400(anvil_client, fake_fetch, declared):
    response = post_json(anvil_client, "/api/test", {"urls": [f"{CORPUS}/us-constitution"]}, CONTENT_LENGTH=declared)
    assert response.status_code == 400
    assert response.json() == {"error": "Content-Length must be a whole number of bytes."}
    assert fake_fetch == []


def chunked(body: bytes, **environ) -> dict:
    """What a WSGI server passes for a chunked request: no Content-Length, the decoded body in wsgi.input."""
    return {"CONTENT_LENGTH": "", "HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": io.BytesIO(body), **environ}


def test_a_chunked_body_is_read_when_the_server_ends_the_stream_after_it(anvil_client, fake_fetch):
    body = json.dumps({"urls": [f"{CORPUS}/us-constitution"]}).encode()
    response = post_json(anvil_client, "/api/test", body, **chunked(body, **{"wsgi.input_terminated": True}))
    assert response.status_code == 200, response.content
    assert fake_fetch == [[f"{CORPUS}/us-constitution"]]


def test_a_chunked_body_over_the_size_limit_is_a_413(anvil_client, fake_fetch, settings):
    settings.ANVIL_MAX_BODY_BYTES = 2048
    body = json.dumps({"urls": ["x" * 5000]}).encode()
    response = post_json(anvil_client, "/api/test", body, **chunked(body, **{"wsgi.input_terminated": True}))
    assert response.status_code == 413
    assert "larger than 2048 bytes" in response.json()["error"]


def test_a_chunked_body_is_refused_with_411_rather_than_read_as_empty_when_it_cannot_be_delimited(anvil_client, fake_fetch):
    body = json.dumps({"urls": [f"{CORPUS}/us-constitution"]}).encode()
    response = post_json(anvil_client, "/api/test", body, **chunked(body))
    assert response.status_code == 411
    assert "send a Content-Length" in response.json()["error"]
    assert fake_fetch == []


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/",
        "http://169.254.169.254/latest/meta-data/",
        "ftp://127.0.0.1:8080/corpus/us-constitution",
        "http://admin:pw@127.0.0.1:8080/corpus/us-constitution",
    ],
)
def test_it_refuses_a_url_that_is_not_allowed_and_names_it(anvil_client, fake_fetch, url):
    response = post_json(anvil_client, "/api/test", {"urls": [f"{CORPUS}/us-constitution", url]})
    assert response.status_code == 400
    assert response.json()["error"].startswith(f"URL not allowed: {url}")
    assert fake_fetch == []


def test_a_failed_upstream_fetch_is_a_502(anvil_client, monkeypatch):
    def failing(*, urls):
        raise FetchError(urls[0], "timed out after 5s")

    monkeypatch.setattr(services, "fetch_many", failing)
    response = post_json(anvil_client, "/api/test", {"urls": [f"{CORPUS}/us-constitution"]})
    assert response.status_code == 502
    assert response.json() == {
        "error": "Failed to test URLs.",
        "message": f"{CORPUS}/us-constitution: timed out after 5s",
    }
    assert anvil_client.get("/api/history").json() == []


def test_a_real_fetch_through_a_live_corpus_hashes_deterministically(anvil_client, upstream):
    documents = corpus_documents()
    for slug, body in documents.items():
        upstream.routes[f"/corpus/{slug}"] = lambda h, body=body: send_body(h, body)
    slugs = sorted(documents)[:5]
    urls = [f"{upstream.url}/corpus/{slug}" for slug in slugs]
    first = post_json(anvil_client, "/api/test", {"urls": urls}).json()
    second = post_json(anvil_client, "/api/test", {"urls": urls}).json()
    expected = hashlib.sha256(b"\n---\n".join(documents[slug] for slug in slugs)).hexdigest()
    assert first["content_hash"] == second["content_hash"] == expected
    assert first["urls_tested"] == 5


def test_wrong_methods_get_a_json_405(anvil_client):
    response = anvil_client.get("/api/test")
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert "GET" in response.json()["error"]
    assert anvil_client.post("/api/sample-urls").status_code == 405


def test_healthz_reports_the_instance_and_uptime(anvil_client):
    response = anvil_client.get("/healthz")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["instance"] == response["X-Anvil-Instance"]
    assert body["uptime_s"] >= 0


def test_healthz_is_unhealthy_when_the_state_store_fails(anvil_client, monkeypatch):
    def broken():
        raise OSError("disk on fire")

    monkeypatch.setattr(services, "fault_list", broken)
    response = anvil_client.get("/healthz")
    assert response.status_code == 503
    assert "disk on fire" in response.json()["reason"]


def test_a_failing_state_store_is_a_503_not_a_500(anvil_client, monkeypatch):
    def broken(**kwargs):
        raise OSError("store unreachable")

    monkeypatch.setattr("anvil.selectors.history_list", broken)
    response = anvil_client.get("/api/history")
    assert response.status_code == 503
    assert response.json()["error"] == "State store unavailable."


@pytest.mark.parametrize("path", ["/", "/api/sample-urls", "/api/history", "/healthz", "/metrics", "/corpus/us-constitution", "/nowhere"])
def test_every_response_carries_the_instance_header(anvil_client, path):
    response = anvil_client.get(path)
    assert re.fullmatch(r"[0-9a-f]{16}", response["X-Anvil-Instance"])


def test_metrics_count_requests_by_route_method_and_status(anvil_client):
    for _ in range(3):
        anvil_client.get("/api/sample-urls")
    text = anvil_client.get("/metrics").content.decode()
    match = re.search(
        r'anvil_request_duration_seconds_count\{method="GET",route="anvil-sample-urls",status="200"\} (\d+)', text
    )
    assert match and float(match.group(1)) >= 3
    assert "anvil_active_faults" in text
    assert "process_start_time_seconds" in text


def test_unknown_paths_are_a_json_404_when_debug_is_off(anvil_client, settings):
    settings.DEBUG = False
    response = anvil_client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.json() == {"error": "No such path: /no/such/thing"}
