"""Properties of the profile and chaos-plan validators over any JSON value: normalized or a FieldError, never a crash."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from common.tests.strategies import json_values, spoiled
from common.validation import FieldError
from loadtest.profiles import (
    MAX_USERS,
    SHAPES,
    TASK_NAMES,
    chaos_plan_validate,
    profile_peak_users,
    profile_users_at,
    profile_validate,
)

VALID_PROFILES = [
    {"shape": "constant", "users": 20, "spawn_rate": 10, "duration_s": 60, "timeout_s": 10, "connect_timeout_s": 5,
     "wait_min_s": 0.1, "wait_max_s": 0.5, "tasks": {"sample_urls": 4, "test": 2, "history": 1, "index": 1}},
    {"shape": "step", "users": 2, "step_users": 3, "step_every_s": 5, "max_users": 9, "duration_s": 60},
    {"shape": "spike", "users": 2, "spike_users": 20, "spike_at_s": 10, "spike_duration_s": 5, "duration_s": 30},
]
PROFILE_FIELDS = ["shape", "users", "spawn_rate", "duration_s", "timeout_s", "connect_timeout_s", "wait_min_s",
                  "wait_max_s", "tasks", "step_users", "step_every_s", "max_users", "spike_users", "spike_at_s",
                  "spike_duration_s", *TASK_NAMES]
VALID_PLANS = [
    [{"at_s": 1, "duration_s": 5, "kind": "latency", "params": {"ms": 100}},
     {"at_s": 10, "duration_s": 2.5, "kind": "error", "params": {"status": 503}, "scope": {"fraction": 0.5}},
     {"at_s": 20, "duration_s": 3, "kind": "crash", "scope": {"instance": "abc"}}],
]
EVENT_FIELDS = ["at_s", "duration_s", "kind", "params", "scope", "ms", "status", "fraction"]

profiles = st.one_of(json_values, st.sampled_from(VALID_PROFILES).flatmap(lambda p: spoiled(p, extra_keys=PROFILE_FIELDS)))
plans = st.one_of(
    json_values,
    st.lists(json_values, max_size=3),
    st.sampled_from(VALID_PLANS).flatmap(lambda plan: spoiled(plan, extra_keys=EVENT_FIELDS)),
)


def _all_finite(value: object) -> bool:
    if isinstance(value, dict):
        return all(_all_finite(item) for item in value.values())
    if isinstance(value, list):
        return all(_all_finite(item) for item in value)
    return not isinstance(value, float) or math.isfinite(value)


@given(profiles)
@settings(max_examples=200, deadline=None)
def test_any_json_is_a_normalized_profile_or_a_field_error(profile):
    try:
        out = profile_validate(profile=profile)
    except FieldError as exc:
        assert exc.field and exc.message
        return
    assert out["shape"] in SHAPES
    assert _all_finite(out)
    assert set(out["tasks"]) == set(TASK_NAMES) and any(out["tasks"].values())
    for name in ("users", "duration_s"):
        assert type(out[name]) is int
    assert 0 <= profile_peak_users(profile=out) <= MAX_USERS
    # The schedule works on whatever the validator lets through.
    for elapsed_s in (0, out["duration_s"] / 2, out["duration_s"]):
        assert 0 <= profile_users_at(profile=out, elapsed_s=elapsed_s) <= MAX_USERS


@given(profiles)
@settings(max_examples=200, deadline=None)
def test_normalizing_a_normalized_profile_changes_nothing(profile):
    try:
        out = profile_validate(profile=profile)
    except FieldError:
        return
    assert profile_validate(profile=out) == out


@given(plans, st.one_of(st.none(), st.integers(min_value=1, max_value=3600)))
@settings(max_examples=200, deadline=None)
def test_any_json_is_a_normalized_chaos_plan_or_a_field_error(plan, duration_s):
    try:
        events = chaos_plan_validate(plan=plan, duration_s=duration_s)
    except FieldError as exc:
        assert exc.field.startswith("chaos_plan") and exc.message
        return
    assert _all_finite(events)
    for event in events:
        assert set(event) == {"at_s", "duration_s", "kind", "params", "scope"}
        assert 0 <= event["at_s"] and event["duration_s"] > 0
        if duration_s is not None:
            assert event["at_s"] < duration_s
    assert chaos_plan_validate(plan=events, duration_s=duration_s) == events
