from __future__ import annotations

import pytest

from loadtest.targets import TargetNotAllowed, target_url_validate


@pytest.mark.parametrize(
    ("url", "normalized"),
    [
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("http://LOCALHOST:9000", "http://localhost:9000"),
        ("http://127.9.9.9", "http://127.9.9.9"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("http://lb:8080/anvil/", "http://lb:8080/anvil"),
    ],
)
def test_it_accepts_loopback_and_playground_hosts(url, normalized):
    assert target_url_validate(url=url) == normalized


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
def test_it_refuses_other_targets_with_a_reason(url, reason):
    with pytest.raises(TargetNotAllowed, match=reason):
        target_url_validate(url=url)


def test_the_allow_list_comes_from_settings(settings):
    settings.LOADTEST_ALLOWED_TARGET_HOSTS = ["staging.internal", "10.1.0.0/16"]
    assert target_url_validate(url="http://staging.internal") == "http://staging.internal"
    assert target_url_validate(url="http://10.1.2.3:81") == "http://10.1.2.3:81"
    with pytest.raises(TargetNotAllowed, match=r"staging\.internal"):
        target_url_validate(url="http://127.0.0.1")
