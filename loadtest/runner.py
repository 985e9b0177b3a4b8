"""The Locust runner: ``python -m loadtest.runner --target URL --profile JSON [--processes N]``.

Runs in its own process, always: importing Locust monkey-patches the whole
interpreter with gevent, which Django's database connections and Celery's
prefork pool do not survive. Nothing that Django or Celery imports may import
this module.

Protocol (stdout, one JSON object per line; everything else goes to stderr):

* ``{"type": "start", "t0": <epoch s>, "locust_version", "processes", "host", "pid", "protocol"}``
  once the users are about to start; second N of the run is ``[t0 + N, t0 + N + 1)``,
  the same seconds for the runner, the parent's health prober and its chaos schedule.
* ``{"type": "second", "second": N, "requests", "successes", "failures", "failures_by_kind",
  "rps", "active_users", "latency_avg_ms", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms",
  "latency_max_ms", "success_latency_sum_ms", "latency_histogram", "instances"}`` for every second.
* ``{"type": "probe", "second": N, "probed_at": <epoch s>, "up", "status_code", "latency_ms",
  "instance", "error"}`` once a second with ``--probe-url``: the health probe made from where
  the runner runs, for a target the orchestrator cannot reach itself (a sandbox).
* ``{"type": "end", "elapsed_s": <float>}`` after the last second; exit code 0.
* ``{"type": "error", "message": "..."}`` on failure; exit code 1.

With ``--processes N`` this process is a Locust master and starts N local
worker processes (``--worker``); workers count their requests per second and
ship them to the master as custom messages, the master merges them.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
import locust  # noqa: E402
from geventhttpclient.header import Headers  # noqa: E402
from locust import FastHttpUser, between, constant  # noqa: E402
from locust.env import Environment  # noqa: E402
from locust.log import setup_logging  # noqa: E402

from common.contract import INSTANCE_HEADER  # noqa: E402
from common.net import free_port  # noqa: E402
from loadtest.answers import (  # noqa: E402
    instance_problem,
    redirect_problem,
    sample_urls_check,
    test_answer_check,
)
from loadtest.execution.prober import probe_once  # noqa: E402
from loadtest.profiles import profile_users_at  # noqa: E402
from loadtest.runner_stats import (  # noqa: E402
    PROTOCOL_VERSION,
    SecondBook,
    failure_kind_of,
    second_record,
)

logger = logging.getLogger("loadtest.runner")

STATS_MESSAGE = "loadtest_seconds"
OFFSET_MESSAGE = "loadtest_offset"
WORKER_FLUSH_S = 0.25
# How long after a second ends before it is reported: a worker's last flush
# of that second must have reached the master.
DISTRIBUTED_GRACE_S = 0.8
LOCAL_GRACE_S = 0.05
WORKER_CONNECT_TIMEOUT_S = 30.0
INSTANCE_HEADER_LOWER = INSTANCE_HEADER.lower()


def user_class_build(*, target: str, profile: dict) -> type[FastHttpUser]:
    """The simulated user: a weighted mix of url-anvil API calls, per the profile.

    Every answer is judged, not only its status: a redirect is not followed
    (the run's target is fixed) and counts as ``redirect``; an answer without
    url-anvil's instance header, sample URLs outside the corpus or a wrong
    ``content_hash`` count as ``wrong_answer``.
    """

    def on_start(self) -> None:
        # Nothing the platform sends for a run may leave the run's host:port.
        self.client.client.redirect_response_codes = frozenset()

    def judged(self, path: str, *, method: str = "GET", check=None, **kwargs) -> object:
        with self.client.request(method, path, name=f"{method} {path}", catch_response=True, **kwargs) as response:
            status = response.status_code
            problem = redirect_problem(status=status, location=response.headers.get("Location")) if status else None
            if problem is None and 200 <= status < 300:
                problem = instance_problem(instance=response.headers.get(INSTANCE_HEADER))
                if problem is None and check is not None:
                    value, problem = check(response.content or b"")
                    if problem is None:
                        return value
            if problem is not None:
                response.failure(problem)
        return None

    def sample_urls(self) -> None:
        self._fetch_sample_urls()

    def test_urls(self) -> None:
        if not self.sample_urls:
            self._fetch_sample_urls()
            if not self.sample_urls:
                return
        urls = self.sample_urls
        self.judged("/api/test", method="POST", json={"urls": urls},
                    check=lambda body: (True, test_answer_check(urls=urls, body=body)))

    def history(self) -> None:
        self.judged("/api/history")

    def index(self) -> None:
        self.judged("/")

    def _fetch_sample_urls(self) -> None:
        urls = self.judged("/api/sample-urls", check=lambda body: sample_urls_check(body=body))
        if urls:
            self.sample_urls = urls

    functions = {"sample_urls": sample_urls, "test": test_urls, "history": history, "index": index}
    tasks = {functions[name]: weight for name, weight in profile["tasks"].items() if weight > 0}
    wait_min, wait_max = profile["wait_min_s"], profile["wait_max_s"]
    return type(
        "AnvilUser",
        (FastHttpUser,),
        {
            "host": target,
            "tasks": tasks,
            "wait_time": constant(wait_min) if wait_min == wait_max else between(wait_min, wait_max),
            "network_timeout": float(profile["timeout_s"]),
            "connection_timeout": float(profile["connect_timeout_s"]),
            "max_redirects": 0,
            "sample_urls": [],
            "on_start": on_start,
            "judged": judged,
            "_fetch_sample_urls": _fetch_sample_urls,
            "__module__": __name__,
        },
    )


def request_listener_build(book: SecondBook):
    record = book.record
    now = time.time
    raw_get = dict.get

    def on_request(response_time, response=None, exception=None, **_kwargs) -> None:
        instance = None
        headers = getattr(response, "headers", None)
        if headers:
            # geventhttpclient's Headers is a dict keyed by the lowercased name
            # holding (name, value); reading it raw costs ~0.1 µs instead of
            # the ~6 µs of its case-folding .get(), on every request.
            if isinstance(headers, Headers):
                entry = raw_get(headers, INSTANCE_HEADER_LOWER)
                if entry is not None:
                    instance = entry[1] if isinstance(entry, tuple) else entry[0][1]
            else:
                instance = headers.get(INSTANCE_HEADER)
        if exception is None:
            record(now(), response_time, None, instance)
        else:
            status = getattr(response, "status_code", 0) or 0
            record(now(), response_time, failure_kind_of(status_code=status, exception=exception), instance)

    return on_request


class Emitter:
    """Writes protocol lines to the real stdout, which nothing else may use."""

    def __init__(self) -> None:
        self.out = os.fdopen(os.dup(1), "w", buffering=1)
        # Anything else that prints (Locust, gevent) lands on stderr.
        os.dup2(2, 1)
        sys.stdout = sys.stderr

    def emit(self, record: dict) -> None:
        self.out.write(json.dumps(record, separators=(",", ":")) + "\n")
        self.out.flush()


_watch = {"parent": 0, "whole_group": False}


def orphan_watch(*, whole_group: bool) -> None:
    """End this process (and its workers) if its parent dies.

    The parent is the orchestrator in a Celery worker or a CLI; if it is
    killed, nobody would stop this load any more, so the runner stops itself.
    A forked worker resets ``_watch`` to watch the runner instead.
    """
    _watch.update(parent=os.getppid(), whole_group=whole_group)

    def watch() -> None:
        while True:
            gevent.sleep(0.5)
            if os.getppid() != _watch["parent"]:
                logger.error("parent process %s is gone; stopping the load", _watch["parent"])
                if _watch["whole_group"] and os.getpgrp() == os.getpid():
                    os.killpg(os.getpgrp(), signal.SIGKILL)
                os._exit(3)

    gevent.spawn(watch)


def worker_main(args: argparse.Namespace) -> int:
    profile = json.loads(args.profile)
    environment = Environment(user_classes=[user_class_build(target=args.target, profile=profile)], host=args.target)
    book = SecondBook()
    environment.events.request.add_listener(request_listener_build(book))
    runner = environment.create_worker_runner(args.master_host, args.master_port)

    def offset_set(environment, msg, **_kwargs) -> None:
        book.offset = float(msg.data)

    runner.register_message(OFFSET_MESSAGE, offset_set)

    def flush_forever() -> None:
        while True:
            gevent.sleep(WORKER_FLUSH_S)
            if book.seconds:
                runner.send_message(STATS_MESSAGE, {"seconds": book.take_wire()})

    gevent.spawn(flush_forever)
    runner.greenlet.join()
    return 0


def _workers_fork(args: argparse.Namespace, port: int, emitter: Emitter) -> list[int]:
    """Fork the local workers from this already-initialised process.

    Like Locust's own ``--processes``: a fork starts in milliseconds, where a
    fresh interpreter would spend a second importing Locust and gevent.
    Called before the master runner exists, so the children inherit no
    runner greenlets.
    """
    local = "127.0.0.1" if args.master_bind in {"127.0.0.1", "*", "0.0.0.0"} else args.master_bind
    pids = []
    for _ in range(args.processes):
        pid = gevent.fork()
        if pid == 0:
            code = 1
            try:
                # The protocol pipe belongs to the master; a child holding it
                # open would also delay the parent's end-of-file.
                emitter.out.close()
                _watch.update(parent=os.getppid(), whole_group=False)
                code = worker_main(argparse.Namespace(**{**vars(args), "master_host": local, "master_port": port}))
            finally:
                os._exit(code)
        pids.append(pid)
    return pids


def _workers_exited(pids: list[int]) -> list[tuple[int, int]]:
    exited = []
    for pid in pids:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            exited.append((pid, os.waitstatus_to_exitcode(status)))
    return exited


def _workers_reap(pids: list[int], *, timeout_s: float) -> None:
    deadline = time.time() + timeout_s
    waiting = list(pids)
    while waiting and time.time() < deadline:
        waiting = [pid for pid in waiting if not _reaped(pid)]
        if waiting:
            gevent.sleep(0.05)
    for pid in waiting:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            continue


def _reaped(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return bool(done)


def main_run(args: argparse.Namespace, emitter: Emitter) -> int:
    profile = json.loads(args.profile)
    duration = int(profile["duration_s"])
    environment = Environment(user_classes=[user_class_build(target=args.target, profile=profile)], host=args.target)
    book = SecondBook()
    workers: list[int] = []
    distributed = args.processes > 1 or args.remote_workers > 0
    if distributed:
        port = args.master_port or free_port()
        # zmq lets the workers connect before the master binds.
        workers = _workers_fork(args, port, emitter)
        runner = environment.create_master_runner(args.master_bind, port)
        runner.register_message(STATS_MESSAGE, lambda environment, msg, **_: book.merge_wire(msg.data["seconds"]))
        expected = args.processes + args.remote_workers
        deadline = time.time() + (WORKER_CONNECT_TIMEOUT_S if not args.remote_workers else args.remote_wait_s)
        while runner.worker_count < expected:
            if time.time() > deadline:
                raise RuntimeError(f"only {runner.worker_count} of {expected} workers connected")
            dead = _workers_exited(workers)
            if dead:
                raise RuntimeError(f"worker process {dead[0][0]} exited with code {dead[0][1]} during start")
            gevent.sleep(0.05)
        grace = DISTRIBUTED_GRACE_S
    else:
        runner = environment.create_local_runner()
        environment.events.request.add_listener(request_listener_build(book))
        grace = LOCAL_GRACE_S

    try:
        # Books are kept per whole second counted from t0: they key requests
        # by int(time - offset), so epoch "second" base + N is run second N.
        t0 = time.time()
        offset = t0 % 1.0
        base = int(t0 - offset)
        book.offset = offset
        if distributed:
            # Sent before the first spawn message, so every worker has it in time.
            runner.send_message(OFFSET_MESSAGE, offset)
        emitter.emit({
            "type": "start", "t0": t0, "protocol": PROTOCOL_VERSION, "locust_version": locust.__version__,
            "processes": args.processes, "remote_workers": args.remote_workers, "host": socket.gethostname(),
            "pid": os.getpid(),
            "python": sys.version.split()[0],
        })
        if args.probe_url:
            gevent.spawn(probes_emit, url=args.probe_url, t0=t0, duration_s=duration, emitter=emitter)
        end = t0 + duration
        next_second = 0
        current_users = None
        while True:
            now = time.time()
            if now >= end:
                break
            wanted = profile_users_at(profile=profile, elapsed_s=now - t0)
            if wanted != current_users:
                if wanted > 0:
                    runner.start(wanted, spawn_rate=float(profile["spawn_rate"]))
                elif current_users:
                    runner.stop()
                current_users = wanted
            while next_second < duration and now >= t0 + next_second + 1 + grace:
                stats = book.pop(epoch_second=base + next_second)
                emitter.emit(second_record(second=next_second, stats=stats, active_users=runner.user_count))
                next_second += 1
            gevent.sleep(min(0.1, max(0.0, end - time.time())))

        users_at_end = runner.user_count
        if distributed:
            # MasterRunner.stop() polls the workers' user counts once a second
            # until they reach 0; the books need only the workers' last flush.
            gevent.spawn(runner.stop)
        else:
            runner.stop()
        # Let the workers' last flushes (every WORKER_FLUSH_S) arrive before closing the books.
        gevent.sleep(2 * WORKER_FLUSH_S + 0.1 if distributed else grace)
        while next_second < duration:
            stats = book.pop(epoch_second=base + next_second)
            emitter.emit(second_record(second=next_second, stats=stats, active_users=users_at_end))
            next_second += 1
        # Requests that completed after the planned end still happened: they
        # are reported in the second they completed in, never dropped.
        for epoch_second in book.later_than(epoch_second=base + duration - 1):
            emitter.emit(second_record(second=epoch_second - base, stats=book.pop(epoch_second=epoch_second),
                                       active_users=0))
        emitter.emit({"type": "end", "elapsed_s": round(time.time() - t0, 3)})
        return 0
    finally:
        runner.quit()
        _workers_reap(workers, timeout_s=5)


def probes_emit(*, url: str, t0: float, duration_s: int, emitter: Emitter) -> None:
    """Probe ``url`` near the start of every second of the run, as the orchestrator's prober does."""
    second = 0
    while second < duration_s:
        gevent.sleep(max(0.0, t0 + second + 0.05 - time.time()))
        probed_at = time.time()
        result = probe_once(url=url)
        emitter.emit({"type": "probe", "second": int(max(0.0, probed_at - t0)), "probed_at": probed_at, **result})
        second = max(second + 1, int(time.time() - t0))


def arguments_parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtest.runner", description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", required=True, help="base URL to load")
    parser.add_argument("--profile", required=True, help="validated profile JSON (loadtest.profiles)")
    parser.add_argument("--processes", type=int, default=1,
                        help="local Locust worker processes (1 and no remote workers: no master)")
    parser.add_argument("--remote-workers", type=int, default=0,
                        help="also wait for this many workers started on other hosts (see docs/loadtest.md)")
    parser.add_argument("--remote-wait-s", type=float, default=120.0, help="how long to wait for remote workers")
    parser.add_argument("--master-bind", default="127.0.0.1", help="master: interface workers connect to")
    parser.add_argument("--master-port", type=int, default=0, help="master: port (default: a free one); worker: the master's port")
    parser.add_argument("--worker", action="store_true", help="run as a worker of a master elsewhere")
    parser.add_argument("--master-host", default="127.0.0.1", help="worker: the master's address")
    parser.add_argument("--probe-url", help="also probe this URL once a second and report it (``probe`` records)")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    if args.processes < 0 or args.remote_workers < 0 or (args.processes == 0 and not args.remote_workers):
        parser.error("--processes must be at least 1 (0 only with --remote-workers)")
    if args.worker and not args.master_port:
        parser.error("--worker needs --master-port")
    return args


def main(argv: list[str] | None = None) -> int:
    args = arguments_parse(argv)
    setup_logging(args.log_level)
    orphan_watch(whole_group=not args.worker)
    if args.worker:
        return worker_main(args)
    emitter = Emitter()
    try:
        return main_run(args, emitter)
    except Exception as exc:
        logger.exception("runner failed")
        emitter.emit({"type": "error", "message": f"{type(exc).__name__}: {exc}"})
        return 1


if __name__ == "__main__":
    sys.exit(main())
