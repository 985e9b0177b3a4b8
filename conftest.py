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


# Tests load servers they start on free loopback ports, which the default
# allow-list (exact documented ports) does not name. Set once for the session
# on the settings themselves (a per-test override would wrap every test's
# settings), and in the environment for the workers and runners tests start;
# tests of the default read it from the settings module itself.
TEST_LOADTEST_TARGETS = ["127.0.0.1", "localhost", "::1"]


@pytest.fixture(autouse=True, scope="session")
def loadtest_targets_on_loopback():
    import os

    from django.conf import settings

    saved_setting, saved_env = settings.LOADTEST_ALLOWED_TARGET_HOSTS, os.environ.get("LOADTEST_ALLOWED_TARGET_HOSTS")
    settings.LOADTEST_ALLOWED_TARGET_HOSTS = TEST_LOADTEST_TARGETS
    os.environ["LOADTEST_ALLOWED_TARGET_HOSTS"] = ",".join(TEST_LOADTEST_TARGETS)
    yield
    settings.LOADTEST_ALLOWED_TARGET_HOSTS = saved_setting
    if saved_env is None:
        os.environ.pop("LOADTEST_ALLOWED_TARGET_HOSTS", None)
    else:
        os.environ["LOADTEST_ALLOWED_TARGET_HOSTS"] = saved_env


@pytest.fixture
def queue(settings):
    """A load-test queue of this test alone, for the real workers it starts (their runs cannot reach another's)."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    settings.LOADTEST_QUEUE = name
    return name
