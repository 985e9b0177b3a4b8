"""A sandbox run's place_spec, and how a bundle run is refused where no sandbox can run: no engine needed."""

from __future__ import annotations

import pytest

from common.testing import tiny_profile
from common.validation import FieldError
from loadtest import hooks, services
from loadtest.models import RunStatus
from loadtest.profiles import chaos_plan_validate
from sandbox.place import SandboxPlace
from sandbox.tests.bundles import example

NO_ENGINE = "unix:///nonexistent/docker.sock"


def test_the_sandbox_is_a_place_of_the_engine():
    assert hooks.place_factory_get(name="sandbox") is not None
    assert hooks.place_spec_builder_get(name="sandbox") is not None
    assert SandboxPlace.name == "sandbox" and SandboxPlace.probes_in_runner is True


def test_without_an_engine_a_bundle_run_is_refused_with_the_reason(settings, tmp_path):
    settings.SANDBOX_DOCKER_HOST = NO_ENGINE
    _catalogue_file(settings, tmp_path)

    with pytest.raises(FieldError) as refused:
        services.run_place_spec_build(place="sandbox", given={"bundle": example("bare-anvil.yaml")})

    assert refused.value.field == "place"
    assert "no Docker engine answers" in refused.value.message


def test_a_switched_off_sandbox_refuses_bundle_runs(settings):
    settings.SANDBOX_BACKEND = "off"

    with pytest.raises(FieldError) as refused:
        services.run_place_spec_build(place="sandbox", given={"bundle": example("bare-anvil.yaml")})

    assert refused.value.field == "place" and "switched off" in refused.value.message


def test_without_a_catalogue_a_bundle_run_is_refused_and_told_how_to_build_one(settings, tmp_path):
    settings.SANDBOX_CATALOGUE_FILE = tmp_path / "missing.json"

    with pytest.raises(FieldError) as refused:
        services.run_place_spec_build(place="sandbox", given={"bundle": example("bare-anvil.yaml")})

    assert refused.value.field == "place" and "build-images.sh" in refused.value.message


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({}, "bundle"),
        ({"bundle": ""}, "bundle"),
        ({"bundle": "kind: Pod\n"}, "bundle[0].kind"),
        ({"bundle": "a: [\n"}, "bundle"),
        ({"bundle": "x", "ready_s": 1}, "ready_s"),
        ({"bundle": example("resilient-anvil.yaml"), "quota": {"pods": 2}}, "bundle"),
        ({"bundle": example("bare-anvil.yaml"), "quota": {"cpu": "lots"}}, "quota.cpu"),
        ({"bundle": example("resilient-anvil.yaml"), "quota": {"cpu_millicores": 500}}, "bundle"),
        ({"bundle": example("bare-anvil.yaml"), "quota": {"cpu": "1", "cpu_millicores": 500}}, "quota.cpu_millicores"),
    ],
    ids=["no-bundle", "empty", "a-pod", "bad-yaml", "unknown-field", "over-quota", "bad-quota", "over-cpu-millicores",
         "both-spellings"],
)
def test_a_bad_request_is_refused_naming_the_field(settings, tmp_path, given, field):
    _catalogue_file(settings, tmp_path)

    with pytest.raises(FieldError) as refused:
        services.run_place_spec_build(place="sandbox", given=given)

    assert refused.value.field == field, refused.value


@pytest.mark.django_db
def test_a_run_whose_engine_is_gone_by_the_time_it_starts_fails_with_the_reason(settings):
    spec = {"target_url": "http://entrypoint:80", "ready_s": 10, "plan": {"pods": [], "services": [],
                                                                          "config_maps": {}}}
    run = services.run_create(target_url="", profile=tiny_profile(duration_s=2), place="sandbox", place_spec=spec)
    settings.SANDBOX_DOCKER_HOST = NO_ENGINE

    run = services.run_execute(run_id=run.pk)

    assert run.status == RunStatus.FAILED
    assert "the sandbox is not available" in run.error and "no Docker engine answers" in run.error


def test_pod_kill_and_partition_are_refused_outside_a_sandbox():
    for kind in ("pod_kill", "partition"):
        with pytest.raises(FieldError) as refused:
            chaos_plan_validate(plan=[{"at_s": 1, "duration_s": 2, "kind": kind}], duration_s=5)
        assert refused.value.field == "chaos_plan[0].kind" and "sandbox" in refused.value.message


@pytest.mark.django_db
def test_a_local_run_with_pod_kill_is_refused_at_creation():
    with pytest.raises(FieldError) as refused:
        services.run_create(target_url="http://127.0.0.1:8080", profile=tiny_profile(duration_s=3),
                            chaos_plan=[{"at_s": 1, "duration_s": 1, "kind": "pod_kill"}])

    assert refused.value.field == "chaos_plan[0].kind"


@pytest.mark.parametrize(
    ("event", "normalized"),
    [
        ({"kind": "pod_kill"}, {"kind": "pod_kill", "params": {}, "scope": "one"}),
        ({"kind": "partition", "scope": "all"}, {"kind": "partition", "params": {}, "scope": "all"}),
        ({"kind": "pod_kill", "scope": {"fraction": 0.5}}, {"kind": "pod_kill", "params": {}, "scope": {"fraction": 0.5}}),
    ],
)
def test_in_a_sandbox_pod_kill_and_partition_choose_replicas_by_scope(event, normalized):
    (planned,) = chaos_plan_validate(plan=[{"at_s": 1, "duration_s": 2, **event}], duration_s=5, container_faults=True)

    assert {key: planned[key] for key in ("kind", "params", "scope")} == normalized


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"kind": "pod_kill", "params": {"signal": 9}}, "chaos_plan[0].params"),
        ({"kind": "partition", "scope": "most"}, "chaos_plan[0].scope"),
        ({"kind": "partition", "scope": {"fraction": 0}}, "chaos_plan[0].scope.fraction"),
        ({"kind": "partition", "scope": {"instance": "abc"}}, "chaos_plan[0].scope"),
    ],
)
def test_a_bad_container_fault_is_refused_by_field(event, field):
    with pytest.raises(FieldError) as refused:
        chaos_plan_validate(plan=[{"at_s": 1, "duration_s": 2, **event}], duration_s=5, container_faults=True)

    assert refused.value.field == field


def _catalogue_file(settings, tmp_path):
    import json

    path = tmp_path / "catalogue.json"
    ids = {"url-anvil": 1, "haproxy": 2, "nginx": 3}
    path.write_text(json.dumps({"images": {name: f"sha256:{n:064x}" for name, n in ids.items()},
                                "users": {name: "1000:1000" for name in ids}}))
    settings.SANDBOX_CATALOGUE_FILE = path


@pytest.mark.parametrize(
    "quota",
    [{"cpu": "850m", "memory": "832Mi", "pods": 4},
     {"cpu_millicores": 850, "memory_bytes": 832 * 2**20, "pods": 4}],
    ids=["quantities", "whole-numbers"],
)
def test_a_quota_is_given_as_kubernetes_quantities_or_as_whole_numbers(quota):
    from sandbox.services import _quota

    assert (_quota(quota).cpu_millicores, _quota(quota).memory_bytes, _quota(quota).pods) == (850, 832 * 2**20, 4)
