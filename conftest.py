"""Fixtures shared by every app's tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def anvil_server(tmp_path):
    """A real url-anvil under gunicorn with two workers on a free port."""
    from common.testing import gunicorn_server

    with gunicorn_server("chaoschallenge.wsgi_anvil", tmp_path=tmp_path, workers=2) as server:
        yield server
