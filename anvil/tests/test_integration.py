"""A real url-anvil under gunicorn with two workers (the ``anvil_server`` fixture in the root conftest).

Requests go over fresh connections, so both workers take turns; a test that
needs both of them asks until it has seen two boot ids.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import signal
import statistics
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from anvil.corpus import corpus_documents
from common.testing import http_json, wait_until

pytestmark = pytest.mark.integration


def token_header(server) -> dict:
    return {"Authorization": f"Bearer {server.env['ANVIL_CHAOS_TOKEN']}"}


def add_fault(server, spec: dict) -> dict:
    status, _, body = http_json("POST", server.url + "/chaos/faults", spec, headers=token_header(server))
    assert status == 201, body
    return body


def spread(server, path: str, *, count: int = 16) -> list[tuple[str, object]]:
    """``count`` GETs from 8 threads at once, so that both workers take some: [(boot id, body)]."""

    def one(_):
        _, headers, body = http_json("GET", server.url + path)
        return headers["X-Anvil-Instance"], body

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, range(count)))


def until_both(server, path: str) -> list[tuple[str, object]]:
    """Batches of concurrent GETs until both workers have answered; every answer is returned."""
    answers: list[tuple[str, object]] = []
    for _ in range(25):
        answers += spread(server, path)
        if len({instance for instance, _ in answers}) == 2:
            return answers
    pytest.fail(f"only one worker answered {len(answers)} requests to {path}")


def live_instances(server) -> set[str]:
    """Boot ids of the live workers, from their heartbeats (independent of who answers requests)."""

    def two():
        _, _, body = http_json("GET", server.url + "/chaos/instances", headers=token_header(server))
        ids = {record["boot_id"] for record in body["instances"]}
        return ids if len(ids) == 2 else None

    return wait_until(two, timeout_s=10, interval_s=0.1, message="both workers to send heartbeats")


def timed_get(url: str) -> float:
    started = time.monotonic()
    with urllib.request.urlopen(url, timeout=10) as response:
        response.read()
    return time.monotonic() - started


def test_a_url_test_fetches_the_corpus_over_http_and_history_is_shared_by_both_workers(anvil_server):
    status, _, urls = http_json("GET", anvil_server.url + "/api/sample-urls")
    assert status == 200 and len(urls) == 5
    assert all(url.startswith(anvil_server.url + "/corpus/") for url in urls)

    results, instances = [], set()
    for _ in range(12):
        status, headers, body = http_json("POST", anvil_server.url + "/api/test", {"urls": urls})
        assert status == 200, body
        results.append(body)
        instances.add(headers["X-Anvil-Instance"])
    documents = corpus_documents()
    expected = hashlib.sha256(b"\n---\n".join(documents[url.rsplit("/", 1)[1]] for url in urls)).hexdigest()
    assert {result["content_hash"] for result in results} == {expected}

    newest_first = list(reversed(results))[:10]
    seen_by = dict(until_both(anvil_server, "/api/history"))
    assert len(seen_by) == 2
    for history in seen_by.values():
        assert history == newest_first


def test_metrics_add_up_across_workers(anvil_server):
    pattern = r'anvil_request_duration_seconds_count\{method="GET",route="anvil-sample-urls",status="200"\} ([0-9.e+]+)'
    answers = until_both(anvil_server, "/api/sample-urls")
    # /metrics may be answered by either worker; both must report the sum of both.
    for _ in range(4):
        _, _, text = http_json("GET", anvil_server.url + "/metrics")
        assert float(re.search(pattern, text).group(1)) == len(answers)
    # One start time per live worker.
    assert len(re.findall(r'^process_start_time_seconds\{pid="\d+"\}', text, re.M)) == 2


def test_heartbeats_list_both_workers(anvil_server):
    instances = live_instances(anvil_server)
    assert {instance for instance, _ in until_both(anvil_server, "/healthz")} == instances
    _, _, body = http_json("GET", anvil_server.url + "/chaos/instances", headers=token_header(anvil_server))
    assert all(record["pid"] > 0 and record["host"] for record in body["instances"])


def test_a_crash_fault_replaces_the_worker_with_a_new_boot_id(anvil_server):
    before = live_instances(anvil_server)
    add_fault(anvil_server, {"kind": "crash"})

    def a_request_died():
        try:
            status, _, _ = http_json("GET", anvil_server.url + "/api/history", timeout=5)
        except (http.client.RemoteDisconnected, ConnectionError, OSError):
            return True
        return status >= 500

    wait_until(a_request_died, timeout_s=10, interval_s=0.1, message="the crash fault to take a worker down")

    def a_new_instance():
        try:
            _, headers, _ = http_json("GET", anvil_server.url + "/healthz", timeout=5)
        except OSError:
            return None
        return headers["X-Anvil-Instance"] not in before

    wait_until(a_new_instance, timeout_s=30, interval_s=0.1, message="gunicorn to start a replacement worker")
    _, _, body = http_json("GET", anvil_server.url + "/chaos/faults", headers=token_header(anvil_server))
    assert body == {"faults": []}  # a one-shot crash is used up
    assert "exits" in anvil_server.log()


def test_a_server_crash_fault_takes_the_whole_instance_down(anvil_server):
    add_fault(anvil_server, {"kind": "crash", "params": {"target": "server"}})

    def the_master_died():
        try:
            http_json("GET", anvil_server.url + "/api/history", timeout=5)
        except OSError:
            pass
        return anvil_server.process.poll() is not None

    wait_until(the_master_died, timeout_s=15, interval_s=0.1, message="the crash fault to kill the gunicorn master")
    assert anvil_server.process.returncode == -signal.SIGKILL
    # Nobody restarts it: the port stops answering once the orphaned workers are gone.
    wait_until(lambda: not answers(anvil_server.url + "/healthz"), timeout_s=15, interval_s=0.1, message="the instance to stop answering")


def answers(url: str) -> bool:
    try:
        http_json("GET", url, timeout=2)
    except OSError:
        return False
    return True


def test_a_latency_fault_shows_in_response_times(anvil_server):
    url = anvil_server.url + "/api/sample-urls"
    baseline = statistics.median(timed_get(url) for _ in range(7))
    add_fault(anvil_server, {"kind": "latency", "params": {"ms": 400}, "ttl_s": 60})
    wait_until(lambda: timed_get(url) >= 0.35, timeout_s=5, interval_s=0.1, message="the latency fault to apply")
    slowed = statistics.median(timed_get(url) for _ in range(7))
    assert slowed - baseline >= 0.25


def test_faults_expire_on_their_own(anvil_server):
    add_fault(anvil_server, {"kind": "error", "params": {"status": 503}, "ttl_s": 2})
    wait_until(
        lambda: http_json("GET", anvil_server.url + "/api/sample-urls")[0] == 503,
        timeout_s=3,
        interval_s=0.1, message="the error fault to apply",
    )
    wait_until(
        lambda: all(http_json("GET", anvil_server.url + "/api/sample-urls")[0] == 200 for _ in range(6)),
        timeout_s=6,
        interval_s=0.1, message="the error fault to expire",
    )
    _, _, body = http_json("GET", anvil_server.url + "/chaos/faults", headers=token_header(anvil_server))
    assert body == {"faults": []}


def test_an_unhealthy_fault_fails_healthz_until_cleared(anvil_server):
    add_fault(anvil_server, {"kind": "unhealthy", "ttl_s": 60})
    wait_until(lambda: http_json("GET", anvil_server.url + "/healthz")[0] == 503, timeout_s=3, interval_s=0.1, message="unhealthy")
    status, _, body = http_json("DELETE", anvil_server.url + "/chaos/faults", headers=token_header(anvil_server))
    assert (status, body) == (200, {"cleared": 1})
    wait_until(
        lambda: all(http_json("GET", anvil_server.url + "/healthz")[0] == 200 for _ in range(6)),
        timeout_s=3,
        interval_s=0.1, message="healthz to recover",
    )


def test_the_control_api_refuses_a_missing_or_wrong_token(anvil_server):
    spec = {"kind": "crash", "params": {"probability": 1.0}}
    assert http_json("POST", anvil_server.url + "/chaos/faults", spec)[0] == 401
    assert http_json("POST", anvil_server.url + "/chaos/faults", spec, headers={"Authorization": "Bearer nope"})[0] == 401
    assert http_json("GET", anvil_server.url + "/chaos/faults", headers={"Authorization": "Bearer nope"})[0] == 401
    status, _, body = http_json("GET", anvil_server.url + "/chaos/faults", headers=token_header(anvil_server))
    assert (status, body) == (200, {"faults": []})


def raw_request(server, method: str, path: str, body: bytes | None, headers: dict | None = None) -> tuple[int, bytes]:
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request(method, path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_every_kind_of_bad_input_gets_its_documented_4xx(anvil_server):
    corpus = anvil_server.url + "/corpus/us-constitution"
    huge = json.dumps({"urls": [corpus + "?" + "x" * 70000]}).encode()
    too_many = json.dumps({"urls": [corpus] * 21}).encode()
    missing = json.dumps({"urls": [anvil_server.url + "/corpus/missing"]}).encode()
    cases = [
        ("POST", "/api/test", b'{"urls": []}', 400, b"Invalid or empty URL array provided."),
        ("POST", "/api/test", b"{}", 400, b"Invalid or empty URL array provided."),
        ("POST", "/api/test", b'{"urls": "x"}', 400, b"Invalid or empty URL array provided."),
        ("POST", "/api/test", b'{"urls": [1]}', 400, b"Invalid or empty URL array provided."),
        ("POST", "/api/test", b"{not json", 400, b"Malformed JSON body"),
        ("POST", "/api/test", huge, 413, b"larger than"),
        ("POST", "/api/test", too_many, 413, b"at most 20"),
        ("POST", "/api/test", b'{"urls": ["http://169.254.169.254/latest/meta-data/"]}', 400, b"URL not allowed: http://169.254.169.254"),
        ("POST", "/api/test", b'{"urls": ["http://u:p@127.0.0.1/"]}', 400, b"credentials"),
        ("POST", "/api/test", missing, 502, b"Failed to test URLs."),
        ("GET", "/api/test", None, 405, b"not allowed"),
        ("GET", "/corpus/missing", None, 404, b"missing"),
        ("POST", "/chaos/faults", b'{"kind": "latency", "params": {"ms": "x"}}', 400, b"params.ms"),
    ]
    for method, path, body, expected_status, expected_text in cases:
        headers = token_header(anvil_server) if path.startswith("/chaos") else None
        status, raw = raw_request(anvil_server, method, path, body, headers)
        assert status == expected_status, (method, path, raw[:200])
        assert expected_text in raw, (method, path, raw[:200])


def test_a_chunked_body_is_read_and_a_bad_content_length_is_refused_by_a_real_server(anvil_server):
    import socket

    body = json.dumps({"urls": [anvil_server.url + "/corpus/us-constitution"]}).encode()
    port = int(anvil_server.url.rsplit(":", 1)[1])

    def exchange(head: bytes, payload: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"POST /api/test HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         b"Connection: close\r\n" + head + b"\r\n" + payload)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        return answer

    middle = len(body) // 2
    chunks = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (middle, body[:middle], len(body) - middle, body[middle:])
    answer = exchange(b"Transfer-Encoding: chunked\r\n", chunks)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]
    assert b'"content_hash"' in answer
    for declared in (b"\xc2\xb2", b"-1", b"1e3"):
        answer = exchange(b"Content-Length: " + declared + b"\r\n", body)
        assert answer.startswith(b"HTTP/1.1 400 "), answer[:300]


def test_upstreams_dripping_headers_hold_the_fetch_slots_only_until_the_deadline(tmp_path, anvil_store):
    from anvil.tests.test_fetcher_hostile import Hostile, drip
    from common.testing import anvil_running

    dripping = Hostile(drip(b"HTTP/1.1 200 OK\r\n", b"X-Drip: d\r\n", every_s=0.1))
    # One worker: its 8 fetch slots (ANVIL_FETCH_CONCURRENCY) are all taken by the dripping fetches.
    extra = {"ANVIL_FETCH_ALLOWED_HOSTS": "127.0.0.1", "ANVIL_FETCH_TIMEOUT_S": "1.5", "ANVIL_FETCH_CONCURRENCY": "8"}
    try:
        with anvil_running(tmp_path=tmp_path, store_env=anvil_store, workers=1, extra_env=extra) as anvil:
            corpus = [f"{anvil.url}/corpus/us-constitution", f"{anvil.url}/corpus/bill-of-rights"]
            with ThreadPoolExecutor(max_workers=5) as pool:
                started = time.monotonic()
                slow = [
                    pool.submit(http_json, "POST", anvil.url + "/api/test",
                                {"urls": [f"{dripping.url}/{n}a", f"{dripping.url}/{n}b"]}, timeout=30)
                    for n in range(4)
                ]
                wait_until(lambda: dripping.requests >= 8, timeout_s=10, interval_s=0.05, message="8 dripping fetches")
                normal = pool.submit(http_json, "POST", anvil.url + "/api/test", {"urls": corpus}, timeout=30)
                status, _, body = normal.result()
                assert status == 200, body
                for future in slow:
                    status, _, body = future.result()
                    assert status == 502, body
                    assert "timed out after 1.5s" in body["message"]
                # The old client waited 12-14 s on such upstreams; now one deadline ends them all.
                assert time.monotonic() - started < 1.5 + 4
    finally:
        dripping.close()
