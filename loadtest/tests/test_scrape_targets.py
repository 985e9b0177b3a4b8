"""``add_scrape_target`` and the file-SD service behind it."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from common.validation import FieldError
from loadtest.scrape_targets import (
    scrape_target_add,
    scrape_target_address_validate,
    scrape_target_list,
    scrape_target_remove,
)


@pytest.fixture
def sd_dir(tmp_path, settings):
    settings.PROMETHEUS_FILE_SD_DIR = tmp_path / "file-sd"
    return settings.PROMETHEUS_FILE_SD_DIR


def _run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("add_scrape_target", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_writes_a_file_sd_group_prometheus_can_read(sd_dir):
    out, _ = _run("my-lb", "lb.example:9100", "10.0.0.7:9101")

    groups = json.loads((sd_dir / "my-lb.json").read_text())
    assert groups == [
        {"targets": ["lb.example:9100", "10.0.0.7:9101"], "labels": {"app": "my-lb", "__metrics_path__": "/metrics"}}
    ]
    assert "my-lb" in out and "lb.example:9100" in out


def test_it_replaces_an_existing_group_and_leaves_no_temporary_files(sd_dir):
    _run("web", "a:1")
    _run("web", "b:2", "--metrics-path", "/prometheus/metrics")

    assert [p.name for p in sd_dir.iterdir()] == ["web.json"]
    group = json.loads((sd_dir / "web.json").read_text())[0]
    assert group["targets"] == ["b:2"]
    assert group["labels"]["__metrics_path__"] == "/prometheus/metrics"


@pytest.mark.parametrize(
    "args",
    [
        ["Bad Name", "host:9100"],
        ["../escape", "host:9100"],
        ["name.json", "host:9100"],
        ["ok", "host"],
        ["ok", "host:0"],
        ["ok", "host:65536"],
        ["ok", "host:port"],
        ["ok", "http://host:9100"],
        ["ok", "host:9100/metrics"],
        ["ok", "user@host:9100"],
        ["ok", "bad-.example:9100"],
        ["ok", "300.1.2.3:9100"],
        ["ok", "::1:9100"],
        ["ok", "[nothex]:9100"],
        ["ok"],
        ["ok", "host:9100", "--metrics-path", "metrics"],
        ["ok", "host:9100", "--metrics-path", "/a/../b"],
    ],
)
def test_it_refuses_malformed_input_with_exit_code_2_and_writes_nothing(sd_dir, args):
    with pytest.raises(CommandError) as excinfo:
        _run(*args)

    assert excinfo.value.returncode == 2
    assert str(excinfo.value)
    assert not sd_dir.exists() or not any(sd_dir.iterdir())


def test_it_accepts_ipv6_and_normalizes_host_names():
    assert scrape_target_address_validate(address="[::1]:9100") == "[::1]:9100"
    assert scrape_target_address_validate(address="App-1.Local:080") == "app-1.local:80"


def test_it_names_the_field_that_is_wrong(tmp_path):
    with pytest.raises(FieldError) as excinfo:
        scrape_target_add(name="fine", addresses=["fine:1", "nope"], directory=tmp_path)
    assert excinfo.value.field == "address"
    assert "nope" in str(excinfo.value)
    assert not list(tmp_path.iterdir())


def test_it_lists_and_removes_groups(sd_dir):
    _run("alpha", "a:1")
    _run("beta", "b:2", "b:3")
    (sd_dir / "notes.txt").write_text("not a target")

    out, err = _run("--list")
    assert out.splitlines() == ["alpha\ta:1\t/metrics", "beta\tb:2,b:3\t/metrics"]
    assert "2 target group(s)" in err

    _run("--remove", "alpha")
    assert [t.name for t in scrape_target_list()] == ["beta"]


def test_removing_an_unknown_group_exits_1(sd_dir):
    with pytest.raises(CommandError) as excinfo:
        _run("--remove", "ghost")
    assert excinfo.value.returncode == 1
    assert scrape_target_remove(name="ghost") is False


@pytest.mark.parametrize("address", ["127.0.0.1:²", "127.0.0.1:٣", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:1e3"])
def test_a_port_that_is_not_a_plain_number_in_range_is_a_field_error(address):
    from loadtest.scrape_targets import scrape_target_address_validate

    with pytest.raises(FieldError, match="the port must be a number from 1 to 65535"):
        scrape_target_address_validate(address=address)
