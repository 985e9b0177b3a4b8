"""The image catalogue, built for real (scripts/build-images.sh) and run on an engine.

Runs when a Docker engine is there; when DOCKER_HOST is set or
REQUIRE_REAL_SERVICES=true (CI) a missing engine is a failure, not a skip.
Containers live on --internal networks of the test's own, and are reached
from a second container on the same network.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from sandbox.catalogue import Catalogue
from sandbox.tests.bundles import example
from sandbox.tests.conftest import build_images
from sandbox.tests.docker import Network, docker

pytestmark = pytest.mark.integration

# url-anvil answering every host name must run without debug pages, so with a
# key of its own (the platform's settings refuse ALLOWED_HOSTS='*' otherwise).
ANVIL_ENV = {"ALLOWED_HOSTS": "*", "DEBUG": "false", "SECRET_KEY": "test-only-anvil-key"}

@pytest.fixture
def catalogue(built) -> Catalogue:
    return built[0]


@pytest.fixture
def network():
    net = Network()
    yield net
    net.remove()


def test_url_anvil_answers_healthz_with_its_instance_header_on_an_internal_network(catalogue, network):
    anvil = catalogue.pin("url-anvil")
    network.run(anvil, "anvil", alias="anvil", env=ANVIL_ENV)

    seen = network.probe(anvil, "http://anvil:8080/healthz")

    assert seen["status"] == 200
    assert seen["headers"].get("x-anvil-instance")


def test_haproxy_starts_and_says_where_its_configuration_goes(catalogue, network):
    network.run(catalogue.pin("haproxy"), alias="lb")

    seen = network.probe(catalogue.pin("url-anvil"), "http://lb:8080/", want="haproxy")

    assert seen["status"] == 200
    assert "/usr/local/etc/haproxy/haproxy.cfg" in seen["body"]


def test_nginx_starts_and_says_where_its_servers_go(catalogue, network):
    network.run(catalogue.pin("nginx"), alias="web")

    seen = network.probe(catalogue.pin("url-anvil"), "http://web:8080/", want="nginx")

    assert "/etc/nginx/conf.d/" in seen["body"]


def test_the_resilient_bundles_haproxy_config_checks_and_serves_three_replicas(catalogue, network, tmp_path):
    # The objects of examples/bundles/resilient-anvil.yaml, run by hand: its
    # ConfigMap mounted where the haproxy image reads it, and each replica
    # under its Service's name.
    objects = list(yaml.safe_load_all(example("resilient-anvil.yaml")))
    config = tmp_path / "haproxy.cfg"
    config.write_text(next(o for o in objects if o["kind"] == "ConfigMap")["data"]["haproxy.cfg"])
    config.chmod(0o644)
    anvil = catalogue.pin("url-anvil")
    for n in (1, 2, 3):
        network.run(anvil, "anvil", alias=f"anvil-{n}", env=ANVIL_ENV)
    network.run(catalogue.pin("haproxy"), alias="lb", mounts=(f"{config}:/usr/local/etc/haproxy/haproxy.cfg:ro",))

    # Every replica passed its health checks…
    network.probe(anvil, "http://lb:8404/metrics", want='haproxy_backend_active_servers{proxy="anvil_replicas"} 3')
    # …and a request through the front end reaches one of them.
    seen = network.probe(anvil, "http://lb:8080/healthz")
    assert seen["status"] == 200
    assert seen["headers"].get("x-anvil-instance")


def test_the_images_run_unprivileged_and_carry_the_hash_of_their_inputs(catalogue):
    users = {}
    for name in ("url-anvil", "haproxy", "nginx"):
        inspect = docker("image", "inspect", "--format", '{{.Config.User}} {{index .Config.Labels "org.sre-chaos.inputs"}}', catalogue.pin(name))
        user, label = inspect.stdout.split()
        users[name] = user
        assert len(label) == 64
    assert users == {"url-anvil": "chaos", "haproxy": "haproxy", "nginx": "www-data"}


def test_the_url_anvil_image_carries_nothing_of_the_build_host(catalogue):
    image = catalogue.pin("url-anvil")
    env = docker("image", "inspect", "--format", "{{json .Config.Env}}", image).stdout.lower()
    for word in ("proxy", "pip_cert", "ssl_cert", "requests_ca", "find_links", "index_url"):
        assert word not in env
    lines = docker(
        "run", "--rm", "--network", "none", "--entrypoint", "sh", image, "-c",
        "ls -d /etc/pip.conf /etc/xdg/pip /root/.config/pip /app/var 2>/dev/null; "
        "cat /etc/ssl/certs/ca-certificates.crt 2>/dev/null | sha256sum",
    ).stdout.splitlines()  # fmt: skip
    assert [line for line in lines if line.startswith("/")] == []  # no pip configuration, no wheelhouse
    host_bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if host_bundle.exists():
        assert lines[-1].split()[0] != hashlib.sha256(host_bundle.read_bytes()).hexdigest()


def test_a_second_build_with_unchanged_inputs_builds_nothing(built):
    _, var_dir = built

    result = build_images(var_dir)

    assert result.returncode == 0, result.stderr[-2000:]
    for line in ("debian-base:", "wheelhouse is up to date", "haproxy (", "nginx ("):
        assert any(line in row and "up to date" in row for row in result.stderr.splitlines()), result.stderr
    # url-anvil's inputs are the work tree: unchanged in CI, but a developer
    # may be editing it while this runs.
    assert "==> building haproxy" not in result.stderr
