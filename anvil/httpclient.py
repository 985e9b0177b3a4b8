"""A small pooled HTTP/1.1 GET client: the fetch path of ``POST /api/test``.

The bytes on the wire are parsed by h11, a strict, well-tested HTTP/1.1
state machine: status lines, header fields, Content-Length (digits only, one
value however often it is repeated), chunk sizes (hex digits only), trailers
and keep-alive rules are its job, not ours. Hand-written parsing let a chunk
size of ``-1`` through (the body was then read until the connection closed,
past any size cap) and turned ``Content-Length: ²`` into a 500.

What this module adds is the policy the anvil needs around it, for fetches of
URLs that strangers chose:

- one deadline for the whole exchange: every connect, TLS handshake step,
  send and receive waits at most for what is left of it, so 1xx answers,
  headers dripping one byte at a time and slow bodies all end at the same
  moment (``DeadlineExceeded``);
- at most ``MAX_INFORMATIONAL`` 1xx answers and ``MAX_HEAD_BYTES`` of
  response head;
- a body size cap, refused as soon as a declared length or the bytes
  actually received pass it, whatever the framing;
- connections only to addresses that passed ``anvil.safety.address_check``:
  the client resolves the host itself and connects to exactly the addresses it
  checked, so a DNS answer cannot swap in a forbidden one in between.

Why not urllib3: one ``POST /api/test`` makes five fetches, and urllib3 (with
http.client and the email header parser beneath it) spent ~300 µs of CPU per
fetch under gevent. Sockets come from the ``socket`` module at call time, so
gevent's monkey-patching (the anvil's worker class) makes every wait here
cooperative.
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
import time
from functools import lru_cache
from typing import NamedTuple

import h11

from anvil.safety import address_check

READ_CHUNK = 64 * 1024
# Status line and header fields together; h11 refuses a longer head.
MAX_HEAD_BYTES = 16 * 1024
# 1xx answers before the real one. HTTP/1.1 needs at most one (100 Continue)
# for a request with a body and this client sends none; a few are tolerated.
MAX_INFORMATIONAL = 5
USER_AGENT = "url-anvil/1"

_END_OF_MESSAGE = h11.EndOfMessage()


class HttpError(Exception):
    """The exchange failed; ``reason`` is a short, client-readable explanation."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BodyTooLarge(HttpError):
    pass


class DeadlineExceeded(HttpError):
    pass


class _StaleConnection(Exception):
    """A pooled connection the server had already closed; retried once on a fresh one."""


class HttpResponse(NamedTuple):
    status: int
    body: bytes
    # The Location header, for redirects; the fetcher needs no other header.
    location: str | None = None


class _Connection:
    __slots__ = ("parser", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.parser = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)

    def close(self) -> None:
        self.sock.close()


@lru_cache(maxsize=512)
def _request(host_header: str, target: str) -> h11.Request:
    """The request event for one host and target.

    Events are immutable and h11 validates their fields when they are built;
    the anvil fetches the same few corpus URLs over and over, so building each
    once saves that work on every fetch.
    """
    return h11.Request(
        method="GET",
        target=target,
        headers=[
            ("Host", host_header),
            ("User-Agent", USER_AGENT),
            # No Accept: its absence means "anything" (RFC 9110, 12.5.1), and
            # every header is parsed again by the server, often the anvil itself.
            ("Accept-Encoding", "identity"),
        ],
    )


class HttpClient:
    """Thread-safe; one per process (see ``anvil.fetcher.client_get``)."""

    def __init__(self, *, max_idle_per_host: int) -> None:
        self.max_idle_per_host = max_idle_per_host
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._lock = threading.Lock()
        self._tls = ssl.create_default_context()

    # --- pool ---------------------------------------------------------------

    def _take(self, key: tuple[str, str, int]) -> _Connection | None:
        with self._lock:
            idle = self._idle.get(key)
            return idle.pop() if idle else None

    def _give_back(self, key: tuple[str, str, int], conn: _Connection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < self.max_idle_per_host:
                idle.append(conn)
                return
        conn.close()

    def _connect(self, *, scheme: str, host: str, port: int, deadline: float) -> _Connection:
        try:
            infos = _resolve(host, port)
        except socket.gaierror as exc:
            raise HttpError(f"cannot resolve {host}: {exc.strerror}") from None
        addresses = list(dict.fromkeys((info[0], info[4]) for info in infos))
        # Every address is checked before any is tried, and only these
        # sockaddrs are connected to: no second lookup to race.
        for _family, sockaddr in addresses:
            address_check(url=f"{host}:{port}", address=sockaddr[0])
        last_error: OSError | None = None
        for family, sockaddr in addresses:
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(_remaining(deadline))
                sock.connect(sockaddr)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if scheme == "https":
                    sock = self._tls.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
                    _handshake(sock, deadline=deadline)
                return _Connection(sock)
            except TimeoutError:
                sock.close()
                raise DeadlineExceeded("timed out while connecting") from None
            except ssl.SSLError as exc:
                sock.close()
                raise HttpError(f"TLS handshake failed: {exc.reason or exc}") from None
            except OSError as exc:
                sock.close()
                last_error = exc
            except BaseException:
                sock.close()
                raise
        raise HttpError(f"cannot connect to {host}:{port}: {last_error.strerror if last_error else 'no address'}")

    # --- exchange -----------------------------------------------------------

    def get(
        self, *, scheme: str, host: str, port: int, target: str, deadline: float, max_bytes: int
    ) -> HttpResponse:
        key = (scheme, host, port)
        default_port = 443 if scheme == "https" else 80
        authority = f"[{host}]" if ":" in host and not host.startswith("[") else host
        host_header = authority if port == default_port else f"{authority}:{port}"
        try:
            request = _request(host_header, target)
        except h11.LocalProtocolError:
            raise HttpError("the host or path cannot be sent in an HTTP/1.1 request") from None
        conn = self._take(key)
        if conn is not None:
            try:
                return self._exchange(key, conn, request, deadline=deadline, max_bytes=max_bytes, reused=True)
            except _StaleConnection:
                pass  # the server closed it while idle; a new connection follows
        conn = self._connect(scheme=scheme, host=host, port=port, deadline=deadline)
        try:
            return self._exchange(key, conn, request, deadline=deadline, max_bytes=max_bytes, reused=False)
        except _StaleConnection:
            raise HttpError("the server closed the connection without answering") from None

    def _exchange(
        self,
        key: tuple[str, str, int],
        conn: _Connection,
        request: h11.Request,
        *,
        deadline: float,
        max_bytes: int,
        reused: bool,
    ) -> HttpResponse:
        parser = conn.parser
        keep = False
        try:
            conn.sock.settimeout(_remaining(deadline))
            try:
                conn.sock.sendall(parser.send(request))
            except (ConnectionError, ssl.SSLEOFError):
                if reused:
                    raise _StaleConnection from None
                raise
            parser.send(_END_OF_MESSAGE)  # no body: nothing to send, but h11 now expects the answer
            response = _read_head(conn, deadline=deadline, reused=reused)
            declared, location = _length_and_location(response.headers)
            if declared is not None and declared > max_bytes:
                raise BodyTooLarge(f"response is {declared} bytes, more than the limit of {max_bytes}")
            body = _read_body(conn, deadline=deadline, max_bytes=max_bytes)
            # Reusable only when both sides finished cleanly and the server
            # sent nothing beyond its answer (h11 applies Connection: close and
            # HTTP/1.0 rules when it decides the states).
            keep = parser.our_state is h11.DONE and parser.their_state is h11.DONE and not parser.trailing_data[0]
            if keep:
                parser.start_next_cycle()
            return HttpResponse(status=response.status_code, body=body, location=location)
        except h11.ProtocolError as exc:  # the server's doing (RemoteProtocolError), or a state h11 refuses
            raise HttpError(f"malformed HTTP response: {exc}") from None
        except TimeoutError:
            raise DeadlineExceeded("timed out") from None
        except ssl.SSLError as exc:
            raise HttpError(f"TLS error: {exc.reason or exc}") from None
        except OSError as exc:
            raise HttpError(f"connection failed: {exc.strerror or exc}") from None
        finally:
            if keep:
                self._give_back(key, conn)
            else:
                conn.close()


def _resolve(host: str, port: int) -> list[tuple]:
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


def _remaining(deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise DeadlineExceeded("timed out")
    return remaining


def _handshake(sock: ssl.SSLSocket, *, deadline: float) -> None:
    """The TLS handshake within the deadline.

    A blocking handshake applies the socket timeout to each of its reads, so a
    server trickling handshake bytes could stretch it far past the deadline;
    stepping it on a non-blocking socket bounds the whole of it.
    """
    sock.setblocking(False)
    while True:
        try:
            sock.do_handshake()
            break
        except ssl.SSLWantReadError:
            readable, writable = [sock], []
        except ssl.SSLWantWriteError:
            readable, writable = [], [sock]
        ready = select.select(readable, writable, [], _remaining(deadline))
        if not ready[0] and not ready[1]:
            raise TimeoutError
    sock.settimeout(_remaining(deadline))


def _receive(conn: _Connection, *, deadline: float) -> bytes:
    # The timeout of each read is what is left of the deadline, so the reads
    # of one exchange together never wait longer than the deadline allows.
    conn.sock.settimeout(_remaining(deadline))
    data = conn.sock.recv(READ_CHUNK)
    conn.parser.receive_data(data)
    return data


def _read_head(conn: _Connection, *, deadline: float, reused: bool) -> h11.Response:
    parser = conn.parser
    received = False
    informational = 0
    # Nothing is buffered on a fresh or recycled connection (a connection with
    # leftover bytes is never pooled): read first instead of asking h11 for an
    # event that could only be NEED_DATA.
    event = h11.NEED_DATA
    while True:
        if event is h11.NEED_DATA:
            try:
                data = _receive(conn, deadline=deadline)
            except (ConnectionError, ssl.SSLEOFError):
                if reused and not received:
                    raise _StaleConnection from None
                raise
            if not data:
                if reused and not received:
                    raise _StaleConnection
                if not received:
                    raise HttpError("the server closed the connection without answering")
                raise HttpError("the connection closed inside the response head")
            received = True
        elif type(event) is h11.Response:
            return event
        elif type(event) is h11.InformationalResponse:
            informational += 1
            if informational > MAX_INFORMATIONAL:
                raise HttpError(f"more than {MAX_INFORMATIONAL} informational (1xx) answers")
        else:
            raise HttpError(f"unexpected {type(event).__name__} instead of a response")
        event = parser.next_event()


def _read_body(conn: _Connection, *, deadline: float, max_bytes: int) -> bytes:
    parser = conn.parser
    chunks: list[bytes] = []
    total = 0
    closed = False
    while True:
        try:
            event = parser.next_event()
        except h11.RemoteProtocolError as exc:
            if closed:
                raise HttpError(f"the connection closed before the body was complete ({exc})") from None
            raise
        if event is h11.NEED_DATA:
            closed = not _receive(conn, deadline=deadline)
        elif type(event) is h11.Data:
            total += len(event.data)
            if total > max_bytes:
                raise BodyTooLarge(f"response is larger than the limit of {max_bytes} bytes")
            chunks.append(event.data)
        elif type(event) is h11.EndOfMessage:
            return b"".join(chunks)
        else:
            raise HttpError(f"unexpected {type(event).__name__} inside the body")


def _length_and_location(fields: h11.Headers) -> tuple[int | None, str | None]:
    """Content-Length and Location of a response head.

    h11 has already refused a Content-Length that is not digits or whose
    repeated copies disagree (and merged agreeing ones); only its size is
    ours to judge. ``raw_items()`` is one list, where iterating ``Headers``
    itself makes an index lookup per field.
    """
    length = location = None
    for raw_name, value in fields.raw_items():
        name = raw_name.lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"location":
            location = value.decode("latin-1")
    return length, location
