"""Fixtures for url-anvil's tests.

Every test gets its own anvil state (a folder, and a Redis key prefix when
REDIS_URL is set), the anvil role's URLconf and middleware, and an empty fault
cache, so tests never see each other's faults or history. No test here is
marked for database access: pytest-django then fails any query, which keeps
the anvil honest about needing no database.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client

from anvil.fault_injection import fault_cache


@pytest.fixture(autouse=True)
def anvil_state(settings, tmp_path) -> Iterator[None]:
    settings.ANVIL_STATE_DIR = tmp_path / "anvil-state"
    settings.ANVIL_STORE_PREFIX = f"anvil-unit-{uuid.uuid4().hex[:12]}:"
    settings.ANVIL_CORPUS_BASE_URL = "http://127.0.0.1:8080"
    settings.ANVIL_FETCH_ALLOWED_HOSTS = []
    settings.ANVIL_CHAOS_TOKEN = None
    fault_cache.invalidate()
    fault_cache._faults = ()
    fault_cache.store_error = None
    yield
    fault_cache.invalidate()
    fault_cache._faults = ()
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        keys = list(client.scan_iter(match=f"{settings.ANVIL_STORE_PREFIX}*"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture
def anvil_client(settings) -> Client:
    """A test client that talks to the anvil role (its URLconf and its one middleware)."""
    settings.ROOT_URLCONF = "chaoschallenge.urls_anvil"
    settings.MIDDLEWARE = ["anvil.middleware.AnvilMiddleware"]
    return Client()


@pytest.fixture
def chaos_token(settings) -> str:
    settings.ANVIL_CHAOS_TOKEN = "s3cret-token"
    return settings.ANVIL_CHAOS_TOKEN


class _Upstream(ThreadingHTTPServer):
    daemon_threads = True
    routes: dict[str, Callable[[BaseHTTPRequestHandler], None]]
    connections: int = 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def do_GET(self) -> None:
        route = self.server.routes.get(self.path.split("?", 1)[0])
        if route is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        route(self)

    def log_message(self, format: str, *args) -> None:
        pass


def send_body(handler: BaseHTTPRequestHandler, body: bytes, *, status: int = 200, headers: dict | None = None) -> None:
    handler.send_response(status)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


@pytest.fixture
def upstream(settings) -> Iterator[_Upstream]:
    """A local HTTP server on 127.0.0.1 with routes a test fills in; it is the only allowed fetch host."""
    server = _Upstream(("127.0.0.1", 0), _Handler)
    server.routes = {}
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    settings.ANVIL_FETCH_ALLOWED_HOSTS = [f"127.0.0.1:{server.server_address[1]}"]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
