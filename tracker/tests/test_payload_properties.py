"""Properties of the tracker payload validator over any JSON: storable fields or a FieldError, never a crash."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.tests.strategies import json_values, spoiled
from common.validation import FieldError
from tracker.models import TrackedRun
from tracker.payload import payload_validate, text_problem
from tracker.services import runs_ingest_batch
from tracker.tests.conftest import BOTH_DATABASES, client_payload

VALID = [
    client_payload(),
    client_payload(runId="ci-17", region="eu", runDetails={"commit_hash": "abc123", "p50_latency_ms": 3,
                                                           "p95_latency_ms": None, "notes": {"cache": [1, 2.5]}}),
    client_payload(timestamp="2026-03-01T14:30:00+02:00",
                   runDetails={"request_count": 12.0, "total_requests": 2**53 + 1, "commit_hash": ""}),
]
FIELDS = ["schema_version", "userId", "challengeType", "metricName", "value", "timestamp", "labels", "runId",
          "runDetails", "target_url", "request_count", "method", "payload_urls", "total_requests",
          "successful_requests", "failed_requests", "avg_latency_ms", "error_rate", "rps", "duration_s", "test_type",
          "commit_hash", "session_id", "p50_latency_ms", "p95_latency_ms", "p99_latency_ms"]
COLUMNS = {field.attname for field in TrackedRun._meta.concrete_fields} - {"id", "received_at"}

payloads = st.one_of(
    json_values,
    st.sampled_from(VALID).flatmap(lambda payload: spoiled(payload, extra_keys=FIELDS)),
    # Two spots at once, so that the first problem is not always the only one.
    st.sampled_from(VALID).flatmap(lambda payload: spoiled(payload, extra_keys=FIELDS)).flatmap(spoiled),
)


def _storable(value: object) -> bool:
    if isinstance(value, str):
        return text_problem(value) is None
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_storable(key) and _storable(item) for key, item in value.items())
    if isinstance(value, list):
        return all(_storable(item) for item in value)
    return True


@given(payloads)
@settings(max_examples=200, deadline=None)
def test_any_json_is_the_fields_of_a_run_or_a_field_error(payload):
    try:
        fields = payload_validate(payload=payload)
    except FieldError as exc:
        assert exc.message and str(exc) == f"{exc.field}: {exc.message}"
        return
    assert set(fields) == COLUMNS
    assert all(_storable(value) for key, value in fields.items() if key != "timestamp")
    assert fields["timestamp"].utcoffset().total_seconds() == 0
    for name in ("request_count", "total_requests", "successful_requests", "failed_requests"):
        assert type(fields[name]) is int and 0 <= fields[name] <= 2**62


@given(payloads, st.integers(min_value=0, max_value=199))
@settings(max_examples=200, deadline=None)
def test_a_problem_in_a_batch_item_is_named_below_its_index(payload, index):
    try:
        payload_validate(payload=payload)
    except FieldError as exc:
        with pytest.raises(FieldError) as caught:
            payload_validate(payload=payload, path=f"[{index}].")
        expected = f"[{index}]" + ("" if not exc.field or exc.field == "body" else
                                   exc.field if exc.field.startswith("[") else f".{exc.field}")
        assert caught.value.field == expected
        assert caught.value.message == exc.message
    else:
        assert payload_validate(payload=payload, path=f"[{index}].") == payload_validate(payload=payload)


batches = st.one_of(json_values, st.lists(payloads, max_size=4), st.lists(st.sampled_from(VALID), max_size=3))


@pytest.mark.django_db(databases=BOTH_DATABASES)
@given(batches)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_json_batch_is_stored_whole_or_refused_with_a_field_error(batch):
    try:
        results = runs_ingest_batch(payloads=batch)
    except FieldError as exc:
        assert exc.field == "body" or exc.field.startswith("[")
        return
    assert isinstance(batch, list) and len(results) == len(batch)


def test_blank_text_is_what_str_strip_removes_in_all_of_unicode():
    from pydantic import TypeAdapter, ValidationError

    from tracker.payload import Text

    adapter = TypeAdapter(Text(10))
    disagree = []
    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF or code == 0:
            continue
        char = chr(code)
        try:
            adapter.validate_python(f" {char}\t")
            accepted = True
        except ValidationError:
            accepted = False
        if accepted != bool(char.strip()):
            disagree.append(hex(code))
    assert disagree == []
