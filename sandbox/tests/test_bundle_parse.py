from __future__ import annotations

import json

import pytest
import yaml

from common.validation import FieldError
from sandbox.bundle import DEFAULT_QUOTA, Quota, bundle_parse
from sandbox.catalogue import NAMES, Catalogue
from sandbox.tests.bundles import CONTAINER, POD, append, as_yaml, base, both, drop, example, put

PINNED = Catalogue({name: f"sha256:{index:064x}" for index, name in enumerate(NAMES)})
C = CONTAINER
P = POD
# The same paths as the bundle's error messages write them.
CP = "[1].spec.template.spec.containers[0]"
PP = "[1].spec.template.spec"


def refusal(objects, **kwargs) -> FieldError:
    with pytest.raises(FieldError) as error:
        bundle_parse(as_yaml(objects), **kwargs)
    return error.value


# --- what passes ---------------------------------------------------------------


def test_the_bare_reference_bundle_passes():
    bundle = bundle_parse(example("bare-anvil.yaml"), catalogue=PINNED)

    assert [(o["kind"], o["metadata"]["name"]) for o in bundle.objects] == [("Deployment", "anvil"), ("Service", "entrypoint")]
    assert bundle.images == {"url-anvil": PINNED.pin("url-anvil")}
    assert bundle.entrypoint_deployments == ("anvil",)
    assert bundle.requests.pods == 1


def test_the_resilient_reference_bundle_passes_with_haproxy_in_front_of_three_replicas():
    bundle = bundle_parse(example("resilient-anvil.yaml"), catalogue=PINNED)

    summary = bundle.summary()
    assert summary["entrypoint"] == {"service": "entrypoint", "port": 80, "deployments": ["lb"]}
    assert set(summary["images"]) == {"haproxy", "url-anvil"}
    assert [o["name"] for o in summary["objects"] if o["kind"] == "Deployment"] == ["lb", "anvil-1", "anvil-2", "anvil-3"]
    assert summary["requests"] == {"cpu": "850m", "memory": "832Mi", "pods": 4}
    config = next(o for o in bundle.objects if o["kind"] == "ConfigMap")
    assert "retry-on all-retryable-errors" in config["data"]["haproxy.cfg"]
    assert "option httpchk GET /healthz" in config["data"]["haproxy.cfg"]


def test_the_reference_bundles_start_url_anvil_in_its_anvil_role():
    for name in ("bare-anvil.yaml", "resilient-anvil.yaml"):
        bundle = bundle_parse(example(name))
        anvils = [
            container
            for obj in bundle.objects
            if obj["kind"] == "Deployment"
            for container in obj["spec"]["template"]["spec"]["containers"]
            if container["image"].startswith("sre-chaos/url-anvil")
        ]
        assert anvils
        assert all(container["args"] == ["anvil"] for container in anvils)


def test_it_pins_every_image_and_never_pulls():
    bundle = bundle_parse(as_yaml(base()), catalogue=PINNED)

    container = bundle.objects[1]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == PINNED.pin("nginx")
    assert container["imagePullPolicy"] == "Never"
    assert bundle.images == {"nginx": PINNED.pin("nginx")}


def test_it_leaves_the_text_it_was_given_unchanged_in_what_it_does_not_pin():
    objects = base()
    bundle = bundle_parse(as_yaml(objects))

    assert bundle.objects[0] == objects[0]
    assert bundle.objects[2] == objects[2]


def test_it_adds_up_requests_per_replica_and_takes_a_missing_request_as_the_limit():
    objects = base()
    put(*C, "resources", {"limits": {"cpu": "300m", "memory": "100Mi"}})(objects)
    put(1, "spec", "replicas", 3)(objects)

    bundle = bundle_parse(as_yaml(objects))

    assert bundle.requests.cpu_millicores == 900
    assert bundle.requests.memory_bytes == 300 * 2**20
    assert bundle.requests.pods == 3


def test_it_counts_init_containers_as_if_they_ran_alongside():
    objects = base()
    init = {"name": "warm", "image": "url-anvil", "resources": {"limits": {"cpu": "50m", "memory": "32Mi"}}}
    put(*P, "initContainers", [init])(objects)

    bundle = bundle_parse(as_yaml(objects))

    assert bundle.requests.cpu_millicores == 2 * (100 + 50)
    assert bundle.objects[1]["spec"]["template"]["spec"]["initContainers"][0]["image"] == "sre-chaos/url-anvil:catalogue"


def test_it_takes_a_json_list_as_well_as_yaml():
    assert bundle_parse(json.dumps(base())).requests == bundle_parse(as_yaml(base())).requests


def test_it_takes_yaml_in_flow_style_that_opens_like_json():
    text = yaml.safe_dump_all(base(), default_flow_style=True)
    assert text.startswith("{")

    assert bundle_parse(text).requests == bundle_parse(as_yaml(base())).requests


def test_it_skips_empty_yaml_documents_as_kubectl_does():
    text = "---\n" + as_yaml(base()) + "---\n---\n"

    assert len(bundle_parse(text).objects) == 3


def test_a_bundle_within_the_quota_passes_exactly_at_the_limit():
    quota = Quota(cpu_millicores=200, memory_bytes=128 * 2**20, pods=2)

    bundle_parse(as_yaml(base()), quota=quota)


def test_a_replica_count_of_zero_asks_for_nothing():
    objects = base()
    put(1, "spec", "replicas", 0)(objects)

    assert bundle_parse(as_yaml(objects)).requests.cpu_millicores == 0


def test_a_plain_equals_sign_is_text_and_dates_stay_text():
    text = as_yaml(base()).replace("mode: fast", "mode: =\n  since: 2024-01-31")

    bundle = bundle_parse(text)

    assert bundle.objects[0]["data"]["mode"] == "="
    assert bundle.objects[0]["data"]["since"] == "2024-01-31"


# --- what is refused, and where --------------------------------------------------

SECRET_VOLUME = {"name": "creds", "secret": {"secretName": "x"}}
CASES = [
    # kinds and the real schema
    pytest.param(put(1, "kind", "Pod"), "[1].kind", "not allowed", id="it_refuses_a_kind_other_than_deployment_service_configmap"),
    pytest.param(put(0, "kind", "Secret"), "[0].kind", "not allowed", id="it_refuses_a_secret"),
    pytest.param(drop(2, "kind"), "[2].kind", "missing", id="it_refuses_an_object_without_kind"),
    pytest.param(put(1, "apiVersion", "extensions/v1beta1"), "[1].apiVersion", "apps/v1", id="it_refuses_an_old_api_version"),
    pytest.param(put(*C, "bogus", True), f"{CP}.bogus", "not a field", id="it_refuses_an_unknown_field_as_a_strict_api_server_does"),
    pytest.param(put(1, "spec", "replicas", "three"), "[1].spec.replicas", "not of type", id="it_refuses_a_field_of_the_wrong_type"),
    pytest.param(drop(*C, "name"), f"{CP}.name", "required", id="it_refuses_a_container_without_a_name_as_the_schema_requires"),
    pytest.param(put(0, "data", "mode", 3), '[0].data.mode', "not of type", id="it_refuses_configmap_data_that_is_not_text"),
    # images
    pytest.param(put(*C, "image", "nginx:1.25"), f"{CP}.image", "without registry or tag", id="it_refuses_an_image_with_a_tag"),
    pytest.param(put(*C, "image", "docker.io/library/nginx"), f"{CP}.image", "platform's images", id="it_refuses_an_image_with_a_registry"),
    pytest.param(put(*C, "image", "nginx@sha256:" + "0" * 64), f"{CP}.image", "platform's images", id="it_refuses_an_image_by_digest"),
    pytest.param(put(*C, "image", "redis"), f"{CP}.image", "url-anvil, haproxy, nginx", id="it_refuses_an_image_outside_the_catalogue"),
    pytest.param(put(*C, "imagePullPolicy", "Always"), f"{CP}.imagePullPolicy", "never pulled", id="it_refuses_to_pull_images"),
    # privilege
    pytest.param(put(*C, "securityContext", {"privileged": True}), f"{CP}.securityContext.privileged", "privileged", id="it_refuses_a_privileged_container"),
    pytest.param(put(*C, "securityContext", {"capabilities": {"add": ["NET_ADMIN"]}}), f"{CP}.securityContext.capabilities.add", "capabilities", id="it_refuses_added_capabilities"),
    pytest.param(put(*C, "securityContext", {"allowPrivilegeEscalation": True}), f"{CP}.securityContext.allowPrivilegeEscalation", "privileges", id="it_refuses_privilege_escalation"),
    pytest.param(put(*C, "securityContext", {"seccompProfile": {"type": "Unconfined"}}), f"{CP}.securityContext.seccompProfile.type", "RuntimeDefault", id="it_refuses_an_unconfined_seccomp_profile"),
    pytest.param(put(*P, "securityContext", {"appArmorProfile": {"type": "Unconfined"}}), f"{PP}.securityContext.appArmorProfile.type", "RuntimeDefault", id="it_refuses_an_unconfined_apparmor_profile"),
    pytest.param(put(*C, "securityContext", {"procMount": "Unmasked"}), f"{CP}.securityContext.procMount", "Default", id="it_refuses_an_unmasked_proc"),
    pytest.param(put(*C, "securityContext", {"seLinuxOptions": {"type": "spc_t"}}), f"{CP}.securityContext.seLinuxOptions", "not supported", id="it_refuses_selinux_options"),
    pytest.param(put(*P, "securityContext", {"sysctls": [{"name": "net.ipv4.ip_forward", "value": "1"}]}), f"{PP}.securityContext.sysctls", "sysctls", id="it_refuses_sysctls"),
    pytest.param(put(*P, "hostNetwork", True), f"{PP}.hostNetwork", "host namespaces", id="it_refuses_the_host_network"),
    pytest.param(put(*P, "hostPID", True), f"{PP}.hostPID", "host namespaces", id="it_refuses_the_host_pid_namespace"),
    pytest.param(put(*P, "hostIPC", True), f"{PP}.hostIPC", "host namespaces", id="it_refuses_the_host_ipc_namespace"),
    pytest.param(put(*P, "nodeName", "node-1"), f"{PP}.nodeName", "not supported", id="it_refuses_pod_fields_the_sandbox_does_not_support"),
    pytest.param(put(*P, "ephemeralContainers", [{"name": "debug", "image": "nginx"}]), f"{PP}.ephemeralContainers", "ephemeral", id="it_refuses_ephemeral_containers"),
    pytest.param(put(*P, "restartPolicy", "Never"), f"{PP}.restartPolicy", "Always", id="it_refuses_a_restart_policy_a_deployment_cannot_have"),
    pytest.param(put(*P, "dnsPolicy", "Default"), f"{PP}.dnsPolicy", "ClusterFirst", id="it_refuses_the_node_resolver"),
    # volumes and mounts
    pytest.param(append(*P, "volumes", {"name": "host", "hostPath": {"path": "/"}}), f"{PP}.volumes[2].hostPath", "only configMap and emptyDir", id="it_refuses_a_hostpath_volume"),
    pytest.param(append(*P, "volumes", SECRET_VOLUME), f"{PP}.volumes[2].secret", "only configMap and emptyDir", id="it_refuses_a_secret_volume"),
    pytest.param(append(*P, "volumes", {"name": "data", "persistentVolumeClaim": {"claimName": "x"}}), f"{PP}.volumes[2].persistentVolumeClaim", "only configMap and emptyDir", id="it_refuses_a_claim_volume"),
    pytest.param(append(*P, "volumes", {"name": "bare"}), f"{PP}.volumes[2]", "exactly one source", id="it_refuses_a_volume_without_a_source"),
    pytest.param(put(*P, "volumes", 1, "name", "config"), f"{PP}.volumes[1].name", "already named", id="it_refuses_two_volumes_of_one_name"),
    pytest.param(put(*P, "volumes", 0, "configMap", "name", "other"), f"{PP}.volumes[0].configMap.name", "no ConfigMap", id="it_refuses_a_configmap_volume_of_a_configmap_not_in_the_bundle"),
    pytest.param(put(*P, "volumes", 0, "configMap", "items", [{"key": "missing", "path": "x"}]), f"{PP}.volumes[0].configMap.items[0].key", "no such key", id="it_refuses_an_item_of_a_key_the_configmap_lacks"),
    pytest.param(put(*P, "volumes", 0, "configMap", "items", [{"key": "mode", "path": "../escape"}]), f"{PP}.volumes[0].configMap.items[0].path", "without '..'", id="it_refuses_an_item_path_that_leaves_the_volume"),
    pytest.param(put(*P, "volumes", 1, "emptyDir", "sizeLimit", "huge"), f"{PP}.volumes[1].emptyDir.sizeLimit", "not a quantity", id="it_refuses_an_emptydir_size_that_is_not_a_quantity"),
    pytest.param(put(*C, "volumeMounts", 0, "name", "nothing"), f"{CP}.volumeMounts[0].name", "no volume", id="it_refuses_a_mount_of_a_volume_the_pod_lacks"),
    pytest.param(put(*C, "volumeMounts", 0, "mountPath", "etc/nginx"), f"{CP}.volumeMounts[0].mountPath", "absolute", id="it_refuses_a_relative_mount_path"),
    pytest.param(put(*C, "volumeMounts", 0, "subPath", "../../etc"), f"{CP}.volumeMounts[0].subPath", "without '..'", id="it_refuses_a_subpath_that_leaves_the_volume"),
    pytest.param(put(*C, "volumeMounts", 0, "subPathExpr", "$(HOME)"), f"{CP}.volumeMounts[0].subPathExpr", "not supported", id="it_refuses_a_subpath_expression"),
    pytest.param(put(*C, "volumeMounts", 0, "mountPropagation", "Bidirectional"), f"{CP}.volumeMounts[0].mountPropagation", "None", id="it_refuses_mount_propagation"),
    # ports
    pytest.param(put(*C, "ports", 0, "hostPort", 80), f"{CP}.ports[0].hostPort", "host ports", id="it_refuses_a_host_port"),
    pytest.param(put(*C, "ports", 0, "hostIP", "0.0.0.0"), f"{CP}.ports[0].hostIP", "host addresses", id="it_refuses_a_host_address"),
    pytest.param(put(*C, "ports", 0, "protocol", "UDP"), f"{CP}.ports[0].protocol", "TCP", id="it_refuses_a_udp_container_port"),
    pytest.param(put(*C, "ports", 0, "containerPort", 70000), f"{CP}.ports[0].containerPort", "65535", id="it_refuses_a_container_port_out_of_range"),
    pytest.param(put(*C, "ports", 0, "name", "not--valid"), f"{CP}.ports[0].name", "15", id="it_refuses_a_malformed_port_name"),
    # probes and hooks
    pytest.param(put(*C, "readinessProbe", "httpGet", "host", "169.254.169.254"), f"{CP}.readinessProbe.httpGet.host", "own pod", id="it_refuses_a_probe_of_another_host"),
    pytest.param(put(*C, "livenessProbe", {"tcpSocket": {"host": "10.0.0.1", "port": 22}}), f"{CP}.livenessProbe.tcpSocket.host", "own pod", id="it_refuses_a_tcp_probe_of_another_host"),
    pytest.param(put(*C, "lifecycle", {"preStop": {"httpGet": {"host": "example.org", "port": 80}}}), f"{CP}.lifecycle.preStop.httpGet.host", "own pod", id="it_refuses_a_hook_that_calls_another_host"),
    # environment
    pytest.param(put(*C, "env", 0, "valueFrom", {"secretKeyRef": {"name": "s", "key": "k"}}), f"{CP}.env[0].valueFrom.secretKeyRef", "no Secrets", id="it_refuses_an_environment_variable_from_a_secret"),
    pytest.param(put(*C, "envFrom", [{"secretRef": {"name": "s"}}]), f"{CP}.envFrom[0].secretRef", "no Secrets", id="it_refuses_environment_from_a_secret"),
    pytest.param(put(*C, "env", 0, "valueFrom", "configMapKeyRef", "key", "absent"), f"{CP}.env[0].valueFrom.configMapKeyRef.key", "no such key", id="it_refuses_an_environment_variable_of_a_missing_key"),
    pytest.param(put(*C, "envFrom", [{"configMapRef": {"name": "elsewhere"}}]), f"{CP}.envFrom[0].configMapRef.name", "no ConfigMap", id="it_refuses_environment_from_a_configmap_not_in_the_bundle"),
    # resources
    pytest.param(drop(*C, "resources"), f"{CP}.resources.limits.cpu", "limits", id="it_refuses_a_container_without_limits"),
    pytest.param(drop(*C, "resources", "limits", "memory"), f"{CP}.resources.limits.memory", "limits", id="it_refuses_a_container_without_a_memory_limit"),
    pytest.param(put(*C, "resources", "limits", "cpu", "lots"), f"{CP}.resources.limits.cpu", "not a quantity", id="it_refuses_a_limit_that_is_not_a_quantity"),
    pytest.param(put(*C, "resources", "limits", "cpu", "0"), f"{CP}.resources.limits.cpu", "more than 0", id="it_refuses_a_zero_limit"),
    pytest.param(put(*C, "resources", "requests", "memory", "1Gi"), f"{CP}.resources.requests.memory", "more than the limit", id="it_refuses_a_request_above_its_limit"),
    pytest.param(put(*C, "resources", "limits", "nvidia.com/gpu", 1), f'{CP}.resources.limits["nvidia.com/gpu"]', "only cpu and memory", id="it_refuses_other_resources"),
    pytest.param(put(*C, "resources", "limits", "cpu", "-1"), f"{CP}.resources.limits.cpu", "negative", id="it_refuses_a_negative_limit"),
    pytest.param(put(*P, "initContainers", [{"name": "warm", "image": "nginx"}]), f"{PP}.initContainers[0].resources.limits.cpu", "limits", id="it_refuses_an_init_container_without_limits"),
    pytest.param(put(*P, "initContainers", [{"name": "nginx", "image": "nginx", "resources": {"limits": {"cpu": 1, "memory": "1Mi"}}}]), f"{PP}.initContainers[0].name", "has this name", id="it_refuses_two_containers_of_one_name"),
    # metadata and names
    pytest.param(put(0, "metadata", "namespace", "kube-system"), "[0].metadata.namespace", "namespace", id="it_refuses_a_namespace"),
    pytest.param(drop(0, "metadata", "name"), "[0].metadata.name", "required", id="it_refuses_an_object_without_a_name"),
    pytest.param(put(1, "metadata", "name", "Web_1"), "[1].metadata.name", "DNS label", id="it_refuses_a_name_that_is_not_a_dns_label"),
    pytest.param(put(2, "metadata", "name", "1st"), "[2].metadata.name", "DNS-1035", id="it_refuses_a_service_name_starting_with_a_digit"),
    pytest.param(put(1, "metadata", "generateName", "web-"), "[1].metadata.generateName", "not supported", id="it_refuses_metadata_the_platform_sets"),
    pytest.param(put(1, "metadata", "labels", "bad key!", "x"), '[1].metadata.labels["bad key!"]', "letters", id="it_refuses_a_malformed_label"),
    pytest.param(append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config"}}), "[3].metadata.name", "already", id="it_refuses_two_objects_of_one_kind_and_name"),
    pytest.param(put(*C, "name", "Nginx"), f"{CP}.name", "DNS label", id="it_refuses_a_container_name_that_is_not_a_dns_label"),
    # deployments
    pytest.param(put(1, "spec", "replicas", -1), "[1].spec.replicas", "0 or more", id="it_refuses_a_negative_replica_count"),
    pytest.param(put(1, "spec", "template", "metadata", "labels", {"app": "other"}), "[1].spec.template.metadata.labels", "selector", id="it_refuses_pods_the_selector_does_not_match"),
    pytest.param(put(1, "spec", "selector", {"matchExpressions": [{"key": "app", "operator": "Exists"}]}), "[1].spec.selector.matchExpressions", "matchLabels", id="it_refuses_selector_expressions"),
    pytest.param(drop(*P, "containers"), f"{PP}.containers", "required", id="it_refuses_a_pod_without_containers"),
    # services and the entry point
    pytest.param(put(2, "spec", "type", "NodePort"), "[2].spec.type", "outside the sandbox", id="it_refuses_a_nodeport_service"),
    pytest.param(put(2, "spec", "type", "LoadBalancer"), "[2].spec.type", "outside the sandbox", id="it_refuses_a_load_balancer_service"),
    pytest.param(both(put(2, "spec", "type", "ExternalName"), put(2, "spec", "externalName", "example.org")), "[2].spec.type", "outside", id="it_refuses_an_external_name_service"),
    pytest.param(put(2, "spec", "externalIPs", ["192.0.2.1"]), "[2].spec.externalIPs", "outside", id="it_refuses_external_addresses"),
    pytest.param(put(2, "spec", "clusterIP", "10.0.0.10"), "[2].spec.clusterIP", "assigns", id="it_refuses_a_chosen_cluster_address"),
    pytest.param(put(2, "spec", "ports", 0, "nodePort", 30080), "[2].spec.ports[0].nodePort", "not supported", id="it_refuses_a_node_port"),
    pytest.param(put(2, "spec", "ports", 0, "port", 0), "[2].spec.ports[0].port", "65535", id="it_refuses_a_service_port_out_of_range"),
    pytest.param(put(2, "spec", "ports", 0, "targetPort", "metrics"), "[2].spec.ports", "named 'metrics'", id="it_refuses_a_target_port_name_no_container_declares"),
    pytest.param(append(2, "spec", "ports", {"port": 81, "targetPort": 8080}), "[2].spec.ports[0].name", "distinct names", id="it_refuses_several_service_ports_without_names"),
    pytest.param(put(2, "spec", "selector", {"app": "nothing"}), "[2].spec.selector", "selects no Deployment", id="it_refuses_a_service_that_selects_nothing"),
    pytest.param(drop(2, "spec", "selector"), "[2].spec.selector", "must select", id="it_refuses_a_service_without_a_selector"),
    pytest.param(put(2, "metadata", "name", "frontdoor"), "", "named 'entrypoint'", id="it_refuses_a_bundle_without_an_entrypoint"),
    pytest.param(put(2, "spec", "ports", 0, "port", 8080), "[2].spec.ports", "port 80", id="it_refuses_an_entrypoint_that_does_not_serve_port_80"),
    # configmaps
    pytest.param(put(0, "data", "../etc", "x"), '[0].data["../etc"]', "file name", id="it_refuses_a_configmap_key_that_is_no_file_name"),
    pytest.param(put(0, "binaryData", {"blob": "not base64!"}), "[0].binaryData.blob", "base64", id="it_refuses_binary_data_that_is_not_base64"),
    pytest.param(put(0, "binaryData", {"mode": "eA=="}), "[0].binaryData.mode", "both", id="it_refuses_a_key_in_both_data_and_binary_data"),
]


@pytest.mark.parametrize(("mutate", "field", "message"), CASES)
def test_it_refuses_a_breach_naming_the_field(mutate, field, message):
    objects = base()
    mutate(objects)

    error = refusal(objects)

    assert error.field == field
    assert message in error.message


def test_the_issue_example_names_the_privileged_field_exactly():
    objects = base()
    put(*C, "securityContext", {"privileged": True})(objects)

    assert refusal(objects).field == "[1].spec.template.spec.containers[0].securityContext.privileged"


@pytest.mark.parametrize(
    ("quota", "message"),
    [
        (Quota(cpu_millicores=199, memory_bytes=2**30, pods=8), "200m CPU in all; the quota is 199m"),
        (Quota(cpu_millicores=2000, memory_bytes=127 * 2**20, pods=8), "128Mi of memory in all"),
        (Quota(cpu_millicores=2000, memory_bytes=2**30, pods=1), "runs 2 pods in all; the quota is 1"),
    ],
    ids=["cpu", "memory", "pods"],
)
def test_it_refuses_a_bundle_whose_requests_exceed_the_quota(quota, message):
    error = refusal(base(), quota=quota)

    assert error.field == ""
    assert message in error.message


def test_the_default_quota_holds_the_resilient_bundle():
    bundle = bundle_parse(example("resilient-anvil.yaml"), quota=DEFAULT_QUOTA)

    assert bundle.requests.cpu_millicores <= DEFAULT_QUOTA.cpu_millicores


def test_a_quota_must_be_whole_numbers():
    with pytest.raises(ValueError):
        Quota(cpu_millicores=1.5, memory_bytes=1, pods=1)


# --- limits and malformed text ---------------------------------------------------


def test_it_refuses_a_bundle_over_the_size_limit_before_parsing_it():
    text = as_yaml(base())

    with pytest.raises(FieldError) as error:
        bundle_parse(text + "#" * 100, max_bytes=len(text.encode()) + 99)
    assert error.value.field == ""
    assert "larger than" in error.value.message


def test_it_counts_bytes_not_characters():
    text = as_yaml(base()).replace("fast", "é" * 10)

    with pytest.raises(FieldError, match="larger"):
        bundle_parse(text, max_bytes=len(text))


def test_it_refuses_more_objects_than_allowed():
    objects = base() + [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}"}} for i in range(3)]

    with pytest.raises(FieldError) as error:
        bundle_parse(as_yaml(objects), max_objects=5)
    assert (error.value.field, error.value.message) == ("", "the bundle holds more than 5 objects")


def test_it_refuses_more_objects_than_allowed_in_json_too():
    objects = base() * 3

    with pytest.raises(FieldError, match="more than 5 objects"):
        bundle_parse(json.dumps(objects), max_objects=5)


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ("", "", "empty"),
        ("   \n", "", "empty"),
        ("---\n---\n", "", "no Kubernetes object"),
        ("kind: [unclosed\n", "", "YAML"),
        ("a: 1\na: 2\n", "", "duplicate key 'a'"),
        ("- 1\n- 2\n", "[0]", "a mapping"),
        ("just text\n", "[0]", "a mapping"),
        ("[1, 2]", "[0]", "a mapping"),
        ('[{"kind": NaN}]', "", "NaN"),
        ('[{"kind": "Service"', "", "YAML"),
        ('{"a": ' * 5000 + "1" + "}" * 5000, "", "nested too deeply"),
        ("[" * 5000 + "]" * 5000, "", "nested too deeply"),
        ("a: " + "[" * 3000 + "]" * 3000, "", "nested too deeply"),
        ("a: !!binary aGVsbG8=\n", "[0].a", "bytes"),
        ("a: !!set {x, y}\n", "[0].a", "set"),
        ("a: !!python/object:os.system x\n", "", "YAML"),
        ("a: !custom x\n", "", "YAML"),
        ("a: .nan\n", "[0].a", "finite"),
        ("a: .inf\n", "[0].a", "finite"),
        ("1: x\n", "[0]", "not a string"),
        ("a: 1" + "0" * 5000 + "\n", "", "YAML"),
        ("a: 99999999999999999999\n", "[0].a", "out of range"),
        ("a: \x00\n", "", "YAML"),
        ('[{"a": "\\ud800"}]', "[0].a", "Unicode"),
    ],
    ids=[
        "empty",
        "blank",
        "only-separators",
        "unclosed-flow",
        "duplicate-key",
        "a-list-document",
        "a-scalar-document",
        "a-json-list-of-numbers",
        "json-nan",
        "truncated-json",
        "deep-json-objects",
        "deep-json-lists",
        "deep-yaml-flow",
        "yaml-binary",
        "yaml-set",
        "yaml-python-tag",
        "yaml-unknown-tag",
        "yaml-nan",
        "yaml-infinity",
        "a-number-as-key",
        "an-integer-of-5000-digits",
        "an-integer-beyond-int64",
        "a-nul-character",
        "a-lone-surrogate",
    ],
)
def test_it_refuses_malformed_text_with_a_field_error(text, field, message):
    with pytest.raises(FieldError) as error:
        bundle_parse(text)

    assert error.value.field == field
    assert message in error.value.message


def test_it_bounds_the_work_of_yaml_aliases():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]")

    with pytest.raises(FieldError) as error:
        bundle_parse("\n".join(lines) + "\n")
    assert error.value.field == ""
    assert "aliases" in error.value.message


def test_it_refuses_an_object_nested_beyond_the_depth_limit():
    text = "a:\n" + "".join("  " * i + f"b{i}:\n" for i in range(1, 45)) + "  " * 45 + "c: 1\n"

    with pytest.raises(FieldError, match="nested more than"):
        bundle_parse(text)


def test_a_merge_key_is_not_a_duplicate():
    text = as_yaml(base()).replace("  mode: fast", "  <<: {mode: slow}\n  mode: fast")

    assert bundle_parse(text).objects[0]["data"]["mode"] == "fast"
