"""url-anvil against the framework's limit, side by side in one run.

    .venv/bin/python benchmarks/anvil_bench.py [--duration 10] [--rounds 3] [--connections 32] [--workers 2]
                                               [--compare CHECKOUT]

Starts url-anvil with its documented command
(``gunicorn -c chaoschallenge/gunicorn_conf.py chaoschallenge.wsgi_anvil``) and
a bare Django JSON view (``benchmarks/bare_django.py``) under the same gunicorn
config, worker count and worker class, then measures each with
``wrk -t1 -c32 -d10s --latency``:

- bare Django: ``GET /api/sample-urls`` (one view, no middleware, no apps)
- url-anvil:   ``GET /api/sample-urls``
- url-anvil:   ``POST /api/test`` with 5 corpus URLs (20 KB-ish documents the anvil serves itself)

in ``--rounds`` alternating rounds (default 3), and prints the medians of
requests/s, p50 and p99 with ratios to the bare view, and the CPU time the
anvil's gunicorn workers spent per request (read from the kernel around each
wrk run: steadier than requests/s on a shared machine).

``--compare CHECKOUT`` also serves url-anvil from another checkout of the
project (e.g. ``git worktree add /tmp/anvil-before HEAD``) with that
checkout's gunicorn config, and measures its two endpoints in the same rounds,
right after this checkout's; the summary adds the medians of the per-round
ratios (this checkout / the other). Needs ``wrk`` (Debian package). Ports are
free ones on 127.0.0.1; nothing else is touched.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psutil

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from benchmarks.wrk import lua_post, wrk  # noqa: E402
from common.testing import ServerProcess, free_port, gunicorn_server  # noqa: E402

POST_SLUGS = ["us-constitution", "bill-of-rights", "apache-license", "gettysburg-address", "shakespeare-sonnets"]


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: str
    cpu_ms: float | None = None  # worker CPU per request


def server_env(*, port: int, worker_class: str, var_dir: Path) -> dict:
    return {
        "VAR_DIR": str(var_dir),
        "ANVIL_PORT": str(port),
        "DEBUG": "false",
        "SECRET_KEY": "benchmark-only-secret",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        # The same worker class for both servers: the anvil's default.
        "ANVIL_WORKER_CLASS": worker_class,
        "WEB_WORKER_CLASS": worker_class,
    }


def _workers_cpu_s(server: ServerProcess | None) -> float:
    """User + system CPU of the gunicorn master's live workers so far."""
    if server is None:
        return 0.0
    total = 0.0
    for child in psutil.Process(server.process.pid).children():
        with contextlib.suppress(psutil.Error):
            times = child.cpu_times()
            total += times.user + times.system
    return total


def measure(name: str, url: str, *, duration: int, connections: int, script: Path | None = None,
            server: ServerProcess | None = None) -> Result:
    cpu_before = _workers_cpu_s(server)
    figures = wrk(url, connections=connections, duration=duration, script=script)
    cpu_ms = None
    if server is not None and figures["rps"]:
        cpu_ms = (_workers_cpu_s(server) - cpu_before) * 1000 / (figures["rps"] * duration)
    problems = [f"Non-2xx or 3xx responses: {figures['non_2xx']}"] if figures["non_2xx"] else []
    problems += [figures["socket_errors"]] if figures["socket_errors"] else []
    return Result(name, figures["rps"], figures["p50_ms"], figures["p99_ms"], "; ".join(problems) or "none", cpu_ms)


def _post_script(anvil: str, var_dir: Path, label: str) -> Path | None:
    """The wrk script that POSTs 5 of this anvil's corpus URLs, or None when its POST does not work."""
    body = json.dumps({"urls": [f"{anvil}/corpus/{slug}" for slug in POST_SLUGS]})
    check = subprocess.run(["curl", "-s", "-XPOST", "-H", "Content-Type: application/json", "-d", body, f"{anvil}/api/test"],
                           capture_output=True, text=True)
    if '"content_hash"' not in check.stdout:
        print(f"{label}: POST /api/test does not work: {check.stdout or check.stderr}", file=sys.stderr)
        return None
    return lua_post(var_dir / f"post-{label}.lua", body=body)


def _median(name: str, results: list[Result]) -> Result:
    cpu = [r.cpu_ms for r in results if r.cpu_ms is not None]
    return Result(
        name=name,
        rps=statistics.median(r.rps for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        errors="; ".join(sorted({r.errors for r in results})),
        cpu_ms=statistics.median(cpu) if cpu else None,
    )


def _measure_rounds(args: argparse.Namespace, *, servers: dict[str, ServerProcess], var_dir: Path) -> list[list[Result]] | None:
    """Every round's results (bare, anvil GET, anvil POST[, compare GET, compare POST]), or None when a POST fails."""
    anvils = [name for name in ("anvil", "compare") if name in servers]
    scripts = {name: _post_script(servers[name].url, var_dir, name) for name in anvils}
    if None in scripts.values():
        return None

    load = os.getloadavg()
    print(f"wrk -t1 -c{args.connections} -d{args.duration}s, {args.workers} gunicorn workers ({args.worker_class}), "
          f"{os.cpu_count()} CPUs, load average before: {load[0]:.2f}")
    warm = max(2, args.duration // 5)
    measure("warm-up", f"{servers['bare'].url}/api/sample-urls", duration=warm, connections=args.connections)
    for name in anvils:
        measure("warm-up", f"{servers[name].url}/api/sample-urls", duration=warm, connections=args.connections)
        measure("warm-up", f"{servers[name].url}/api/test", duration=warm, connections=args.connections, script=scripts[name])
    # Rounds alternate the measurements, and the median of each is reported,
    # so that a burst of other work on the machine skews one figure of one
    # round rather than the comparison.
    rounds: list[list[Result]] = []
    for number in range(1, args.rounds + 1):
        round_results = [
            measure("bare Django GET /api/sample-urls", f"{servers['bare'].url}/api/sample-urls",
                    duration=args.duration, connections=args.connections),
        ]
        for name in anvils:
            label = "url-anvil" if name == "anvil" else "--compare"
            round_results += [
                measure(f"{label} GET /api/sample-urls", f"{servers[name].url}/api/sample-urls",
                        duration=args.duration, connections=args.connections, server=servers[name]),
                measure(f"{label} POST /api/test (5 URLs)", f"{servers[name].url}/api/test",
                        duration=args.duration, connections=args.connections, script=scripts[name], server=servers[name]),
            ]
        rounds.append(round_results)
        figures = ", ".join(
            f"{r.rps:.0f} req/s" + (f" ({r.cpu_ms:.2f} ms CPU)" if r.cpu_ms is not None else "") for r in round_results
        )
        print(f"round {number} ({', '.join(r.name.split(' /')[0] for r in round_results)}): {figures}", flush=True)
    return rounds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are reported")
    parser.add_argument("--worker-class", default="gevent", help="the anvil's default; used for both servers")
    parser.add_argument("--compare", type=Path, metavar="CHECKOUT",
                        help="another checkout of the project whose url-anvil is measured in the same rounds")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    compare = args.compare.resolve() if args.compare else None
    if compare is not None and not (compare / "chaoschallenge" / "wsgi_anvil.py").is_file():
        print(f"--compare {compare}: not a checkout of this project", file=sys.stderr)
        return 2

    var_dir = Path(tempfile.mkdtemp(prefix="anvil-bench-"))
    try:
        with contextlib.ExitStack() as stack:
            servers = {}
            plan = [("bare", "benchmarks.bare_django:application", BASE_DIR), ("anvil", "chaoschallenge.wsgi_anvil", BASE_DIR)]
            if compare is not None:
                plan.append(("compare", "chaoschallenge.wsgi_anvil", compare))
            for name, wsgi, tree in plan:
                port = free_port()
                # Each server keeps its own state folder: the two anvils must not share history or faults.
                folder = var_dir / name
                folder.mkdir()
                env = server_env(port=port, worker_class=args.worker_class, var_dir=folder)
                env["PYTHONPATH"] = str(tree)
                # Each checkout runs with its own gunicorn config (the later -c wins):
                # its hooks import its own modules.
                config = ["-c", str(tree / "chaoschallenge" / "gunicorn_conf.py")]
                servers[name] = stack.enter_context(gunicorn_server(
                    wsgi, tmp_path=folder, workers=args.workers, port=port, env=env, cwd=tree, extra_args=config))
            rounds = _measure_rounds(args, servers=servers, var_dir=var_dir)
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)
    if rounds is None:
        return 1

    results = [_median(rounds[0][index].name, [r[index] for r in rounds]) for index in range(len(rounds[0]))]
    bare = results[0]
    print(f"median of {args.rounds} rounds:")
    print(f"{'':36} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'req/s ratio':>12} {'p50 ratio':>10} {'p99 ratio':>10} "
          f"{'CPU ms/req':>11}  errors")
    for result in results:
        cpu = f"{result.cpu_ms:11.3f}" if result.cpu_ms is not None else f"{'':11}"
        print(
            f"{result.name:36} {result.rps:9.0f} {result.p50_ms:8.2f} {result.p99_ms:8.2f} "
            f"{result.rps / bare.rps:12.2f} {result.p50_ms / bare.p50_ms:10.2f} {result.p99_ms / bare.p99_ms:10.2f} "
            f"{cpu}  {result.errors}"
        )
    if compare is not None:
        print(f"this checkout / --compare {compare}, medians of the per-round ratios:")
        for index, endpoint in ((1, "GET /api/sample-urls"), (2, "POST /api/test")):
            rps = statistics.median(r[index].rps / r[index + 2].rps for r in rounds)
            line = f"  {endpoint:22} req/s {rps:.2f}x"
            if all(r[index].cpu_ms and r[index + 2].cpu_ms for r in rounds):
                cpu = statistics.median(r[index].cpu_ms / r[index + 2].cpu_ms for r in rounds)
                line += f", worker CPU per request {cpu:.2f}x"
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
