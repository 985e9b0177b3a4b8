from __future__ import annotations

import pytest

from anvil.faults import fault_spec_validate
from common.validation import FieldError


def test_it_fills_in_defaults_for_every_kind():
    assert fault_spec_validate(spec={"kind": "latency"}) == {
        "kind": "latency",
        "params": {"ms": 200.0, "jitter_ms": 0.0, "probability": 1.0},
        "scope": "all",
        "ttl_s": 60.0,
    }
    assert fault_spec_validate(spec={"kind": "error"})["params"] == {"status": 500, "probability": 1.0}
    assert fault_spec_validate(spec={"kind": "hang"})["params"] == {"seconds": 30.0, "probability": 1.0}
    assert fault_spec_validate(spec={"kind": "unhealthy", "params": None})["params"] == {}


def test_a_bare_crash_fault_fires_once_and_a_probable_one_keeps_firing():
    assert fault_spec_validate(spec={"kind": "crash"})["params"] == {"probability": 1.0, "once": True, "target": "worker"}
    assert fault_spec_validate(spec={"kind": "crash", "params": {"probability": 0.1}})["params"] == {
        "probability": 0.1,
        "once": False,
        "target": "worker",
    }
    assert fault_spec_validate(spec={"kind": "crash", "params": {"probability": 0.5, "once": True}})["params"]["once"]


def test_it_keeps_given_values_and_scopes():
    spec = {
        "kind": "latency",
        "params": {"ms": 300, "jitter_ms": 50, "probability": 0.5},
        "scope": {"fraction": 0.5},
        "ttl_s": 5,
    }
    assert fault_spec_validate(spec=spec) == {
        "kind": "latency",
        "params": {"ms": 300.0, "jitter_ms": 50.0, "probability": 0.5},
        "scope": {"fraction": 0.5},
        "ttl_s": 5.0,
    }
    assert fault_spec_validate(spec={"kind": "error", "scope": {"instance": " abc123 "}})["scope"] == {"instance": "abc123"}


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ([], "spec"),
        ({"kind": "meteor"}, "kind"),
        ({}, "kind"),
        ({"kind": "latency", "colour": "red"}, "colour"),
        ({"kind": "latency", "params": []}, "params"),
        ({"kind": "latency", "params": {"ms": "300"}}, "params.ms"),
        ({"kind": "latency", "params": {"ms": -1}}, "params.ms"),
        ({"kind": "latency", "params": {"ms": True}}, "params.ms"),
        ({"kind": "latency", "params": {"ms": float("nan")}}, "params.ms"),
        ({"kind": "latency", "params": {"jitter_ms": -5}}, "params.jitter_ms"),
        ({"kind": "latency", "params": {"probability": 1.5}}, "params.probability"),
        ({"kind": "latency", "params": {"status": 500}}, "params.status"),
        ({"kind": "error", "params": {"status": 200}}, "params.status"),
        ({"kind": "error", "params": {"status": 502.5}}, "params.status"),
        ({"kind": "hang", "params": {"seconds": 0}}, "params.seconds"),
        ({"kind": "crash", "params": {"once": "yes"}}, "params.once"),
        ({"kind": "crash", "params": {"target": "host"}}, "params.target"),
        ({"kind": "unhealthy", "params": {"ms": 1}}, "params.ms"),
        ({"kind": "error", "scope": "some"}, "scope"),
        ({"kind": "error", "scope": {"fraction": 0}}, "scope.fraction"),
        ({"kind": "error", "scope": {"fraction": 2}}, "scope.fraction"),
        ({"kind": "error", "scope": {"instance": ""}}, "scope.instance"),
        ({"kind": "error", "scope": {"fraction": 0.5, "instance": "x"}}, "scope"),
        ({"kind": "error", "ttl_s": 0}, "ttl_s"),
        ({"kind": "error", "ttl_s": 10**9}, "ttl_s"),
        ({"kind": "error", "ttl_s": "60"}, "ttl_s"),
        ({"kind": "error", "params": {"status": float("inf")}}, "params.status"),
        ({"kind": "error", "params": {"status": float("nan")}}, "params.status"),
        ({"kind": "error", "params": {"status": "502"}}, "params.status"),
        ({"kind": "error", "params": {"status": True}}, "params.status"),
        ({"kind": "latency", "params": {"ms": float("inf")}}, "params.ms"),
        ({"kind": "latency", "params": {"ms": 10**400}}, "params.ms"),
        ({"kind": "hang", "params": {"seconds": float("nan")}}, "params.seconds"),
        ({"kind": "latency", "ttl_s": float("inf")}, "ttl_s"),
        ({"kind": "error", "scope": {"fraction": float("nan")}}, "scope.fraction"),
        ({"kind": "error", "scope": {"instance": "x" * 65}}, "scope.instance"),
        ({"kind": {"latency": 1}}, "kind"),
    ],
)
def test_it_names_the_field_that_is_wrong(spec, field):
    with pytest.raises(FieldError) as caught:
        fault_spec_validate(spec=spec)
    assert caught.value.field == field
    assert field in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_a_whole_status_sent_as_a_float_is_an_int():
    params = fault_spec_validate(spec={"kind": "error", "params": {"status": 502.0}})["params"]
    assert params == {"status": 502, "probability": 1.0}
    assert type(params["status"]) is int


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "meteor"}, "kind: must be one of latency, error, hang, crash, unhealthy"),
        ({"kind": "latency", "params": {"ms": "300"}}, "params.ms: must be a number"),
        ({"kind": "latency", "params": {"ms": -1}}, "params.ms: must be at least 0"),
        ({"kind": "error", "params": {"status": float("inf")}}, "params.status: must be an integer from 400 to 599"),
        ({"kind": "latency", "colour": "red"}, "colour: is not a fault field (use kind, params, scope, ttl_s)"),
        ({"kind": "latency", "params": {"status": 500}},
         "params.status: is not a parameter of a latency fault (allowed: jitter_ms, ms, probability)"),
        ({"kind": "error", "scope": "some"}, 'scope: must be "all", {"fraction": 0<f<=1} or {"instance": "<boot id>"}'),
        ({"kind": "error", "scope": {"instance": ""}}, "scope.instance: must be a boot id (1-64 characters)"),
        ({"kind": "crash", "params": {"target": "host"}}, "params.target: must be one of worker, server"),
        ({"kind": "error", "ttl_s": 0}, "ttl_s: must be greater than 0"),
    ],
)
def test_the_message_names_the_field_and_the_rule(spec, message):
    with pytest.raises(FieldError) as caught:
        fault_spec_validate(spec=spec)
    assert str(caught.value) == message

