"""Who may be loaded: the allow-list of target hosts and ports.

The platform generates real load; it must never be usable to flood somebody
else's site, nor its own processes. A target must match an entry of
``LOADTEST_ALLOWED_TARGET_HOSTS``:

- ``host:port``, ``ip:port`` or ``[ipv6]:port``: exactly that host and port;
- a host name, an IP address or a CIDR network without port: every port of
  it except ``CLOSED_PORTS`` (the platform's own port, PostgreSQL's and
  Redis's), which only an exact ``host:port`` entry can open.

Names match exactly (case-insensitive). An IPv6 target that only spells an
IPv4 address (IPv4-mapped, NAT64, 6to4, IPv4-compatible) is judged as that
IPv4 address, so ``[64:ff9b::7f00:1]`` is 127.0.0.1 and needs 127.0.0.1's
entry. Multicast, unspecified and link-local addresses are never targets.
The default (settings) names the local anvil and the example setups' ports.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from common.addresses import IPAddress, address_unwrapped

DEFAULT_PORTS = {"http": 80, "https": 443}
# PostgreSQL and Redis: never load them through a host-wide entry.
DATABASE_PORTS = frozenset({5432, 6379})
_PORT = re.compile(r"[0-9]{1,5}")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class TargetNotAllowed(ValueError):
    """The target URL is malformed or its host is not on the allow-list."""


@dataclass(frozen=True)
class _Entry:
    name: str | None  # a host name, or None when the entry is addresses
    network: IPNetwork | None
    port: int | None  # None: every port except the closed ones


def closed_ports() -> frozenset[int]:
    """Ports that only an exact ``host:port`` entry opens."""
    return DATABASE_PORTS | {settings.PLATFORM_PORT}


def _entry_parse(raw: str) -> _Entry:
    text = raw.strip().lower()
    port_text = None
    if text.startswith("["):  # [v6] or [v6]:port
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ValueError("expected [address]:port")
            port_text = rest[1:]
    elif text.count(":") == 1:  # name:port or v4:port (a bare IPv6 address has several colons)
        host, _, port_text = text.partition(":")
    else:
        host = text
    port = None
    if port_text is not None:
        if not _PORT.fullmatch(port_text) or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"{port_text!r} is not a port")
        port = int(port_text)
    if not host:
        raise ValueError("no host")
    try:
        network = ipaddress.ip_network(host, strict=False)
    except ValueError:
        if "/" in host or ":" in host:
            raise ValueError(f"{host!r} is neither a host name nor an IP network") from None
        return _Entry(name=host, network=None, port=port)
    if network.num_addresses == 1:
        # One IPv6 spelling of an IPv4 address stands for that address, as targets do.
        single = address_unwrapped(network.network_address)
        network = ipaddress.ip_network(single)
    return _Entry(name=None, network=network, port=port)


@lru_cache(maxsize=8)
def _entries(raw: tuple[str, ...]) -> tuple[_Entry, ...]:
    entries = []
    for item in raw:
        if not item.strip():
            continue
        try:
            entries.append(_entry_parse(item))
        except ValueError as exc:
            raise ImproperlyConfigured(f"LOADTEST_ALLOWED_TARGET_HOSTS: {item!r}: {exc}") from None
    return tuple(entries)


def _address(host: str) -> IPAddress | None:
    try:
        return address_unwrapped(ipaddress.ip_address(host))
    except ValueError:
        return None


def target_allowed(*, host: str, port: int) -> bool:
    """Whether ``host`` (lower case, without brackets) on ``port`` is on the allow-list."""
    address = _address(host)
    if address is not None and (address.is_multicast or address.is_unspecified or address.is_link_local):
        return False
    closed = closed_ports()
    for entry in _entries(tuple(settings.LOADTEST_ALLOWED_TARGET_HOSTS)):
        if entry.port is None:
            if port in closed:
                continue
        elif entry.port != port:
            continue
        if address is None:
            if entry.name == host:
                return True
        elif entry.network is not None and address in entry.network:
            return True
    return False


def target_url_validate(*, url: str) -> str:
    """Return the normalized target base URL (no trailing slash) or raise TargetNotAllowed."""
    if not isinstance(url, str) or not url.strip():
        raise TargetNotAllowed("the target URL is empty")
    url = url.strip()
    if len(url) > 500:
        raise TargetNotAllowed("the target URL is longer than 500 characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetNotAllowed(f"the target URL {url!r} is malformed: {exc}") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise TargetNotAllowed(f"the target URL {url!r} must start with http:// or https://")
    if parts.username or parts.password:
        raise TargetNotAllowed("the target URL must not carry credentials")
    if parts.query or parts.fragment:
        raise TargetNotAllowed("the target URL must be a base URL without ?query or #fragment")
    host = (parts.hostname or "").lower()
    if not host:
        raise TargetNotAllowed(f"the target URL {url!r} has no host")
    netloc = f"[{host}]" if ":" in host else host
    effective = port if port is not None else DEFAULT_PORTS[parts.scheme]
    if not target_allowed(host=host, port=effective):
        allowed = list(settings.LOADTEST_ALLOWED_TARGET_HOSTS)
        raise TargetNotAllowed(
            f"target {netloc}:{effective} is not allowed; allowed: {', '.join(allowed) or '(none)'} "
            "(set LOADTEST_ALLOWED_TARGET_HOSTS to change)"
        )
    if port is not None:
        netloc = f"{netloc}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
