from __future__ import annotations

import pytest

from anvil.safety import UrlNotAllowed, address_check, url_check


def test_it_allows_the_corpus_host_by_default():
    parts = url_check(url="http://127.0.0.1:8080/corpus/us-constitution")
    assert parts.hostname == "127.0.0.1"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:9090/corpus/x", "not in ANVIL_FETCH_ALLOWED_HOSTS"),
        ("http://example.com/", "not in ANVIL_FETCH_ALLOWED_HOSTS"),
        ("http://169.254.169.254/latest/meta-data/", "not in ANVIL_FETCH_ALLOWED_HOSTS"),
        ("ftp://127.0.0.1:8080/corpus/x", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("javascript:alert(1)", "only http and https"),
        ("http://user:pass@127.0.0.1:8080/corpus/x", "credentials"),
        ("http://user@127.0.0.1:8080/corpus/x", "credentials"),
        ("http:///corpus/x", "no host"),
        ("http://127.0.0.1:99999/x", "malformed"),
        ("http://127.0.0.1:8080/a b", "whitespace"),
        ("not a url", "only http and https"),
        ("http://127.0.0.1:8080/" + "a" * 3000, "longer than 2048"),
    ],
)
def test_it_refuses_urls_it_must_not_fetch(url, reason):
    with pytest.raises(UrlNotAllowed) as caught:
        url_check(url=url)
    assert reason in str(caught.value)
    assert str(caught.value).startswith("URL not allowed: ")


def test_an_allow_list_entry_without_port_allows_every_port(settings):
    settings.ANVIL_FETCH_ALLOWED_HOSTS = ["corpus.example", "anvil:8080", "[::1]:8081"]
    url_check(url="https://corpus.example/x")
    url_check(url="http://corpus.example:8000/x")
    url_check(url="http://ANVIL:8080/x")
    url_check(url="http://[::1]:8081/x")
    with pytest.raises(UrlNotAllowed):
        url_check(url="http://anvil:8081/x")
    with pytest.raises(UrlNotAllowed):
        url_check(url="http://anvil/x")


def test_the_default_port_of_the_scheme_counts(settings):
    settings.ANVIL_FETCH_ALLOWED_HOSTS = ["docs.example:443"]
    url_check(url="https://docs.example/x")
    with pytest.raises(UrlNotAllowed):
        url_check(url="http://docs.example/x")


@pytest.mark.parametrize("address", ["169.254.169.254", "169.254.1.1", "fe80::1", "fd00:ec2::254", "::ffff:169.254.169.254"])
def test_it_refuses_link_local_and_metadata_addresses(address):
    with pytest.raises(UrlNotAllowed) as caught:
        address_check(url="corpus.example:80", address=address)
    assert "link-local/metadata" in str(caught.value)


def test_link_local_addresses_can_be_allowed_explicitly(settings):
    settings.ANVIL_FETCH_ALLOW_LINK_LOCAL = True
    address_check(url="corpus.example:80", address="169.254.10.10")


@pytest.mark.parametrize("address", ["224.0.0.1", "0.0.0.0", "::"])
def test_it_refuses_addresses_that_are_not_unicast(address):
    with pytest.raises(UrlNotAllowed):
        address_check(url="corpus.example:80", address=address)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "172.18.0.5", "::1", "93.184.216.34"])
def test_it_accepts_ordinary_addresses_of_allowed_hosts(address):
    address_check(url="corpus.example:80", address=address)


@pytest.mark.parametrize(
    ("address", "embedded"),
    [
        ("64:ff9b::a9fe:a9fe", "169.254.169.254"),  # NAT64
        ("64:ff9b::169.254.169.254", "169.254.169.254"),
        ("2002:a9fe:a9fe::", "169.254.169.254"),  # 6to4
        ("2002:a9fe:101:1::1", "169.254.1.1"),
        ("::169.254.169.254", "169.254.169.254"),  # IPv4-compatible
        ("::ffff:0:169.254.169.254", "169.254.169.254"),  # IPv4-translated
        ("64:ff9b::6464:64c8", "100.100.100.200"),  # a metadata address outside link-local
    ],
)
def test_ipv6_forms_of_a_refused_ipv4_address_are_refused_as_that_address(address, embedded):
    with pytest.raises(UrlNotAllowed) as caught:
        address_check(url="corpus.example:80", address=address)
    assert "link-local/metadata" in str(caught.value)
    assert f"({embedded})" in str(caught.value)


@pytest.mark.parametrize("address", ["64:ff9b::e000:1", "2002:e000:1::", "::224.0.0.1", "64:ff9b::", "2002::"])
def test_ipv6_forms_of_multicast_or_unspecified_ipv4_addresses_are_refused(address):
    with pytest.raises(UrlNotAllowed, match="not a unicast address"):
        address_check(url="corpus.example:80", address=address)


@pytest.mark.parametrize("address", ["64:ff9b::7f00:1", "2002:7f00:1::", "::10.1.2.3", "2001:db8::1", "::1"])
def test_ipv6_forms_of_ordinary_ipv4_addresses_are_accepted(address):
    address_check(url="corpus.example:80", address=address)


def test_a_verdict_on_a_url_follows_a_change_of_the_allow_list(settings):
    settings.ANVIL_FETCH_ALLOWED_HOSTS = ["docs.example"]
    url_check(url="http://docs.example/x")
    settings.ANVIL_FETCH_ALLOWED_HOSTS = ["other.example"]
    with pytest.raises(UrlNotAllowed):
        url_check(url="http://docs.example/x")
