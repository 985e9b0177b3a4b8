"""The fetcher against upstreams that misbehave on purpose.

Each test runs a small raw TCP server of its own on 127.0.0.1 that answers
with exactly the bytes the test writes: broken framing, endless or dripping
answers, lies about lengths. Whatever arrives, a fetch must end within the
deadline, read no more than the size limit, and fail with a FetchError that
says why (never an unexpected exception, which would be a 500).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from anvil import httpclient
from anvil.fetcher import FetchError, client_get, fetch_many, fetch_one

# How much later than the deadline a fetch may end on a busy 2-core machine.
SLACK_S = 0.6


class Hostile:
    """Accepts connections, reads each request head, then hands the socket to ``answer``."""

    def __init__(self, answer: Callable[[socket.socket, threading.Event], None]) -> None:
        self.answer = answer
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            head = b""
            try:
                while b"\r\n\r\n" not in head:
                    data = conn.recv(4096)
                    if not data:
                        return
                    head += data
                self.requests += 1
                self.answer(conn, self.stop)
            except OSError:
                pass  # the client gave up, which is what most of these tests want

    def close(self) -> None:
        self.stop.set()
        self.listener.close()


@pytest.fixture
def hostile(settings) -> Iterator[Callable[..., Hostile]]:
    servers: list[Hostile] = []

    def start(answer: Callable[[socket.socket, threading.Event], None]) -> Hostile:
        server = Hostile(answer)
        servers.append(server)
        settings.ANVIL_FETCH_ALLOWED_HOSTS = [f"127.0.0.1:{server.port}" for server in servers]
        return server

    yield start
    for server in servers:
        server.close()


def raw(payload: bytes) -> Callable[[socket.socket, threading.Event], None]:
    """An answer that sends ``payload`` and closes."""

    def answer(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(payload)

    return answer


def drip(head: bytes, endless: bytes, *, every_s: float) -> Callable[[socket.socket, threading.Event], None]:
    """Send ``head``, then one byte of ``endless`` (repeated) every ``every_s`` until the client leaves."""

    def answer(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(head)
        position = 0
        while not stop.wait(every_s):
            conn.sendall(endless[position % len(endless) : position % len(endless) + 1])
            position += 1

    return answer


def flood(head: bytes, unit: bytes, *, limit_bytes: int) -> Callable[[socket.socket, threading.Event], None]:
    """Send ``head``, then ``unit`` again and again, up to ``limit_bytes`` or until the client leaves."""

    def answer(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(head)
        sent = 0
        while sent < limit_bytes and not stop.is_set():
            conn.sendall(unit)
            sent += len(unit)

    return answer


def failed_quickly(url: str, *, within_s: float) -> FetchError:
    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        fetch_one(url=url)
    elapsed = time.monotonic() - started
    assert elapsed < within_s, f"took {elapsed:.2f}s: {caught.value}"
    return caught.value


# --- framing -------------------------------------------------------------------


def test_a_negative_chunk_size_is_refused_at_once_instead_of_reading_to_the_end(hostile, settings):
    settings.ANVIL_FETCH_TIMEOUT_S = 5
    # The old parser took "-1" for a length and then read this flood until the
    # connection closed, far past the 1 MB limit.
    server = hostile(flood(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", b"z" * 65536,
                           limit_bytes=50_000_000))
    error = failed_quickly(server.url + "/", within_s=2)
    assert "malformed HTTP response" in error.reason


@pytest.mark.parametrize("size_line", [b"-1", b"+10", b"0x10", b" 10", b"1 0", b"\xc2\xb2", b"10000000000000000000000"])
def test_chunk_sizes_that_are_not_plain_hex_digits_are_refused(hostile, size_line):
    server = hostile(raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + size_line + b"\r\nabc\r\n0\r\n\r\n"))
    assert "malformed HTTP response" in failed_quickly(server.url + "/", within_s=2).reason


def test_a_chunked_body_over_the_limit_is_refused_once_the_limit_is_passed(hostile, settings):
    settings.ANVIL_FETCH_MAX_BYTES = 100_000
    chunk = b"%x\r\n%s\r\n" % (4096, b"c" * 4096)
    server = hostile(flood(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", chunk, limit_bytes=20_000_000))
    error = failed_quickly(server.url + "/", within_s=2)
    assert error.reason == "response is larger than the limit of 100000 bytes"


def test_one_huge_declared_chunk_is_read_no_further_than_the_limit(hostile, settings):
    settings.ANVIL_FETCH_MAX_BYTES = 100_000
    server = hostile(flood(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFF\r\n", b"h" * 65536,
                           limit_bytes=20_000_000))
    assert failed_quickly(server.url + "/", within_s=2).reason == "response is larger than the limit of 100000 bytes"


def test_a_declared_length_over_the_limit_is_refused_before_the_body_arrives(hostile, settings):
    settings.ANVIL_FETCH_MAX_BYTES = 1000
    settings.ANVIL_FETCH_TIMEOUT_S = 5
    # Headers only, then silence: waiting for the body would take the whole deadline.
    server = hostile(drip(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n", b"x", every_s=5))
    error = failed_quickly(server.url + "/", within_s=2)
    assert error.reason == "response is 1000000000 bytes, more than the limit of 1000"


def test_a_body_without_length_over_the_limit_is_refused_once_the_limit_is_passed(hostile, settings):
    settings.ANVIL_FETCH_MAX_BYTES = 100_000
    server = hostile(flood(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", b"u" * 65536, limit_bytes=20_000_000))
    assert failed_quickly(server.url + "/", within_s=2).reason == "response is larger than the limit of 100000 bytes"


@pytest.mark.parametrize(
    "header",
    [
        b"Content-Length: \xc2\xb2",
        b"Content-Length: -1",
        b"Content-Length: 1e3",
        b"Content-Length: 0x10",
        b"Content-Length: 12abc",
        b"Content-Length: ",
        b"Content-Length: 5\r\nContent-Length: 6",
        b"Content-Length: 5, 6",
    ],
    ids=["superscript-two", "negative", "exponent", "hex", "trailing-letters", "empty", "two-headers", "two-values"],
)
def test_a_malformed_or_conflicting_content_length_is_a_fetch_error(hostile, header):
    server = hostile(raw(b"HTTP/1.1 200 OK\r\n" + header + b"\r\n\r\nhello"))
    assert "malformed HTTP response" in failed_quickly(server.url + "/", within_s=2).reason


def test_repeated_content_lengths_that_agree_are_accepted(hostile):
    server = hostile(raw(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"))
    assert fetch_one(url=server.url + "/").body == b"hello"


def test_a_transfer_encoding_other_than_chunked_is_a_fetch_error(hostile):
    server = hostile(raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxyz"))
    assert "malformed HTTP response" in failed_quickly(server.url + "/", within_s=2).reason


def test_a_status_line_that_is_not_http_1_is_a_fetch_error(hostile):
    server = hostile(raw(b"SSH-2.0-OpenSSH_9.6\r\n\r\n"))
    assert "malformed HTTP response" in failed_quickly(server.url + "/", within_s=2).reason


def test_an_unasked_for_protocol_switch_is_a_fetch_error(hostile):
    server = hostile(raw(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"))
    assert "malformed HTTP response" in failed_quickly(server.url + "/", within_s=2).reason


def test_a_response_head_larger_than_the_limit_is_refused(hostile):
    server = hostile(flood(b"HTTP/1.1 200 OK\r\n", b"X-Filler: " + b"f" * 1000 + b"\r\n", limit_bytes=5_000_000))
    assert "malformed HTTP response" in failed_quickly(server.url + "/", within_s=2).reason


# --- servers that stop early ---------------------------------------------------


def test_a_server_that_closes_before_answering_is_a_fetch_error(hostile):
    server = hostile(raw(b""))
    error = failed_quickly(server.url + "/", within_s=2)
    assert error.reason == "the server closed the connection without answering"


def test_a_server_that_closes_inside_the_head_is_a_fetch_error(hostile):
    server = hostile(raw(b"HTTP/1.1 200 OK\r\nContent-Le"))
    assert failed_quickly(server.url + "/", within_s=2).reason == "the connection closed inside the response head"


def test_a_server_that_closes_before_the_declared_length_is_a_fetch_error(hostile):
    server = hostile(raw(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b"))
    error = failed_quickly(server.url + "/", within_s=2)
    assert error.reason.startswith("the connection closed before the body was complete")


def test_a_server_that_closes_inside_a_chunked_body_is_a_fetch_error(hostile):
    server = hostile(raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nshort"))
    assert failed_quickly(server.url + "/", within_s=2).reason.startswith("the connection closed before the body")


def test_a_truncated_answer_is_never_put_back_in_the_pool(hostile):
    server = hostile(raw(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b"))
    with pytest.raises(FetchError):
        fetch_one(url=server.url + "/")
    assert not client_get().http._idle.get(("http", "127.0.0.1", server.port))


# --- one deadline for everything -----------------------------------------------


def test_an_endless_stream_of_1xx_answers_is_refused(hostile, settings):
    settings.ANVIL_FETCH_TIMEOUT_S = 5
    server = hostile(flood(b"", b"HTTP/1.1 100 Continue\r\n\r\n", limit_bytes=50_000_000))
    error = failed_quickly(server.url + "/", within_s=2)
    assert error.reason == f"more than {httpclient.MAX_INFORMATIONAL} informational (1xx) answers"


def test_slow_1xx_answers_end_at_the_deadline(hostile, settings):
    settings.ANVIL_FETCH_TIMEOUT_S = 0.8

    def slow_continues(conn: socket.socket, stop: threading.Event) -> None:
        while not stop.wait(0.3):
            conn.sendall(b"HTTP/1.1 102 Processing\r\n\r\n")

    server = hostile(slow_continues)
    error = failed_quickly(server.url + "/", within_s=0.8 + SLACK_S)
    assert error.reason == "timed out after 0.8s"


def test_a_status_line_dripping_one_byte_at_a_time_ends_at_the_deadline(hostile, settings):
    settings.ANVIL_FETCH_TIMEOUT_S = 0.8
    server = hostile(drip(b"", b"HTTP/1.1 200 OK\r\nX-Slow: " + b"s" * 10_000, every_s=0.05))
    assert failed_quickly(server.url + "/", within_s=0.8 + SLACK_S).reason == "timed out after 0.8s"


def test_headers_dripping_one_byte_at_a_time_end_at_the_deadline(hostile, settings):
    # Every byte arrives well within the deadline; only the total is too slow.
    settings.ANVIL_FETCH_TIMEOUT_S = 0.8
    server = hostile(drip(b"HTTP/1.1 200 OK\r\n", b"X-Drip: dddddddddddddddddddddddd\r\n", every_s=0.05))
    assert failed_quickly(server.url + "/", within_s=0.8 + SLACK_S).reason == "timed out after 0.8s"


def test_a_body_dripping_one_byte_at_a_time_ends_at_the_deadline(hostile, settings):
    settings.ANVIL_FETCH_TIMEOUT_S = 0.8
    server = hostile(drip(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", b"b", every_s=0.05))
    assert failed_quickly(server.url + "/", within_s=0.8 + SLACK_S).reason == "timed out after 0.8s"


def test_a_tls_handshake_that_never_completes_ends_at_the_deadline(hostile, settings):
    settings.ANVIL_FETCH_TIMEOUT_S = 0.8
    # The client's hello never ends in a blank line, so this server reads it
    # and stays silent: the handshake waits for an answer that never comes.
    server = hostile(raw(b""))
    url = f"https://127.0.0.1:{server.port}/"
    assert failed_quickly(url, within_s=0.8 + SLACK_S).reason == "timed out after 0.8s"


def test_slow_upstreams_hold_every_fetch_slot_no_longer_than_the_deadline(hostile, settings):
    settings.ANVIL_FETCH_TIMEOUT_S = 0.8
    server = hostile(drip(b"HTTP/1.1 200 OK\r\n", b"X-Drip: d\r\n", every_s=0.05))
    started = time.monotonic()
    with pytest.raises(FetchError, match="timed out"):
        fetch_many(urls=[server.url + f"/{n}" for n in range(8)])
    # All eight ran at once and all ended at the deadline, not one after another.
    assert time.monotonic() - started < 0.8 + SLACK_S + 0.4
