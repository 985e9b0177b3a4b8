"""Fixtures shared by every app's tests."""

from __future__ import annotations

import pytest

ANVIL_TEST_TOKEN = "test-chaos-token"


@pytest.fixture
def anvil_server(tmp_path):
    """A real url-anvil under gunicorn with two workers on a free port.

    Its state (history, faults, heartbeats) is its own: a folder under
    ``tmp_path`` and, when REDIS_URL is set, a Redis key prefix unique to this
    test. The control API is on with ``server.env["ANVIL_CHAOS_TOKEN"]``; the
    corpus base URL is the server itself.
    """
    import uuid

    from common.testing import free_port, gunicorn_server

    port = free_port()
    prefix = f"anvil-test-{uuid.uuid4().hex[:12]}:"
    env = {
        "ANVIL_PORT": str(port),
        "ANVIL_CORPUS_BASE_URL": f"http://127.0.0.1:{port}",
        "ANVIL_CHAOS_TOKEN": ANVIL_TEST_TOKEN,
        "ANVIL_STATE_DIR": str(tmp_path / "anvil-state"),
        "ANVIL_STORE_PREFIX": prefix,
    }
    try:
        with gunicorn_server("chaoschallenge.wsgi_anvil", tmp_path=tmp_path, workers=2, env=env, port=port) as server:
            yield server
    finally:
        from common.env import env_str

        redis_url = env_str("REDIS_URL")
        if redis_url:
            import redis

            client = redis.Redis.from_url(redis_url)
            keys = list(client.scan_iter(match=f"{prefix}*"))
            if keys:
                client.delete(*keys)
            client.close()
