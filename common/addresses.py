"""IPv6 addresses that are only another spelling of an IPv4 destination.

A check that looks at the IPv6 form alone lets ``[64:ff9b::a9fe:a9fe]`` (NAT64
for 169.254.169.254) or ``[2002:7f00:1::]`` (6to4 for 127.0.0.1) past rules
written for IPv4. Checks should judge such an address by the IPv4 address it
carries; ``address_unwrapped`` gives that address (or the address itself).
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# RFC 6052's well-known NAT64 prefix: the IPv4 address is the last 32 bits.
NAT64 = ipaddress.ip_network("64:ff9b::/96")
# RFC 2765's IPv4-translated addresses (::ffff:0:a.b.c.d), the stateless cousin of IPv4-mapped.
IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
_LOW_32 = 0xFFFFFFFF


def ipv4_embedded(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, if it is such a form.

    IPv4-mapped (``::ffff:a.b.c.d``), IPv4-translated (``::ffff:0:a.b.c.d``),
    NAT64 (``64:ff9b::a.b.c.d``), 6to4 (``2002:AABB:CCDD::/48``) and the
    deprecated IPv4-compatible form (``::a.b.c.d``; ``::`` and ``::1`` stay
    themselves).
    """
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    value = int(address)
    if address in NAT64 or address in IPV4_TRANSLATED or (value >> 32 == 0 and value > 1):
        return ipaddress.IPv4Address(value & _LOW_32)
    return None


def address_unwrapped(address: IPAddress) -> IPAddress:
    """The IPv4 address carried by an IPv6 form of it, else the address unchanged."""
    return ipv4_embedded(address) or address
