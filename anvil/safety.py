"""What the anvil may fetch: it takes URLs from strangers and must not become a proxy into private networks.

Three gates, each checked for the first URL and again for every redirect:
the URL itself (http/https, no credentials, a host on the allow-list), and,
inside the connection, every address the host resolves to (no link-local or
metadata addresses unless ``ANVIL_FETCH_ALLOW_LINK_LOCAL``).
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from urllib.parse import SplitResult, urlsplit

from django.conf import settings

from common.addresses import address_unwrapped

DEFAULT_PORTS = {"http": 80, "https": 443}
_WHITESPACE = re.compile(r"\s")
# Cloud metadata services that do not live in the link-local range.
METADATA_ADDRESSES = frozenset({ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")})


class UrlNotAllowed(ValueError):
    """A URL the anvil refuses to fetch; the message names the URL and the reason."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"URL not allowed: {url} ({reason})")
        self.url = url
        self.reason = reason


def _host_port(entry: str) -> tuple[str, int | None]:
    entry = entry.strip().lower()
    if entry.startswith("["):  # [v6]:port or [v6]
        host, _, rest = entry[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else None
    if entry.count(":") == 1:
        host, port = entry.split(":")
        return host, int(port)
    return entry, None


@lru_cache(maxsize=8)
def _allow_list(entries: tuple[str, ...], corpus_base: str) -> frozenset[tuple[str, int | None]]:
    if not entries:
        corpus = urlsplit(corpus_base)
        port = corpus.port or DEFAULT_PORTS.get(corpus.scheme)
        return frozenset({((corpus.hostname or "").lower(), port)})
    return frozenset(_host_port(entry) for entry in entries)


def allowed_hosts() -> frozenset[tuple[str, int | None]]:
    """(host, port or None for any port) pairs from ``ANVIL_FETCH_ALLOWED_HOSTS``, defaulting to the corpus host."""
    return _allow_list(tuple(settings.ANVIL_FETCH_ALLOWED_HOSTS), settings.ANVIL_CORPUS_BASE_URL)


def url_check(*, url: str) -> SplitResult:
    """Return the parsed URL if the anvil may fetch it, else raise ``UrlNotAllowed``."""
    # Every URL of a test is checked by the view and again by the fetcher,
    # and tests repeat the same corpus URLs: the verdict on an allowed URL is
    # kept per allow-list (refusals are recomputed, they are rare and cheap).
    return _url_check(url, allowed_hosts())


@lru_cache(maxsize=512)
def _url_check(url: str, allowed: frozenset[tuple[str, int | None]]) -> SplitResult:
    if len(url) > 2048:
        raise UrlNotAllowed(url[:80] + "…", "longer than 2048 characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlNotAllowed(url, f"malformed: {exc}") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise UrlNotAllowed(url, "only http and https URLs can be fetched")
    if parts.username is not None or parts.password is not None:
        raise UrlNotAllowed(url, "credentials in URLs are not accepted")
    host = (parts.hostname or "").lower()
    if not host:
        raise UrlNotAllowed(url, "no host")
    if _WHITESPACE.search(url):
        raise UrlNotAllowed(url, "contains whitespace")
    port = port or DEFAULT_PORTS[parts.scheme]
    if (host, port) not in allowed and (host, None) not in allowed:
        raise UrlNotAllowed(url, f"host {host}:{port} is not in ANVIL_FETCH_ALLOWED_HOSTS")
    return parts


def address_check(*, url: str, address: str) -> None:
    """Refuse an address a host resolved to when it is link-local, metadata, multicast or unspecified.

    IPv6 spellings of an IPv4 address (mapped, NAT64, 6to4, IPv4-compatible)
    are judged as the IPv4 address they lead to.
    """
    given = ipaddress.ip_address(address.split("%", 1)[0])
    ip = address_unwrapped(given)
    shown = f"{given} ({ip})" if ip is not given else str(ip)
    if ip.is_multicast or ip.is_unspecified:
        raise UrlNotAllowed(url, f"resolves to {shown}, which is not a unicast address")
    if (ip.is_link_local or ip in METADATA_ADDRESSES) and not settings.ANVIL_FETCH_ALLOW_LINK_LOCAL:
        raise UrlNotAllowed(url, f"resolves to the link-local/metadata address {shown}")
