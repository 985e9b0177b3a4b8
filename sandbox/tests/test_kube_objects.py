"""What the Kubernetes backend creates for a bundle: valid for real API servers, restricted, bounded, isolated."""

from __future__ import annotations

import re

import kubernetes_validate
import pytest
from django.apps import apps
from hypothesis import given
from hypothesis import strategies as st

from sandbox.bundle import DEFAULT_QUOTA, Quota
from sandbox.kube.objects import (
    LABEL_ANVIL,
    LABEL_DEADLINE,
    LABEL_ORIGIN,
    LABEL_OWNER,
    LABEL_PARTITIONED,
    MANAGED_BY,
    MANAGED_BY_KEY,
    label_value,
)
from sandbox.kube.pod_security import restricted_problems
from sandbox.quantity import cpu_millicores, memory_bytes
from sandbox.tests.bundles import example
from sandbox.tests.kube import kube_configured, kube_objects, kube_schema_versions

BUNDLES = ("bare-anvil.yaml", "resilient-anvil.yaml")
NAMESPACED = {"RoleBinding", "ResourceQuota", "LimitRange", "NetworkPolicy", "ConfigMap", "Service", "Deployment",
              "Job"}
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")


def _challenge_quotas() -> list[tuple[str, Quota]]:
    challenge = apps.get_model("leaderboard", "Challenge")
    return [(row.slug, Quota(cpu_millicores=row.quota_cpu_millicores, memory_bytes=row.quota_memory_mib * 2**20,
                             pods=row.quota_pods)) for row in challenge.objects.order_by("pk")]


def _pods(objects) -> list[tuple[str, dict]]:
    pods = [(obj["metadata"]["name"], obj["spec"]["template"]["spec"]) for obj in objects.bundle
            if obj["kind"] == "Deployment"]
    return [*pods, ("load job", objects.load_job["spec"]["template"]["spec"])]


@pytest.fixture
def resilient():
    with kube_configured():
        yield kube_objects(example("resilient-anvil.yaml"), quota=DEFAULT_QUOTA)


@pytest.mark.django_db
@pytest.mark.parametrize("bundle", BUNDLES)
def test_every_object_for_each_reference_bundle_and_challenge_is_valid_for_the_three_newest_kubernetes(bundle):
    versions = kube_schema_versions()
    assert len(versions) == 3 and versions[-1] >= "1.35", versions
    quotas = _challenge_quotas()
    assert len(quotas) == 3, "the three standard challenges"
    with kube_configured():
        for slug, quota in quotas:
            objects = kube_objects(example(bundle), quota=quota)
            for obj in objects.all():
                for version in versions:
                    try:
                        kubernetes_validate.validate(obj, version, strict=True)
                    except kubernetes_validate.ValidationError as exc:
                        pytest.fail(f"{slug}: {obj['kind']} {obj['metadata']['name']} on {version}: {exc.message}")


@pytest.mark.parametrize("bundle", BUNDLES)
def test_every_pod_meets_the_restricted_pod_security_standard(bundle):
    with kube_configured():
        objects = kube_objects(example(bundle), quota=DEFAULT_QUOTA)
    for name, pod in _pods(objects):
        assert restricted_problems(pod) == [], name
        assert objects.namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize(("change", "field"), [
    (lambda pod: pod.update(hostNetwork=True), "spec.hostNetwork"),
    (lambda pod: pod["containers"][0]["securityContext"].update(allowPrivilegeEscalation=True),
     "spec.containers[0].securityContext.allowPrivilegeEscalation"),
    (lambda pod: pod["containers"][0]["securityContext"].update(capabilities={"add": ["NET_ADMIN"], "drop": ["ALL"]}),
     "spec.containers[0].securityContext.capabilities.add"),
    (lambda pod: pod["containers"][0]["securityContext"].update(runAsNonRoot=False),
     "spec.containers[0].securityContext.runAsNonRoot"),
    (lambda pod: (pod["containers"][0]["securityContext"].pop("seccompProfile"), pod["securityContext"].pop("seccompProfile")),
     "spec.containers[0].securityContext.seccompProfile.type"),
    (lambda pod: pod["volumes"].append({"name": "host", "hostPath": {"path": "/"}}), "spec.volumes[2]"),
    (lambda pod: pod["containers"][0]["ports"][0].update(hostPort=80), "spec.containers[0].ports[0].hostPort"),
    (lambda pod: pod["securityContext"].update(runAsUser=0), "spec.securityContext.runAsUser"),
])
def test_the_restricted_check_names_each_field_that_breaks_it(change, field):
    with kube_configured():
        objects = kube_objects(example("bare-anvil.yaml"), quota=DEFAULT_QUOTA)
    pod = next(pod for name, pod in _pods(objects) if name == "anvil")
    change(pod)
    assert field in [path for path, _ in restricted_problems(pod)]


def test_every_container_has_cpu_and_memory_requests_and_limits(resilient):
    for name, pod in _pods(resilient):
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            resources = container["resources"]
            for kind in ("requests", "limits"):
                assert set(resources[kind]) >= {"cpu", "memory"}, (name, container["name"], kind)


@pytest.mark.parametrize("bundle", BUNDLES)
def test_the_quota_covers_the_bundle_and_admits_no_outside_kind(bundle):
    with kube_configured():
        objects = kube_objects(example(bundle), quota=DEFAULT_QUOTA)
    hard = next(obj for obj in objects.setup if obj["kind"] == "ResourceQuota")["spec"]["hard"]
    cpu = memory = pods = 0
    for obj in objects.bundle:
        if obj["kind"] != "Deployment":
            continue
        replicas = obj["spec"].get("replicas", 1)
        pods += replicas
        for container in obj["spec"]["template"]["spec"]["containers"]:
            cpu += replicas * cpu_millicores(container["resources"]["requests"]["cpu"], field="cpu")
            memory += replicas * memory_bytes(container["resources"]["requests"]["memory"], field="memory")
    assert cpu <= cpu_millicores(hard["requests.cpu"], field="cpu")
    assert memory <= memory_bytes(hard["requests.memory"], field="memory")
    assert pods <= int(hard["pods"])
    assert hard["requests.cpu"] == "2" and hard["pods"] == str(DEFAULT_QUOTA.pods)
    for kind in ("services.loadbalancers", "services.nodeports", "secrets", "persistentvolumeclaims"):
        assert hard[kind] == "0"


def test_the_quota_is_the_challenges_own():
    with kube_configured():
        objects = kube_objects(example("bare-anvil.yaml"),
                               quota=Quota(cpu_millicores=750, memory_bytes=768 * 2**20, pods=3))
    hard = next(obj for obj in objects.setup if obj["kind"] == "ResourceQuota")["spec"]["hard"]
    assert (hard["requests.cpu"], hard["requests.memory"], hard["pods"]) == ("750m", "768Mi", "3")


def test_default_deny_covers_ingress_and_egress_of_every_pod(resilient):
    policies = [obj for obj in resilient.setup if obj["kind"] == "NetworkPolicy"]
    deny = next(policy for policy in policies if policy["metadata"]["name"] == "default-deny")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def _selects(selector: dict, labels: dict[str, str]) -> bool:
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        if (operator == "DoesNotExist" and key in labels) or (operator == "Exists" and key not in labels):
            return False
        if operator == "In" and labels.get(key) not in expression["values"]:
            return False
        if operator == "NotIn" and labels.get(key) in expression["values"]:
            return False
    return True


def _allowing(policies: list[dict], labels: dict[str, str]) -> set[str]:
    return {policy["metadata"]["name"] for policy in policies
            if (policy["spec"].get("ingress") or policy["spec"].get("egress"))
            and _selects(policy["spec"]["podSelector"], labels)}


def test_only_what_the_run_needs_is_allowed_and_a_partitioned_pod_is_cut_off(resilient):
    policies = [obj for obj in resilient.setup if obj["kind"] == "NetworkPolicy"]
    anvil = next(obj for obj in resilient.bundle if obj["kind"] == "Deployment" and obj["metadata"]["name"] == "anvil-1")
    labels = anvil["spec"]["template"]["metadata"]["labels"]
    assert labels[LABEL_ANVIL] == "true"
    assert _allowing(policies, labels) == {"within-sandbox", "cluster-dns", "faults-from-platform"}
    assert _allowing(policies, {**labels, LABEL_PARTITIONED: "true"}) == set()
    entry = next(policy for policy in policies if policy["metadata"]["name"] == "entrypoint-from-platform")
    sources = [peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
               for rule in entry["spec"]["ingress"] for peer in rule["from"]]
    assert sorted(sources) == ["sre-chaos", "sre-chaos-load"]
    faults = next(policy for policy in policies if policy["metadata"]["name"] == "faults-from-platform")
    assert faults["spec"]["ingress"] == [{
        "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "sre-chaos"}}}],
        "ports": [{"protocol": "TCP", "port": 8080}],
    }]
    dns = next(policy for policy in policies if policy["metadata"]["name"] == "cluster-dns")
    assert [port["port"] for rule in dns["spec"]["egress"] for port in rule["ports"]] == [53, 53]


def test_no_pod_mounts_a_service_account_token_and_no_service_leaves_the_cluster(resilient):
    for name, pod in _pods(resilient):
        assert pod["automountServiceAccountToken"] is False, name
    services = [obj for obj in resilient.bundle if obj["kind"] == "Service"]
    assert services and all(obj["spec"]["type"] == "ClusterIP" for obj in services)


def test_nothing_is_cluster_scoped_but_the_namespace(resilient):
    namespace = resilient.namespace["metadata"]["name"]
    for obj in resilient.all()[1:]:
        assert obj["kind"] in NAMESPACED, obj["kind"]
        expected = "sre-chaos-load" if obj["kind"] == "Job" else namespace
        assert obj["metadata"]["namespace"] == expected, (obj["kind"], obj["metadata"]["name"])
    assert resilient.namespace["kind"] == "Namespace" and "namespace" not in resilient.namespace["metadata"]
    binding = next(obj for obj in resilient.setup if obj["kind"] == "RoleBinding")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": "sre-chaos-sandbox-tenant"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "loadtest-worker", "namespace": "sre-chaos"}]


def test_the_namespace_names_the_platform_the_owner_the_origin_and_a_deadline(resilient):
    labels = resilient.namespace["metadata"]["labels"]
    assert resilient.namespace["metadata"]["name"] == "sbx-t1"
    assert labels[MANAGED_BY_KEY] == MANAGED_BY
    assert (labels[LABEL_OWNER], labels[LABEL_ORIGIN], labels[LABEL_DEADLINE]) == ("alice", "submission-3", "2000000000")
    for obj in resilient.all():
        assert obj["metadata"]["labels"][MANAGED_BY_KEY] == MANAGED_BY


def test_images_are_the_registrys_pinned_digests_and_url_anvil_gets_the_platforms_settings(resilient):
    images = {container["image"] for name, pod in _pods(resilient) for container in pod["containers"]}
    assert images == {"registry.example.org/sre-chaos/url-anvil@sha256:" + "a" * 64,
                      "registry.example.org/sre-chaos/haproxy@sha256:" + "b" * 64}
    anvil = next(obj for obj in resilient.bundle if obj["kind"] == "Deployment" and obj["metadata"]["name"] == "anvil-1")
    env = {var["name"]: var["value"] for var in anvil["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["ANVIL_CHAOS_TOKEN"] == "t0ken" and env["DEBUG"] == "false" and env["REDIS_URL"] == ""
    users = {name: {(c["securityContext"].get("runAsUser", pod["securityContext"].get("runAsUser")),
                     c["securityContext"].get("runAsGroup", pod["securityContext"].get("runAsGroup")))
                    for c in pod["containers"]} for name, pod in _pods(resilient)}
    assert users == {"lb": {(100, 101)}, "anvil-1": {(10001, 10001)}, "anvil-2": {(10001, 10001)},
                     "anvil-3": {(10001, 10001)}, "load job": {(10001, 10001)}}


def test_the_load_job_runs_once_within_a_deadline_and_is_cleaned_up(resilient):
    job = resilient.load_job["spec"]
    assert job["backoffLimit"] == 0 and job["activeDeadlineSeconds"] > 0 and job["ttlSecondsAfterFinished"] > 0
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["containers"][0]["command"] == ["python", "-m", "loadtest.runner"]
    assert pod["containers"][0]["args"] == ["--target", "http://x"]


@given(st.text(max_size=200))
def test_any_owner_or_origin_becomes_a_valid_label_value(text):
    value = label_value(text)
    assert len(value) <= 63 and _LABEL_VALUE.fullmatch(value)
