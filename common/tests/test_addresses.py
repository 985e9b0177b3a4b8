from __future__ import annotations

import ipaddress

import pytest

from common.addresses import address_unwrapped, ipv4_embedded


@pytest.mark.parametrize(
    ("address", "ipv4"),
    [
        ("::ffff:10.0.0.1", "10.0.0.1"),
        ("::ffff:0:10.0.0.1", "10.0.0.1"),
        ("64:ff9b::a00:1", "10.0.0.1"),
        ("2002:a00:1::", "10.0.0.1"),
        ("2002:a00:1:ffff::1", "10.0.0.1"),
        ("::10.0.0.1", "10.0.0.1"),
        ("::0.0.0.2", "0.0.0.2"),
    ],
)
def test_it_finds_the_ipv4_address_inside_each_ipv6_form(address, ipv4):
    assert ipv4_embedded(ipaddress.ip_address(address)) == ipaddress.ip_address(ipv4)


@pytest.mark.parametrize("address", ["::1", "::", "2001:db8::1", "fe80::1", "64:ff9b:1::a00:1", "10.0.0.1"])
def test_other_addresses_stay_themselves(address):
    ip = ipaddress.ip_address(address)
    assert ipv4_embedded(ip) is None
    assert address_unwrapped(ip) is ip
