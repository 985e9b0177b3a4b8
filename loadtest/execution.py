"""The orchestrator of one run, on the Django side (no Locust here).

It starts ``python -m loadtest.runner`` as a child process in its own process
group, reads the runner's one-line-per-second JSON records, stores them in
batches, probes the target's ``/healthz`` once a second from a thread of its
own, applies and clears the chaos plan's faults at their offsets, and — in a
``finally`` that covers normal ends, errors, cancels, timeouts and runner
crashes — clears every fault it set and stops the runner.

Only the calling thread touches the database; the reader and prober threads
hand their results over through queues.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings

from loadtest import metrics
from loadtest.chaos import FaultControl, FaultControlError, fault_control_get
from loadtest.models import ChaosEvent, LoadTestRun, ProbeResult, RunSample, RunStatus

logger = logging.getLogger(__name__)

BASE_DIR = Path(__file__).resolve().parent.parent
PROBE_PATH = "/healthz"
PROBE_TIMEOUT_S = 0.9
PREFLIGHT_S = 3.0
FLUSH_EVERY_S = 1.0
STOP_WAIT_S = 5.0
INSTANCE_HEADER = "X-Anvil-Instance"
SAMPLE_FIELDS = (
    "requests", "successes", "failures", "failures_by_kind", "rps", "active_users", "latency_avg_ms",
    "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "latency_max_ms", "success_latency_sum_ms",
    "latency_histogram", "instances",
)
_EOF = object()


class RunAborted(Exception):
    """The run cannot go on; the message is the readable reason stored on the run."""

    def __init__(self, message: str, *, status: str = RunStatus.FAILED) -> None:
        super().__init__(message)
        self.status = status


def _now() -> datetime:
    return datetime.now(tz=UTC)


def probe_once(*, url: str, timeout_s: float = PROBE_TIMEOUT_S) -> dict:
    """One GET of ``url``: up (HTTP 200), status, latency, instance id, error."""
    started = time.perf_counter()
    status = None
    instance = ""
    error = ""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Connection": "close"}),
                                    timeout=timeout_s) as response:
            status = response.status
            instance = response.headers.get(INSTANCE_HEADER, "") or ""
            response.read(65536)
    except urllib.error.HTTPError as exc:
        status = exc.code
        instance = exc.headers.get(INSTANCE_HEADER, "") or ""
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        error = f"{type(reason).__name__}: {reason}"[:300]
    latency_ms = (time.perf_counter() - started) * 1000.0
    return {"up": status == 200, "status_code": status, "latency_ms": round(latency_ms, 3),
            "instance": instance[:100], "error": error}


class Prober(threading.Thread):
    """Polls the target's /healthz about once a second, apart from the load users."""

    def __init__(self, *, url: str, t0: float, duration_s: int) -> None:
        super().__init__(name="loadtest-prober", daemon=True)
        self.url = url
        self.t0 = t0
        self.duration_s = duration_s
        self.results: queue.SimpleQueue = queue.SimpleQueue()
        self.stopping = threading.Event()

    def run(self) -> None:
        second = max(0, int(time.time() - self.t0))
        while not self.stopping.is_set() and second < self.duration_s:
            # Aim at the start of each second so a probe belongs to one second.
            moment = self.t0 + second + 0.05
            if self.stopping.wait(max(0.0, moment - time.time())):
                return
            probed_at = _now()
            result = probe_once(url=self.url)
            result["second"] = int(max(0.0, probed_at.timestamp() - self.t0))
            result["probed_at"] = probed_at
            self.results.put(result)
            second = max(second + 1, int(time.time() - self.t0))

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=PROBE_TIMEOUT_S + 1)


class RunExecution:
    def __init__(self, *, run: LoadTestRun, progress: Callable[[dict], None] | None = None,
                 cancel_check: Callable[[], bool] | None = None, faults: FaultControl | None = None) -> None:
        self.run = run
        self.progress = progress
        self.cancel_check = cancel_check
        self.faults = faults or fault_control_get()
        self.duration = int(run.profile["duration_s"])
        self.events = list(ChaosEvent.objects.filter(run=run).order_by("at_s", "index"))
        self.active: dict[int, ChaosEvent] = {}
        self.records: queue.SimpleQueue = queue.SimpleQueue()
        self.pending_samples: list[RunSample] = []
        self.process: subprocess.Popen | None = None
        self.reader: threading.Thread | None = None
        self.stderr_file = None
        self.prober: Prober | None = None
        self.t0: float | None = None
        self.start_record: dict = {}
        self.end_record: dict | None = None
        self.error_record: dict | None = None
        self.last_up: bool | None = None
        self.seconds_seen = 0

    # --- the run ----------------------------------------------------------------
    def execute(self) -> None:
        from loadtest.services import run_finish

        status, error = RunStatus.COMPLETED, ""
        unexpected: BaseException | None = None
        metrics.metrics_serve(port=settings.LOADTEST_METRICS_PORT, addr=settings.LOADTEST_METRICS_ADDR)
        metrics.metrics_run_started(run_id=self.run.pk)
        try:
            self._preflight()
            self._runner_start()
            self._loop()
        except RunAborted as exc:
            status, error = exc.status, str(exc)
        except BaseException as exc:  # noqa: BLE001 - recorded on the run, then re-raised below
            # Celery's soft time limit, Ctrl-C, a database error …: the run ends
            # failed with the reason, and the error still propagates.
            status, error = RunStatus.FAILED, f"{type(exc).__name__}: {exc}".strip().rstrip(":")
            if type(exc).__name__ == "SoftTimeLimitExceeded":
                error = "the run exceeded its time limit"
            unexpected = exc
        finally:
            # Faults first: whatever else fails, the anvil must not stay broken.
            fault_error = self._faults_clear_all()
            if self.prober is not None:
                self.prober.stop()
            self._runner_stop()
            self._drain()
            self._flush()
            if fault_error and status == RunStatus.COMPLETED:
                status, error = RunStatus.FAILED, fault_error
            generator = self._generator_info()
            run_finish(run=self.run, status=status, error=error, generator=generator)
            metrics.metrics_run_finished(status=status)
            if self.stderr_file is not None:
                self.stderr_file.close()
        if unexpected is not None:
            raise unexpected

    def _preflight(self) -> None:
        """Fail early and clearly if the target does not answer HTTP at all."""
        deadline = time.monotonic() + PREFLIGHT_S
        while True:
            result = probe_once(url=self.run.target_url + PROBE_PATH, timeout_s=2.0)
            if result["status_code"] is not None:
                return
            if time.monotonic() >= deadline:
                raise RunAborted(f"target unreachable: {self.run.target_url}{PROBE_PATH}: {result['error']}")
            time.sleep(0.3)

    def _runner_start(self) -> None:
        cmd = [
            sys.executable, "-m", "loadtest.runner",
            "--target", self.run.target_url,
            "--profile", json.dumps(self.run.profile),
            "--processes", str(self.run.processes),
        ]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BASE_DIR), env.get("PYTHONPATH", "")]))
        self.stderr_file = tempfile.TemporaryFile(prefix="loadtest-runner-")
        # Its own session: Ctrl-C in a terminal reaches only this parent, which
        # then stops the runner (and its workers) as one process group.
        self.process = subprocess.Popen(
            cmd, cwd=BASE_DIR, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self.stderr_file, start_new_session=True,
        )
        self.reader = threading.Thread(target=self._read_stdout, name="loadtest-reader", daemon=True)
        self.reader.start()
        self.spawned_at = time.monotonic()

    def _read_stdout(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                record = {"type": "garbage", "line": line[:200].decode(errors="replace")}
            self.records.put(record)
        self.records.put(_EOF)

    def _loop(self) -> None:
        start_limit = self.spawned_at + settings.LOADTEST_START_GRACE_S
        from loadtest.services import END_GRACE_S

        next_flush = time.monotonic() + FLUSH_EVERY_S
        while True:
            try:
                record = self.records.get(timeout=0.1)
            except queue.Empty:
                record = None
            if record is _EOF:
                self._drain()
                break
            if record is not None:
                self._handle(record)
                if self.end_record is not None:
                    # Every second is in; the runner's own shutdown (workers
                    # quitting) is not worth waiting for: _runner_stop ends it.
                    self._drain()
                    break
            now_mono = time.monotonic()
            if self.t0 is None and now_mono > start_limit:
                raise RunAborted(f"the load runner did not start within {settings.LOADTEST_START_GRACE_S}s")
            if self.t0 is not None:
                self._chaos_tick()
                if time.time() > self.t0 + self.duration + END_GRACE_S:
                    raise RunAborted(f"the load runner did not finish within {END_GRACE_S}s of the planned end")
            if now_mono >= next_flush:
                next_flush = now_mono + FLUSH_EVERY_S
                self._flush()
                if self._cancel_requested():
                    raise RunAborted("cancelled on request", status=RunStatus.CANCELLED)

        if self.error_record is not None:
            raise RunAborted(f"the load runner failed: {self.error_record.get('message', 'no reason given')}")
        if self.end_record is None:
            returncode = self.process.wait(timeout=STOP_WAIT_S) if self.process else None
            raise RunAborted(f"the load runner exited with code {returncode} before the end of the run"
                             f"{self._stderr_tail()}")

    def _handle(self, record: dict) -> None:
        kind = record.get("type")
        if kind == "start":
            self.start_record = record
            self.t0 = float(record["t0"])
            self.prober = Prober(url=self.run.target_url + PROBE_PATH, t0=self.t0, duration_s=self.duration)
            self.prober.start()
        elif kind == "second":
            self._sample_add(record)
        elif kind == "end":
            self.end_record = record
        elif kind == "error":
            self.error_record = record
        else:
            logger.warning("run %s: unexpected runner output %r", self.run.pk, record)

    def _sample_add(self, record: dict) -> None:
        values = {name: record.get(name) for name in SAMPLE_FIELDS}
        for name in ("requests", "successes", "failures", "active_users"):
            values[name] = int(values[name] or 0)
        values["rps"] = float(values["rps"] or 0)
        values["success_latency_sum_ms"] = float(values["success_latency_sum_ms"] or 0)
        values["failures_by_kind"] = values["failures_by_kind"] or {}
        values["latency_histogram"] = values["latency_histogram"] or {}
        values["instances"] = values["instances"] or []
        second = int(record["second"])
        self.pending_samples.append(RunSample(run=self.run, second=second, **values))
        self.seconds_seen = max(self.seconds_seen, second + 1)
        metrics.metrics_second(sample=values, elapsed_s=second + 1)
        if self.progress is not None:
            self.progress({
                "run_id": self.run.pk, "second": second, "elapsed_s": min(second + 1, self.duration),
                "duration_s": self.duration, "requests": values["requests"], "rps": values["rps"],
                "p95_ms": values["latency_p95_ms"], "failures": values["failures"],
                "active_users": values["active_users"], "up": self.last_up, "active_faults": len(self.active),
            })

    def _drain(self) -> None:
        while True:
            try:
                record = self.records.get_nowait()
            except queue.Empty:
                return
            if record is not _EOF:
                self._handle(record)

    def _flush(self) -> None:
        probes: list[ProbeResult] = []
        if self.prober is not None:
            while True:
                try:
                    result = self.prober.results.get_nowait()
                except queue.Empty:
                    break
                self.last_up = result["up"]
                metrics.TARGET_UP.set(1 if result["up"] else 0)
                probes.append(ProbeResult(run=self.run, **result))
        if probes:
            ProbeResult.objects.bulk_create(probes)
        if self.pending_samples:
            samples, self.pending_samples = self.pending_samples, []
            RunSample.objects.bulk_create(samples)

    def _cancel_requested(self) -> bool:
        if self.cancel_check is not None and self.cancel_check():
            LoadTestRun.objects.filter(pk=self.run.pk).update(cancel_requested=True)
            return True
        return LoadTestRun.objects.filter(pk=self.run.pk, cancel_requested=True).exists()

    # --- chaos ------------------------------------------------------------------
    def _chaos_tick(self) -> None:
        assert self.t0 is not None
        elapsed = time.time() - self.t0
        for event in self.events:
            if event.applied_at is None and not event.error and elapsed >= event.at_s:
                self._chaos_apply(event)
        for index, event in list(self.active.items()):
            if elapsed >= event.at_s + event.duration_s:
                try:
                    self._chaos_clear(event)
                except FaultControlError as exc:
                    raise RunAborted(f"chaos event #{event.index} ({event.kind}) could not be cleared: {exc}") from exc
                del self.active[index]
                metrics.FAULTS.set(len(self.active))

    def _chaos_apply(self, event: ChaosEvent) -> None:
        try:
            fault = self.faults.add(spec=event.spec)
        except (FaultControlError, ValueError) as exc:
            event.error = f"could not be applied: {exc}"
            event.save(update_fields=["error"])
            raise RunAborted(f"chaos event #{event.index} ({event.kind}) could not be applied: {exc}") from exc
        moment = _now()
        event.fault_id = str(fault.get("id", ""))[:64]
        event.applied_at = moment
        event.applied_second = round(moment.timestamp() - self.t0, 3)
        event.save(update_fields=["fault_id", "applied_at", "applied_second"])
        self.active[event.index] = event
        metrics.FAULTS.set(len(self.active))
        logger.info("run %s: applied %s fault %s at %.2fs", self.run.pk, event.kind, event.fault_id,
                    event.applied_second)

    def _chaos_clear(self, event: ChaosEvent) -> None:
        self.faults.clear(fault_id=event.fault_id)
        moment = _now()
        event.cleared_at = moment
        event.cleared_second = round(moment.timestamp() - self.t0, 3) if self.t0 else None
        event.save(update_fields=["cleared_at", "cleared_second"])

    def _faults_clear_all(self) -> str:
        """Clear every fault this run set and has not cleared; returns a reason if any failed."""
        problems = []
        for index, event in list(self.active.items()):
            try:
                self._chaos_clear(event)
            except (FaultControlError, OSError) as exc:
                # The fault's own expiry (duration + margin) still ends it.
                event.error = f"{event.error}\nnot cleared at the end: {exc}".strip()
                event.save(update_fields=["error"])
                problems.append(f"fault {event.fault_id} not cleared: {exc}")
            del self.active[index]
        metrics.FAULTS.set(0)
        return "; ".join(problems)

    # --- the runner process ---------------------------------------------------------
    def _runner_stop(self) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                process.wait(timeout=STOP_WAIT_S)
        else:
            # The runner is gone; its workers (same group) must not outlive it.
            self._signal_group(signal.SIGKILL)
        # The process is gone, so the reader meets end-of-file; closing the
        # pipe under a reader still in readline() would break it instead.
        if self.reader is not None:
            self.reader.join(timeout=STOP_WAIT_S)
        if process.stdout is not None and (self.reader is None or not self.reader.is_alive()):
            process.stdout.close()

    def _signal_group(self, signum: int) -> None:
        assert self.process is not None
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            return

    def _stderr_tail(self) -> str:
        if self.stderr_file is None:
            return ""
        self.stderr_file.seek(0, os.SEEK_END)
        size = self.stderr_file.tell()
        self.stderr_file.seek(max(0, size - 1500))
        tail = self.stderr_file.read().decode(errors="replace").strip()
        return f": {tail.splitlines()[-1][:500]}" if tail else ""

    def _generator_info(self) -> dict:
        info = {
            "engine": "locust",
            "locust_version": self.start_record.get("locust_version"),
            "processes": self.run.processes,
            "host": self.start_record.get("host"),
            "python": self.start_record.get("python"),
            "t0": self.start_record.get("t0"),
            "elapsed_s": (self.end_record or {}).get("elapsed_s")
            or (round(time.time() - self.t0, 3) if self.t0 else None),
            "seconds_recorded": self.seconds_seen,
        }
        if self.process is not None and self.end_record is None:
            info["runner_exit_code"] = self.process.returncode
        if self.start_record:
            info["started_at"] = datetime.fromtimestamp(self.t0, tz=UTC).isoformat()
        return info
