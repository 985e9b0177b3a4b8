"""The REST API under /api/v1/: every error case, idempotency, limits, other participants' data."""

from __future__ import annotations

import re

import pytest

from leaderboard.models import Submission, SubmissionStatus
from leaderboard.tests.conftest import challenge_get, run_make, scored_make, submission_make
from loadtest.models import LoadTestRun, RunStatus

URL = "http://127.0.0.1:8080"
CREATE = "/api/v1/submissions"


def body_ok(response, status):
    assert response.status_code == status, response.content
    return response.json()


def error_of(response, status):
    data = body_ok(response, status)
    assert set(data) == {"error", "details"}
    assert isinstance(data["error"], str) and data["error"]
    return data


# --- create ------------------------------------------------------------------


def test_it_accepts_a_submission_and_answers_202_with_its_status_url(alice_api, robust):
    response = alice_api.post(CREATE, {"challenge": "robust-service", "target_url": URL}, format="json")
    data = body_ok(response, 202)
    submission = Submission.objects.get()
    assert data["id"] == submission.id
    assert data["status"] == "queued"
    assert data["challenge"] == "robust-service"
    assert data["statistics"] is None and data["score"] is None
    assert data["status_url"].endswith(f"/api/v1/submissions/{submission.id}")
    assert response["Location"] == data["status_url"]
    assert submission.run.origin == "submission"


def test_it_refuses_a_missing_key_with_401(api, robust):
    data = error_of(api.post(CREATE, {"challenge": "robust-service", "target_url": URL}, format="json"), 401)
    assert "API key" in data["error"]
    assert not Submission.objects.exists()


def test_it_refuses_a_wrong_key_with_403(api, alice, robust):
    for key in ["scc_00000000_" + "x" * 43, alice[1][:-1] + ("A" if alice[1][-1] != "A" else "B"), "garbage"]:
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        data = error_of(api.post(CREATE, {"challenge": "robust-service", "target_url": URL}, format="json"), 403)
        assert "not valid" in data["error"]
    assert not Submission.objects.exists()


def test_a_suspended_participant_cannot_submit(alice, alice_api, robust):
    alice[0].is_active = False
    alice[0].save()
    data = error_of(alice_api.post(CREATE, {"challenge": "robust-service", "target_url": URL}, format="json"), 403)
    assert "suspended" in data["error"]


def test_it_refuses_another_authorization_scheme_with_401(api, alice, robust):
    api.credentials(HTTP_AUTHORIZATION=f"Token {alice[1]}")
    error_of(api.post(CREATE, {"challenge": "robust-service", "target_url": URL}, format="json"), 401)


def test_it_refuses_an_unknown_challenge_with_400_naming_the_field(alice_api, robust):
    data = error_of(alice_api.post(CREATE, {"challenge": "fastest", "target_url": URL}, format="json"), 400)
    assert "challenge" in data["details"]
    assert "fastest" in data["error"]


@pytest.mark.parametrize(
    ("target", "words"),
    [("ftp://127.0.0.1/", "http"), ("http://example.com/", "not allowed"), ("", "blank"), ("http://[::1/", "malformed")],
)
def test_it_refuses_a_bad_or_disallowed_target_with_400(alice_api, robust, target, words):
    data = error_of(alice_api.post(CREATE, {"challenge": "robust-service", "target_url": target}, format="json"), 400)
    assert "target_url" in data["details"]
    assert words in str(data)
    assert not LoadTestRun.objects.exists()


def test_it_refuses_missing_fields_and_malformed_json_with_400(alice_api, robust):
    data = error_of(alice_api.post(CREATE, {}, format="json"), 400)
    assert set(data["details"]) == {"challenge"}
    # A submission is a target URL or a bundle: one of the two.
    data = error_of(alice_api.post(CREATE, {"challenge": "robust-service"}, format="json"), 400)
    assert set(data["details"]) == {"target_url"} and "give either target_url" in data["error"]
    data = error_of(alice_api.post(CREATE, "{not json", content_type="application/json"), 400)
    assert "JSON" in data["error"]
    error_of(alice_api.post(CREATE, [1, 2], format="json"), 400)


def test_no_endpoint_accepts_scores(alice_api, robust):
    data = error_of(
        alice_api.post(CREATE, {"challenge": "robust-service", "target_url": URL, "score": 1e9}, format="json"), 400
    )
    assert "score" in data["details"]
    assert not Submission.objects.exists()


def test_the_same_idempotency_key_returns_the_same_submission(alice_api, robust):
    payload = {"challenge": "robust-service", "target_url": URL}
    first = body_ok(alice_api.post(CREATE, payload, format="json", HTTP_IDEMPOTENCY_KEY="abc-1"), 202)
    again = body_ok(alice_api.post(CREATE, payload, format="json", HTTP_IDEMPOTENCY_KEY="abc-1"), 202)
    assert again["id"] == first["id"]
    assert again["idempotency_key"] == "abc-1"
    assert Submission.objects.count() == 1
    data = error_of(
        alice_api.post(CREATE, {**payload, "target_url": "http://127.0.0.1:8081"}, format="json", HTTP_IDEMPOTENCY_KEY="abc-1"), 409
    )
    assert "Idempotency-Key" in data["details"]


def test_it_refuses_an_overlong_idempotency_key(alice_api, robust):
    data = error_of(
        alice_api.post(CREATE, {"challenge": "robust-service", "target_url": URL}, format="json", HTTP_IDEMPOTENCY_KEY="k" * 101), 400
    )
    assert "Idempotency-Key" in data["details"]


def test_a_second_active_submission_is_429(alice_api, robust):
    body_ok(alice_api.post(CREATE, {"challenge": "robust-service", "target_url": URL}, format="json"), 202)
    data = error_of(alice_api.post(CREATE, {"challenge": "longest-upkeep", "target_url": URL}, format="json"), 429)
    assert "queued or running" in data["error"]


def test_the_daily_limit_is_429_with_retry_after(alice, alice_api, robust):
    robust.daily_limit = 1
    robust.save()
    submission_make(participant=alice[0], challenge=robust, status=SubmissionStatus.FAILED)
    response = alice_api.post(CREATE, {"challenge": "robust-service", "target_url": URL}, format="json")
    data = error_of(response, 429)
    assert "daily limit" in data["error"]
    assert int(response["Retry-After"]) == data["details"]["retry_after_s"] > 0


def test_the_per_key_submit_throttle_is_429(alice_api, robust, settings):
    settings.LEADERBOARD_API_RATES = {**settings.LEADERBOARD_API_RATES, "submit": "2/hour"}
    payload = {"challenge": "robust-service", "target_url": URL}
    for key in ("a", "b"):
        alice_api.post(CREATE, payload, format="json", HTTP_IDEMPOTENCY_KEY=key)
    response = alice_api.post(CREATE, payload, format="json", HTTP_IDEMPOTENCY_KEY="c")
    data = error_of(response, 429)
    assert data["details"]["retry_after_s"] > 0
    assert "Retry-After" in response


def test_the_per_key_throttle_counts_each_key_apart(alice, alice_api, outsider, api, settings):
    settings.LEADERBOARD_API_RATES = {**settings.LEADERBOARD_API_RATES, "key": "2/minute"}
    submission = submission_make(participant=alice[0], challenge=challenge_get("robust-service"))
    for _ in range(2):
        body_ok(alice_api.get(f"/api/v1/submissions/{submission.id}"), 200)
    error_of(alice_api.get(f"/api/v1/submissions/{submission.id}"), 429)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {outsider[1]}")
    error_of(api.get(f"/api/v1/submissions/{submission.id}"), 404)


def test_the_per_ip_throttle_covers_anonymous_reads_and_key_guessing(api, settings, robust):
    settings.LEADERBOARD_API_RATES = {**settings.LEADERBOARD_API_RATES, "ip": "3/minute"}
    for _ in range(3):
        body_ok(api.get("/api/v1/challenges"), 200)
    error_of(api.get("/api/v1/leaderboards/robust-service"), 429)
    api.credentials(HTTP_AUTHORIZATION="Bearer scc_00000000_" + "x" * 43)
    error_of(api.post(CREATE, {"challenge": "robust-service", "target_url": URL}, format="json"), 429)
    # Another address has its own budget.
    body_ok(api.get("/api/v1/challenges", REMOTE_ADDR="10.1.2.3"), 200)


# --- read and cancel ---------------------------------------------------------


def test_a_participant_reads_their_own_submission_with_its_statistics(alice, alice_api, robust):
    submission = scored_make(participant=alice[0], challenge=robust, statistics=(120.5, 12.25, 99.5), score=119.9)
    data = body_ok(alice_api.get(f"/api/v1/submissions/{submission.id}"), 200)
    assert data["statistics"] == {"sustained_rps": 120.5, "avg_latency_ms": 12.25, "uptime_pct": 99.5}
    assert data["score"] == 119.9


def test_someone_elses_submission_is_404(alice, outsider, api, robust):
    submission = submission_make(participant=alice[0], challenge=robust)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {outsider[1]}")
    for response in (api.get(f"/api/v1/submissions/{submission.id}"), api.post(f"/api/v1/submissions/{submission.id}/cancel")):
        error_of(response, 404)
    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.QUEUED
    error_of(api.get("/api/v1/submissions/999999"), 404)


def test_reading_a_submission_needs_a_key(api, alice, robust):
    submission = submission_make(participant=alice[0], challenge=robust)
    error_of(api.get(f"/api/v1/submissions/{submission.id}"), 401)


def test_a_participant_cancels_a_queued_submission(alice_api, robust):
    created = body_ok(alice_api.post(CREATE, {"challenge": "robust-service", "target_url": URL}, format="json"), 202)
    data = body_ok(alice_api.post(f"/api/v1/submissions/{created['id']}/cancel"), 202)
    assert data["status"] == "cancelled"
    assert LoadTestRun.objects.get().status == RunStatus.CANCELLED
    data = error_of(alice_api.post(f"/api/v1/submissions/{created['id']}/cancel"), 409)
    assert "already finished" in data["error"]


def test_a_running_submission_is_asked_to_stop(alice, alice_api, robust):
    run = run_make(status=RunStatus.RUNNING)
    submission = submission_make(participant=alice[0], challenge=robust, status=SubmissionStatus.RUNNING, run=run)
    data = body_ok(alice_api.post(f"/api/v1/submissions/{submission.id}/cancel"), 202)
    assert data["status"] == "running"
    assert LoadTestRun.objects.get(id=run.id).cancel_requested


# --- public reads ------------------------------------------------------------


def test_it_lists_the_open_challenges_with_their_statistics(api, db):
    data = body_ok(api.get("/api/v1/challenges"), 200)
    assert [c["slug"] for c in data] == ["robust-service", "graceful-degradation", "longest-upkeep"]
    assert [s["label"] for s in data[2]["statistics"]] == ["Uptime Duration", "Last Downtime", "Restarts"]
    assert data[0]["duration_s"] == 60


def test_the_leaderboard_api_ranks_like_the_page(api, robust):
    from leaderboard.tests.conftest import participant_make

    bob, _ = participant_make("bob")
    carol, _ = participant_make("carol")
    scored_make(participant=bob, challenge=robust, statistics=(100.0, 10.0, 100.0), score=100.0)
    scored_make(participant=bob, challenge=robust, statistics=(50.0, 10.0, 100.0), score=50.0)
    best = scored_make(participant=carol, challenge=robust, statistics=(150.0, 5.0, 100.0), score=150.0)
    data = body_ok(api.get("/api/v1/leaderboards/robust-service"), 200)
    assert data["results"][0]["submission"] == f"/submissions/{best.id}/"
    assert data["count"] == 2
    assert [(r["rank"], r["participant"], r["score"]) for r in data["results"]] == [(1, "carol", 150.0), (2, "bob", 100.0)]
    assert data["results"][0]["statistics"] == {"sustained_rps": 150.0, "avg_latency_ms": 5.0, "uptime_pct": 100.0}
    by_latency = body_ok(api.get("/api/v1/leaderboards/robust-service?sort=-statistic_2"), 200)
    assert [(r["rank"], r["participant"]) for r in by_latency["results"]] == [(2, "bob"), (1, "carol")]


def test_the_leaderboard_api_refuses_bad_parameters(api, robust):
    assert "sort" in error_of(api.get("/api/v1/leaderboards/robust-service?sort=speed"), 400)["details"]
    assert "page" in error_of(api.get("/api/v1/leaderboards/robust-service?page=zero"), 400)["details"]
    assert "page" in error_of(api.get("/api/v1/leaderboards/robust-service?page=0"), 400)["details"]
    error_of(api.get("/api/v1/leaderboards/nope"), 404)


def test_the_leaderboard_api_cache_is_invalidated_by_a_new_score(
    api, robust, settings, django_capture_on_commit_callbacks, django_assert_num_queries
):
    from leaderboard.tests.conftest import participant_make

    settings.LEADERBOARD_CACHE_S = 60
    bob, _ = participant_make("bob")
    assert body_ok(api.get("/api/v1/leaderboards/robust-service"), 200)["count"] == 0
    with django_assert_num_queries(0):
        assert body_ok(api.get("/api/v1/leaderboards/robust-service"), 200)["count"] == 0
    with django_capture_on_commit_callbacks(execute=True):
        scored_make(participant=bob, challenge=robust, statistics=(1.0, 1.0, 1.0), score=1.0)
    assert body_ok(api.get("/api/v1/leaderboards/robust-service"), 200)["count"] == 1


def test_the_openapi_schema_renders_with_every_endpoint(api, db):
    response = api.get("/api/schema/?format=json")
    assert response.status_code == 200, response.content[:500]
    import json

    schema = json.loads(response.content)
    paths = set(schema["paths"])
    assert {"/api/v1/submissions", "/api/v1/submissions/{submission_id}", "/api/v1/submissions/{submission_id}/cancel",
            "/api/v1/challenges", "/api/v1/leaderboards/{slug}"} <= paths
    assert schema["components"]["securitySchemes"]["participantKey"]["scheme"] == "bearer"
    # Nothing in the schema lets a client send a score.
    create = schema["paths"]["/api/v1/submissions"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert create["$ref"].endswith("/SubmissionCreateInput")
    assert set(schema["components"]["schemas"]["SubmissionCreateInput"]["properties"]) == {
        "challenge", "target_url", "bundle"}


def test_cached_leaderboard_answers_still_count_against_the_ip_throttle(api, robust, settings):
    settings.LEADERBOARD_CACHE_S = 60
    settings.LEADERBOARD_API_RATES = {**settings.LEADERBOARD_API_RATES, "ip": "3/minute"}
    first = body_ok(api.get("/api/v1/leaderboards/robust-service"), 200)
    for _ in range(2):
        assert body_ok(api.get("/api/v1/leaderboards/robust-service"), 200) == first
    data = error_of(api.get("/api/v1/leaderboards/robust-service"), 429)
    assert data["details"]["retry_after_s"] > 0


def test_wrong_methods_and_media_types_get_the_uniform_error_shape(alice_api, robust):
    assert "not allowed" in error_of(alice_api.get(CREATE), 405)["error"]
    assert "not allowed" in error_of(alice_api.delete("/api/v1/challenges"), 405)["error"]
    response = alice_api.post(CREATE, "challenge=robust-service", content_type="application/x-www-form-urlencoded")
    assert "Unsupported media type" in error_of(response, 415)["error"]


# --- sorting by the keys the answer names its columns by ---------------------------


def leaderboard_of(api, query: str = "", slug: str = "robust-service") -> dict:
    return body_ok(api.get(f"/api/v1/leaderboards/{slug}{query}"), 200)


@pytest.fixture
def fast_and_slow(robust):
    from leaderboard.tests.conftest import participant_make

    fast, _ = participant_make("fast")
    slow, _ = participant_make("slow")
    scored_make(participant=fast, challenge=robust, statistics=(100.0, 5.0, 90.0), score=90.0)
    scored_make(participant=slow, challenge=robust, statistics=(10.0, 50.0, 100.0), score=10.0)


def test_the_leaderboard_api_sorts_by_every_column_key_it_returns(api, fast_and_slow):
    data = leaderboard_of(api)
    keys = [column["key"] for column in data["columns"]]
    assert keys == ["sustained_rps", "avg_latency_ms", "uptime_pct"]
    expected = {"sustained_rps": ["slow", "fast"], "avg_latency_ms": ["fast", "slow"], "uptime_pct": ["fast", "slow"]}
    for key in keys:
        ascending = leaderboard_of(api, f"?sort={key}")
        assert ascending["sort"] == key
        assert [r["participant"] for r in ascending["results"]] == expected[key]
        descending = leaderboard_of(api, f"?sort=-{key}")
        assert descending["sort"] == f"-{key}"
        assert [r["participant"] for r in descending["results"]] == expected[key][::-1]
        # The rank stays the rank by score.
        assert {r["participant"]: r["rank"] for r in descending["results"]} == {"fast": 1, "slow": 2}


def test_the_positional_statistic_names_still_sort_and_the_answer_names_the_column(api, fast_and_slow):
    data = leaderboard_of(api, "?sort=-statistic_2")
    assert data["sort"] == "-avg_latency_ms"
    assert data == leaderboard_of(api, "?sort=-avg_latency_ms")


def test_the_columns_say_which_way_is_better(api, robust):
    columns = leaderboard_of(api)["columns"]
    assert [(c["key"], c["better"], c["decimals"]) for c in columns] == [
        ("sustained_rps", "higher", 1), ("avg_latency_ms", "lower", 1), ("uptime_pct", "higher", 2)]


@pytest.mark.parametrize("sort", ["speed", "-speed", "requests_handled", "statistic_4", "--score", "", " rank"])
def test_an_unknown_sort_key_is_a_400_naming_the_field_and_listing_the_accepted_keys(api, robust, sort):
    data = error_of(api.get("/api/v1/leaderboards/robust-service", {"sort": sort}), 400)
    assert set(data["details"]) == {"sort"}
    [problem] = data["details"]["sort"]
    assert "rank, participant, sustained_rps, avg_latency_ms, uptime_pct, score, when" in problem
    assert data["error"].startswith("sort: ")


# --- figures as numbers: whole numbers as JSON integers -----------------------------


def test_the_api_gives_counts_and_whole_seconds_as_integers(api, alice, alice_api):
    import json

    graceful = scored_make(participant=alice[0], challenge=challenge_get("graceful-degradation"),
                           statistics=(1797.0, 1.5, 20.04), score=1797.0)
    upkeep = scored_make(participant=alice[0], challenge=challenge_get("longest-upkeep"),
                         statistics=(48.0, None, 4.0), score=48.0)
    row = leaderboard_of(api, slug="graceful-degradation")["results"][0]
    assert row["statistics"] == {"requests_handled": 1797, "error_rate_pct": 1.5, "p95_latency_ms": 20.04}
    assert type(row["statistics"]["requests_handled"]) is int and type(row["score"]) is int
    assert type(row["statistics"]["error_rate_pct"]) is float
    raw = alice_api.get(f"/api/v1/submissions/{upkeep.id}").content.decode().replace(" ", "")
    assert re.search(r'"restarts":4[,}]', raw) and re.search(r'"score":48[,}]', raw)
    data = json.loads(raw)
    assert data["statistics"] == {"uptime_duration_s": 48, "last_downtime_s": None, "restarts": 4}
    assert type(data["statistics"]["uptime_duration_s"]) is int
    detail = body_ok(alice_api.get(f"/api/v1/submissions/{graceful.id}"), 200)
    assert type(detail["statistics"]["requests_handled"]) is int and type(detail["score"]) is int


def test_a_fractional_score_stays_a_json_number_with_its_fraction(api, alice, robust):
    scored_make(participant=alice[0], challenge=robust, statistics=(120.5, 12.25, 99.5), score=119.9)
    row = leaderboard_of(api)["results"][0]
    assert row["score"] == 119.9 and row["statistics"]["sustained_rps"] == 120.5
