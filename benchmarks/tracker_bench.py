#!/usr/bin/env python
"""Local tracker benchmark: ingest, batch ingest, the grouped GET and the target page.

    .venv/bin/python benchmarks/tracker_bench.py [--duration 10] [--runs 10000] [--backends pg,sqlite]

For each backend it creates fresh databases of its own (PostgreSQL:
``chaos_tracker_bench`` and ``chaos_tracker_bench_tr`` on
postgres://postgres@127.0.0.1:5432, override with BENCH_PG_URL; SQLite: files
in a temporary folder), migrates them, and serves the platform as documented:
gunicorn with chaoschallenge/gunicorn_conf.py (2 gthread workers x 4 threads),
DEBUG off, ENABLE_LOCAL_TRACKER=true. Then, on the same machine:

* seeds ``--runs`` runs of one user and one target through the batch API
  (several sessions and commits, percentiles included);
* ``GET /tracker/api/track/<userId>`` for that user (first, bounded page),
  ``wrk -t1 -c1`` as the original was measured, and ``-c16``;
* the target page of that target: median time of one request at a time
  (the "server time" goal), plus ``wrk -t1 -c4``;
* ``--rounds`` alternating rounds (default 3) of: a bare Django JSON view
  (benchmarks/bare_django.py) under the same gunicorn settings, the ceiling of
  the framework on this machine at that moment; ``wrk -t1 -c16`` on single
  ``POST /tracker/api/track`` (each request a new run); ``wrk -t1 -c4`` on
  ``POST /tracker/api/runs/batch`` with 200 runs per request, reported in runs
  per second. On PostgreSQL each round also measures the floor: the same
  INSERT from a plain WSGI callable with no Django (benchmarks/bare_ingest.py)
  under the same gunicorn settings. Each round prints its own ratios and the
  CPU time gunicorn's workers and PostgreSQL spent per request, the steadiest
  figure on a shared machine; the summary gives the medians.

Reference on a 2-core machine: the original tracker (Node + PostgreSQL) stored
~3,000 single POSTs/s (wrk -t1 -c16, p50 5 ms) and served one user's 10,000
runs as one 5.9 MB JSON at ~8 req/s (p50 130 ms, one client).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from benchmarks.wrk import lua_post, wrk  # noqa: E402 - after sys.path
from common.testing import gunicorn_server  # noqa: E402

PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
DB_NAME = "chaos_tracker_bench"
ORIGINAL_POST_RPS = 3000.0
ORIGINAL_GET_RPS = 8.0
BATCH_SIZE = 200
SEED_TARGET = "http://127.0.0.1:8080"
POST_TARGET = "http://127.0.0.1:8081"


def payload(*, user: str, target: str, when: datetime, session: str, commit: str | None, rng: random.Random) -> dict:
    rps = rng.gauss(400, 25)
    avg = rng.gauss(35, 4)
    return {
        "schema_version": "1.0",
        "userId": user,
        "challengeType": "robust-service",
        "metricName": "rps",
        "value": round(rps, 2),
        "timestamp": when.replace(tzinfo=None).isoformat(timespec="seconds"),
        "labels": {"host": "bench"},
        "runDetails": {
            "target_url": target, "request_count": 1000, "method": "POST",
            "payload_urls": [f"{target}/corpus/constitution"], "total_requests": 1000,
            "successful_requests": 995, "failed_requests": 5, "avg_latency_ms": round(avg, 2), "error_rate": 0.5,
            "rps": round(rps, 2), "duration_s": 2.5, "test_type": "standard", "commit_hash": commit,
            "session_id": session, "p50_latency_ms": round(avg * 0.9, 2), "p95_latency_ms": round(avg * 2.1, 2),
            "p99_latency_ms": round(avg * 3.2, 2),
        },
    }


def post(url: str, body: object) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def seed(*, base: str, runs: int) -> None:
    rng = random.Random(7)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    batch = []
    for i in range(runs):
        session = f"session-{i // 1000}"
        commit = f"{(i // 250):07x}{'0' * 33}"
        batch.append(payload(user="bench", target=SEED_TARGET, when=start + timedelta(minutes=5 * i),
                             session=session, commit=commit, rng=rng))
        if len(batch) == 500:
            post(f"{base}/tracker/api/runs/batch", batch)
            batch = []
    if batch:
        post(f"{base}/tracker/api/runs/batch", batch)


def one_at_a_time_ms(url: str, *, count: int) -> tuple[float, int]:
    times, size = [], 0
    for _ in range(count):
        started = time.perf_counter()
        with urllib.request.urlopen(url, timeout=30) as response:
            size = len(response.read())
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), size


def walk_all_pages(url: str) -> tuple[float, int]:
    """Follow the Link headers through every page of the user's runs; total time and page count."""
    started, pages, next_url = time.perf_counter(), 0, url
    while next_url:
        with urllib.request.urlopen(next_url, timeout=30) as response:
            response.read()
            link = response.headers.get("Link")
        pages += 1
        next_url = url.split("/tracker/")[0] + link.split(">")[0].lstrip("<") if link else None
    return (time.perf_counter() - started) * 1000, pages


def psql(sql: str) -> None:
    subprocess.run(["psql", f"{PG_URL}/postgres", "-q", "-c", sql], check=True, stdout=subprocess.DEVNULL)


def backend_env(backend: str, folder: Path, *, db_name: str = DB_NAME, tree: Path = BASE_DIR) -> dict:
    env = {
        "ENABLE_LOCAL_TRACKER": "true",
        "DEBUG": "false",
        "SECRET_KEY": "benchmark-only-secret-key-not-for-production-use",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_COOKIES": "false",
        "LOG_LEVEL": "WARNING",
        "VAR_DIR": str(folder / "var"),
        "DJANGO_SETTINGS_MODULE": "chaoschallenge.settings",
        "PYTHONPATH": str(tree),
    }
    if backend in ("pg", "pg-async"):
        for name in (db_name, f"{db_name}_tr"):
            psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            psql(f"CREATE DATABASE {name}")
        env["DATABASE_URL"] = f"{PG_URL}/{db_name}"
        env["TRACKER_DATABASE_URL"] = f"{PG_URL}/{db_name}_tr"
        if backend == "pg-async":
            # The documented opt-in for a personal notebook: commits do not
            # wait for the WAL flush (a database crash may lose the last
            # fraction of a second of runs, never corrupt anything).
            env["TRACKER_DATABASE_URL"] += "?options=-c%20synchronous_commit%3Doff"
    else:
        env["DATABASE_URL"] = f"sqlite:///{folder / 'platform.sqlite3'}"
        env["TRACKER_DATABASE_URL"] = f"sqlite:///{folder / 'tracker.sqlite3'}"
    return env


def measured_cpu(run, *, server: subprocess.Popen) -> dict:
    """``run()``'s wrk result plus the CPU time gunicorn's workers and PostgreSQL spent meanwhile, in ms per request."""

    def cpu_s() -> dict[tuple[str, int], float]:
        spent = {}
        workers = psutil.Process(server.pid).children()
        backends = [p for p in psutil.process_iter(["name"]) if (p.info["name"] or "").startswith("postgres")]
        for key, processes in (("gunicorn", workers), ("postgres", backends)):
            for process in processes:
                with contextlib.suppress(psutil.NoSuchProcess):
                    times = process.cpu_times()
                    spent[(key, process.pid)] = times.user + times.system
        return spent

    before, started = cpu_s(), time.monotonic()
    result = run()
    after, requests = cpu_s(), result["rps"] * (time.monotonic() - started)
    # Per process, so that one which exits meanwhile (a database connection
    # closed after CONN_MAX_AGE) drops out instead of subtracting its past.
    result["cpu_ms"] = {
        key: 1000 * sum(spent - before.get((kind, pid), 0.0) for (kind, pid), spent in after.items() if kind == key)
        / requests
        for key in ("gunicorn", "postgres")
    }
    return result


@contextlib.contextmanager
def platform(env: dict, *, tree: Path, folder: Path):
    """The platform of checkout ``tree``, migrated and served as documented; yields its ServerProcess."""
    folder.mkdir(parents=True, exist_ok=True)
    for args in (["migrate", "-v0"], ["migrate", "--database", "tracker", "-v0"]):
        subprocess.run([sys.executable, "manage.py", *args], cwd=tree, env={**os.environ, **env}, check=True)
    with gunicorn_server("chaoschallenge.wsgi", tmp_path=folder, env=env, cwd=tree) as server:
        yield server


def bench_backend(backend: str, *, duration: int, runs: int, rounds: int, folder: Path, bare_url: str,
                  compare: Path | None) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    env = backend_env(backend, folder)
    results: dict = {"backend": backend, "rounds": []}
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(platform(env, tree=BASE_DIR, folder=folder / "platform"))
        base = server.url
        started = time.perf_counter()
        seed(base=base, runs=runs)
        results["seed_s"] = time.perf_counter() - started

        from tracker.payload import target_key_for

        page_url = f"{base}/tracker/targets/{target_key_for(SEED_TARGET)}/"
        get_url = f"{base}/tracker/api/track/bench"
        one_at_a_time_ms(page_url, count=3)  # warm-up
        results["page_median_ms"], results["page_bytes"] = one_at_a_time_ms(page_url, count=30)
        results["page_wrk_c4"] = wrk(page_url, connections=4, duration=duration)
        results["get_median_ms"], results["get_bytes"] = one_at_a_time_ms(get_url, count=20)
        results["get_wrk_c1"] = wrk(get_url, connections=1, duration=duration)
        results["get_wrk_c16"] = wrk(get_url, connections=16, duration=duration)
        results["walk_ms"], results["walk_pages"] = walk_all_pages(get_url)

        rng = random.Random(1)
        single = json.dumps(payload(user="load", target=POST_TARGET, when=datetime(2026, 6, 1, tzinfo=UTC),
                                    session="wrk", commit=None, rng=rng))
        batch = json.dumps([payload(user="load", target=POST_TARGET, when=datetime(2026, 6, 1, tzinfo=UTC),
                                    session="wrk-batch", commit=None, rng=rng) for _ in range(BATCH_SIZE)])
        single_lua = lua_post(folder / "single.lua", body=single)
        batch_lua = lua_post(folder / "batch.lua", body=batch)
        wrk(f"{base}/tracker/api/track", connections=16, duration=2, script=single_lua)  # warm-up
        floor_base = None
        if backend != "sqlite":
            # The same INSERT from a plain WSGI callable: what is left without Django.
            floor_base = stack.enter_context(gunicorn_server(
                "benchmarks.bare_ingest:application", tmp_path=folder / "floor",
                env={"BARE_INGEST_DATABASE_URL": env["TRACKER_DATABASE_URL"]})).url
        servers = {"": server}
        if compare is not None:
            # Another checkout (say, the previous commit), on databases of its own.
            servers["compare "] = stack.enter_context(platform(
                backend_env(backend, folder / "compare", db_name=f"{DB_NAME}_cmp", tree=compare), tree=compare,
                folder=folder / "compare"))
            wrk(f"{servers['compare '].url}/tracker/api/track", connections=16, duration=2, script=single_lua)
        # Alternating rounds, each with the bare view as the ceiling of that
        # moment: a burst of other work spoils one round, not the comparison.
        for _ in range(rounds):
            one = {"bare": wrk(bare_url, connections=16, duration=duration)}
            if floor_base:
                one["floor"] = wrk(f"{floor_base}/track", connections=16, duration=duration, script=single_lua)
            for prefix, one_server in servers.items():
                url = one_server.url
                one[f"{prefix}single"] = measured_cpu(lambda url=url: wrk(
                    f"{url}/tracker/api/track", connections=16, duration=duration, script=single_lua),
                    server=one_server.process)
                one[f"{prefix}batch"] = measured_cpu(lambda url=url: wrk(
                    f"{url}/tracker/api/runs/batch", connections=4, duration=duration, script=batch_lua),
                    server=one_server.process)
            results["rounds"].append(one)
    return results


def median_of(rounds: list[dict], figure) -> float:
    return statistics.median(figure(one) for one in rounds)


def report(results: list[dict], *, runs: int) -> None:
    print(f"\nLocal tracker, {runs} seeded runs; gunicorn 2 gthread workers x 4 threads, DEBUG off, wrk -t1\n")
    for r in results:
        name = {"pg": "PostgreSQL", "pg-async": "PostgreSQL, tracker with synchronous_commit=off",
                "sqlite": "SQLite (embedded)"}[r["backend"]]
        print(f"== {name}")
        print(f"  seeding {runs} runs through the batch API: {r['seed_s']:.1f} s ({runs / r['seed_s']:,.0f} runs/s)")
        for number, one in enumerate(r["rounds"], 1):
            bare, post, batch = one["bare"], one["single"], one["batch"]
            runs_per_s = batch["rps"] * BATCH_SIZE
            floor = f" | plain WSGI + INSERT {one['floor']['rps']:,.0f} req/s" if "floor" in one else ""
            print(f"  round {number}: bare view {bare['rps']:,.0f} req/s{floor} | single POST {post['rps']:,.0f} req/s"
                  f" p50 {post['p50_ms']:.1f} ms p99 {post['p99_ms']:.1f} ms ({post['rps'] / bare['rps']:.2f}x bare),"
                  f" CPU/request gunicorn {post['cpu_ms']['gunicorn']:.2f} ms + PostgreSQL"
                  f" {post['cpu_ms']['postgres']:.2f} ms | batch {runs_per_s:,.0f} runs/s"
                  f" ({runs_per_s / post['rps']:.1f}x single), CPU/run {batch['cpu_ms']['gunicorn'] / BATCH_SIZE:.3f}"
                  f" + {batch['cpu_ms']['postgres'] / BATCH_SIZE:.3f} ms"
                  f"  non-2xx {post['non_2xx'] + batch['non_2xx']}")
            if "compare single" in one:
                other, other_batch = one["compare single"], one["compare batch"]
                print(f"           --compare checkout: single POST {other['rps']:,.0f} req/s, CPU/request gunicorn"
                      f" {other['cpu_ms']['gunicorn']:.2f} ms + PostgreSQL {other['cpu_ms']['postgres']:.2f} ms"
                      f" | batch {other_batch['rps'] * BATCH_SIZE:,.0f} runs/s"
                      f"  non-2xx {other['non_2xx'] + other_batch['non_2xx']}")
        median = statistics.median
        post_rps = median(one["single"]["rps"] for one in r["rounds"])
        batch_runs = median(one["batch"]["rps"] * BATCH_SIZE for one in r["rounds"])
        print(f"  median of {len(r['rounds'])} rounds: single POST -c16 {post_rps:,.0f} req/s"
              f" ({post_rps / ORIGINAL_POST_RPS:.2f}x the original's ~3,000/s,"
              f" {median(one['single']['rps'] / one['bare']['rps'] for one in r['rounds']):.2f}x the bare view);"
              f" batch -c4 {batch_runs:,.0f} runs/s"
              f" ({median(one['batch']['rps'] * BATCH_SIZE / one['single']['rps'] for one in r['rounds']):.1f}x"
              " single POSTs)")
        if "compare single" in r["rounds"][0]:
            rounds = r["rounds"]
            single = median_of(rounds, lambda one: one["single"]["rps"] / one["compare single"]["rps"])
            cpu = median_of(rounds, lambda one: sum(one["single"]["cpu_ms"].values())
                            / sum(one["compare single"]["cpu_ms"].values()))
            batches = median_of(rounds, lambda one: one["batch"]["rps"] / one["compare batch"]["rps"])
            print("  this checkout against --compare, medians of the per-round ratios: single POSTs"
                  f" {single:.2f}x, CPU per request {cpu:.2f}x, batches {batches:.2f}x")
        if "floor" in r["rounds"][0]:
            floor_rps = median(one["floor"]["rps"] for one in r["rounds"])
            print(f"  median plain WSGI + the same INSERT, no Django: {floor_rps:,.0f} req/s"
                  f" ({floor_rps / ORIGINAL_POST_RPS:.2f}x the original's ~3,000/s; the tracker reaches"
                  f" {median(one['single']['rps'] / one['floor']['rps'] for one in r['rounds']):.2f}x of it)")
        for label, key in (("grouped GET  -c1 ", "get_wrk_c1"), ("grouped GET  -c16", "get_wrk_c16")):
            g = r[key]
            print(f"  {label}: {g['rps']:8,.1f} req/s  p50 {g['p50_ms']:.1f} ms  p99 {g['p99_ms']:.1f} ms"
                  f"  ({g['rps'] / ORIGINAL_GET_RPS:.0f}x the original's ~8/s)")
        print(f"  grouped GET one at a time: median {r['get_median_ms']:.1f} ms, {r['get_bytes'] / 1024:.0f} KiB per page;"
              f" all {runs} runs in {r['walk_pages']} pages: {r['walk_ms']:.0f} ms")
        p = r["page_wrk_c4"]
        print(f"  target page one at a time: median {r['page_median_ms']:.1f} ms, {r['page_bytes'] / 1024:.0f} KiB;"
              f"  -c4: {p['rps']:.1f} req/s p50 {p['p50_ms']:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of bare view, single POSTs, batches")
    parser.add_argument("--compare", type=Path, metavar="CHECKOUT",
                        help="another checkout of this repository (e.g. `git worktree add ../before HEAD~3`) whose "
                             "ingest is measured in the same rounds, with this .venv")
    parser.add_argument("--backends", default="pg,pg-async,sqlite", help="any of pg, pg-async, sqlite")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")
    # Never hand the servers a cache or broker from the caller's shell.
    for name in ("REDIS_URL", "CELERY_BROKER_URL"):
        os.environ.pop(name, None)
    compare = args.compare.resolve() if args.compare else None
    folder = Path(tempfile.mkdtemp(prefix="tracker-bench-"))
    results = []
    try:
        with gunicorn_server("benchmarks.bare_django:application", tmp_path=folder / "bare") as bare:
            bare_url = f"{bare.url}/api/sample-urls"
            for backend in args.backends.split(","):
                results.append(bench_backend(backend.strip(), duration=args.duration, runs=args.runs,
                                             rounds=args.rounds, compare=compare, folder=folder / backend.strip(),
                                             bare_url=bare_url))
    finally:
        report(results, runs=args.runs)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
