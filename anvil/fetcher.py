"""Concurrent, bounded, size- and time-capped fetches through one pooled client per process.

A URL reaches the fetcher only after ``anvil.safety.url_check``; the fetcher
repeats that check for every redirect, and the client checks the addresses a
host resolves to before connecting (``anvil.httpclient``).
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import quote, urljoin

from django.conf import settings

from anvil.httpclient import BodyTooLarge, DeadlineExceeded, HttpClient, HttpError
from anvil.safety import DEFAULT_PORTS, UrlNotAllowed, url_check

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
TARGET_SAFE = "!#$%&'()*+,/:;=?@[]~"


class FetchError(RuntimeError):
    """An upstream fetch failed; the message says which URL and why."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


@dataclass(frozen=True)
class Fetched:
    url: str
    status: int
    body: bytes
    elapsed_ms: float


class _Client:
    def __init__(self) -> None:
        self.pid = os.getpid()
        concurrency = settings.ANVIL_FETCH_CONCURRENCY
        self.http = HttpClient(max_idle_per_host=concurrency)
        # The executor bounds how many fetches one process runs at once, however
        # many requests arrive together.
        self.executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="anvil-fetch")


_client: _Client | None = None
_client_lock = threading.Lock()


def client_get() -> _Client:
    """The process's one pool and executor (new after a fork: sockets and threads do not survive it)."""
    global _client
    client = _client
    if client is None or client.pid != os.getpid():
        with _client_lock:
            client = _client
            if client is None or client.pid != os.getpid():
                client = _client = _Client()
    return client


def fetch_one(*, url: str) -> Fetched:
    """GET one URL, following up to ``ANVIL_FETCH_MAX_REDIRECTS`` redirects that pass the same checks.

    Raises ``UrlNotAllowed`` when the URL itself resolves to a forbidden
    address, ``FetchError`` for everything that goes wrong upstream.
    """
    timeout_s = settings.ANVIL_FETCH_TIMEOUT_S
    started = time.monotonic()
    deadline = started + timeout_s
    http = client_get().http
    current = url
    for hop in range(settings.ANVIL_FETCH_MAX_REDIRECTS + 1):
        try:
            parts = url_check(url=current)
            target = parts.path or "/"
            if parts.query:
                target = f"{target}?{parts.query}"
            # Non-ASCII and control characters travel percent-encoded; existing
            # escapes and reserved characters stay as the client wrote them.
            target = quote(target, safe=TARGET_SAFE)
            response = http.get(
                scheme=parts.scheme,
                host=parts.hostname or "",
                port=parts.port or DEFAULT_PORTS[parts.scheme],
                target=target,
                deadline=deadline,
                max_bytes=settings.ANVIL_FETCH_MAX_BYTES,
            )
        except UrlNotAllowed as exc:
            if hop == 0:
                raise
            raise FetchError(url, f"redirected to a URL that is not allowed: {exc.url} ({exc.reason})") from None
        except DeadlineExceeded:
            raise FetchError(url, f"timed out after {timeout_s:g}s") from None
        except BodyTooLarge as exc:
            raise FetchError(url, exc.reason) from None
        except HttpError as exc:
            raise FetchError(url, exc.reason) from None
        if response.status in REDIRECT_STATUSES:
            location = response.headers.get("location")
            if not location:
                raise FetchError(url, f"HTTP {response.status} redirect without a Location")
            current = urljoin(current, location)
            continue
        if response.status >= 400:
            raise FetchError(url, f"upstream answered HTTP {response.status}")
        return Fetched(url=url, status=response.status, body=response.body, elapsed_ms=(time.monotonic() - started) * 1000)
    raise FetchError(url, f"more than {settings.ANVIL_FETCH_MAX_REDIRECTS} redirects")


def fetch_many(*, urls: list[str]) -> list[Fetched]:
    """Fetch all URLs concurrently and return them in request order; raise the first failure in that order."""
    if len(urls) == 1:
        return [fetch_one(url=urls[0])]
    executor = client_get().executor
    futures: list[Future] = [executor.submit(fetch_one, url=url) for url in urls]
    results, first_error = [], None
    for future in futures:
        try:
            results.append(future.result())
        except (FetchError, UrlNotAllowed) as exc:
            first_error = first_error or exc
    if first_error is not None:
        raise first_error
    return results
