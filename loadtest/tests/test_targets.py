from __future__ import annotations

import os
import runpy
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from loadtest.targets import TargetNotAllowed, target_url_validate

SETTINGS_FILE = Path(__file__).resolve().parents[2] / "chaoschallenge" / "settings.py"


def default_allow_list(monkeypatch, **env: str) -> list[str]:
    """LOADTEST_ALLOWED_TARGET_HOSTS as the settings module computes it with nothing set (plus ``env``)."""
    monkeypatch.delenv("LOADTEST_ALLOWED_TARGET_HOSTS", raising=False)
    for name in ("ANVIL_PORT", "PLATFORM_PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert "LOADTEST_ALLOWED_TARGET_HOSTS" not in os.environ
    return runpy.run_path(str(SETTINGS_FILE))["LOADTEST_ALLOWED_TARGET_HOSTS"]


@pytest.fixture
def defaults(settings, monkeypatch):
    settings.LOADTEST_ALLOWED_TARGET_HOSTS = default_allow_list(monkeypatch)
    settings.PLATFORM_PORT = 8000


@pytest.mark.parametrize(
    ("url", "normalized"),
    [
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("http://LOCALHOST:8080", "http://localhost:8080"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("http://127.0.0.1:8081/anvil/", "http://127.0.0.1:8081/anvil"),
        ("http://127.0.0.1:8090", "http://127.0.0.1:8090"),
    ],
)
def test_by_default_it_accepts_the_local_anvil_and_the_example_setups(defaults, url, normalized):
    assert target_url_validate(url=url) == normalized


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000",  # the platform itself
        "http://localhost:8000",
        "http://127.0.0.1:5432",  # PostgreSQL
        "http://127.0.0.1:6379",  # Redis
        "http://127.0.0.1",  # port 80 of loopback
        "http://127.9.9.9:8080",  # the rest of 127.0.0.0/8
        "http://127.0.0.2:8080",
        "http://anvil:8080",  # bare names resolve through DNS search domains outside docker
        "http://lb:8080",
        "http://nginx",
        "http://localhost.:8080",
    ],
)
def test_by_default_it_refuses_other_local_ports_hosts_and_bare_names(defaults, url):
    with pytest.raises(TargetNotAllowed, match="not allowed"):
        target_url_validate(url=url)


def test_the_default_follows_the_local_anvil_port_and_never_names_the_platform_port(monkeypatch):
    assert "127.0.0.1:9999" in default_allow_list(monkeypatch, ANVIL_PORT="9999")
    assert not any(entry.endswith(":8000") for entry in default_allow_list(monkeypatch, ANVIL_PORT="8000"))
    listed = default_allow_list(monkeypatch)
    assert all(entry.rsplit(":", 1)[1].isdigit() for entry in listed)  # every entry names its port
    assert not any("/" in entry for entry in listed)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://example.com", "not allowed"),
        ("http://10.0.0.5:8080", "not allowed"),
        ("http://169.254.169.254/", "not allowed"),
        ("ftp://127.0.0.1", "http://"),
        ("http://user:pw@127.0.0.1", "credentials"),
        ("http://127.0.0.1/?x=1", "query"),
        ("http://127.0.0.1:99999", "malformed"),
        ("", "empty"),
        ("http://", "no host"),
    ],
)
def test_it_refuses_other_targets_with_a_reason(defaults, url, reason):
    with pytest.raises(TargetNotAllowed, match=reason):
        target_url_validate(url=url)


def test_the_allow_list_comes_from_settings(settings):
    settings.LOADTEST_ALLOWED_TARGET_HOSTS = ["staging.internal", "10.1.0.0/16"]
    assert target_url_validate(url="http://staging.internal") == "http://staging.internal"
    assert target_url_validate(url="http://10.1.2.3:81") == "http://10.1.2.3:81"
    with pytest.raises(TargetNotAllowed, match=r"staging\.internal"):
        target_url_validate(url="http://127.0.0.1")


def test_an_entry_with_a_port_allows_only_that_port(settings):
    settings.LOADTEST_ALLOWED_TARGET_HOSTS = ["lb:8080", "10.0.0.7:9000", "[fd00::7]:9000"]
    assert target_url_validate(url="http://lb:8080") == "http://lb:8080"
    assert target_url_validate(url="https://10.0.0.7:9000/") == "https://10.0.0.7:9000"
    assert target_url_validate(url="http://[FD00::7]:9000") == "http://[fd00::7]:9000"
    for url in ("http://lb", "http://lb:8081", "http://10.0.0.7:9001", "http://[fd00::7]:80"):
        with pytest.raises(TargetNotAllowed, match="not allowed"):
            target_url_validate(url=url)


def test_the_default_port_of_the_scheme_counts(settings):
    settings.LOADTEST_ALLOWED_TARGET_HOSTS = ["site.internal:443"]
    assert target_url_validate(url="https://site.internal") == "https://site.internal"
    with pytest.raises(TargetNotAllowed):
        target_url_validate(url="http://site.internal")


@pytest.mark.parametrize("port", [8000, 5432, 6379])
def test_a_host_wide_entry_never_opens_the_platform_or_database_ports(settings, port):
    settings.PLATFORM_PORT = 8000
    settings.LOADTEST_ALLOWED_TARGET_HOSTS = ["127.0.0.1", "db.internal", "10.0.0.0/8"]
    for host in ("127.0.0.1", "db.internal", "10.1.1.1"):
        with pytest.raises(TargetNotAllowed, match="not allowed"):
            target_url_validate(url=f"http://{host}:{port}")
    # Named exactly, a port is what the operator asked for.
    settings.LOADTEST_ALLOWED_TARGET_HOSTS = [f"10.1.1.1:{port}"]
    assert target_url_validate(url=f"http://10.1.1.1:{port}") == f"http://10.1.1.1:{port}"


@pytest.mark.parametrize(
    "host",
    [
        "[::ffff:127.0.0.1]",  # IPv4-mapped
        "[::ffff:0:127.0.0.1]",  # IPv4-translated
        "[64:ff9b::127.0.0.1]",  # NAT64
        "[64:ff9b::7f00:1]",
        "[2002:7f00:1::]",  # 6to4
        "[2002:7f00:1:1234::5]",
        "[::127.0.0.1]",  # IPv4-compatible
    ],
)
def test_ipv6_spellings_of_an_ipv4_address_count_as_that_address(settings, host):
    settings.LOADTEST_ALLOWED_TARGET_HOSTS = ["127.0.0.1:8080"]
    assert target_url_validate(url=f"http://{host}:8080")
    # ... and get nothing more than that address would: not another port, and
    # not through an IPv6 entry covering the wrapped forms.
    with pytest.raises(TargetNotAllowed):
        target_url_validate(url=f"http://{host}:8000")
    settings.LOADTEST_ALLOWED_TARGET_HOSTS = ["::/0", "64:ff9b::/96", "2002::/16"]
    with pytest.raises(TargetNotAllowed, match="not allowed"):
        target_url_validate(url=f"http://{host}:8080")


@pytest.mark.parametrize(
    "url",
    ["http://[64:ff9b::a9fe:a9fe]", "http://[2002:a9fe:a9fe::]", "http://[::169.254.169.254]",
     "http://[::ffff:169.254.169.254]", "http://0.0.0.0:8080", "http://[::]:8080", "http://224.0.0.1:8080",
     "http://[fe80::1]:8080"],
)
def test_link_local_multicast_and_unspecified_addresses_are_never_targets(settings, url):
    settings.LOADTEST_ALLOWED_TARGET_HOSTS = ["0.0.0.0/0", "::/0"]
    with pytest.raises(TargetNotAllowed, match="not allowed"):
        target_url_validate(url=url)


@pytest.mark.parametrize("entry", ["lb:http", "lb:99999", "[::1]8080", "10.0.0.0/33", "a/b", ":8080"])
def test_a_malformed_allow_list_entry_is_a_configuration_error(settings, entry):
    settings.LOADTEST_ALLOWED_TARGET_HOSTS = [entry]
    with pytest.raises(ImproperlyConfigured, match="LOADTEST_ALLOWED_TARGET_HOSTS"):
        target_url_validate(url="http://lb:8080")
