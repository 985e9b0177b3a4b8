from __future__ import annotations

from pathlib import Path

import pytest

from common.env import EnvError, database_from_url, env_bool, env_int, env_list, env_secret


def test_it_reads_clear_boolean_spellings(monkeypatch):
    for raw, expected in [("true", True), ("YES", True), ("1", True), ("off", False), ("0", False)]:
        monkeypatch.setenv("FLAG", raw)
        assert env_bool("FLAG") is expected


def test_it_refuses_an_unclear_boolean(monkeypatch):
    monkeypatch.setenv("FLAG", "ture")
    with pytest.raises(EnvError, match="FLAG"):
        env_bool("FLAG")


def test_it_uses_the_default_when_a_variable_is_unset(monkeypatch):
    monkeypatch.delenv("FLAG", raising=False)
    monkeypatch.delenv("COUNT", raising=False)
    assert env_bool("FLAG", True) is True
    assert env_int("COUNT", 7) == 7


def test_it_refuses_a_non_integer_and_one_below_the_minimum(monkeypatch):
    monkeypatch.setenv("COUNT", "seven")
    with pytest.raises(EnvError, match="not an integer"):
        env_int("COUNT", 1)
    monkeypatch.setenv("COUNT", "0")
    with pytest.raises(EnvError, match="minimum"):
        env_int("COUNT", 1, minimum=1)


def test_it_splits_lists_and_drops_blanks(monkeypatch):
    monkeypatch.setenv("HOSTS", "a, b:8080,, c ")
    assert env_list("HOSTS") == ["a", "b:8080", "c"]


def test_it_reads_a_secret_from_a_file(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("TOKEN_FILE", str(secret))
    assert env_secret("TOKEN") == "s3cret"


def test_it_parses_postgres_urls():
    config = database_from_url("postgres://user:p%40ss@db.local:5433/chaos?sslmode=disable")
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["NAME"], config["USER"], config["PASSWORD"]) == ("chaos", "user", "p@ss")
    assert (config["HOST"], config["PORT"]) == ("db.local", "5433")
    assert config["OPTIONS"] == {"sslmode": "disable"}


def test_it_parses_absolute_sqlite_urls_and_keeps_test_data_in_a_file():
    config = database_from_url("sqlite:////tmp/x/platform.sqlite3")
    assert config["NAME"] == str(Path("/tmp/x/platform.sqlite3"))
    assert config["TEST"]["NAME"] == "/tmp/x/test-platform.sqlite3"


def test_it_refuses_an_unknown_scheme():
    with pytest.raises(EnvError, match="unsupported scheme"):
        database_from_url("mysql://root@localhost/x")
