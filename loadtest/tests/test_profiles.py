from __future__ import annotations

import pytest

from common.validation import FieldError
from loadtest.profiles import (
    chaos_event_fault_spec,
    chaos_plan_validate,
    profile_users_at,
    profile_validate,
)


def test_it_fills_in_defaults():
    profile = profile_validate(profile={"users": 5, "duration_s": 10})
    assert profile["shape"] == "constant"
    assert profile["spawn_rate"] == 5.0
    assert profile["timeout_s"] == 10.0
    assert profile["tasks"] == {"sample_urls": 4, "test": 2, "history": 1, "index": 1}


@pytest.mark.parametrize(
    ("profile", "field"),
    [
        ([], "profile"),
        ({"shape": "wave"}, "shape"),
        ({"users": 0}, "users"),
        ({"users": True}, "users"),
        ({"users": 2.5}, "users"),
        ({"users": 10**9}, "users"),
        ({"duration_s": 0}, "duration_s"),
        ({"spawn_rate": 0}, "spawn_rate"),
        ({"timeout_s": "10"}, "timeout_s"),
        ({"wait_min_s": 2, "wait_max_s": 1}, "wait_max_s"),
        ({"tasks": {"delete_everything": 1}}, "tasks.delete_everything"),
        ({"tasks": {"index": -1}}, "tasks.index"),
        ({"tasks": {"index": 0}}, "tasks"),
        ({"step_users": 5}, "step_users"),
        ({"shape": "step", "step_every_s": 0}, "step_every_s"),
        ({"shape": "spike", "duration_s": 10, "spike_at_s": 10}, "spike_at_s"),
        ({"colour": "red"}, "colour"),
        ({"users": float("nan")}, "users"),
        ({"users": None}, "users"),
        ({"spawn_rate": float("inf")}, "spawn_rate"),
        ({"timeout_s": 10**400}, "timeout_s"),
        ({"duration_s": 1e400}, "duration_s"),
        ({"duration_s": 10**9}, "duration_s"),
        ({"users": 5000}, "spawn_rate"),
        ({"tasks": {"index": float("inf")}}, "tasks.index"),
        ({"tasks": ["index"]}, "tasks"),
        ({"shape": "step", "users": 10, "max_users": 5}, "max_users"),
        ({"shape": "spike", "users": 10, "spike_users": 5}, "spike_users"),
    ],
)
def test_it_names_the_field_of_a_bad_profile(profile, field):
    with pytest.raises(FieldError) as caught:
        profile_validate(profile=profile)
    assert caught.value.field == field


def test_a_step_profile_adds_users_every_interval_up_to_the_ceiling():
    profile = profile_validate(profile={"shape": "step", "users": 2, "step_users": 3, "step_every_s": 5,
                                        "max_users": 9, "duration_s": 60})
    assert [profile_users_at(profile=profile, elapsed_s=t) for t in (0, 4.9, 5, 10, 15, 50)] == [2, 2, 5, 8, 9, 9]


def test_a_spike_profile_jumps_for_its_duration_only():
    profile = profile_validate(profile={"shape": "spike", "users": 2, "spike_users": 20, "spike_at_s": 10,
                                        "spike_duration_s": 5, "duration_s": 30})
    assert [profile_users_at(profile=profile, elapsed_s=t) for t in (0, 9.9, 10, 14.9, 15)] == [2, 2, 20, 20, 2]


def test_a_chaos_plan_is_normalized_by_the_anvil_rules():
    plan = chaos_plan_validate(plan=[{"at_s": 10, "duration_s": 15, "kind": "latency", "params": {"ms": 300}}],
                               duration_s=60)
    assert plan == [{"at_s": 10.0, "duration_s": 15.0, "kind": "latency",
                     "params": {"ms": 300.0, "jitter_ms": 0.0, "probability": 1.0}, "scope": "all"}]
    assert chaos_event_fault_spec(event=plan[0])["ttl_s"] == 25


def test_no_plan_is_an_empty_plan():
    assert chaos_plan_validate(plan=None) == []


@pytest.mark.parametrize(
    ("plan", "field"),
    [
        ({"at_s": 1}, "chaos_plan"),
        (["latency"], "chaos_plan[0]"),
        ([{"duration_s": 1, "kind": "latency"}], "chaos_plan[0].at_s"),
        ([{"at_s": 1, "kind": "latency"}], "chaos_plan[0].duration_s"),
        ([{"at_s": 1, "duration_s": 0, "kind": "latency"}], "chaos_plan[0].duration_s"),
        ([{"at_s": 1, "duration_s": 1, "kind": "latency", "when": "now"}], "chaos_plan[0].when"),
        ([{"at_s": 99, "duration_s": 1, "kind": "latency"}], "chaos_plan[0].at_s"),
        ([{"at_s": 1, "duration_s": 1, "kind": "meteor"}], "chaos_plan[0].kind"),
        (
            [{"at_s": 1, "duration_s": 1, "kind": "error"},
             {"at_s": 1, "duration_s": 1, "kind": "error"},
             {"at_s": 2, "duration_s": 5, "kind": "latency", "params": {"ms": -5}}],
            "chaos_plan[2].params.ms",
        ),
        ([{"at_s": 1, "duration_s": 1, "kind": "error", "scope": {"fraction": 7}}], "chaos_plan[0].scope.fraction"),
        ([{"at_s": 1, "duration_s": 1, "kind": "error", "params": {"status": float("inf")}}],
         "chaos_plan[0].params.status"),
        ([{"at_s": 1, "duration_s": 1, "kind": "error", "params": {"status": float("nan")}}],
         "chaos_plan[0].params.status"),
        ([{"at_s": float("nan"), "duration_s": 1, "kind": "error"}], "chaos_plan[0].at_s"),
        ([{"at_s": 1, "duration_s": float("inf"), "kind": "error"}], "chaos_plan[0].duration_s"),
        ([{"at_s": 1, "duration_s": 10**400, "kind": "error"}], "chaos_plan[0].duration_s"),
        ([{"at_s": 1, "duration_s": 1, "kind": "error"}] * 51, "chaos_plan"),
    ],
)
def test_it_names_the_field_of_a_bad_chaos_plan(plan, field):
    with pytest.raises(FieldError) as caught:
        chaos_plan_validate(plan=plan, duration_s=30)
    assert caught.value.field == field


def test_whole_numbers_sent_as_floats_become_ints():
    profile = profile_validate(profile={"users": 5.0, "duration_s": 10.0, "tasks": {"index": 2.0}})
    assert (profile["users"], profile["duration_s"], profile["tasks"]["index"]) == (5, 10, 2)
    assert all(type(profile[name]) is int for name in ("users", "duration_s"))
    assert type(profile["spawn_rate"]) is float


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        ({"users": 0}, "users: must be at least 1"),
        ({"users": 2.5}, "users: must be a whole number"),
        ({"users": True}, "users: must be a number"),
        ({"timeout_s": float("nan")}, "timeout_s: must be a finite number"),
        ({"wait_min_s": 2, "wait_max_s": 1}, "wait_max_s: must not be below wait_min_s"),
        ({"tasks": {"delete_everything": 1}}, "tasks.delete_everything: unknown task; use sample_urls, test, history, index"),
        ({"tasks": {"index": 0}}, "tasks: at least one task needs a weight above 0"),
        ({"step_users": 5}, "step_users: is not a field of a constant profile"),
        ({"shape": "wave"}, "shape: must be one of constant, step, spike"),
        ([], "profile: must be a JSON object"),
    ],
)
def test_the_message_names_the_field_and_the_rule(profile, message):
    with pytest.raises(FieldError) as caught:
        profile_validate(profile=profile)
    assert str(caught.value) == message


def test_a_chaos_plan_message_names_the_event_and_its_field():
    with pytest.raises(FieldError) as caught:
        chaos_plan_validate(plan=[{"at_s": 1, "duration_s": 1, "kind": "latency"},
                                  {"at_s": 2, "duration_s": 5, "kind": "latency", "params": {"ms": -5}}], duration_s=30)
    assert str(caught.value) == "chaos_plan[1].params.ms: must be at least 0"
    with pytest.raises(FieldError) as caught:
        chaos_plan_validate(plan=[{"at_s": 30, "duration_s": 1, "kind": "latency"}], duration_s=30)
    assert str(caught.value) == "chaos_plan[0].at_s: must be before the end of the run (30s)"
    with pytest.raises(FieldError) as caught:
        chaos_plan_validate(plan=[{"at_s": 1, "duration_s": 1, "kind": "latency", "when": "now"}])
    assert str(caught.value) == ("chaos_plan[0].when: is not a field of a chaos event; "
                                 "use at_s, duration_s, kind, params, scope")

