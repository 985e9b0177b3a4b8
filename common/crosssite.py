"""Telling a request a browser sent on another site's behalf.

An API that trusts where a request comes from (loopback, a trusted network)
instead of a credential the client must show can be driven by any web page
the user visits: the browser is on loopback too. Browsers say whose page made
a request: ``Sec-Fetch-Site`` (``same-origin``, ``same-site``,
``cross-site``, or ``none`` when the user typed it) and ``Origin`` on
anything but a plain GET. Programs (curl, the load-test client) send neither,
so they are unaffected.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.http import HttpRequest

ALLOWED_FETCH_SITES = frozenset({"same-origin", "none"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_key(origin: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/") or parts.query:
        return None
    return parts.scheme, parts.hostname, port or _DEFAULT_PORTS[parts.scheme]


def cross_site_reason(request: HttpRequest) -> str | None:
    """Why the request came from another site, or None when nothing says it did.

    ``request.get_host()`` is checked against ALLOWED_HOSTS before this is
    asked (Django raises DisallowedHost otherwise), so the site compared with
    is one this deployment answers to.
    """
    meta = request.META
    fetch_site = meta.get("HTTP_SEC_FETCH_SITE")
    if fetch_site is not None and fetch_site.strip().lower() not in ALLOWED_FETCH_SITES:
        return f"Sec-Fetch-Site is {fetch_site!r}: the request was made by another site's page"
    origin = meta.get("HTTP_ORIGIN")
    if origin is not None:
        own = f"{request.scheme}://{request.get_host()}"
        key = _origin_key(origin.strip().lower())
        if key is None or key != _origin_key(own.lower()):
            return f"Origin {origin!r} is not this site ({own})"
    return None
