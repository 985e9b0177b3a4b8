"""docker-compose.yml and the image, checked without a docker engine."""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess

import pytest
import yaml

from chaoschallenge.tests.stack import (
    COMPOSE_FILE,
    GRAFANA_DIR,
    PROMETHEUS_DIR,
    binary_require,
    compose_interpolate,
    compose_load,
    compose_variables,
    env_example_names,
)
from common.testing import BASE_DIR

SERVICES = {
    "init-secrets", "postgres", "redis", "migrate", "platform", "anvil", "worker", "scheduler", "prometheus", "grafana",
}
ONE_SHOT = {"init-secrets", "migrate"}
SECRETS_DIR = "/run/chaos-secrets"
APP_ROLES = {
    "migrate": "migrate",
    "platform": "platform",
    "anvil": "anvil",
    "worker": "worker",
    "scheduler": "scheduler",
}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return compose_interpolate(compose_load())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def _published(service: dict) -> dict[int, str]:
    """container port → "host_ip:host_port" of the short port syntax."""
    published = {}
    for entry in service.get("ports", []):
        host_ip, host_port, container_port = str(entry).rsplit(":", 2)
        published[int(container_port)] = f"{host_ip}:{host_port}"
    return published


def test_it_parses_and_has_every_service_of_the_playground(services):
    assert set(services) == SERVICES


def test_docker_compose_itself_accepts_the_file():
    # No docker engine is needed for `config`: it validates and interpolates only.
    docker_compose = binary_require("docker-compose")
    result = subprocess.run(
        [docker_compose, "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COMPOSE_PROJECT_NAME": "chaos-config-check"},
    )
    assert result.returncode == 0, result.stderr


def test_every_dependency_names_a_real_service_with_a_valid_condition(services):
    for name, service in services.items():
        for dependency, spec in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown service {dependency}"
            assert spec["condition"] in CONDITIONS, f"{name} → {dependency}: {spec['condition']}"
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} waits for {dependency}'s health, which has none"
                assert not services[dependency]["healthcheck"].get("disable")


def test_start_order_runs_migrations_before_anything_uses_the_databases(services):
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["restart"] == "no"
    for name in ("platform", "worker", "scheduler"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert services["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"


def test_every_long_running_service_has_a_healthcheck(services):
    for name, service in services.items():
        if name in ONE_SHOT:
            continue
        check = service.get("healthcheck")
        assert check and check["test"] and not check.get("disable"), name
        if name in APP_ROLES:
            assert check["test"] == ["CMD", "python", "/app/scripts/healthcheck.py", APP_ROLES[name]]


def test_app_services_share_one_image_and_pick_their_role_by_command(services):
    images = {services[name]["image"] for name in APP_ROLES}
    assert len(images) == 1
    for name, role in APP_ROLES.items():
        assert services[name]["command"] == [role]
        assert services[name]["build"]["context"] == "."


def test_named_volumes_are_declared_and_bind_mounts_exist(compose, services):
    declared = set(compose["volumes"])
    used = set()
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/")):
                assert (BASE_DIR / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in declared, f"{name} uses undeclared volume {source}"
                used.add(source)
    assert used == declared
    assert {"postgres-data", "redis-data", "prometheus-data", "grafana-data"} <= declared


def test_ports_are_the_documented_ones_and_local_only_by_default(services):
    expected = {"platform": 8000, "anvil": 8080, "prometheus": 9090, "grafana": 3000}
    for name, port in expected.items():
        assert _published(services[name]) == {port: f"127.0.0.1:{port}"}, name
    for name in set(services) - set(expected):
        assert "ports" not in services[name], f"{name} should not be published"


def test_the_tracker_has_its_own_database_and_is_off_unless_env_turns_it_on(services):
    env = services["platform"]["environment"]
    assert env["ENABLE_LOCAL_TRACKER"] == "false"
    assert env["DATABASE_URL"].rsplit("/", 1)[1] == "chaos"
    assert env["TRACKER_DATABASE_URL"].rsplit("/", 1)[1] == "chaos_tracker"
    # The host's browser arrives from Docker's bridge network; settings refuse anything but IP networks.
    networks = [ipaddress.ip_network(n, strict=False) for n in env["TRACKER_TRUSTED_NETWORKS"].split(",")]
    assert ipaddress.ip_address("172.18.0.1") in networks[2]
    init = (BASE_DIR / "deploy" / "postgres" / "10-tracker-database.sh").read_text()
    assert "CREATE DATABASE ${TRACKER_DB:-chaos_tracker}" in init
    assert os.access(BASE_DIR / "deploy" / "postgres" / "10-tracker-database.sh", os.X_OK)

    turned_on = compose_interpolate(compose_load(), {"ENABLE_LOCAL_TRACKER": "true"})
    for name in APP_ROLES:
        assert turned_on["services"][name]["environment"]["ENABLE_LOCAL_TRACKER"] == "true"


def test_chaos_plans_reach_the_anvil_because_worker_and_anvil_share_the_fault_store(services):
    worker, anvil = services["worker"]["environment"], services["anvil"]["environment"]
    assert worker["REDIS_URL"] == anvil["REDIS_URL"] == "redis://redis:6379/0"
    assert worker["ANVIL_STORE_PREFIX"] == anvil["ANVIL_STORE_PREFIX"]
    assert "anvil:8080" in worker["LOADTEST_ALLOWED_TARGET_HOSTS"].split(",")


def test_secrets_come_from_env_with_local_defaults(services):
    raw = compose_load()["services"]
    assert "${POSTGRES_PASSWORD:-" in raw["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert "${GRAFANA_ADMIN_PASSWORD:-" in raw["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
    password = services["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert password in services["platform"]["environment"]["DATABASE_URL"]
    custom = compose_interpolate(compose_load(), {"POSTGRES_PASSWORD": "s3cret"})["services"]
    assert ":s3cret@postgres:5432/" in custom["worker"]["environment"]["DATABASE_URL"]


def test_every_compose_variable_is_documented_in_env_example():
    missing = compose_variables() - env_example_names()
    assert not missing, f"document these in .env.example: {sorted(missing)}"


def test_prometheus_scrapes_the_services_on_the_ports_they_serve(services):
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: target
        for job in config["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    assert targets["anvil"] == "anvil:8080"
    assert targets["platform"] == "platform:8000"
    assert targets["loadtest"] == f"worker:{services['worker']['environment']['LOADTEST_METRICS_PORT']}"
    participants = next(job for job in config["scrape_configs"] if job["job_name"] == "participants")
    assert participants["file_sd_configs"][0]["files"] == ["file_sd/*.json"]
    # The folder add_scrape_target writes (platform) is the folder Prometheus reads.
    platform_mount = next(v for v in services["platform"]["volumes"] if v.startswith("scrape-targets:"))
    prometheus_mount = next(v for v in services["prometheus"]["volumes"] if v.startswith("scrape-targets:"))
    assert platform_mount.split(":")[1] == services["platform"]["environment"]["PROMETHEUS_FILE_SD_DIR"]
    assert prometheus_mount.split(":")[1] == "/etc/prometheus/file_sd"
    assert (PROMETHEUS_DIR / "file_sd").is_dir()


def test_grafana_is_provisioned_from_the_repo(services):
    volumes = services["grafana"]["volumes"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in volumes
    assert "./deploy/grafana/dashboards:/etc/grafana/dashboards:ro" in volumes
    provider = yaml.safe_load((GRAFANA_DIR / "provisioning" / "dashboards" / "sre-chaos-challenge.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/etc/grafana/dashboards"
    datasource = yaml.safe_load((GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml").read_text())
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (GRAFANA_DIR / "dashboards" / home.rsplit("/", 1)[1]).is_file()


def test_the_image_is_pinned_non_root_cached_and_health_checked():
    lines = [
        line.strip()
        for line in (BASE_DIR / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    instructions = [line.split()[0] for line in lines if re.match(r"^[A-Z]+\s", line)]
    # The base is a build argument (scripts/build-images.sh passes its own
    # Debian base where no registry is reachable); the default stays pinned.
    assert lines[0] == "ARG BASE_IMAGE=python:3.11-slim-bookworm"
    assert lines[1] == "FROM ${BASE_IMAGE} AS base"
    # Dependencies get their own stage before the code is copied in.
    copy_requirements = next(i for i, line in enumerate(lines) if line.startswith("COPY requirements.txt "))
    pip_install = next(i for i, line in enumerate(lines) if "pip install" in line and "/tmp/deps/requirements.txt" in line)
    copy_code = next(i for i, line in enumerate(lines) if line.startswith("COPY") and line.endswith(" /app"))
    assert copy_requirements < pip_install < copy_code
    user = next(line for line in lines if line.startswith("USER "))
    assert user.split()[1] not in {"root", "0"}
    assert instructions.index("USER") < instructions.index("ENTRYPOINT")
    assert "HEALTHCHECK" in instructions
    for script in ("scripts/docker-entrypoint.sh", "scripts/healthcheck.py"):
        assert os.access(BASE_DIR / script, os.X_OK), script
    ignored = (BASE_DIR / ".dockerignore").read_text().splitlines()
    assert {".git", ".venv", ".env", "var/", "!var/wheelhouse"} <= set(ignored)


def test_the_entrypoint_knows_every_role_and_runs_the_worker_with_concurrency_1():
    script = (BASE_DIR / "scripts" / "docker-entrypoint.sh").read_text()
    for role in (*APP_ROLES.values(), "manage"):
        assert re.search(rf"^\s+{role}\)", script, re.MULTILINE), role
    assert "--concurrency 1" in script
    assert "chaoschallenge/gunicorn_conf.py" in script
    assert subprocess.run(["bash", "-n", str(BASE_DIR / "scripts" / "docker-entrypoint.sh")]).returncode == 0


def test_debug_is_off_unless_env_turns_it_on(services):
    for name in APP_ROLES:
        assert services[name]["environment"]["DEBUG"] == "false", name
    turned_on = compose_interpolate(compose_load(), {"DEBUG": "true"})
    assert turned_on["services"]["platform"]["environment"]["DEBUG"] == "true"


def test_the_secret_key_and_metrics_token_come_from_files_made_before_anything_starts(services):
    init = services["init-secrets"]
    assert init["restart"] == "no"
    assert init["volumes"] == [f"chaos-secrets:{SECRETS_DIR}"]
    assert init["environment"] == {"SECRET_KEY": "", "METRICS_TOKEN": ""}
    script = init["command"][0]
    for name in ("secret_key", "metrics_token"):
        assert f"keep {name} " in script
    for name in APP_ROLES:
        env = services[name]["environment"]
        assert "SECRET_KEY" not in env, name
        assert env["SECRET_KEY_FILE"] == f"{SECRETS_DIR}/secret_key"
        assert env["METRICS_TOKEN_FILE"] == f"{SECRETS_DIR}/metrics_token"
        assert f"chaos-secrets:{SECRETS_DIR}:ro" in services[name]["volumes"], name
    # Everything that reads them waits for them, directly or through migrate.
    for name in ("migrate", "platform", "anvil"):
        assert services[name]["depends_on"]["init-secrets"]["condition"] == "service_completed_successfully"
    given = compose_interpolate(compose_load(), {"SECRET_KEY": "k", "METRICS_TOKEN": "t"})["services"]["init-secrets"]
    assert given["environment"] == {"SECRET_KEY": "k", "METRICS_TOKEN": "t"}


def test_the_init_script_keeps_made_secrets_and_writes_given_ones(services, tmp_path):
    script = services["init-secrets"]["command"][0].replace(SECRETS_DIR, str(tmp_path))
    # Outside the container: no app user to hand the key to.
    script = script.replace("chown 10001:10001 secret_key && ", "")

    def run(**env: str) -> dict[str, str]:
        result = subprocess.run(["sh", "-c", script], env={"PATH": os.environ["PATH"], **env},
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        return {name: (tmp_path / name).read_text() for name in ("secret_key", "metrics_token")}

    made = run()
    assert all(len(value) >= 40 for value in made.values())
    assert made["secret_key"] != made["metrics_token"]
    assert run() == made
    assert run(METRICS_TOKEN="given")["metrics_token"] == "given"
    assert oct((tmp_path / "secret_key").stat().st_mode & 0o777) == "0o400"


def test_prometheus_scrapes_the_platform_with_the_metrics_token(services):
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    platform = next(job for job in config["scrape_configs"] if job["job_name"] == "platform")
    assert platform["authorization"] == {"type": "Bearer", "credentials_file": f"{SECRETS_DIR}/metrics_token"}
    assert f"chaos-secrets:{SECRETS_DIR}:ro" in services["prometheus"]["volumes"]


def test_load_tests_may_target_exact_ports_of_the_stack_and_the_host_only(services):
    targets = services["worker"]["environment"]["LOADTEST_ALLOWED_TARGET_HOSTS"].split(",")
    assert set(targets) == {"anvil:8080", "host.docker.internal:8081", "host.docker.internal:8090"}
    for target in targets:
        host, port = target.rsplit(":", 1)
        assert port not in {"8000", "5432", "6379"}
        assert host not in {"localhost", "127.0.0.1", "::1", "platform", "postgres", "redis"}
