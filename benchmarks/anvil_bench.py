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
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from common.testing import child_env, free_port, wait_for_http  # noqa: E402

POST_SLUGS = ["us-constitution", "bill-of-rights", "apache-license", "gettysburg-address", "shakespeare-sonnets"]


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: str


def start(wsgi: str, *, port: int, workers: int, worker_class: str, var_dir: Path, log: Path) -> subprocess.Popen:
    env = child_env(
        {
            "VAR_DIR": str(var_dir),
            "ANVIL_PORT": str(port),
            "DEBUG": "false",
            "SECRET_KEY": "benchmark-only-secret",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "WEB_WORKERS": str(workers),
            # The same worker class for both servers: the anvil's default.
            "ANVIL_WORKER_CLASS": worker_class,
            "WEB_WORKER_CLASS": worker_class,
            "PROMETHEUS_MULTIPROC_DIR": str(var_dir / f"prom-{port}"),
        }
    )
    Path(env["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True)
    cmd = [
        str(BASE_DIR / ".venv" / "bin" / "gunicorn"),
        "-c",
        str(BASE_DIR / "chaoschallenge" / "gunicorn_conf.py"),
        "--bind",
        f"127.0.0.1:{port}",
        wsgi,
    ]
    with open(log, "wb") as handle:
        process = subprocess.Popen(cmd, cwd=BASE_DIR, env=env, stdout=handle, stderr=subprocess.STDOUT)
    wait_for_http(f"http://127.0.0.1:{port}/healthz", process=process, timeout_s=30)
    return process


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(name: str, url: str, *, duration: int, connections: int, script: Path | None = None) -> Result:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency"]
    if script:
        cmd += ["-s", str(script)]
    output = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s)", output, re.M)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)", output, re.M)
    problems = [line.strip() for line in output.splitlines() if "Non-2xx" in line or "Socket errors" in line]
    return Result(name, rps, _ms(*p50.groups()), _ms(*p99.groups()), "; ".join(problems) or "none")


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
    bare_port, anvil_port = free_port(), free_port()
    processes = []
    try:
        processes.append(
            start("benchmarks.bare_django:application", port=bare_port, workers=args.workers,
                  worker_class=args.worker_class, var_dir=var_dir, log=var_dir / "bare.log")
        )
        processes.append(
            start("chaoschallenge.wsgi_anvil", port=anvil_port, workers=args.workers,
                  worker_class=args.worker_class, var_dir=var_dir, log=var_dir / "anvil.log")
        )
        anvil = f"http://127.0.0.1:{anvil_port}"
        body = json.dumps({"urls": [f"{anvil}/corpus/{slug}" for slug in POST_SLUGS]})
        script = var_dir / "post.lua"
        script.write_text(
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = [[{body}]]\n"
        )
        check = subprocess.run(["curl", "-s", "-XPOST", "-H", "Content-Type: application/json", "-d", body, f"{anvil}/api/test"],
                               capture_output=True, text=True)
        if '"content_hash"' not in check.stdout:
            print(f"POST /api/test does not work: {check.stdout or check.stderr}", file=sys.stderr)
            return 1

        load = os.getloadavg()
        print(f"wrk -t1 -c{args.connections} -d{args.duration}s, {args.workers} gunicorn workers ({args.worker_class}), "
              f"{os.cpu_count()} CPUs, load average before: {load[0]:.2f}")
        warm = max(2, args.duration // 5)
        wrk("warm-up", f"http://127.0.0.1:{bare_port}/api/sample-urls", duration=warm, connections=args.connections)
        wrk("warm-up", f"{anvil}/api/sample-urls", duration=warm, connections=args.connections)
        wrk("warm-up", f"{anvil}/api/test", duration=warm, connections=args.connections, script=script)
        # Rounds alternate the three measurements, and the median of each is
        # reported, so that a burst of other work on the machine skews one
        # figure of one round rather than the comparison.
        rounds: list[list[Result]] = []
        for number in range(1, args.rounds + 1):
            round_results = [
                wrk("bare Django GET /api/sample-urls", f"http://127.0.0.1:{bare_port}/api/sample-urls",
                    duration=args.duration, connections=args.connections),
                wrk("url-anvil GET /api/sample-urls", f"{anvil}/api/sample-urls",
                    duration=args.duration, connections=args.connections),
                wrk("url-anvil POST /api/test (5 URLs)", f"{anvil}/api/test",
                    duration=args.duration, connections=args.connections, script=script),
            ]
            rounds.append(round_results)
            figures = ", ".join(f"{r.rps:.0f} req/s (p99 {r.p99_ms:.0f} ms)" for r in round_results)
            print(f"round {number} (bare, anvil GET, anvil POST): {figures}", flush=True)
        results = [
            Result(
                name=rounds[0][index].name,
                rps=statistics.median(r[index].rps for r in rounds),
                p50_ms=statistics.median(r[index].p50_ms for r in rounds),
                p99_ms=statistics.median(r[index].p99_ms for r in rounds),
                errors="; ".join(sorted({r[index].errors for r in rounds})),
            )
            for index in range(3)
        ]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(var_dir, ignore_errors=True)

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
