"""POST /tracker/api/track and /tracker/api/runs/batch: the payload existing clients send."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, connections
from django.test import override_settings

from tracker.models import TrackedRun
from tracker.tests.conftest import BOTH_DATABASES, client_payload, post_json

pytestmark = [pytest.mark.django_db(databases=BOTH_DATABASES), pytest.mark.usefixtures("tracker_on")]

TRACK = "/tracker/api/track"
BATCH = "/tracker/api/runs/batch"


def runs():
    return TrackedRun.objects.using("tracker")


def test_it_accepts_the_payload_exactly_as_clients_send_it(client):
    response = post_json(client, TRACK, client_payload())
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["message"]
    run = runs().get(pk=body["id"])
    # A naive timestamp means UTC.
    assert run.timestamp == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert run.commit_hash is None
    assert (run.user_id, run.challenge_type, run.metric_name, run.value) == ("alice", "robust-service", "rps", 412.5)
    assert (run.target_url, run.method, run.request_count, run.test_type) == ("http://127.0.0.1:8080", "POST", 1000,
                                                                              "standard")
    assert (run.total_requests, run.successful_requests, run.failed_requests) == (1000, 990, 10)
    assert (run.avg_latency_ms, run.error_rate, run.rps, run.duration_s) == (38.2, 1.0, 412.5, 2.42)
    assert run.payload_urls == ["http://127.0.0.1:8080/corpus/constitution"]
    assert run.session_id == "session-1"
    assert run.labels == {"host": "laptop"}


def test_it_converts_a_zoned_timestamp_to_utc(client):
    body = post_json(client, TRACK, client_payload(timestamp="2026-03-01T14:30:00+02:00")).json()
    assert runs().get(pk=body["id"]).timestamp == datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    body = post_json(client, TRACK, client_payload(timestamp="2026-03-01T12:30:00.250Z")).json()
    assert runs().get(pk=body["id"]).timestamp == datetime(2026, 3, 1, 12, 30, 0, 250000, tzinfo=UTC)


def test_it_keeps_a_commit_hash_and_percentiles_when_sent(client):
    payload = client_payload(runDetails={"commit_hash": "abc123", "p50_latency_ms": 30.0, "p95_latency_ms": 80.5,
                                         "p99_latency_ms": 120.0})
    run = runs().get(pk=post_json(client, TRACK, payload).json()["id"])
    assert run.commit_hash == "abc123"
    assert (run.p50_latency_ms, run.p95_latency_ms, run.p99_latency_ms) == (30.0, 80.5, 120.0)


def test_it_keeps_extra_fields_instead_of_rejecting_them(client):
    payload = client_payload(region="eu", runDetails={"warmup_s": 3, "notes": {"cache": "on"}})
    run_id = post_json(client, TRACK, payload).json()["id"]
    run = runs().get(pk=run_id)
    assert run.extra == {"region": "eu"}
    assert run.run_details_extra == {"warmup_s": 3, "notes": {"cache": "on"}}
    grouped = client.get("/tracker/api/track/alice").json()
    sent_back = grouped["http://127.0.0.1:8080"]["session-1"][0]
    assert sent_back["region"] == "eu"
    assert sent_back["runDetails"]["notes"] == {"cache": "on"}


def _without(path: str) -> dict:
    payload = client_payload()
    if "." in path:
        del payload["runDetails"][path.split(".", 1)[1]]
    else:
        del payload[path]
    return payload


def _with(path: str, value) -> dict:
    payload = client_payload()
    if "." in path:
        payload["runDetails"][path.split(".", 1)[1]] = value
    else:
        payload[path] = value
    return payload


REQUIRED = [
    "schema_version", "userId", "challengeType", "metricName", "value", "timestamp", "labels", "runDetails",
    "runDetails.target_url", "runDetails.request_count", "runDetails.method", "runDetails.payload_urls",
    "runDetails.total_requests", "runDetails.successful_requests", "runDetails.failed_requests",
    "runDetails.avg_latency_ms", "runDetails.error_rate", "runDetails.rps", "runDetails.duration_s",
    "runDetails.test_type", "runDetails.commit_hash", "runDetails.session_id",
]


@pytest.mark.parametrize("field", REQUIRED)
def test_it_names_a_missing_field(client, field):
    response = post_json(client, TRACK, _without(field))
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "error"
    assert body["message"].startswith(f"{field}:")
    assert "required" in body["message"]
    assert not runs().exists()


MISTYPED = [
    ("schema_version", 1.0, "schema_version"),
    ("schema_version", "2.0", "schema_version"),
    ("userId", 42, "userId"),
    ("userId", "", "userId"),
    ("userId", "x" * 201, "userId"),
    ("challengeType", None, "challengeType"),
    ("metricName", ["rps"], "metricName"),
    ("value", "412", "value"),
    ("value", True, "value"),
    ("timestamp", 1767225600, "timestamp"),
    ("timestamp", "yesterday", "timestamp"),
    ("labels", ["a"], "labels"),
    ("runId", 7, "runId"),
    ("runId", "", "runId"),
    ("runDetails", "none", "runDetails"),
    ("runDetails", None, "runDetails"),
    ("runDetails.target_url", "ftp://example.org", "runDetails.target_url"),
    ("runDetails.target_url", "not a url", "runDetails.target_url"),
    ("runDetails.target_url", "http://[::1", "runDetails.target_url"),
    ("runDetails.target_url", "http://[not-an-address]/", "runDetails.target_url"),
    ("runDetails.request_count", 10.5, "runDetails.request_count"),
    ("runDetails.request_count", -1, "runDetails.request_count"),
    ("runDetails.method", "PUT", "runDetails.method"),
    ("runDetails.method", None, "runDetails.method"),
    ("runDetails.payload_urls", "http://a", "runDetails.payload_urls"),
    ("runDetails.payload_urls", ["http://a", 3], "runDetails.payload_urls[1]"),
    ("runDetails.total_requests", "1000", "runDetails.total_requests"),
    ("runDetails.successful_requests", None, "runDetails.successful_requests"),
    ("runDetails.failed_requests", False, "runDetails.failed_requests"),
    ("runDetails.avg_latency_ms", -3, "runDetails.avg_latency_ms"),
    ("runDetails.error_rate", 101, "runDetails.error_rate"),
    ("runDetails.error_rate", "1%", "runDetails.error_rate"),
    ("runDetails.rps", {}, "runDetails.rps"),
    ("runDetails.duration_s", None, "runDetails.duration_s"),
    ("runDetails.test_type", 3, "runDetails.test_type"),
    ("runDetails.commit_hash", 123, "runDetails.commit_hash"),
    ("runDetails.session_id", None, "runDetails.session_id"),
    ("runDetails.p95_latency_ms", "fast", "runDetails.p95_latency_ms"),
]


@pytest.mark.parametrize(("field", "value", "named"), MISTYPED)
def test_it_names_a_mistyped_field(client, field, value, named):
    response = post_json(client, TRACK, _with(field, value))
    assert response.status_code == 400
    body = response.json()
    assert body == {"status": "error", "message": body["message"], "field": named}
    assert body["message"].startswith(f"{named}:")
    assert not runs().exists()


def test_it_refuses_a_non_finite_number(client):
    raw = json.dumps(client_payload()).replace('"rps": 412.5', '"rps": NaN')
    response = post_json(client, TRACK, raw)
    assert response.status_code == 400
    assert response.json()["field"] == "runDetails.rps"


@pytest.mark.parametrize(("body", "expected"), [
    ("", "body: is empty"),
    ("{not json", "body: is not valid JSON"),
    ('"just a string"', "body: must be a JSON object"),
    ("42", "body: must be a JSON object"),
    (b"\xff\xfe", "body: is not UTF-8"),
])
def test_it_refuses_a_body_that_is_not_a_payload(client, body, expected):
    response = post_json(client, TRACK, body)
    assert response.status_code == 400
    assert response.json()["message"].startswith(expected)


def test_it_refuses_a_body_larger_than_the_limit(client):
    with override_settings(TRACKER_MAX_BODY_BYTES=2048):
        response = post_json(client, TRACK, client_payload(labels={"big": "x" * 4000}))
    assert response.status_code == 413
    assert response.json()["status"] == "error"


def test_it_answers_other_methods_with_405(client):
    response = client.get(TRACK)
    assert response.status_code == 405
    assert response.json()["status"] == "error"


def test_a_retry_with_the_same_run_id_is_stored_once(client):
    payload = client_payload(runId="ci-build-17")
    first = post_json(client, TRACK, payload).json()
    second = post_json(client, TRACK, payload).json()
    assert first["id"] == second["id"]
    assert second["message"] == "run already stored"
    assert runs().count() == 1


def test_the_same_run_id_of_two_users_is_two_runs(client):
    post_json(client, TRACK, client_payload(runId="r1"))
    post_json(client, TRACK, client_payload(runId="r1", userId="bob"))
    assert runs().count() == 2


def test_runs_without_a_run_id_are_all_stored(client):
    post_json(client, TRACK, client_payload())
    post_json(client, TRACK, client_payload())
    assert runs().count() == 2


class TestAuth:
    def test_it_requires_the_key_when_one_is_configured(self, client):
        with override_settings(LOCAL_TRACKER_API_KEY="s3cret"):
            missing = post_json(client, TRACK, client_payload())
            wrong = post_json(client, TRACK, client_payload(), HTTP_X_API_KEY="guess")
            right = post_json(client, TRACK, client_payload(), HTTP_X_API_KEY="s3cret")
        assert (missing.status_code, missing.json()["status"]) == (401, "error")
        assert (wrong.status_code, wrong.json()["status"]) == (403, "error")
        assert right.status_code == 200
        assert runs().count() == 1

    def test_a_configured_key_lets_remote_clients_in(self, client):
        with override_settings(LOCAL_TRACKER_API_KEY="s3cret"):
            response = post_json(client, TRACK, client_payload(), HTTP_X_API_KEY="s3cret", REMOTE_ADDR="192.0.2.7")
        assert response.status_code == 200

    @pytest.mark.parametrize("address", ["127.0.0.1", "::1", "::ffff:127.0.0.1"])
    def test_without_a_key_it_accepts_loopback_clients(self, client, address):
        assert post_json(client, TRACK, client_payload(), REMOTE_ADDR=address).status_code == 200

    def test_a_trusted_network_counts_as_this_machine(self, client):
        with override_settings(TRACKER_TRUSTED_NETWORKS=["127.0.0.0/8", "172.16.0.0/12"]):
            assert post_json(client, TRACK, client_payload(), REMOTE_ADDR="172.18.0.1").status_code == 200
            assert client.get("/tracker/", REMOTE_ADDR="172.18.0.1").status_code == 200
            assert post_json(client, TRACK, client_payload(), REMOTE_ADDR="192.0.2.7").status_code == 403

    @pytest.mark.parametrize("address", ["192.0.2.7", "10.0.0.5", "not-an-ip"])
    def test_without_a_key_it_refuses_other_clients(self, client, address):
        response = post_json(client, TRACK, client_payload(), REMOTE_ADDR=address)
        assert response.status_code == 403
        assert "LOCAL_TRACKER_API_KEY" in response.json()["message"]
        assert client.get("/tracker/api/track/alice", REMOTE_ADDR=address).status_code == 403
        assert not runs().exists()


class TestBatch:
    @pytest.mark.parametrize("path", [TRACK, BATCH])
    def test_it_stores_an_array_of_runs(self, client, path):
        payloads = [client_payload(value=float(i)) for i in range(20)]
        response = post_json(client, path, payloads)
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "ok" and body["count"] == 20
        assert sorted(runs().values_list("value", flat=True)) == [float(i) for i in range(20)]
        assert sorted(body["ids"]) == sorted(runs().values_list("id", flat=True))
        stored = runs().get(pk=body["ids"][3])
        assert stored.value == 3.0
        assert stored.labels == {"host": "laptop"} and stored.extra == {}
        assert stored.payload_urls == ["http://127.0.0.1:8080/corpus/constitution"]
        assert stored.timestamp == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
        assert stored.commit_hash is None and stored.p95_latency_ms is None

    @pytest.mark.parametrize("path", [TRACK, BATCH])
    def test_one_bad_run_stores_none_and_names_it(self, client, path):
        payloads = [client_payload(), client_payload(), client_payload()]
        payloads[2]["runDetails"]["rps"] = "fast"
        response = post_json(client, path, payloads)
        assert response.status_code == 400
        assert response.json()["field"] == "[2].runDetails.rps"
        assert not runs().exists()

    def test_a_database_failure_midway_stores_none(self, monkeypatch):
        from tracker.services import ingest as services

        real_insert_many = services._runs_insert_many
        calls = []

        def write_one_then_fail(*, rows):
            calls.append(len(rows))
            real_insert_many(rows=rows[:1])
            raise IntegrityError("simulated failure after a partial write")

        monkeypatch.setattr(services, "_runs_insert_many", write_one_then_fail)
        with pytest.raises(IntegrityError):
            services.runs_ingest_batch(payloads=[client_payload(), client_payload()])
        monkeypatch.undo()
        # Retried once (as for a concurrent duplicate runId), then given up; nothing stayed.
        assert calls == [2, 2]
        assert not runs().exists()

    def test_it_keeps_retries_idempotent_inside_and_across_batches(self, client):
        post_json(client, TRACK, client_payload(runId="a"))
        payloads = [client_payload(runId="a"), client_payload(runId="b"), client_payload(runId="b"),
                    client_payload()]
        body = post_json(client, BATCH, payloads).json()
        assert body["count"] == 4
        assert body["message"] == "stored 2 runs, 2 already stored"
        assert body["ids"][1] == body["ids"][2]
        assert runs().count() == 3
        again = post_json(client, BATCH, payloads[:3]).json()
        assert again["ids"] == body["ids"][:3]
        assert runs().count() == 3

    def test_it_refuses_an_empty_or_oversized_batch(self, client):
        assert post_json(client, BATCH, []).status_code == 400
        with override_settings(TRACKER_BATCH_MAX=3):
            response = post_json(client, BATCH, [client_payload() for _ in range(4)])
        assert response.status_code == 400
        assert "at most 3" in response.json()["message"]
        assert post_json(client, BATCH, client_payload()).json()["message"].startswith("body: must be a JSON array")
        assert not runs().exists()


def test_the_payload_fixture_is_what_clients_send():
    # Guard against the fixture drifting towards what the server prefers.
    payload = client_payload()
    assert payload["timestamp"].count("+") == 0 and not payload["timestamp"].endswith("Z")
    assert payload["runDetails"]["commit_hash"] is None
    assert "runId" not in copy.deepcopy(payload)


NASTY = [
    ("NUL in a string", lambda: _with("userId", "al\x00ice"), "userId"),
    ("NUL in the session", lambda: _with("runDetails.session_id", "s\x00"), "runDetails.session_id"),
    ("NUL in a label", lambda: _with("labels", {"a": {"b": "x\x00"}}), "labels.a.b"),
    ("NUL in a label key", lambda: _with("labels", {"k\x00": 1}), "labels"),
    ("lone surrogate", lambda: _with("challengeType", "\ud800"), "challengeType"),
    ("surrogate in an extra field", lambda: client_payload(note="\udfff"), "note"),
    ("NUL in a payload URL", lambda: _with("runDetails.payload_urls", ["http://a\x00"]),
     "runDetails.payload_urls[0]"),
    ("NUL in the runId", lambda: client_payload(runId="r\x00"), "runId"),
    ("NaN in a label", lambda: _with("labels", {"ratio": float("nan")}), "labels.ratio"),
    ("Infinity in an extra field", lambda: _with("runDetails.x", [float("inf")]), "runDetails.x[0]"),
    ("a number too large for a float", lambda: _with("value", 10**400), "value"),
    ("a count too large", lambda: _with("runDetails.total_requests", 2**63), "runDetails.total_requests"),
    ("a timestamp that overflows in UTC", lambda: _with("timestamp", "0001-01-01T00:00:00+01:00"), "timestamp"),
]


@pytest.mark.parametrize(("name", "make", "field"), NASTY, ids=[n for n, _, _ in NASTY])
def test_input_the_database_cannot_store_is_a_400_not_a_500(client, name, make, field):
    response = post_json(client, TRACK, make())
    assert response.status_code == 400, name
    assert response.json()["field"] == field
    assert not runs().exists()


def test_deeply_nested_json_is_a_400(client):
    response = post_json(client, TRACK, "[" * 100_000 + "]" * 100_000)
    assert response.status_code == 400
    deep = {}
    node = deep
    for _ in range(40):
        node["x"] = {}
        node = node["x"]
    assert post_json(client, TRACK, client_payload(labels=deep)).status_code == 400


def test_a_whole_number_count_stays_exact(client):
    run_id = post_json(client, TRACK, _with("runDetails.total_requests", 2**53 + 1)).json()["id"]
    assert runs().get(pk=run_id).total_requests == 2**53 + 1
    run_id = post_json(client, TRACK, _with("runDetails.request_count", 12.0)).json()["id"]
    assert runs().get(pk=run_id).request_count == 12


def test_odd_paths_and_queries_are_4xx_not_500(client):
    assert client.get("/tracker/api/track/al%00ice").status_code == 400
    bad_cursor = "MjAyNi0wMS0wMVQwMDowMDowMCswMDowMHw5OTk5OTk5OTk5OTk5OTk5OTk5OTk5"  # pk beyond bigint
    assert client.get(f"/tracker/api/track/alice?cursor={bad_cursor}").status_code == 400
    post_json(client, TRACK, client_payload())
    key = runs().get().target_key
    assert client.get(f"/tracker/targets/{key}/?session=a%00b").status_code == 400
    assert client.get(f"/tracker/targets/{key}/?test_type=%00").status_code == 400
    assert client.get(f"/tracker/targets/{key}/?to=9999-12-31").status_code == 400
    assert client.get(f"/tracker/targets/{key}/?from=0001-01-01").status_code == 400
    assert client.get("/tracker/targets/not-a-key/").status_code == 404
    assert client.get("/tracker/compare/?a=1&b=99999999999999999999999").status_code == 400
    assert client.post("/tracker/recordings/start", {"target_url": "http://127.0.0.1:8080",
                                                     "interval_s": "9" * 30}).status_code == 400
    assert client.post("/tracker/recordings/start", {"target_url": "http://127.0.0.1:8080",
                                                     "interval_s": "99999999"}).status_code == 400
    assert client.post("/tracker/recordings/start", {"target_url": "http://127.0.0.1:8080/a\x00"}).status_code == 400


def test_on_postgresql_the_single_insert_is_prepared_once_per_connection(client):
    connection = connections["tracker"]
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    ids = {post_json(client, TRACK, client_payload()).json()["id"] for _ in range(3)}
    assert len(ids) == 3 and runs().filter(pk__in=ids).count() == 3
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
                       ['INSERT INTO "tracker_trackedrun"%'])
        assert cursor.fetchone()[0] == 1
