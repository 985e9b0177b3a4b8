from __future__ import annotations

import pytest

from anvil.faults import FaultSpecError, fault_spec_validate


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
    ],
)
def test_it_names_the_field_that_is_wrong(spec, field):
    with pytest.raises(FaultSpecError) as caught:
        fault_spec_validate(spec=spec)
    assert caught.value.field == field
    assert field in str(caught.value)
    assert isinstance(caught.value, ValueError)
