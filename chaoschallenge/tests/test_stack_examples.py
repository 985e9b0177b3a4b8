"""The reference setups in examples/: a bare anvil, and url-anvil behind HAProxy with a supervisor."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

import pytest

from common.testing import BASE_DIR, child_env, free_port, http_json, wait_for_http

pytestmark = pytest.mark.integration

RESILIENT = BASE_DIR / "examples" / "resilient-anvil" / "run.sh"
BARE = BASE_DIR / "examples" / "bare-anvil" / "run.sh"


def _script(path: Path, command: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(path), command], env=env, cwd=BASE_DIR, capture_output=True, text=True, timeout=60
    )


def _pid(path: Path) -> int:
    return int(path.read_text().strip())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def resilient(tmp_path):
    if not shutil.which("haproxy"):
        if os.environ.get("CI") == "true":
            pytest.fail("haproxy is required in CI (.ci/run installs it)")
        pytest.skip("haproxy is not installed")
    ports = {"LB_PORT": free_port(), "STATS_PORT": free_port()}
    replicas = [free_port() for _ in range(3)]
    env = child_env(
        {
            "VAR_DIR": str(tmp_path / "var"),
            **{key: str(value) for key, value in ports.items()},
            "REPLICA_PORTS": ",".join(map(str, replicas)),
            # Never share faults with other test runs on the same Redis.
            "ANVIL_STORE_PREFIX": f"t-{uuid.uuid4().hex[:8]}:",
            "ANVIL_CHAOS_TOKEN": uuid.uuid4().hex,
        }
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    run_dir = tmp_path / "var" / "run" / "resilient-anvil"
    started = _script(RESILIENT, "start", env)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield {"url": f"http://127.0.0.1:{ports['LB_PORT']}", "replicas": replicas, "run_dir": run_dir, "env": env}
    finally:
        stopped = _script(RESILIENT, "stop", env)
        print(stopped.stdout, stopped.stderr)
        log = run_dir / "supervisor.log"
        print(log.read_text()[-3000:] if log.exists() else "no supervisor log")


def _load(url: str, *, seconds: float, threads: int) -> Counter:
    """Plain concurrent clients (no load engine needed): GET /api/sample-urls as fast as they can, with a 5 s timeout."""
    outcomes: Counter = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/api/sample-urls", timeout=5) as response:
                    response.read()
                    outcome = "ok" if response.status == 200 else str(response.status)
            except urllib.error.HTTPError as exc:
                outcome = str(exc.code)
            except OSError as exc:
                outcome = type(exc).__name__
            with lock:
                outcomes[outcome] += 1

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=seconds + 30)
    return outcomes


def _run_killing_at_second_3(*, url: str, victim: int):
    """A short engine run against ``url`` during which process group ``victim`` is SIGKILLed."""
    from loadtest.services import run_create, run_execute

    killed_at: list[int] = []

    def kill_at_second_3(update: dict) -> None:
        if update["second"] >= 3 and not killed_at:
            # The whole instance: its gunicorn master and every worker, at once.
            os.killpg(victim, signal.SIGKILL)
            killed_at.append(update["second"])

    profile = {
        "shape": "constant", "users": 8, "spawn_rate": 8, "duration_s": 9, "timeout_s": 5,
        "wait_min_s": 0.01, "wait_max_s": 0.05, "tasks": {"sample_urls": 3, "test": 1, "history": 1},
    }  # fmt: skip
    run = run_create(target_url=url, profile=profile, origin="test")
    run = run_execute(run_id=run.pk, progress=kill_at_second_3)
    assert killed_at, "the run never reached second 3"
    return run


def _probes_up(run) -> list[bool]:
    from loadtest.models import ProbeResult

    return list(ProbeResult.objects.filter(run=run).values_list("up", flat=True))


@pytest.mark.django_db
def test_the_resilient_setup_stays_up_when_a_replica_is_killed_and_restarts_it(resilient):
    from loadtest.models import RunStatus

    victim_port = resilient["replicas"][0]
    pid_file = resilient["run_dir"] / f"replica-{victim_port}.pid"
    victim = _pid(pid_file)

    run = _run_killing_at_second_3(url=resilient["url"], victim=victim)

    assert run.status == RunStatus.COMPLETED, run.error
    assert run.total_requests > 100
    # Retries on the other replicas absorb the kill; the margins only allow
    # for a slow probe or request on a busy machine.
    assert run.total_successes / run.total_requests >= 0.95, (run.total_successes, run.total_requests)
    probes = _probes_up(run)
    assert len(probes) >= 5
    assert sum(probes) / len(probes) >= 0.75, probes

    # The supervisor brought the replica back as a new process on the same port.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not pid_file.exists() or _pid(pid_file) == victim):
        time.sleep(0.2)
    assert _pid(pid_file) != victim
    assert not _alive(victim)
    wait_for_http(f"http://127.0.0.1:{victim_port}/healthz", timeout_s=30)


@pytest.mark.django_db
def test_the_same_kill_takes_a_bare_anvil_down_for_good(tmp_path):
    """The contrast that makes the resilient test mean something."""
    port = free_port()
    env = _bare_env(tmp_path=tmp_path, port=port)
    started = _script(BARE, "start", env)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        victim = _pid(tmp_path / "var" / "run" / "bare-anvil" / "gunicorn.pid")
        run = _run_killing_at_second_3(url=f"http://127.0.0.1:{port}", victim=victim)
    finally:
        _script(BARE, "stop", env)

    # Up for about 3 of 9 seconds, then nothing answers.
    assert run.total_requests > 0
    assert run.total_successes / run.total_requests < 0.8, (run.total_successes, run.total_requests)
    probes = _probes_up(run)
    assert probes and not probes[-1]
    assert sum(probes) / len(probes) < 0.75, probes


def test_the_resilient_setup_keeps_serving_while_every_health_check_fails(resilient):
    """An "unhealthy" fault on all replicas takes every checked server out; the backups still serve."""
    # One replica's control API writes to the store all replicas share.
    status, _, fault = http_json(
        "POST",
        f"http://127.0.0.1:{resilient['replicas'][1]}/chaos/faults",
        {"kind": "unhealthy", "params": {}, "scope": "all", "ttl_s": 30},
        headers={"Authorization": f"Bearer {resilient['env']['ANVIL_CHAOS_TOKEN']}"},
    )
    assert status == 201, fault
    # Long enough for every replica to see the fault and HAProxy to mark it down.
    time.sleep(4)
    for port in resilient["replicas"]:
        with pytest.raises(urllib.error.HTTPError) as excinfo:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert excinfo.value.code == 503

    outcomes = _load(resilient["url"], seconds=3, threads=4)
    assert sum(outcomes.values()) > 20, outcomes
    assert outcomes["ok"] / sum(outcomes.values()) >= 0.95, outcomes


def _bare_env(*, tmp_path, port: int) -> dict:
    """The environment of examples/bare-anvil/run.sh: its own VAR_DIR, port and store prefix."""
    env = child_env(
        {"VAR_DIR": str(tmp_path / "var"), "PORT": str(port), "ANVIL_STORE_PREFIX": f"t-{uuid.uuid4().hex[:8]}:"}
    )
    # The example's gunicorn keeps its own metrics folder, not the test process's.
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def test_the_bare_example_starts_answers_and_stops(tmp_path):
    port = free_port()
    env = _bare_env(tmp_path=tmp_path, port=port)
    started = _script(BARE, "start", env)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert "running" in _script(BARE, "status", env).stdout
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            assert response.status == 200
            assert response.headers["X-Anvil-Instance"]
    finally:
        stopped = _script(BARE, "stop", env)
    assert stopped.returncode == 0
    assert "stopped" in _script(BARE, "status", env).stdout
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
