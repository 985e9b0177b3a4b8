"""Properties of fault_spec_validate over any JSON value: a normalized fault or a FieldError, never a crash."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from anvil.faults import KINDS, fault_spec_validate
from common.tests.strategies import json_values, spoiled
from common.validation import FieldError

VALID = [
    {"kind": "latency", "params": {"ms": 300, "jitter_ms": 50, "probability": 0.5}, "scope": {"fraction": 0.5},
     "ttl_s": 5},
    {"kind": "error", "params": {"status": 502, "probability": 1}, "scope": {"instance": "abc123"}, "ttl_s": 60.5},
    {"kind": "hang", "params": {"seconds": 3}, "scope": "all"},
    {"kind": "crash", "params": {"probability": 0.2, "once": True, "target": "server"}},
    {"kind": "unhealthy", "params": None},
]
FIELDS = ["kind", "params", "scope", "ttl_s", "ms", "jitter_ms", "probability", "status", "seconds", "once",
          "target", "fraction", "instance"]

specs = st.one_of(json_values, st.sampled_from(VALID).flatmap(lambda spec: spoiled(spec, extra_keys=FIELDS)))


def _finite_numbers(value: object) -> bool:
    if isinstance(value, dict):
        return all(_finite_numbers(item) for item in value.values())
    if isinstance(value, float):
        return math.isfinite(value)
    return True


@given(specs)
@settings(max_examples=200, deadline=None)
def test_any_json_is_a_normalized_fault_or_a_field_error(spec):
    try:
        fault = fault_spec_validate(spec=spec)
    except FieldError as exc:
        assert isinstance(exc.field, str) and exc.field
        assert exc.message and str(exc).startswith(f"{exc.field}: ")
        return
    assert set(fault) == {"kind", "params", "scope", "ttl_s"}
    assert fault["kind"] in KINDS
    assert type(fault["ttl_s"]) is float and 0 < fault["ttl_s"] <= 24 * 3600
    assert _finite_numbers(fault)
    if fault["kind"] == "error":
        assert type(fault["params"]["status"]) is int and 400 <= fault["params"]["status"] <= 599


@given(specs)
@settings(max_examples=200, deadline=None)
def test_normalizing_a_normalized_fault_changes_nothing(spec):
    try:
        fault = fault_spec_validate(spec=spec)
    except FieldError:
        return
    assert fault_spec_validate(spec=fault) == fault


@given(st.sampled_from(["ms", "jitter_ms", "probability"]), st.sampled_from([math.inf, -math.inf, math.nan, 10**400]))
@settings(max_examples=50, deadline=None)
def test_a_number_no_clock_can_use_is_refused_by_name(name, value):
    try:
        fault_spec_validate(spec={"kind": "latency", "params": {name: value}})
    except FieldError as exc:
        assert exc.field == f"params.{name}"
    else:
        raise AssertionError("accepted a non-finite number")
