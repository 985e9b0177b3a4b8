"""A small pooled HTTP/1.1 GET client: the fetch path of ``POST /api/test``.

Why not urllib3: one ``POST /api/test`` makes five fetches, and urllib3 (with
http.client and the email header parser beneath it) spent ~300 µs of CPU per
fetch under gevent where a plain socket exchange needs ~40 µs — most of the
anvil's budget. This client does only what the anvil needs: GET over http or
https, keep-alive connections pooled per (scheme, host, port), Content-Length,
chunked and read-until-close bodies, a size cap and a deadline.

Connections are made to addresses that passed ``anvil.safety.address_check``
(resolution happens here, not in a library), so a DNS answer cannot swap in a
forbidden address between the check and the connect.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from dataclasses import dataclass

from anvil.safety import address_check

MAX_LINE = 8192
MAX_HEADERS = 100
READ_CHUNK = 64 * 1024


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


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes


class _Connection:
    __slots__ = ("rfile", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.rfile = sock.makefile("rb", buffering=READ_CHUNK)

    def close(self) -> None:
        try:
            self.rfile.close()
        finally:
            self.sock.close()


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
                    sock = self._tls.wrap_socket(sock, server_hostname=host)
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
        host_header = host if port == default_port else f"{host}:{port}"
        if ":" in host and not host.startswith("["):
            host_header = f"[{host}]" if port == default_port else f"[{host}]:{port}"
        try:
            request = (
                f"GET {target} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: url-anvil/1\r\n"
                "Accept: */*\r\nAccept-Encoding: identity\r\n\r\n"
            ).encode("ascii")
        except UnicodeEncodeError:
            raise HttpError("the host or path is not plain ASCII") from None
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
        request: bytes,
        *,
        deadline: float,
        max_bytes: int,
        reused: bool,
    ) -> HttpResponse:
        keep = False
        try:
            conn.sock.settimeout(_remaining(deadline))
            try:
                conn.sock.sendall(request)
                status_line = conn.rfile.readline(MAX_LINE + 1)
            except (ConnectionError, ssl.SSLEOFError):
                if reused:
                    raise _StaleConnection from None
                raise
            if not status_line and reused:
                raise _StaleConnection
            version, status = _parse_status(status_line)
            headers = _read_headers(conn.rfile)
            while 100 <= status < 200:  # informational answers precede the real one
                version, status = _parse_status(conn.rfile.readline(MAX_LINE + 1))
                headers = _read_headers(conn.rfile)
            body, complete = _read_body(conn, status, headers, deadline=deadline, max_bytes=max_bytes)
            connection = headers.get("connection", "").lower()
            keep = complete and ("close" not in connection) and (version == "HTTP/1.1" or "keep-alive" in connection)
            return HttpResponse(status=status, headers=headers, body=body)
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


def _parse_status(line: bytes) -> tuple[str, int]:
    if not line:
        raise HttpError("the server closed the connection without answering")
    if len(line) > MAX_LINE:
        raise HttpError("status line too long")
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit() or len(parts[1]) != 3:
        raise HttpError(f"not an HTTP/1.x response: {line[:60]!r}")
    return parts[0].decode("latin-1"), int(parts[1])


def _read_headers(rfile) -> dict[str, str]:
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS):
        line = rfile.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise HttpError("header line too long")
        if line in (b"\r\n", b"\n"):
            return headers
        if not line:
            raise HttpError("the connection closed inside the headers")
        name, sep, value = line.partition(b":")
        if not sep:
            raise HttpError(f"malformed header line: {line[:60]!r}")
        key = name.strip().lower().decode("latin-1")
        value_text = value.strip().decode("latin-1")
        # Repeated headers are joined as RFC 9110 allows for list-valued ones.
        headers[key] = f"{headers[key]}, {value_text}" if key in headers else value_text
    raise HttpError(f"more than {MAX_HEADERS} header lines")


def _read_exact(conn: _Connection, size: int, *, deadline: float) -> bytes:
    chunks, left = [], size
    while left:
        conn.sock.settimeout(_remaining(deadline))
        chunk = conn.rfile.read1(min(left, READ_CHUNK))
        if not chunk:
            raise HttpError("the connection closed before the body was complete")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_body(
    conn: _Connection, status: int, headers: dict[str, str], *, deadline: float, max_bytes: int
) -> tuple[bytes, bool]:
    """The body and whether the connection is positioned at the next response (reusable)."""
    if status in (204, 304):
        return b"", True
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks, total = [], 0
        while True:
            conn.sock.settimeout(_remaining(deadline))
            size_line = conn.rfile.readline(MAX_LINE + 1)
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise HttpError(f"malformed chunk size: {size_line[:40]!r}") from None
            if size == 0:
                _read_headers(conn.rfile)  # trailers, then the blank line
                return b"".join(chunks), True
            total += size
            if total > max_bytes:
                raise BodyTooLarge(f"response is larger than the limit of {max_bytes} bytes")
            chunks.append(_read_exact(conn, size, deadline=deadline))
            if _read_exact(conn, 2, deadline=deadline) != b"\r\n":
                raise HttpError("malformed chunked body")
    declared = headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise HttpError(f"malformed Content-Length: {declared[:40]!r}")
        length = int(declared)
        if length > max_bytes:
            raise BodyTooLarge(f"response is {length} bytes, more than the limit of {max_bytes}")
        return _read_exact(conn, length, deadline=deadline), True
    # No length: the body runs to the end of the connection.
    chunks, total = [], 0
    while True:
        conn.sock.settimeout(_remaining(deadline))
        chunk = conn.rfile.read1(READ_CHUNK)
        if not chunk:
            return b"".join(chunks), False
        total += len(chunk)
        if total > max_bytes:
            raise BodyTooLarge(f"response is larger than the limit of {max_bytes} bytes")
        chunks.append(chunk)
