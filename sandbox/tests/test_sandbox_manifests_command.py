"""``manage.py sandbox_manifests``: every object the Kubernetes backend would create, for an operator to review."""

from __future__ import annotations

import io

import pytest
import yaml
from django.core.management import CommandError, call_command
from django.test import override_settings

from common.testing import tiny_profile
from loadtest import services
from sandbox.tests.bundles import EXAMPLES, as_yaml, base, put
from sandbox.tests.kube import kube_configured


def manifests(*args: str) -> list[dict]:
    out = io.StringIO()
    call_command("sandbox_manifests", *args, stdout=out)
    return list(yaml.safe_load_all(out.getvalue()))


def test_it_prints_the_namespace_its_bounds_the_rewritten_bundle_and_the_load_job_in_creation_order():
    with kube_configured():
        objects = manifests(str(EXAMPLES / "resilient-anvil.yaml"))

    kinds = [obj["kind"] for obj in objects]
    assert kinds[:4] == ["Namespace", "RoleBinding", "ResourceQuota", "LimitRange"]
    assert kinds.count("NetworkPolicy") == 5 and kinds[-1] == "Job"
    assert kinds.index("ConfigMap") < kinds.index("Service") < kinds.index("Deployment")
    assert objects[0]["metadata"]["name"] == "sbx-preview"
    tokens = [var["value"] for obj in objects if obj["kind"] == "Deployment"
              for container in obj["spec"]["template"]["spec"]["containers"] for var in container.get("env") or []
              if var["name"] == "ANVIL_CHAOS_TOKEN"]
    assert tokens and set(tokens) == {"<per-run token>"}  # a real token is never printed


def test_a_refused_bundle_exits_2_naming_the_field(tmp_path):
    bundle = tmp_path / "bad.yaml"
    objects = base()
    put(1, "spec", "template", "spec", "hostNetwork", True)(objects)
    bundle.write_text(as_yaml(objects))
    with kube_configured(), pytest.raises(CommandError) as raised:
        manifests(str(bundle))
    assert raised.value.returncode == 2
    assert "[1].spec.template.spec.hostNetwork" in str(raised.value)


def test_without_the_clusters_image_digests_it_exits_2_naming_the_setting():
    with kube_configured(), override_settings(SANDBOX_K8S_DIGESTS=[]), pytest.raises(CommandError) as raised:
        manifests(str(EXAMPLES / "bare-anvil.yaml"))
    assert raised.value.returncode == 2
    assert "SANDBOX_K8S_DIGESTS names no digest for url-anvil" in str(raised.value)


@pytest.mark.django_db
def test_for_a_submission_it_takes_the_runs_owner_and_quota_and_refuses_an_unknown_one():
    with kube_configured():
        spec = services.run_place_spec_build(
            place="sandbox",
            given={"bundle": (EXAMPLES / "bare-anvil.yaml").read_text(), "quota": {"cpu": "1", "memory": "1Gi", "pods": 2}},
        )
        run = services.run_create(target_url="", profile=tiny_profile(), place="sandbox", place_spec=spec,
                                  origin="submission", origin_ref="41", owner="alice")
        objects = manifests(str(EXAMPLES / "bare-anvil.yaml"), "--submission", "41")
        with pytest.raises(CommandError) as raised:
            manifests(str(EXAMPLES / "bare-anvil.yaml"), "--submission", "42")

    namespace = objects[0]["metadata"]
    assert namespace["name"] == f"sbx-s41-r{run.pk}"
    assert namespace["labels"]["sandbox.sre-chaos.org/owner"] == "alice"
    assert namespace["labels"]["sandbox.sre-chaos.org/origin"] == "submission-41"
    quota = next(obj for obj in objects if obj["kind"] == "ResourceQuota")["spec"]["hard"]
    assert (quota["requests.cpu"], quota["requests.memory"], quota["pods"]) == ("1", "1Gi", "2")
    assert raised.value.returncode == 2 and "no run" in str(raised.value)
