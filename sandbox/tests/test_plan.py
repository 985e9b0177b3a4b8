"""What the sandbox would run for a bundle (sandbox.plan, sandbox.proxy): no engine needed."""

from __future__ import annotations

import pytest

from common.validation import FieldError
from sandbox.bundle import bundle_parse
from sandbox.catalogue import NAMES, Catalogue
from sandbox.plan import ANVIL_ENV_FORCED, config_map_files, sandbox_plan
from sandbox.proxy import proxy_config
from sandbox.tests.bundles import CONTAINER, POD, append, as_yaml, base, example, put

CATALOGUE = Catalogue({name: f"sha256:{index:064x}" for index, name in enumerate(NAMES)},
                      {"url-anvil": "10001:10001", "haproxy": "100:101", "nginx": "33:33"})
CP = "[1].spec.template.spec.containers[0]"


def plan_of(objects_or_text) -> dict:
    text = objects_or_text if isinstance(objects_or_text, str) else as_yaml(objects_or_text)
    return sandbox_plan(bundle_parse(text, catalogue=CATALOGUE), catalogue=CATALOGUE)


def refusal(objects) -> FieldError:
    with pytest.raises(FieldError) as error:
        plan_of(objects)
    return error.value


def changed(*mutations) -> list:
    objects = base()
    for mutation in mutations:
        mutation(objects)
    return objects


def test_the_bare_bundle_is_one_pod_behind_a_proxy_from_port_80_to_8080():
    plan = plan_of(example("bare-anvil.yaml"))

    (pod,) = plan["pods"]
    assert pod["name"] == "anvil-0" and pod["hostname"] == "anvil-0"
    (container,) = pod["containers"]
    assert container["image"] == "url-anvil" and container["image_ref"] == CATALOGUE.pin("url-anvil")
    assert container["command"] == ["anvil"] and container["entrypoint"] is None
    assert container["nano_cpus"] == 500_000_000 and container["mem_limit"] == 384 * 2**20
    assert container["cpu_shares"] == 256 and container["user"] == [10001, 10001]
    assert container["anvil"] and container["anvil_port"] == 8080
    assert {**container["env"]} == {"ALLOWED_HOSTS": "*", "WEB_WORKERS": "2", **ANVIL_ENV_FORCED}
    assert set(container["tmpfs"]) == {"/tmp", "/var/lib/chaos"}
    (service,) = plan["services"]
    assert service == {"name": "entrypoint", "ports": [{"name": "80", "port": 80, "targets": {"anvil-0": 8080}}],
                       "pods": ["anvil-0"], "proxy": True}


def test_services_that_keep_their_port_on_pods_without_probes_are_aliases_not_proxies():
    plan = plan_of(example("resilient-anvil.yaml"))

    proxied = {s["name"]: s["proxy"] for s in plan["services"]}
    # entrypoint: 80 → 8080, and lb has a readiness probe.
    assert proxied == {"entrypoint": True, "anvil-1": False, "anvil-2": False, "anvil-3": False}
    lb = next(p for p in plan["pods"] if p["deployment"] == "lb")
    assert lb["containers"][0]["readiness"]["port"] == 8404
    assert lb["containers"][0]["config_mounts"] == [{"volume": "config", "config_map": "haproxy-config", "items": None,
                                                     "target": "/usr/local/etc/haproxy", "sub_path": None}]


def test_the_environment_is_built_as_a_kubelet_builds_it():
    plan = plan_of(changed(
        put(0, "data", "greeting", "hello"),
        append(*CONTAINER, "env", {"name": "WHO", "value": "$(MODE) world $$ $(UNSET)"}),
        put(*CONTAINER, "envFrom", [{"configMapRef": {"name": "web-config"}, "prefix": "CFG_"}]),
        put(*CONTAINER, "args", ["--mode", "$(MODE)"]),
        append(*CONTAINER, "env", {"name": "LIMIT", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory",
                                                                                         "divisor": "1Mi"}}}),
    ))

    env = plan["pods"][0]["containers"][0]["env"]
    assert env["MODE"] == "fast" and env["CFG_greeting"] == "hello" and env["CFG_mode"] == "fast"
    assert env["WHO"] == "fast world $ $(UNSET)"
    assert env["LIMIT"] == "128"
    assert plan["pods"][0]["containers"][0]["command"] == ["--mode", "fast"]


@pytest.mark.parametrize(
    ("mutation", "field"),
    [
        (put(*CONTAINER, "securityContext", {"runAsUser": 0}), f"{CP}.securityContext.runAsUser"),
        (put(*POD, "securityContext", {"runAsGroup": 0}), f"{CP}.securityContext.runAsGroup"),
        (put(*CONTAINER, "livenessProbe", {"tcpSocket": {"port": 8080}}), f"{CP}.livenessProbe"),
        (put(*CONTAINER, "lifecycle", {"preStop": {"exec": {"command": ["true"]}}}), f"{CP}.lifecycle"),
        (put(*POD, "shareProcessNamespace", True), "[1].spec.template.spec.shareProcessNamespace"),
        (append(*CONTAINER, "env", {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}),
         f"{CP}.env[1].valueFrom.fieldRef"),
        (put(*CONTAINER, "readinessProbe", {"httpGet": {"path": "/", "port": "nope"}}),
         f"{CP}.readinessProbe.httpGet.port"),
    ],
    ids=["root-user", "root-group", "liveness", "lifecycle", "shared-pids", "field-ref", "unknown-probe-port"],
)
def test_what_the_sandbox_cannot_run_as_written_is_refused_by_field(mutation, field):
    assert refusal(changed(mutation)).field == field


def _anvil_objects(**container):
    objects = base()
    objects[1]["spec"]["template"]["spec"]["containers"][0] = {
        "name": "anvil", "image": "url-anvil", "args": ["anvil"], "ports": [{"name": "http", "containerPort": 8080}],
        "resources": {"limits": {"cpu": "200m", "memory": "256Mi"}}, **container,
    }
    del objects[1]["spec"]["template"]["spec"]["volumes"]
    return objects


@pytest.mark.parametrize(
    ("container", "field"),
    [
        ({"command": ["python", "-m", "my_fake_anvil"]}, f"{CP}.command"),
        ({"args": ["platform"]}, f"{CP}.args"),
        ({"env": [{"name": "PYTHONPATH", "value": "/cfg"}]}, f"{CP}.env[0].name"),
        ({"env": [{"name": "ANVIL_FAULT_REFRESH_S", "value": "86400"}]}, f"{CP}.env[0].name"),
        ({"envFrom": [{"configMapRef": {"name": "web-config"}}]}, f"{CP}.envFrom"),
        ({"volumeMounts": [{"name": "config", "mountPath": "/app/anvil"}]}, f"{CP}.volumeMounts"),
    ],
    ids=["own-command", "other-role", "pythonpath", "fault-refresh", "env-from", "mount-over-code"],
)
def test_url_anvil_runs_as_built_so_that_no_bundle_can_make_it_ignore_faults(container, field):
    objects = _anvil_objects(**container)
    if "volumeMounts" in container:
        objects[1]["spec"]["template"]["spec"]["volumes"] = [{"name": "config", "configMap": {"name": "web-config"}}]

    assert refusal(objects).field == field


def test_url_anvil_takes_its_tuning_and_the_platform_sets_the_rest():
    plan = plan_of(_anvil_objects(env=[{"name": "WEB_WORKERS", "value": "4"}, {"name": "ALLOWED_HOSTS", "value": "*"}]))

    env = plan["pods"][0]["containers"][0]["env"]
    assert env["WEB_WORKERS"] == "4" and env["DEBUG"] == "false" and env["REDIS_URL"] == ""


def test_an_empty_dir_of_one_container_is_its_tmpfs_and_one_shared_in_the_pod_is_a_volume():
    sidecar = {"name": "side", "image": "haproxy", "resources": {"limits": {"cpu": "100m", "memory": "32Mi"}},
               "volumeMounts": [{"name": "scratch", "mountPath": "/shared"}]}
    alone = plan_of(changed(append(*CONTAINER, "volumeMounts", {"name": "scratch", "mountPath": "/data"})))
    shared = plan_of(changed(append(*CONTAINER, "volumeMounts", {"name": "scratch", "mountPath": "/data"}),
                             append(*POD, "containers", sidecar)))

    assert alone["pods"][0]["containers"][0]["tmpfs"]["/data"] == 64 * 2**20
    assert alone["pods"][0]["shared_volumes"] == {}
    assert shared["pods"][0]["shared_volumes"] == {"scratch": 64 * 2**20}
    assert {m["target"] for c in shared["pods"][0]["containers"] for m in c["volume_mounts"]} == {"/data", "/shared"}


def test_replicas_are_pods_with_names_of_their_own_and_one_platform_alias_each():
    plan = plan_of(changed(put(1, "spec", "replicas", 3)))

    assert [p["name"] for p in plan["pods"]] == ["web-0", "web-1", "web-2"]
    assert len({p["net_alias"] for p in plan["pods"]}) == 3
    assert plan["services"][0]["pods"] == ["web-0", "web-1", "web-2"]


def test_a_config_map_volume_holds_its_keys_or_the_chosen_items():
    config_map = {"data": {"a.conf": "x", "b": "y"}, "binary": {"logo": "AAEC"}}

    assert config_map_files(config_map, items=None) == {"a.conf": b"x", "b": b"y", "logo": b"\x00\x01\x02"}
    assert config_map_files(config_map, items=[{"key": "b", "path": "sub/b.txt"}]) == {"sub/b.txt": b"y"}


def test_the_proxy_forwards_without_retries_and_checks_pods_that_have_readiness_probes():
    plan = plan_of(changed(put(1, "spec", "replicas", 2)))
    pods = {p["name"]: p for p in plan["pods"]}

    config = proxy_config(service=plan["services"][0], pods=pods)

    assert "mode tcp" in config and "retries 0" in config and "bind :80" in config
    assert "server web-0 p0.pods.sandbox:8080 resolvers sandbox" in config
    assert "http-check send meth GET uri /" in config and "check port 8080 inter 10s fall 3 rise 1" in config


def test_a_plan_is_plain_json():
    import json

    plan = plan_of(example("resilient-anvil.yaml"))

    assert json.loads(json.dumps(plan)) == plan

