"""Concurrent, bounded, size- and time-capped fetches through one pooled client per process.

A URL reaches the fetcher only after ``anvil.safety.url_check``; the fetcher
repeats that check for every redirect, and the client checks the addresses a
host resolves to before connecting (``anvil.httpclient``).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import SplitResult, quote, urljoin

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


def _gevent_patched() -> bool:
    """Whether gevent has monkey-patched this process (the anvil's gunicorn worker class)."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and monkey.is_module_patched("socket")


class _Client:
    def __init__(self) -> None:
        self.pid = os.getpid()
        concurrency = settings.ANVIL_FETCH_CONCURRENCY
        self.http = HttpClient(max_idle_per_host=concurrency)
        # At most ``concurrency`` fetches of this process run at once, however
        # many requests arrive together. Under gevent a fetch is a greenlet
        # waiting for a slot: handing work to a pool of (patched) threads costs
        # a future, a queue and several lock round trips per fetch, about as
        # much CPU as parsing the answer. Elsewhere a thread pool does it.
        self.slots = None
        self.executor = None
        if _gevent_patched():
            from gevent.lock import BoundedSemaphore

            self.slots = BoundedSemaphore(concurrency)
        else:
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


@lru_cache(maxsize=512)
def _endpoint(parts: SplitResult) -> tuple[str, str, int, str]:
    """(scheme, host, port, request target) of a checked URL."""
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    # Non-ASCII and control characters travel percent-encoded; existing
    # escapes and reserved characters stay as the client wrote them.
    target = quote(target, safe=TARGET_SAFE)
    return parts.scheme, parts.hostname or "", parts.port or DEFAULT_PORTS[parts.scheme], target


def fetch_one(*, url: str) -> Fetched:
    """GET one URL, following up to ``ANVIL_FETCH_MAX_REDIRECTS`` redirects that pass the same checks.

    Raises ``UrlNotAllowed`` when the URL itself resolves to a forbidden
    address, ``FetchError`` for everything that goes wrong upstream.
    """
    timeout_s = settings.ANVIL_FETCH_TIMEOUT_S
    max_bytes = settings.ANVIL_FETCH_MAX_BYTES
    started = time.monotonic()
    deadline = started + timeout_s
    http = client_get().http
    current = url
    for hop in range(settings.ANVIL_FETCH_MAX_REDIRECTS + 1):
        try:
            scheme, host, port, target = _endpoint(url_check(url=current))
            response = http.get(
                scheme=scheme, host=host, port=port, target=target, deadline=deadline, max_bytes=max_bytes
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
            location = response.location
            if not location:
                raise FetchError(url, f"HTTP {response.status} redirect without a Location")
            current = urljoin(current, location)
            continue
        if response.status >= 400:
            raise FetchError(url, f"upstream answered HTTP {response.status}")
        return Fetched(url=url, status=response.status, body=response.body, elapsed_ms=(time.monotonic() - started) * 1000)
    raise FetchError(url, f"more than {settings.ANVIL_FETCH_MAX_REDIRECTS} redirects")


def _fetch_in_slot(slots, url: str) -> Fetched | FetchError | UrlNotAllowed:
    # Expected failures come back as values: raised inside a greenlet, gevent
    # would print each one as a crash.
    with slots:
        try:
            return fetch_one(url=url)
        except (FetchError, UrlNotAllowed) as exc:
            return exc


def fetch_many(*, urls: list[str]) -> list[Fetched]:
    """Fetch all URLs concurrently and return them in request order; raise the first failure in that order."""
    if len(urls) == 1:
        return [fetch_one(url=urls[0])]
    client = client_get()
    outcomes: list[Fetched | Exception] = []
    if client.slots is not None:
        import gevent

        # The request's own greenlet fetches the last URL instead of idling
        # until the others are done: one greenlet fewer to start and join.
        greenlets = [gevent.spawn(_fetch_in_slot, client.slots, url) for url in urls[:-1]]
        last = _fetch_in_slot(client.slots, urls[-1])
        gevent.joinall(greenlets)
        for greenlet in greenlets:
            if not greenlet.successful():
                raise greenlet.exception
            outcomes.append(greenlet.value)
        outcomes.append(last)
    else:
        futures: list[Future] = [client.executor.submit(fetch_one, url=url) for url in urls]
        for future in futures:
            try:
                outcomes.append(future.result())
            except (FetchError, UrlNotAllowed) as exc:
                outcomes.append(exc)
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            raise outcome
    return outcomes
