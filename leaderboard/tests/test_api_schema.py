"""The OpenAPI schema: valid OpenAPI 3, and it states what the API answers and enforces.

Schemathesis checks the same against a running platform (test_api_fuzz.py);
these tests pin the parts a client's generated code depends on, quickly and
without a server.
"""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.validation import validate_schema

from leaderboard.api.serializers import SORT_CHOICES, SORTED_BY_CHOICES, SubmissionCreateInput
from leaderboard.api.views import MAX_BODY_BYTES, MAX_ID
from leaderboard.models import Submission
from leaderboard.scoring import COLUMNS
from leaderboard.tests.conftest import submission_make

CREATE = "/api/v1/submissions"
URL = "http://127.0.0.1:8080"

# Every operation and the statuses it answers besides its success.
ERRORS = {
    ("post", "/api/v1/submissions"): {"400", "401", "403", "409", "413", "415", "429"},
    ("get", "/api/v1/submissions/{submission_id}"): {"401", "403", "404", "429"},
    ("post", "/api/v1/submissions/{submission_id}/cancel"): {"401", "403", "404", "409", "429"},
    ("get", "/api/v1/challenges"): {"429"},
    ("get", "/api/v1/leaderboards/{slug}"): {"400", "404", "429"},
}


@pytest.fixture
def schema(api, db):
    GENERATOR_STATS.reset()
    response = api.get("/api/schema/?format=json")
    assert response.status_code == 200, response.content[:500]
    return json.loads(response.content)


def operation(schema: dict, method: str, path: str) -> dict:
    return schema["paths"][path][method]


def parameter(op: dict, name: str) -> dict:
    return next(p for p in op["parameters"] if p["name"] == name)


def python_pattern(pattern: str) -> re.Pattern:
    """An ECMA pattern of the schema as Python reads it: \\uXXXX escapes, and $ only at the very end."""
    body = re.sub(r"\\u00([0-9a-fA-F]{2})", r"\\x\1", pattern)
    assert body.endswith("$")
    return re.compile(body[:-1] + r"\Z")


def test_the_schema_is_valid_openapi_3_and_renders_without_warnings(schema):
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)
    # A warning means the generator guessed (a type hint it could not read, …).
    assert not GENERATOR_STATS, "drf-spectacular warned while rendering the schema"


def test_the_table_of_errors_covers_every_operation(schema):
    assert {(method, path) for path, item in schema["paths"].items() for method in item} == set(ERRORS)


@pytest.mark.parametrize(("method", "path"), sorted(ERRORS))
def test_every_operation_documents_the_errors_it_answers_in_the_one_error_shape(schema, method, path):
    responses = operation(schema, method, path)["responses"]
    errors = {code for code in responses if int(code) >= 400}
    assert errors == ERRORS[(method, path)]
    for code in errors:
        body = responses[code]["content"]["application/json"]["schema"]
        assert body == {"$ref": "#/components/schemas/Error"}, code
        assert responses[code]["description"], code
    retry_after = responses["429"]["headers"]["Retry-After"]
    assert retry_after["required"] is True
    assert retry_after["schema"] == {"type": "integer", "minimum": 1}
    if "401" in errors:
        assert responses["401"]["headers"]["WWW-Authenticate"]["required"] is True


def test_the_error_component_is_the_shape_every_error_has(schema, alice, alice_api, robust):
    component = schema["components"]["schemas"]["Error"]
    assert component["required"] == ["details", "error"]
    robust.daily_limit = 0
    robust.save()
    answers = [
        alice_api.post(CREATE, {"challenge": "robust-service"}, format="json"),
        alice_api.post(CREATE, {"challenge": "robust-service", "target_url": URL}, format="json"),
        alice_api.get("/api/v1/submissions/12345"),
        alice_api.get("/api/v1/leaderboards/robust-service?page=0"),
        alice_api.post(CREATE, "{", content_type="application/json"),
    ]
    assert [a.status_code for a in answers] == [400, 429, 404, 400, 400]
    for answer in answers:
        jsonschema.validate(answer.json(), component)


def test_the_leaderboard_parameters_state_their_bounds_and_choices(schema):
    op = operation(schema, "get", "/api/v1/leaderboards/{slug}")
    assert parameter(op, "sort")["schema"]["enum"] == SORT_CHOICES
    assert {"rank", "-rank", "score", "-when"} <= set(SORT_CHOICES)
    page = parameter(op, "page")["schema"]
    assert (page["type"], page["minimum"], page["default"]) == ("integer", 1, 1)
    assert parameter(op, "slug")["schema"]["pattern"] == "^[-a-zA-Z0-9_]+$"


def test_the_sort_parameter_documents_every_column_key_and_the_older_names(schema):
    sort = parameter(operation(schema, "get", "/api/v1/leaderboards/{slug}"), "sort")
    column_keys = [column.key for columns in COLUMNS.values() for column in columns]
    assert {*column_keys, *(f"-{key}" for key in column_keys)} <= set(sort["schema"]["enum"])
    assert {"statistic_1", "-statistic_3"} <= set(sort["schema"]["enum"])
    for key in column_keys:
        assert f"`{key}`" in sort["description"]
    # An answer names its order by the column's own key, never by an older name.
    answered = schema["components"]["schemas"]["Leaderboard"]["properties"]["sort"]
    ref = answered.get("$ref") or answered["allOf"][0]["$ref"]
    answered = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(answered["enum"]) == set(SORTED_BY_CHOICES)
    assert not any("statistic_" in choice for choice in answered["enum"])


def test_an_answers_sort_is_always_one_the_schema_names(api, robust):
    for sort in ("-statistic_2", "uptime_pct", "-score"):
        assert api.get(f"/api/v1/leaderboards/robust-service?sort={sort}").json()["sort"] in SORTED_BY_CHOICES


def test_the_submission_id_is_a_positive_64_bit_integer(schema):
    for method, path in [("get", "/api/v1/submissions/{submission_id}"), ("post", "/api/v1/submissions/{submission_id}/cancel")]:
        submission_id = parameter(operation(schema, method, path), "submission_id")["schema"]
        assert (submission_id["minimum"], submission_id["maximum"]) == (1, MAX_ID)


def test_the_submission_input_states_its_lengths_patterns_and_that_nothing_else_is_accepted(schema):
    component = schema["components"]["schemas"]["SubmissionCreateInput"]
    assert component["additionalProperties"] is False
    assert set(component["required"]) == {"challenge"}
    # Exactly one of the two entries.
    assert [option["required"] for option in component["oneOf"]] == [["target_url"], ["bundle"]]
    challenge, target = component["properties"]["challenge"], component["properties"]["target_url"]
    assert component["properties"]["bundle"]["maxLength"] == 256 * 1024
    assert (challenge["minLength"], challenge["maxLength"]) == (1, 50)
    assert (target["minLength"], target["maxLength"]) == (1, 500)
    key = parameter(operation(schema, "post", CREATE), "Idempotency-Key")["schema"]
    assert key["maxLength"] == 100
    created = operation(schema, "post", CREATE)["responses"]["202"]
    assert created["headers"]["Location"]["required"] is True


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("challenge", "robust-service"),
        ("challenge", "robust-service\n"),
        ("challenge", " robust-service"),
        ("challenge", "robust service"),
        ("challenge", "röbust"),
        ("target_url", "http://127.0.0.1:8080"),
        ("target_url", "https://lb/api/v2/"),
        ("target_url", "http://127.0.0.1:8080\n"),
        ("target_url", " http://127.0.0.1:8080"),
        ("target_url", "HTTP://127.0.0.1"),
        ("target_url", "ftp://127.0.0.1"),
        ("target_url", "http://user:pw@127.0.0.1"),
        ("target_url", "http://127.0.0.1/?q=1"),
        ("target_url", "http://127.0.0.1/#top"),
        ("target_url", "http://127.0.0.1/a b"),
        ("target_url", "http://"),
    ],
)
def test_the_input_patterns_refuse_exactly_what_the_serializer_refuses(schema, field, value):
    pattern = python_pattern(schema["components"]["schemas"]["SubmissionCreateInput"]["properties"][field]["pattern"])
    data = {"challenge": "robust-service", "target_url": URL, field: value}
    serializer = SubmissionCreateInput(data=data)
    assert serializer.is_valid() is bool(pattern.search(value)), serializer.errors


def test_an_empty_page_or_sort_is_refused_as_the_schema_says(api, robust):
    for query in ("page=", "sort=", "page=%C2%B2", "page=+1", "page=1_0", "sort=%20rank"):
        response = api.get(f"/api/v1/leaderboards/robust-service?{query}")
        assert response.status_code == 400, query
        assert set(response.json()["details"]) <= {"page", "sort"}
    assert api.get("/api/v1/leaderboards/robust-service?page=3&sort=-score").status_code == 200


def test_an_idempotency_key_outside_printable_ascii_is_refused(alice_api, robust):
    response = alice_api.post(
        CREATE, {"challenge": "robust-service", "target_url": URL}, format="json", HTTP_IDEMPOTENCY_KEY="caf\u00e9"
    )
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["details"]
    assert not Submission.objects.exists()


def test_a_body_over_the_limit_is_413_in_the_error_shape(alice_api, robust):
    body = json.dumps({"challenge": "robust-service", "target_url": URL, "padding": "x" * MAX_BODY_BYTES})
    response = alice_api.post(CREATE, body, content_type="application/json")
    assert response.status_code == 413
    assert set(response.json()) == {"error", "details"}
    assert not Submission.objects.exists()


def test_an_unknown_or_malformed_api_path_is_a_json_404(alice_api, alice, robust):
    submission = submission_make(participant=alice[0], challenge=robust)
    for path in ("/api/v1/submissions/-1", "/api/v1/submissions/abc/cancel", "/api/v1/leaderboards/a%20b", "/api/v1/nope"):
        for response in (alice_api.get(path), alice_api.post(path)):
            assert response.status_code == 404, path
            assert response["Content-Type"] == "application/json"
            assert set(response.json()) == {"error", "details"}
    for submission_id in (0, MAX_ID, MAX_ID + 1, 10**30):
        assert alice_api.get(f"/api/v1/submissions/{submission_id}").status_code == 404
    assert alice_api.get(f"/api/v1/submissions/{submission.id}").status_code == 200
