"""url-anvil against the framework's limit, side by side in one run.

    .venv/bin/python benchmarks/anvil_bench.py [--duration 10] [--rounds 3] [--connections 32] [--workers 2]

Starts url-anvil with its documented command
(``gunicorn -c chaoschallenge/gunicorn_conf.py chaoschallenge.wsgi_anvil``) and
a bare Django JSON view (``benchmarks/bare_django.py``) under the same gunicorn
config, worker count and worker class, then measures each with
``wrk -t1 -c32 -d10s --latency``:

- bare Django: ``GET /api/sample-urls`` (one view, no middleware, no apps)
- url-anvil:   ``GET /api/sample-urls``
- url-anvil:   ``POST /api/test`` with 5 corpus URLs (20 KB-ish documents the anvil serves itself)

in ``--rounds`` alternating rounds (default 3), and prints the medians of
requests/s, p50 and p99 with ratios to the bare view. Needs ``wrk``
(Debian package). Ports are free ones on 127.0.0.1; nothing else is touched.
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

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from benchmarks.wrk import lua_post, wrk  # noqa: E402
from common.testing import free_port, gunicorn_server  # noqa: E402

POST_SLUGS = ["us-constitution", "bill-of-rights", "apache-license", "gettysburg-address", "shakespeare-sonnets"]


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: str


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


def measure(name: str, url: str, *, duration: int, connections: int, script: Path | None = None) -> Result:
    figures = wrk(url, connections=connections, duration=duration, script=script)
    problems = [f"Non-2xx or 3xx responses: {figures['non_2xx']}"] if figures["non_2xx"] else []
    problems += [figures["socket_errors"]] if figures["socket_errors"] else []
    return Result(name, figures["rps"], figures["p50_ms"], figures["p99_ms"], "; ".join(problems) or "none")


def _measure_rounds(args: argparse.Namespace, *, bare: str, anvil: str, var_dir: Path) -> list[Result] | None:
    """The medians of ``args.rounds`` alternating rounds, or None when url-anvil's POST does not work."""
    body = json.dumps({"urls": [f"{anvil}/corpus/{slug}" for slug in POST_SLUGS]})
    script = lua_post(var_dir / "post.lua", body=body)
    check = subprocess.run(["curl", "-s", "-XPOST", "-H", "Content-Type: application/json", "-d", body, f"{anvil}/api/test"],
                           capture_output=True, text=True)
    if '"content_hash"' not in check.stdout:
        print(f"POST /api/test does not work: {check.stdout or check.stderr}", file=sys.stderr)
        return None

    load = os.getloadavg()
    print(f"wrk -t1 -c{args.connections} -d{args.duration}s, {args.workers} gunicorn workers ({args.worker_class}), "
          f"{os.cpu_count()} CPUs, load average before: {load[0]:.2f}")
    warm = max(2, args.duration // 5)
    measure("warm-up", f"{bare}/api/sample-urls", duration=warm, connections=args.connections)
    measure("warm-up", f"{anvil}/api/sample-urls", duration=warm, connections=args.connections)
    measure("warm-up", f"{anvil}/api/test", duration=warm, connections=args.connections, script=script)
    # Rounds alternate the three measurements, and the median of each is
    # reported, so that a burst of other work on the machine skews one
    # figure of one round rather than the comparison.
    rounds: list[list[Result]] = []
    for number in range(1, args.rounds + 1):
        round_results = [
            measure("bare Django GET /api/sample-urls", f"{bare}/api/sample-urls",
                    duration=args.duration, connections=args.connections),
            measure("url-anvil GET /api/sample-urls", f"{anvil}/api/sample-urls",
                    duration=args.duration, connections=args.connections),
            measure("url-anvil POST /api/test (5 URLs)", f"{anvil}/api/test",
                    duration=args.duration, connections=args.connections, script=script),
        ]
        rounds.append(round_results)
        figures = ", ".join(f"{r.rps:.0f} req/s (p99 {r.p99_ms:.0f} ms)" for r in round_results)
        print(f"round {number} (bare, anvil GET, anvil POST): {figures}", flush=True)
    return [
        Result(
            name=rounds[0][index].name,
            rps=statistics.median(r[index].rps for r in rounds),
            p50_ms=statistics.median(r[index].p50_ms for r in rounds),
            p99_ms=statistics.median(r[index].p99_ms for r in rounds),
            errors="; ".join(sorted({r[index].errors for r in rounds})),
        )
        for index in range(3)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are reported")
    parser.add_argument("--worker-class", default="gevent", help="the anvil's default; used for both servers")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2

    var_dir = Path(tempfile.mkdtemp(prefix="anvil-bench-"))
    try:
        with contextlib.ExitStack() as stack:
            servers = {}
            for name, wsgi in (("bare", "benchmarks.bare_django:application"), ("anvil", "chaoschallenge.wsgi_anvil")):
                port = free_port()
                servers[name] = stack.enter_context(gunicorn_server(
                    wsgi, tmp_path=var_dir, workers=args.workers, port=port,
                    env=server_env(port=port, worker_class=args.worker_class, var_dir=var_dir)))
            results = _measure_rounds(args, bare=servers["bare"].url, anvil=servers["anvil"].url, var_dir=var_dir)
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)
    if results is None:
        return 1

    bare = results[0]
    print(f"median of {args.rounds} rounds:")
    print(f"{'':36} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'req/s ratio':>12} {'p50 ratio':>10} {'p99 ratio':>10}  errors")
    for result in results:
        print(
            f"{result.name:36} {result.rps:9.0f} {result.p50_ms:8.2f} {result.p99_ms:8.2f} "
            f"{result.rps / bare.rps:12.2f} {result.p50_ms / bare.p50_ms:10.2f} {result.p99_ms / bare.p99_ms:10.2f}  {result.errors}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
