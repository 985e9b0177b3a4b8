"""Settings that refuse to run unsafely."""

from __future__ import annotations

import runpy

import pytest
from django.core.exceptions import ImproperlyConfigured

from common.testing import BASE_DIR

SETTINGS_FILE = str(BASE_DIR / "chaoschallenge" / "settings.py")


def settings_with(monkeypatch, **env: str) -> dict:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(SETTINGS_FILE)


def test_debug_refuses_to_answer_every_host_name(monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="needs DEBUG=false"):
        settings_with(monkeypatch, DEBUG="true", ALLOWED_HOSTS="*")


def test_every_host_name_is_fine_with_debug_off(monkeypatch):
    loaded = settings_with(monkeypatch, DEBUG="false", ALLOWED_HOSTS="*", SECRET_KEY="x" * 50)
    assert loaded["ALLOWED_HOSTS"] == ["*"]


def test_debug_off_still_needs_a_secret_key(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("SECRET_KEY_FILE", raising=False)
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        settings_with(monkeypatch, DEBUG="false")


def test_the_secret_key_can_come_from_a_file(monkeypatch, tmp_path):
    key_file = tmp_path / "secret_key"
    key_file.write_text("from-the-compose-volume\n")
    loaded = settings_with(monkeypatch, DEBUG="false", SECRET_KEY_FILE=str(key_file))
    assert loaded["SECRET_KEY"] == "from-the-compose-volume"
