from __future__ import annotations

import socket
import threading
import time

import pytest

from anvil import httpclient
from anvil.fetcher import FetchError, fetch_many, fetch_one
from anvil.safety import UrlNotAllowed
from anvil.tests.conftest import send_body


def test_it_fetches_a_body_with_a_content_length(upstream):
    upstream.routes["/doc"] = lambda h: send_body(h, b"hello world")
    fetched = fetch_one(url=upstream.url + "/doc")
    assert fetched.body == b"hello world"
    assert fetched.status == 200
    assert fetched.elapsed_ms > 0


def test_it_fetches_a_chunked_body(upstream):
    def chunked(handler):
        handler.send_response(200)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for part in (b"first,", b"second,", b"third"):
            handler.wfile.write(b"%x;ext=1\r\n%s\r\n" % (len(part), part))
        handler.wfile.write(b"0\r\nX-Trailer: yes\r\n\r\n")

    upstream.routes["/chunked"] = chunked
    assert fetch_one(url=upstream.url + "/chunked").body == b"first,second,third"
    # The connection stays usable after a chunked body.
    assert fetch_one(url=upstream.url + "/chunked").body == b"first,second,third"


def test_it_reads_a_body_without_length_to_the_end_of_the_connection(upstream):
    def until_close(handler):
        handler.send_response(200)
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(b"no length here")
        handler.close_connection = True

    upstream.routes["/close"] = until_close
    assert fetch_one(url=upstream.url + "/close").body == b"no length here"


def test_it_reuses_pooled_connections(upstream):
    upstream.routes["/doc"] = lambda h: send_body(h, b"x" * 1000)
    for _ in range(5):
        fetch_one(url=upstream.url + "/doc")
    assert upstream.connections == 1


def test_it_retries_once_when_a_pooled_connection_was_closed_by_the_server(settings):
    # A server that answers each connection once (keep-alive promised) and then hangs up.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    settings.ANVIL_FETCH_ALLOWED_HOSTS = [f"127.0.0.1:{port}"]
    accepted = []

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        assert fetch_one(url=f"http://127.0.0.1:{port}/a").body == b"ok"
        time.sleep(0.05)
        assert fetch_one(url=f"http://127.0.0.1:{port}/b").body == b"ok"
        assert len(accepted) == 2
    finally:
        listener.close()


def test_it_follows_redirects_within_the_allow_list(upstream):
    upstream.routes["/old"] = lambda h: send_body(h, b"", status=301, headers={"Location": "/new"})
    upstream.routes["/new"] = lambda h: send_body(h, b"moved here")
    assert fetch_one(url=upstream.url + "/old").body == b"moved here"


def test_it_refuses_a_redirect_to_a_host_that_is_not_allowed(upstream):
    upstream.routes["/out"] = lambda h: send_body(
        h, b"", status=302, headers={"Location": "http://169.254.169.254/latest/meta-data/"}
    )
    with pytest.raises(FetchError) as caught:
        fetch_one(url=upstream.url + "/out")
    assert "redirected to a URL that is not allowed: http://169.254.169.254/latest/meta-data/" in str(caught.value)


def test_it_gives_up_after_too_many_redirects(upstream, settings):
    settings.ANVIL_FETCH_MAX_REDIRECTS = 2
    upstream.routes["/loop"] = lambda h: send_body(h, b"", status=302, headers={"Location": "/loop"})
    with pytest.raises(FetchError, match="more than 2 redirects"):
        fetch_one(url=upstream.url + "/loop")


def test_it_treats_an_upstream_error_status_as_a_failure(upstream):
    with pytest.raises(FetchError, match="upstream answered HTTP 404"):
        fetch_one(url=upstream.url + "/missing")


def test_it_refuses_a_body_over_the_size_cap(upstream, settings):
    settings.ANVIL_FETCH_MAX_BYTES = 1000
    upstream.routes["/big"] = lambda h: send_body(h, b"x" * 5000)
    with pytest.raises(FetchError, match="more than the limit of 1000"):
        fetch_one(url=upstream.url + "/big")


def test_it_refuses_a_chunked_body_over_the_size_cap(upstream, settings):
    settings.ANVIL_FETCH_MAX_BYTES = 1000

    def chunked(handler):
        handler.send_response(200)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for _ in range(10):
            handler.wfile.write(b"200\r\n" + b"y" * 512 + b"\r\n")
        handler.wfile.write(b"0\r\n\r\n")

    upstream.routes["/chunked-big"] = chunked
    with pytest.raises(FetchError, match="larger than the limit of 1000 bytes"):
        fetch_one(url=upstream.url + "/chunked-big")


def test_it_times_out_a_slow_upstream(upstream, settings):
    settings.ANVIL_FETCH_TIMEOUT_S = 0.3
    upstream.routes["/slow"] = lambda h: (time.sleep(1.0), send_body(h, b"late"))
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"timed out after 0.3s"):
        fetch_one(url=upstream.url + "/slow")
    assert time.monotonic() - started < 0.9


def test_it_reports_a_refused_connection(settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.ANVIL_FETCH_ALLOWED_HOSTS = [f"127.0.0.1:{port}"]
    with pytest.raises(FetchError, match="cannot connect"):
        fetch_one(url=f"http://127.0.0.1:{port}/x")


def test_it_refuses_a_host_that_resolves_to_a_metadata_address(settings, monkeypatch):
    settings.ANVIL_FETCH_ALLOWED_HOSTS = ["corpus.example"]

    def fake_resolve(host, port):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", port))]

    monkeypatch.setattr(httpclient, "_resolve", fake_resolve)
    with pytest.raises(UrlNotAllowed, match=r"link-local/metadata address 169\.254\.169\.254"):
        fetch_one(url="http://corpus.example/doc")


def test_it_fetches_concurrently_and_keeps_request_order(upstream):
    for name in ("a", "b", "c", "d"):
        upstream.routes[f"/{name}"] = lambda h, name=name: (time.sleep(0.4), send_body(h, name.encode()))
    started = time.monotonic()
    fetched = fetch_many(urls=[upstream.url + f"/{name}" for name in ("d", "a", "c", "b")])
    # One after another this takes 1.6 s; concurrently about 0.4 s.
    assert time.monotonic() - started < 1.3
    assert [item.body for item in fetched] == [b"d", b"a", b"c", b"b"]


def test_it_reports_the_first_failing_url_in_request_order(upstream):
    upstream.routes["/ok"] = lambda h: send_body(h, b"ok")
    with pytest.raises(FetchError) as caught:
        fetch_many(urls=[upstream.url + "/ok", upstream.url + "/gone-1", upstream.url + "/gone-2"])
    assert caught.value.url == upstream.url + "/gone-1"


def test_it_percent_encodes_non_ascii_paths(upstream):
    upstream.routes["/caf%C3%A9/%E2%82%AC"] = lambda h: send_body(h, b"encoded")
    assert fetch_one(url=upstream.url + "/café/€").body == b"encoded"
    assert fetch_one(url=upstream.url + "/caf%C3%A9/%E2%82%AC").body == b"encoded"


@pytest.fixture
def tls_upstream(settings, tmp_path):
    """An HTTPS server on 127.0.0.1 with a throwaway self-signed certificate; yields (url, cert path)."""
    import shutil
    import ssl
    import subprocess

    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    settings.ANVIL_FETCH_ALLOWED_HOSTS = [f"127.0.0.1:{port}"]

    def serve():
        while True:
            try:
                raw, _ = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(raw, server_side=True) as conn:
                    conn.settimeout(5)
                    head = b""
                    while b"\r\n\r\n" not in head:
                        head += conn.recv(4096)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecret")
            except (OSError, ssl.SSLError):
                pass  # e.g. a client that does not trust the certificate hangs up

    threading.Thread(target=serve, daemon=True).start()
    yield f"https://127.0.0.1:{port}", cert
    listener.close()


def test_it_fetches_over_https_from_a_server_it_trusts(tls_upstream, monkeypatch):
    import ssl

    from anvil.fetcher import client_get

    url, cert = tls_upstream
    monkeypatch.setattr(client_get().http, "_tls", ssl.create_default_context(cafile=str(cert)))
    assert fetch_one(url=url + "/doc").body == b"secret"


def test_it_refuses_a_certificate_it_does_not_trust(tls_upstream):
    url, _ = tls_upstream
    with pytest.raises(FetchError, match="TLS handshake failed"):
        fetch_one(url=url + "/doc")


def test_it_refuses_a_host_that_resolves_to_a_nat64_form_of_a_metadata_address(settings, monkeypatch):
    settings.ANVIL_FETCH_ALLOWED_HOSTS = ["corpus.example"]

    def fake_resolve(host, port):
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("64:ff9b::a9fe:a9fe", port, 0, 0))]

    monkeypatch.setattr(httpclient, "_resolve", fake_resolve)
    with pytest.raises(UrlNotAllowed, match=r"link-local/metadata address 64:ff9b::a9fe:a9fe \(169\.254\.169\.254\)"):
        fetch_one(url="http://corpus.example/doc")
