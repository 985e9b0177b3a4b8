"""Fixtures shared by every app's tests. Plain helpers live in ``common.testing``."""

from __future__ import annotations

import uuid

import pytest

from common.env import env_str
from common.testing import anvil_running, redis_keys_delete


@pytest.fixture
def anvil_store(settings, tmp_path):
    """A url-anvil state store (faults, history, heartbeats) of this test alone.

    Its own folder under ``tmp_path`` and, when REDIS_URL is set, its own Redis
    key prefix. This process's settings point at it too, so in-process calls
    (``anvil.services``) and the anvil servers started with the returned
    environment see the same faults.
    """
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    state_dir = tmp_path / "anvil-state"
    state_dir.mkdir()
    settings.ANVIL_STORE_PREFIX = prefix
    settings.ANVIL_STATE_DIR = state_dir
    yield {"ANVIL_STORE_PREFIX": prefix, "ANVIL_STATE_DIR": str(state_dir), "ANVIL_FAULT_REFRESH_S": "0.2"}
    from anvil.services import fault_clear

    fault_clear()
    redis_url = env_str("REDIS_URL")
    if redis_url:
        redis_keys_delete(url=redis_url, prefix=prefix)


@pytest.fixture
def anvil_server(tmp_path, anvil_store):
    """A real url-anvil under gunicorn (2 workers) on a free port, using this test's store.

    The control API is on with ``server.env["ANVIL_CHAOS_TOKEN"]``; the corpus
    base URL is the server itself.
    """
    with anvil_running(tmp_path=tmp_path, store_env=anvil_store) as server:
        yield server
