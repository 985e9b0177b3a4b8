"""Who may be loaded: the allow-list of target hosts.

The platform generates real load; it must never be usable to flood somebody
else's site. A target's host must match ``LOADTEST_ALLOWED_TARGET_HOSTS``:
host names (exact, case-insensitive), IP addresses or CIDR networks. The
default is loopback plus the playground's own service names.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings


class TargetNotAllowed(ValueError):
    """The target URL is malformed or its host is not on the allow-list."""


def _host_allowed(host: str, allowed: list[str]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for entry in allowed:
        entry = entry.strip().lower().strip("[]")
        if not entry:
            continue
        if address is not None:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
        elif host == entry:
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
    if parts.scheme not in {"http", "https"}:
        raise TargetNotAllowed(f"the target URL {url!r} must start with http:// or https://")
    if parts.username or parts.password:
        raise TargetNotAllowed("the target URL must not carry credentials")
    if parts.query or parts.fragment:
        raise TargetNotAllowed("the target URL must be a base URL without ?query or #fragment")
    host = (parts.hostname or "").lower()
    if not host:
        raise TargetNotAllowed(f"the target URL {url!r} has no host")
    allowed = list(settings.LOADTEST_ALLOWED_TARGET_HOSTS)
    if not _host_allowed(host, allowed):
        raise TargetNotAllowed(
            f"target host {host!r} is not allowed; allowed hosts: {', '.join(allowed) or '(none)'} "
            "(set LOADTEST_ALLOWED_TARGET_HOSTS to change)"
        )
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
