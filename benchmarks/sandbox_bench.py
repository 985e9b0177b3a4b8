#!/usr/bin/env python
"""The sandbox's costs, measured side by side in one run (prints figures, asserts nothing).

    DOCKER_HOST=… .venv/bin/python benchmarks/sandbox_bench.py [--repeat 5] [--max-sandboxes 30] [--load-s 12]

Needs a Docker engine and the catalogue (``scripts/build-images.sh``). Prints:

1. create → ready and teardown of each reference bundle (median, min, max of
   ``--repeat``), and the memory each sandbox uses once ready (the sum of its
   containers' cgroup memory, page cache left out);
2. the request rate of the engine's runner (``python -m loadtest.runner``, as
   a bundle run starts it) against the resilient bundle, from a container on
   the sandbox network, next to plain ``locust --headless`` with the same
   users, task mix and think time in the same kind of container on the same
   network; alternated, ``--load-rounds`` rounds each;
3. how many idle bare sandboxes the host holds before create → ready takes
   twice as long as for the first ones (or ``--max-sandboxes`` is reached),
   and the host memory each adds. An engine's default address pools hold
   about 30 networks: set SANDBOX_SUBNET_POOL (e.g. 10.213.0.0/16) to go on.

Goals it reports against: ready ≤ 10 s for the resilient bundle, teardown
≤ 3 s, the in-sandbox engine ≥ 0.9x plain Locust.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chaoschallenge.settings")

import django  # noqa: E402

django.setup()

import psutil  # noqa: E402
from docker.types import Mount  # noqa: E402

from loadtest import hooks  # noqa: E402
from sandbox.engine import engine_check, sandbox_settings  # noqa: E402
from sandbox.firewall import firewall_ensure  # noqa: E402
from sandbox.runner import SandboxRunner  # noqa: E402
from sandbox.runtime import Sandbox, sandbox_id_new  # noqa: E402
from sandbox.services import sandbox_spec_build  # noqa: E402

BUNDLES = ROOT / "examples" / "bundles"
TASKS = {"sample_urls": 4, "test": 2, "history": 1, "index": 1}

# Plain Locust with the engine's task mix and think time, and none of its
# checks of the answers: what a participant would run by hand.
LOCUSTFILE = '''
import random
from locust import FastHttpUser, between, task

class AnvilUser(FastHttpUser):
    wait_time = between({wait_min}, {wait_max})
    urls = None

    @task(4)
    def sample_urls(self):
        with self.client.get("/api/sample-urls", name="GET /api/sample-urls", catch_response=True) as r:
            if r.status_code == 200:
                self.urls = r.json()

    @task(2)
    def test(self):
        if not self.urls:
            return self.sample_urls()
        self.client.post("/api/test", json={{"urls": self.urls}}, name="POST /api/test")

    @task(1)
    def history(self):
        self.client.get("/api/history", name="GET /api/history")

    @task(1)
    def index(self):
        self.client.get("/", name="GET /")
'''


def _start(plan: dict, *, state_dir: Path, origin: str = "bench") -> tuple[Sandbox, float]:
    sandbox = Sandbox(sandbox_id=sandbox_id_new(), plan=plan, state_dir=state_dir, deadline=time.time() + 3600,
                      origin=origin, subnet_pool=sandbox_settings().subnet_pool)
    started = time.monotonic()
    sandbox.create(ready_s=120)
    sandbox.wait_ready()
    return sandbox, time.monotonic() - started


def _memory_bytes(sandbox: Sandbox) -> int:
    total = 0
    for row in sandbox.containers():
        stats = sandbox.client.containers.get(row["name"]).stats(stream=False)
        memory = stats.get("memory_stats") or {}
        usage = int(memory.get("usage") or 0)
        cache = int((memory.get("stats") or {}).get("inactive_file") or (memory.get("stats") or {}).get("cache") or 0)
        total += max(0, usage - cache)
    return total


def _summary(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"


def bench_lifecycle(plans: dict[str, dict], *, repeat: int, state_dir: Path) -> dict:
    figures = {}
    for name, plan in plans.items():
        ready, down, memory = [], [], []
        for index in range(repeat):
            sandbox, took = _start(plan, state_dir=state_dir)
            ready.append(took)
            if index == 0:
                time.sleep(3)  # idle, past the start-up's transient allocations
                memory.append(_memory_bytes(sandbox))
            started = time.monotonic()
            sandbox.teardown()
            down.append(time.monotonic() - started)
        figures[name] = {"ready": ready, "teardown": down, "memory": memory[0]}
        print(f"{name}: create→ready {_summary(ready)}; teardown {_summary(down)}; "
              f"memory {memory[0] / 2**20:.0f} MiB", flush=True)
    return figures


def _engine_rps(sandbox: Sandbox, *, profile: dict, image: str) -> float:
    config = sandbox_settings()
    runner = SandboxRunner(sandbox=sandbox, target_url="http://entrypoint:80", probe_url="http://entrypoint:80/healthz",
                           profile=profile, processes=1, image=image, cpus=1.0,
                           memory_bytes=config.runner_memory_bytes, pids_limit=config.pids_limit)
    seconds = []
    try:
        while True:
            record = runner.records.get(timeout=profile["duration_s"] + 60)
            if record is hooks.RUNNER_END:
                break
            if record.get("type") == "second":
                seconds.append(int(record["requests"]))
            if record.get("type") == "end":
                break
    finally:
        runner.stop()
        runner.close()
    # Over the whole run, ramp-up included, as for plain Locust below.
    return sum(seconds) / len(seconds) if seconds else 0.0


def _plain_rps(sandbox: Sandbox, *, profile: dict, image: str, folder: Path) -> float:
    locustfile = folder / "locustfile.py"
    locustfile.write_text(LOCUSTFILE.format(wait_min=profile["wait_min_s"], wait_max=profile["wait_max_s"]))
    locustfile.chmod(0o644)
    folder.chmod(0o755)
    users, duration = profile["users"], profile["duration_s"]
    container = sandbox.client.containers.run(
        image, entrypoint=["locust"], name=f"sbx-{sandbox.id}-plain-locust",
        command=["-f", "/bench/locustfile.py", "--headless", "-u", str(users), "-r", str(users), "-t", f"{duration}s",
                 "--host", "http://entrypoint:80", "--only-summary", "--json", "--loglevel", "ERROR"],
        network=sandbox.network, detach=True, init=True, labels={**sandbox.labels, "org.sre-chaos.sandbox.role": "bench"},
        nano_cpus=1_000_000_000, mem_limit=512 * 2**20, read_only=True, tmpfs={"/tmp": "size=64m,mode=1777"},
        cap_drop=["ALL"], security_opt=["no-new-privileges:true"],
        mounts=[Mount("/bench", str(folder), type="bind", read_only=True)], working_dir="/tmp",
    )
    try:
        container.wait(timeout=duration + 60)
        output = container.logs(stdout=True, stderr=False).decode()
    finally:
        container.remove(force=True)
    stats = json.loads(output[output.index("["):])
    return sum(entry["num_requests"] for entry in stats) / duration


def bench_load(plan: dict, *, rounds: int, load_s: int, users: int, state_dir: Path) -> dict:
    profile = {"shape": "constant", "users": users, "spawn_rate": float(users), "duration_s": load_s, "timeout_s": 5.0,
               "connect_timeout_s": 5.0, "wait_min_s": 0.0, "wait_max_s": 0.05, "tasks": TASKS}
    sandbox, _ = _start(plan, state_dir=state_dir)
    engine, plain = [], []
    try:
        with tempfile.TemporaryDirectory(prefix="sandbox-bench-") as folder:
            for _ in range(rounds):
                engine.append(_engine_rps(sandbox, profile=profile, image=plan["runner_image"]))
                plain.append(_plain_rps(sandbox, profile=profile, image=plan["runner_image"], folder=Path(folder)))
                print(f"  round: engine {engine[-1]:.0f} rps, plain locust {plain[-1]:.0f} rps", flush=True)
    finally:
        sandbox.teardown()
    ratio = statistics.median(engine) / statistics.median(plain) if statistics.median(plain) else 0.0
    print(f"resilient bundle, {users} users, {load_s} s: engine {statistics.median(engine):.0f} rps, "
          f"plain locust {statistics.median(plain):.0f} rps → {ratio:.2f}x", flush=True)
    return {"engine": engine, "plain": plain, "ratio": ratio}


def bench_density(plan: dict, *, max_sandboxes: int, state_dir: Path) -> dict:
    live: list[Sandbox] = []
    times: list[float] = []
    used_before = psutil.virtual_memory().used
    used_after = used_before
    try:
        while len(live) < max_sandboxes:
            if psutil.virtual_memory().available < 2 * 2**30:
                print("  stopping: less than 2 GiB of memory left", flush=True)
                break
            sandbox, took = _start(plan, state_dir=state_dir)
            live.append(sandbox)
            times.append(took)
            baseline = statistics.median(times[:3])
            print(f"  sandbox #{len(live)}: create→ready {took:.2f} s", flush=True)
            if len(times) > 3 and took >= 2 * baseline:
                break
        used_after = psutil.virtual_memory().used
    finally:
        started = time.monotonic()
        for sandbox in live:
            sandbox.teardown()
        print(f"  removed {len(live)} sandboxes in {time.monotonic() - started:.1f} s", flush=True)
    baseline = statistics.median(times[:3])
    doubled = len(times) > 3 and times[-1] >= 2 * baseline
    held = len(times) - 1 if doubled else len(times)
    # The host's view: pages of the image's files are shared between the
    # sandboxes, which each container's own cgroup figure counts in full.
    per_sandbox = (used_after - used_before) / max(1, len(live))
    print(f"density: baseline create→ready {baseline:.2f} s; {'doubled at sandbox #' + str(len(times)) if doubled else 'never doubled'}"
          f" → the host held {held}{'' if doubled else '+'} idle bare sandboxes; "
          f"host memory {per_sandbox / 2**20:.0f} MiB more per sandbox", flush=True)
    return {"times": times, "held": held, "doubled": doubled, "host_memory_per_sandbox": per_sandbox}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--load-rounds", type=int, default=2)
    parser.add_argument("--load-s", type=int, default=12)
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--max-sandboxes", type=int, default=30)
    parser.add_argument("--skip", default="", help="comma-separated: lifecycle,load,density")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    engine_check().close()
    config = sandbox_settings()
    if config.firewall != "off":
        firewall_ensure(lock_dir=config.state_dir, install=config.firewall == "install")
    plans = {name: sandbox_spec_build({"bundle": (BUNDLES / f"{name}.yaml").read_text()})["plan"]
             for name in ("bare-anvil", "resilient-anvil")}
    print(f"# host: {os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.1f} GiB; "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="sandbox-bench-state-") as state:
        state_dir = Path(state)
        results = {}
        if "lifecycle" not in skip:
            results["lifecycle"] = bench_lifecycle(plans, repeat=args.repeat, state_dir=state_dir)
        if "load" not in skip:
            results["load"] = bench_load(plans["resilient-anvil"], rounds=args.load_rounds, load_s=args.load_s,
                                         users=args.users, state_dir=state_dir)
        if "density" not in skip:
            results["density"] = bench_density(plans["bare-anvil"], max_sandboxes=args.max_sandboxes,
                                               state_dir=state_dir)
    if "lifecycle" in results:
        resilient = results["lifecycle"]["resilient-anvil"]
        print(f"goals: resilient ready ≤ 10 s: {statistics.median(resilient['ready']):.2f} s; teardown ≤ 3 s: "
              f"{max(statistics.median(f['teardown']) for f in results['lifecycle'].values()):.2f} s")
    if "load" in results:
        print(f"goal: in-sandbox engine ≥ 0.9x plain Locust: {results['load']['ratio']:.2f}x")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
