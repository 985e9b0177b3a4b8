from __future__ import annotations

import pytest

from loadtest.profiles import (
    ProfileError,
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
    ],
)
def test_it_names_the_field_of_a_bad_profile(profile, field):
    with pytest.raises(ProfileError) as caught:
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
    ],
)
def test_it_names_the_field_of_a_bad_chaos_plan(plan, field):
    with pytest.raises(ProfileError) as caught:
        chaos_plan_validate(plan=plan, duration_s=30)
    assert caught.value.field == field
