"""deploy/kubernetes/: rendered by kustomize, checked against the Kubernetes schemas and our policy, offline.

The checkers return a list of problems (empty: fine) so that each one is
run on the real manifests and on a deliberately bad object, and is seen to
refuse it.
"""

from __future__ import annotations

import copy
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions, major_minor
from packaging.version import Version

from chaoschallenge.tests.stack import binary_require, compose_load, env_example_names
from common.testing import BASE_DIR
from sandbox.kube.pod_security import restricted_problems
from sandbox.tests.kube import kube_schema_versions

DEPLOY_DIR = BASE_DIR / "deploy" / "kubernetes"
RENDERINGS = {"base": DEPLOY_DIR / "base", "competition": DEPLOY_DIR / "overlays" / "competition"}
IMAGE = "sre-chaos/url-anvil"
WORKER_SA = "system:serviceaccount:sre-chaos:loadtest-worker"
WORKER_SUBJECT = {"kind": "ServiceAccount", "name": "loadtest-worker", "namespace": "sre-chaos"}
MANAGED_BY = "app.kubernetes.io/managed-by"
POWERFUL_ROLES = {"cluster-admin", "admin", "edit"}
KUBERNETES_VERSIONS = kube_schema_versions()


def kustomize_render(folder: Path) -> list[dict]:
    kubectl = binary_require("kubectl")
    result = subprocess.run(
        [kubectl, "kustomize", str(folder)], capture_output=True, text=True, timeout=120, cwd=BASE_DIR
    )
    assert result.returncode == 0, result.stderr
    return [document for document in yaml.safe_load_all(result.stdout) if document]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    return {name: kustomize_render(folder) for name, folder in RENDERINGS.items()}


@pytest.fixture(params=sorted(RENDERINGS))
def objects(request, rendered) -> list[dict]:
    return rendered[request.param]


def _of(objects: list[dict], kind: str, name: str | None = None) -> list[dict]:
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def _one(objects: list[dict], kind: str, name: str) -> dict:
    (found,) = _of(objects, kind, name)
    return found


def _label(obj: dict) -> str:
    return f"{obj['kind']}/{obj['metadata'].get('namespace', '-')}/{obj['metadata']['name']}"


# --- the checkers ------------------------------------------------------------------------------------


def _pod_specs(objects: list[dict]) -> Iterator[tuple[str, dict]]:
    for obj in objects:
        spec = obj.get("spec") or {}
        if obj["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}:
            yield _label(obj), spec["template"]["spec"]
        elif obj["kind"] == "CronJob":
            yield _label(obj), spec["jobTemplate"]["spec"]["template"]["spec"]
        elif obj["kind"] == "Pod":
            yield _label(obj), spec


def _containers(pod: dict) -> list[dict]:
    return [*pod.get("initContainers", []), *pod.get("containers", []), *pod.get("ephemeralContainers", [])]


def pod_security_problems(objects: list[dict]) -> list[str]:
    """What keeps a pod from the Pod Security Standard "restricted" (the sandbox's own check), plus our read-only root."""
    problems = []
    for where, pod in _pod_specs(objects):
        problems += [f"{where}: {path} {message}" for path, message in restricted_problems(pod)]
        for container in _containers(pod):
            if (container.get("securityContext") or {}).get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: container {container['name']}: root file system is writable")
    return problems


def resource_problems(objects: list[dict]) -> list[str]:
    problems = []
    for where, pod in _pod_specs(objects):
        for container in _containers(pod):
            resources = container.get("resources") or {}
            for bound in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in (resources.get(bound) or {}):
                        problems.append(f"{where}: container {container['name']} has no {bound}.{resource}")
    return problems


def token_problems(objects: list[dict]) -> list[str]:
    """Only the load-test worker may get a ServiceAccount token."""
    problems = []
    for account in _of(objects, "ServiceAccount"):
        is_worker = account["metadata"]["name"] == "loadtest-worker"
        if not is_worker and account.get("automountServiceAccountToken") is not False:
            problems.append(f"{_label(account)} mounts its token")
    for where, pod in _pod_specs(objects):
        if pod.get("serviceAccountName") == "loadtest-worker":
            # The worker's identity is what RBAC and the admission policy name: no other pod may wear it.
            if where != "Deployment/sre-chaos/loadtest-worker":
                problems.append(f"{where}: runs as the load-test worker's ServiceAccount")
        elif pod.get("automountServiceAccountToken") is not False:
            problems.append(f"{where}: automountServiceAccountToken is not false")
    return problems


def service_link_problems(objects: list[dict]) -> list[str]:
    """Pods must not get Docker-style service links: Service "anvil" would set ANVIL_PORT=tcp://…, which settings read as a port."""
    problems = []
    for obj in objects:
        namespace = obj["metadata"].get("namespace")
        services = [
            s["metadata"]["name"] for s in _of(objects, "Service") if s["metadata"].get("namespace") == namespace
        ]
        injected = {
            f"{name.upper().replace('-', '_')}_{suffix}"
            for name in services
            for suffix in ("PORT", "SERVICE_HOST", "SERVICE_PORT")
        }
        for where, pod in _pod_specs([obj]):
            if pod.get("enableServiceLinks") is not False:
                clashes = sorted(injected & env_example_names())
                problems.append(
                    f"{where}: enableServiceLinks is not false (would set {clashes or 'service variables'})"
                )
    return problems


def rbac_wildcard_problems(objects: list[dict]) -> list[str]:
    problems = []
    for role in [*_of(objects, "Role"), *_of(objects, "ClusterRole")]:
        for index, rule in enumerate(role.get("rules") or []):
            for field in ("verbs", "resources", "apiGroups"):
                if any("*" in value for value in rule.get(field, [])):
                    problems.append(f"{_label(role)}: rules[{index}].{field} has a wildcard")
        if role.get("aggregationRule"):
            problems.append(f"{_label(role)}: aggregates other roles")
    return problems


def rbac_binding_problems(objects: list[dict]) -> list[str]:
    """No powerful built-in role bound; the one ClusterRoleBinding binds the sandbox admin role to the worker."""
    problems = []
    bindings = [*_of(objects, "RoleBinding"), *_of(objects, "ClusterRoleBinding")]
    for binding in bindings:
        if binding["roleRef"]["name"] in POWERFUL_ROLES:
            problems.append(f"{_label(binding)} binds {binding['roleRef']['name']}")
        if binding["roleRef"]["name"] == "sre-chaos-sandbox-tenant":
            problems.append(f"{_label(binding)} binds the tenant role outside a sandbox")
    cluster_bindings = _of(objects, "ClusterRoleBinding")
    expected_ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "sre-chaos-sandbox-admin"}
    if [(b["roleRef"], b.get("subjects")) for b in cluster_bindings] != [(expected_ref, [WORKER_SUBJECT])]:
        problems.append(
            f"ClusterRoleBindings are {[_label(b) for b in cluster_bindings]}, not the sandbox admin's alone"
        )
    return problems


def grants(role: dict) -> set[tuple[str, str, str, tuple[str, ...]]]:
    """(apiGroup, resource, verb, resourceNames) for every combination a role's rules allow."""
    return {
        (group, resource, verb, tuple(rule.get("resourceNames", [])))
        for rule in role.get("rules") or []
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule.get("verbs", [])
    }


def _grant_set(group: str, resources: list[str], verbs: str, names: tuple[str, ...] = ()) -> set:
    return {(group, resource, verb, names) for resource in resources for verb in verbs.split()}


TENANT_GRANTS = (
    _grant_set("apps", ["deployments"], "get list watch create patch delete")
    | _grant_set("", ["services", "configmaps"], "get list watch create patch delete")
    | _grant_set("", ["resourcequotas", "limitranges"], "create get list patch delete")
    | _grant_set("networking.k8s.io", ["networkpolicies"], "create get list patch delete")
    | _grant_set("", ["pods"], "get list watch delete patch")
    | _grant_set("", ["pods/log"], "get")
    | _grant_set("", ["events"], "get list")
)
ADMIN_GRANTS = (
    _grant_set("", ["namespaces"], "get list watch create delete patch")
    | _grant_set("rbac.authorization.k8s.io", ["rolebindings"], "create")
    | _grant_set("rbac.authorization.k8s.io", ["clusterroles"], "bind", ("sre-chaos-sandbox-tenant",))
)
LOAD_GRANTS = (
    _grant_set("batch", ["jobs"], "create get list watch delete")
    | _grant_set("", ["pods"], "get list watch")
    | _grant_set("", ["pods/log"], "get")
)


def _container_env(objects: list[dict], container: dict) -> dict[str, str]:
    """The literal environment a container gets: its ConfigMaps (envFrom), then its own values."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(_one(objects, "ConfigMap", source["configMapRef"]["name"]).get("data", {}))
    env.update({item["name"]: item["value"] for item in container.get("env", []) if "value" in item})
    return env


def probe_problems(objects: list[dict], *, deployments: tuple[str, ...] = ("platform", "anvil")) -> list[str]:
    """Readiness and liveness of the web roles: GET /healthz, on a declared port, with a Host Django allows."""
    problems = []
    for name in deployments:
        pod = _one(objects, "Deployment", name)["spec"]["template"]["spec"]
        container = pod["containers"][0]
        ports = {p.get("name") for p in container.get("ports", [])} | {
            p["containerPort"] for p in container.get("ports", [])
        }
        allowed_hosts = _container_env(objects, container).get("ALLOWED_HOSTS", "").split(",")
        for kind in ("readinessProbe", "livenessProbe"):
            probe = (container.get(kind) or {}).get("httpGet")
            if not probe or probe.get("path") != "/healthz":
                problems.append(f"{name}: {kind} is not an httpGet of /healthz")
                continue
            if probe.get("port") not in ports:
                problems.append(f"{name}: {kind} probes port {probe.get('port')}, which the container does not declare")
            # Without a Host header the kubelet sends the pod's address, which only "*" allows.
            host = next((h["value"] for h in probe.get("httpHeaders", []) if h["name"].lower() == "host"), None)
            if "*" not in allowed_hosts and host not in allowed_hosts:
                problems.append(f"{name}: {kind} sends Host {host or '<pod address>'}, not in ALLOWED_HOSTS")
    return problems


def namespace_problems(objects: list[dict]) -> list[str]:
    """The platform's namespaces enforce "restricted" and are never marked as sandboxes (the admission policy would let the worker in)."""
    problems = []
    for namespace in _of(objects, "Namespace"):
        labels = namespace["metadata"].get("labels") or {}
        if labels.get("pod-security.kubernetes.io/enforce") != "restricted":
            problems.append(f"{_label(namespace)} does not enforce restricted")
        if MANAGED_BY in labels:
            problems.append(f"{_label(namespace)} carries {MANAGED_BY}")
    for obj in objects:
        if (
            obj["kind"] != "Namespace"
            and (obj["metadata"].get("labels") or {}).get(MANAGED_BY) == "sre-chaos-challenge"
        ):
            problems.append(f"{_label(obj)} carries {MANAGED_BY}: only sandboxes do")
    return problems


def _rule_covers(rule: dict, *, group: str, resource: str, namespaced: bool, operations: set[str]) -> bool:
    scope = rule.get("scope", "*")
    return (
        (group in rule["apiGroups"] or "*" in rule["apiGroups"])
        and (resource in rule["resources"] or "*" in rule["resources"] or "*/*" in rule["resources"])
        and (scope == "*" or scope == ("Namespaced" if namespaced else "Cluster"))
        and (operations <= set(rule["operations"]) or "*" in rule["operations"])
    )


# What the worker's policy must speak of: the fields of the contract, lightly (its CEL is not compiled here).
POLICY_MENTIONS = [
    "sbx-", MANAGED_BY, "sre-chaos-challenge", "pod-security.kubernetes.io/enforce", "restricted",
    "oldObject", "namespaceObject", "roleRef", "sre-chaos-sandbox-tenant", "subjects", "loadtest-worker",
    "sre-chaos-load",
]  # fmt: skip


def admission_policy_problems(objects: list[dict]) -> list[str]:
    """A bound ValidatingAdmissionPolicy for the worker's requests covers namespaces and RoleBindings."""
    policies = [
        p for p in _of(objects, "ValidatingAdmissionPolicy")
        if any(WORKER_SA in c["expression"] for c in p["spec"].get("matchConditions", []))
    ]  # fmt: skip
    if not policies:
        return [f"no ValidatingAdmissionPolicy matches {WORKER_SA}"]
    problems = []
    for policy in policies:
        name, spec = policy["metadata"]["name"], policy["spec"]
        rules = spec.get("matchConstraints", {}).get("resourceRules", [])
        wanted = {
            "namespaces": ("", "namespaces", False, {"CREATE", "UPDATE", "DELETE"}),
            "rolebindings": ("rbac.authorization.k8s.io", "rolebindings", True, {"CREATE"}),
            "deployments in other namespaces": ("apps", "deployments", True, {"CREATE", "UPDATE", "DELETE"}),
        }
        for what, (group, resource, namespaced, operations) in wanted.items():
            if not any(
                _rule_covers(r, group=group, resource=resource, namespaced=namespaced, operations=operations)
                for r in rules
            ):
                problems.append(f"{name}: does not match {what}")
        if spec.get("failurePolicy", "Fail") != "Fail":
            problems.append(f"{name}: failurePolicy is not Fail")
        text = " ".join(v["expression"] for v in [*spec.get("validations", []), *spec.get("variables", [])])
        problems += [f"{name}: its expressions never mention {word}" for word in POLICY_MENTIONS if word not in text]
        bindings = [b for b in _of(objects, "ValidatingAdmissionPolicyBinding") if b["spec"]["policyName"] == name]
        if not any(
            "Deny" in b["spec"].get("validationActions", []) and not b["spec"].get("matchResources") for b in bindings
        ):
            problems.append(f"{name}: no binding enforces it (validationActions Deny, every resource)")
    return problems


# --- the real manifests --------------------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_passes_the_strict_kubernetes_schema(objects, version):
    for obj in objects:
        # kubernetes-validate falls back to an older schema it has: it must have used this one.
        assert kubernetes_validate.validate(obj, version, strict=True) == version, _label(obj)


def test_it_validates_against_the_three_newest_versions_the_package_ships():
    shipped = {major_minor(version) for version in all_versions()}
    assert len(KUBERNETES_VERSIONS) == 3
    assert all(Version(v) < Version(KUBERNETES_VERSIONS[0]) for v in shipped - set(KUBERNETES_VERSIONS))


def test_every_pod_meets_the_restricted_pod_security_standard(objects):
    assert pod_security_problems(objects) == []


def test_every_container_has_cpu_and_memory_requests_and_limits(objects):
    assert resource_problems(objects) == []


def test_only_the_loadtest_worker_gets_a_service_account_token(objects):
    assert token_problems(objects) == []
    worker = _one(objects, "Deployment", "loadtest-worker")["spec"]["template"]["spec"]
    assert worker["serviceAccountName"] == "loadtest-worker"


def test_no_pod_gets_service_links_that_clash_with_settings(objects):
    assert service_link_problems(objects) == []


def test_the_web_roles_are_probed_on_healthz_with_a_host_they_allow(objects):
    assert probe_problems(objects) == []


def test_the_platforms_namespaces_enforce_restricted_and_are_no_sandboxes(objects):
    assert {n["metadata"]["name"] for n in _of(objects, "Namespace")} == {"sre-chaos", "sre-chaos-load"}
    assert namespace_problems(objects) == []


def test_no_rbac_rule_has_a_wildcard_and_no_powerful_role_is_bound(objects):
    assert rbac_wildcard_problems(objects) == []
    assert rbac_binding_problems(objects) == []


def test_the_worker_gets_exactly_the_sandbox_and_load_grants(objects):
    assert {r["metadata"]["name"] for r in _of(objects, "ClusterRole")} == {
        "sre-chaos-sandbox-admin", "sre-chaos-sandbox-tenant",
    }  # fmt: skip
    assert grants(_one(objects, "ClusterRole", "sre-chaos-sandbox-admin")) == ADMIN_GRANTS
    assert grants(_one(objects, "ClusterRole", "sre-chaos-sandbox-tenant")) == TENANT_GRANTS
    (load_role,) = _of(objects, "Role")
    assert load_role["metadata"]["namespace"] == "sre-chaos-load"
    assert grants(load_role) == LOAD_GRANTS
    (load_binding,) = _of(objects, "RoleBinding")
    assert load_binding["metadata"]["namespace"] == "sre-chaos-load"
    assert load_binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": load_role["metadata"]["name"],
    }
    assert load_binding["subjects"] == [WORKER_SUBJECT]


def test_the_admission_policy_fences_the_worker_in(objects):
    assert admission_policy_problems(objects) == []


def test_it_runs_the_roles_of_the_compose_stack_from_the_one_image(objects):
    compose_roles = {
        service["command"][0] for service in compose_load()["services"].values()
        if service.get("command") and "${CHAOS_IMAGE" in service.get("image", "") and "entrypoint" not in service
    }  # fmt: skip
    roles = {}
    for obj in [*_of(objects, "Deployment"), *_of(objects, "Job")]:
        container = obj["spec"]["template"]["spec"]["containers"][0]
        roles[obj["metadata"]["name"]] = container["args"]
    assert roles == {
        "platform": ["platform"], "anvil": ["anvil"], "loadtest-worker": ["worker"],
        "scheduler": ["scheduler"], "migrate": ["migrate"],
    }  # fmt: skip
    assert {args[0] for args in roles.values()} == compose_roles
    entrypoint = (BASE_DIR / "scripts" / "docker-entrypoint.sh").read_text()
    for where, pod in _pod_specs(objects):
        for container in _containers(pod):
            assert container["image"].split("@")[0].split(":")[0].endswith(IMAGE), where
            assert re.search(rf"^\s+{re.escape(container['args'][0])}\)", entrypoint, re.M), (where, container["args"])


def test_there_is_one_scheduler_replaced_never_rolled(objects):
    scheduler = _one(objects, "Deployment", "scheduler")["spec"]
    assert scheduler["replicas"] == 1
    assert scheduler["strategy"] == {"type": "Recreate"}


def test_no_secret_is_shipped_and_every_key_the_pods_read_is_documented(objects):
    assert _of(objects, "Secret") == []
    readme = (DEPLOY_DIR / "README.md").read_text()
    keys = set()
    for where, pod in _pod_specs(objects):
        for container in _containers(pod):
            for item in container.get("env", []):
                ref = (item.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == "platform-secrets", where
                    keys.add(ref["key"])
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL"} <= keys
    assert [key for key in sorted(keys) if f"| `{key}` |" not in readme] == []


def test_the_base_configmap_holds_only_settings_the_project_reads(rendered):
    data = _one(rendered["base"], "ConfigMap", "platform-config")["data"]
    assert data["DEBUG"] == "false"
    assert data["SANDBOX_BACKEND"] == "off"
    assert set(data) - env_example_names() == set()
    assert not {"SECRET_KEY", "DATABASE_URL", "TRACKER_DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"} & set(data)


def test_services_reach_their_deployments_named_ports(objects):
    for service in _of(objects, "Service"):
        pod = _one(objects, "Deployment", service["metadata"]["name"])["spec"]["template"]
        assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
        declared = {p["name"] for p in pod["spec"]["containers"][0]["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= declared


def test_the_competition_overlay_runs_bundles_on_the_cluster_with_replicas(rendered):
    objects = rendered["competition"]
    data = _one(objects, "ConfigMap", "platform-config")["data"]
    assert data["SANDBOX_BACKEND"] == "kubernetes"
    assert data["SANDBOX_K8S_LOAD_NAMESPACE"] == "sre-chaos-load"
    assert data["SANDBOX_K8S_PLATFORM_NAMESPACE"] == "sre-chaos"
    assert data["SANDBOX_K8S_REGISTRY"]
    assert data["DEBUG"] == "false"
    replicas = {d["metadata"]["name"]: d["spec"]["replicas"] for d in _of(objects, "Deployment")}
    assert replicas["platform"] >= 2 and replicas["anvil"] == 2 and replicas["loadtest-worker"] >= 2
    assert replicas["scheduler"] == 1
    for _where, pod in _pod_specs(objects):
        for container in _containers(pod):
            assert re.fullmatch(r"[a-z0-9.-]+(:\d+)?/.+/url-anvil@sha256:[0-9a-f]{64}", container["image"])


# --- each checker refuses a bad object -----------------------------------------------------------------


def _bad_deployment(rendered, name: str = "platform") -> dict:
    return copy.deepcopy(_one(rendered["base"], "Deployment", name))


def test_the_pod_security_check_refuses_a_privileged_pod_on_the_host(rendered):
    bad = _bad_deployment(rendered)
    pod = bad["spec"]["template"]["spec"]
    pod["hostNetwork"] = True
    pod["volumes"].append({"name": "root", "hostPath": {"path": "/"}})
    pod["securityContext"].pop("seccompProfile")
    context = pod["containers"][0]["securityContext"]
    context.update(privileged=True, allowPrivilegeEscalation=True, capabilities={"add": ["SYS_ADMIN"]})
    pod["containers"][0]["ports"][0]["hostPort"] = 80
    pod["initContainers"][0]["securityContext"].update(runAsNonRoot=False, procMount="Unmasked")
    pod["securityContext"]["sysctls"] = [{"name": "net.ipv4.ip_forward", "value": "1"}]
    problems = " | ".join(pod_security_problems([bad]))
    for expected in (
        "spec.hostNetwork", "hostPath volumes are not allowed", "containers[0].securityContext.privileged",
        "allowPrivilegeEscalation", "capabilities.drop", "capabilities.add", "seccompProfile.type",
        "ports[0].hostPort", "initContainers[0].securityContext.runAsNonRoot", "procMount", "sysctls[0]",
    ):  # fmt: skip
        assert expected in problems


def test_the_resource_check_refuses_a_container_without_limits(rendered):
    bad = _bad_deployment(rendered, "anvil")
    del bad["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"]
    assert resource_problems([bad]) == ["Deployment/sre-chaos/anvil: container anvil has no limits.memory"]


def test_the_token_check_refuses_a_pod_or_account_that_mounts_a_token(rendered):
    bad = _bad_deployment(rendered, "scheduler")
    del bad["spec"]["template"]["spec"]["automountServiceAccountToken"]
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": "sre-chaos"}}
    impostor = _bad_deployment(rendered, "anvil")
    impostor["spec"]["template"]["spec"]["serviceAccountName"] = "loadtest-worker"
    assert token_problems([bad, account, impostor]) == [
        "ServiceAccount/sre-chaos/default mounts its token",
        "Deployment/sre-chaos/scheduler: automountServiceAccountToken is not false",
        "Deployment/sre-chaos/anvil: runs as the load-test worker's ServiceAccount",
    ]


def test_the_service_link_check_names_the_settings_a_service_would_overwrite(rendered):
    bad = _bad_deployment(rendered, "loadtest-worker")
    del bad["spec"]["template"]["spec"]["enableServiceLinks"]
    services = _of(rendered["base"], "Service")
    assert service_link_problems([bad, *services]) == [
        "Deployment/sre-chaos/loadtest-worker: enableServiceLinks is not false (would set ['ANVIL_PORT', 'PLATFORM_PORT'])"
    ]


def test_the_probe_check_refuses_a_wrong_path_and_a_host_django_would_refuse(rendered):
    objects = copy.deepcopy(rendered["base"])
    platform = _one(objects, "Deployment", "platform")["spec"]["template"]["spec"]["containers"][0]
    platform["livenessProbe"]["httpGet"]["path"] = "/"
    platform["readinessProbe"]["httpGet"]["httpHeaders"] = []
    problems = probe_problems(objects)
    assert "platform: livenessProbe is not an httpGet of /healthz" in problems
    assert "platform: readinessProbe sends Host <pod address>, not in ALLOWED_HOSTS" in problems


def test_the_rbac_checks_refuse_wildcards_and_powerful_bindings():
    role = {
        "kind": "ClusterRole",
        "metadata": {"name": "wide"},
        "rules": [{"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}],
    }
    binding = {
        "kind": "ClusterRoleBinding", "metadata": {"name": "oops"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [WORKER_SUBJECT],
    }  # fmt: skip
    assert rbac_wildcard_problems([role]) == ["ClusterRole/-/wide: rules[0].resources has a wildcard"]
    problems = rbac_binding_problems([binding])
    assert "ClusterRoleBinding/-/oops binds cluster-admin" in problems
    assert any("not the sandbox admin's alone" in problem for problem in problems)


def test_the_namespace_check_refuses_a_platform_namespace_marked_as_a_sandbox(rendered):
    bad = copy.deepcopy(_one(rendered["base"], "Namespace", "sre-chaos"))
    bad["metadata"]["labels"][MANAGED_BY] = "sre-chaos-challenge"
    bad["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = "baseline"
    assert namespace_problems([bad]) == [
        "Namespace/-/sre-chaos does not enforce restricted",
        f"Namespace/-/sre-chaos carries {MANAGED_BY}",
    ]


def test_the_admission_check_refuses_a_policy_that_leaves_rolebindings_out(rendered):
    objects = copy.deepcopy(rendered["base"])
    policy = _one(objects, "ValidatingAdmissionPolicy", "sre-chaos-loadtest-worker")
    policy["spec"]["matchConstraints"]["resourceRules"] = policy["spec"]["matchConstraints"]["resourceRules"][:1]
    policy["spec"]["validations"] = policy["spec"]["validations"][:1]
    problems = admission_policy_problems(objects)
    assert "sre-chaos-loadtest-worker: does not match rolebindings" in problems
    assert "sre-chaos-loadtest-worker: its expressions never mention roleRef" in problems
    assert admission_policy_problems([o for o in objects if o["kind"] != "ValidatingAdmissionPolicy"]) != []


def test_the_schema_check_refuses_an_unknown_field(rendered):
    bad = _bad_deployment(rendered)
    bad["spec"]["template"]["spec"]["containers"][0]["securityContxt"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSIONS[-1], strict=True)
