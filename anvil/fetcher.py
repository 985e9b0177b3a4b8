"""Concurrent, bounded, size- and time-capped HTTP fetches through one connection pool per process.

A URL reaches the fetcher only after ``anvil.safety.url_check``; the fetcher
repeats that check for every redirect and checks the addresses a host resolves
to inside the connection itself, so a DNS answer cannot swap in an address
between the check and the connect.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urljoin

import urllib3
from django.conf import settings
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NameResolutionError, NewConnectionError
from urllib3.util import connection as urllib3_connection

from anvil.safety import UrlNotAllowed, address_check, url_check

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CHUNK_BYTES = 64 * 1024


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


class _CheckedAddressMixin:
    """Resolve the host ourselves, refuse forbidden addresses, then connect to an address we checked."""

    def _new_conn(self) -> socket.socket:
        where = f"{self.host}:{self.port}"
        try:
            infos = socket.getaddrinfo(self._dns_host, self.port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        for address in addresses:
            address_check(url=where, address=address)
        last_error: OSError | None = None
        for address in addresses:
            try:
                return urllib3_connection.create_connection(
                    (address, self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except OSError as exc:
                last_error = exc
        raise NewConnectionError(self, f"Failed to establish a new connection: {last_error}")


class CheckedHTTPConnection(_CheckedAddressMixin, HTTPConnection):
    pass


class CheckedHTTPSConnection(_CheckedAddressMixin, HTTPSConnection):
    pass


class CheckedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = CheckedHTTPConnection


class CheckedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = CheckedHTTPSConnection


class _Client:
    def __init__(self) -> None:
        self.pid = os.getpid()
        concurrency = settings.ANVIL_FETCH_CONCURRENCY
        self.pool = urllib3.PoolManager(num_pools=32, maxsize=concurrency, block=False, retries=False)
        self.pool.pool_classes_by_scheme = {"http": CheckedHTTPConnectionPool, "https": CheckedHTTPSConnectionPool}
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


def _read_capped(response: urllib3.BaseHTTPResponse, *, url: str, deadline: float) -> bytes:
    limit = settings.ANVIL_FETCH_MAX_BYTES
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise FetchError(url, f"response is {declared} bytes, more than the limit of {limit}")
    chunks, size = [], 0
    while True:
        chunk = response.read(CHUNK_BYTES)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise FetchError(url, f"response is larger than the limit of {limit} bytes")
        if time.monotonic() > deadline:
            raise FetchError(url, f"timed out after {settings.ANVIL_FETCH_TIMEOUT_S:g}s")
        chunks.append(chunk)


def fetch_one(*, url: str) -> Fetched:
    timeout_s = settings.ANVIL_FETCH_TIMEOUT_S
    started = time.monotonic()
    deadline = started + timeout_s
    pool = client_get().pool
    current = url
    for hop in range(settings.ANVIL_FETCH_MAX_REDIRECTS + 1):
        try:
            if hop:
                url_check(url=current)
            remaining = max(deadline - time.monotonic(), 0.001)
            response = pool.request(
                "GET",
                current,
                redirect=False,
                preload_content=False,
                timeout=urllib3.Timeout(connect=remaining, read=remaining),
                headers={"User-Agent": "url-anvil/1", "Accept-Encoding": "identity"},
            )
        except UrlNotAllowed as exc:
            if hop == 0:
                raise
            raise FetchError(url, f"redirected to a URL that is not allowed: {exc.url} ({exc.reason})") from None
        except urllib3.exceptions.TimeoutError:
            raise FetchError(url, f"timed out after {timeout_s:g}s") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise FetchError(url, _describe(exc)) from None
        clean = False
        try:
            if response.status in REDIRECT_STATUSES:
                location = response.headers.get("Location")
                if not location:
                    raise FetchError(url, f"HTTP {response.status} redirect without a Location")
                current = urljoin(current, location)
                continue
            if response.status >= 400:
                raise FetchError(url, f"upstream answered HTTP {response.status}")
            try:
                body = _read_capped(response, url=url, deadline=deadline)
            except urllib3.exceptions.TimeoutError:
                raise FetchError(url, f"timed out after {timeout_s:g}s") from None
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise FetchError(url, _describe(exc)) from None
            clean = True
            return Fetched(url=url, status=response.status, body=body, elapsed_ms=(time.monotonic() - started) * 1000)
        finally:
            if not clean:
                # Unread bytes would poison the pooled connection: drop it.
                response.close()
            response.release_conn()
    raise FetchError(url, f"more than {settings.ANVIL_FETCH_MAX_REDIRECTS} redirects")


def _describe(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    text = str(reason or exc)
    # urllib3 prefixes messages with object reprs that mean nothing to a client.
    return text.split(">: ", 1)[-1] if ">: " in text else text


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
