"""Scores nobody can bend: a run's load never leaves its target, and only right answers count.

Each hostile target is a small server of the test's own on 127.0.0.1.
"""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from common.contract import INSTANCE_HEADER
from common.testing import tiny_profile
from loadtest import services
from loadtest.execution.prober import probe_once
from loadtest.models import RunStatus
from loadtest.selectors import run_window_stats

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

Answer = Callable[[BaseHTTPRequestHandler, bytes], tuple[int, dict, bytes]]


@contextmanager
def serving(answer: Answer) -> Iterator[tuple[str, list[str]]]:
    """A threaded HTTP server answering every request with ``answer``; yields its URL and the paths it saw."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            seen.append(self.path)
            status, headers, payload = answer(self, body)
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(payload))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_HEAD = _any

        def log_message(self, *args) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def proxy_to(upstream: str, *, cache: dict | None = None) -> Answer:
    """Forward to ``upstream``; with ``cache``, replay an earlier answer to the same request."""
    def answer(handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict, bytes]:
        key = (handler.command, handler.path, body)
        if cache is not None and key in cache:
            return cache[key]
        request = urllib.request.Request(upstream + handler.path, data=body or None, method=handler.command,
                                         headers={"Content-Type": handler.headers.get("Content-Type", "")})
        with urllib.request.urlopen(request, timeout=10) as response:
            result = (response.status, {INSTANCE_HEADER: response.headers.get(INSTANCE_HEADER, ""),
                                        "Content-Type": response.headers.get("Content-Type", "")}, response.read())
        if cache is not None:
            cache[key] = result
        return result
    return answer


def load(url: str, **profile) -> object:
    run = services.run_create(target_url=url, profile=tiny_profile(duration_s=3, **profile))
    return services.run_execute(run_id=run.pk)


def test_a_target_that_redirects_elsewhere_sends_no_load_there_and_counts_redirects(anvil_store):
    with serving(lambda h, b: (200, {}, b"elsewhere")) as (foreign, foreign_seen):
        redirect = lambda h, b: (302, {"Location": foreign + h.path, INSTANCE_HEADER: "x"}, b"")  # noqa: E731
        with serving(redirect) as (target, _):
            run = load(target)
    assert foreign_seen == []
    assert run.status == RunStatus.COMPLETED, run.error
    stats = run_window_stats(run=run)
    assert stats["successes"] == 0 and stats["requests"] > 0
    assert stats["failures_by_kind"] == {"redirect": stats["failures"]}
    # Its probes were not followed either: the target was down all along.
    assert not run.probes.filter(up=True).exists()
    assert run.probes.filter(error__startswith="redirect").exists()


def test_a_server_that_answers_ok_to_everything_scores_nothing(anvil_store):
    canned = lambda h, b: (200, {INSTANCE_HEADER: "fake", "Content-Type": "application/json"}, b'{"status": "ok"}')  # noqa: E731
    with serving(canned) as (target, _):
        run = load(target, tasks={"sample_urls": 1, "test": 1})
    assert run.status == RunStatus.COMPLETED, run.error
    stats = run_window_stats(run=run)
    assert stats["requests"] > 0 and stats["successes"] == 0
    assert set(stats["failures_by_kind"]) == {"wrong_answer"}


def test_a_server_that_replays_one_hash_to_every_test_scores_nothing_on_tests(anvil_server, anvil_store):
    import json

    real = proxy_to(anvil_server.url)

    def lying(handler, body):
        status, headers, payload = real(handler, body)
        if handler.path == "/api/test" and status == 200:
            payload = json.dumps({**json.loads(payload), "content_hash": "0" * 64}).encode()
        return status, headers, payload

    with serving(lying) as (target, _):
        run = load(target, tasks={"test": 1})
    stats = run_window_stats(run=run)
    # The sample URLs it fetched first are right; every test answer is not.
    assert stats["failures_by_kind"].get("wrong_answer", 0) > 0
    assert stats["successes"] < stats["requests"] / 2


def test_a_cache_in_front_of_url_anvil_still_scores_because_its_answers_are_right(anvil_server, anvil_store):
    with serving(proxy_to(anvil_server.url, cache={})) as (target, _):
        run = load(target, tasks={"sample_urls": 1, "test": 2, "history": 1, "index": 1})
    assert run.status == RunStatus.COMPLETED, run.error
    stats = run_window_stats(run=run)
    assert stats["requests"] > 0 and stats["failures"] == 0, stats["failures_by_kind"]


@pytest.mark.parametrize("status, headers, body, error", [
    (200, {}, b'{"status": "ok"}', "wrong_answer: no X-Anvil-Instance"),
    (200, {INSTANCE_HEADER: "i"}, b"ok", "wrong_answer: healthz: not JSON"),
    (200, {INSTANCE_HEADER: "i"}, b'{"status": "degraded"}', "wrong_answer: healthz"),
    (302, {"Location": "http://127.0.0.1:9/healthz"}, b"", "redirect: answered 302"),
])
def test_a_probe_counts_only_a_right_healthz_answer_as_up(status, headers, body, error):
    with serving(lambda h, b: (status, headers, body)) as (target, seen):
        result = probe_once(url=target + "/healthz")
    assert result["up"] is False and result["status_code"] == status
    assert result["error"].startswith(error)
    assert seen == ["/healthz"]


def test_a_probe_of_a_real_url_anvil_is_up(anvil_server):
    result = probe_once(url=anvil_server.url + "/healthz")
    assert result["up"] is True and result["instance"] and result["error"] == ""
