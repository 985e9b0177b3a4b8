"""One run's life cycle, on the Django side (no Locust here): the parts tied together.

Before the load: ready the run's place (nothing on this host; a sandbox is
started), clear faults left on its anvil, check the target answers HTTP. During: start the runner in the run's place, read its records, store
them with a heartbeat, probe the target once a second, apply and clear the
chaos plan at its offsets, watch for a cancel. After — in a ``finally`` that
covers normal ends, errors, cancels, timeouts and runner crashes — clear
every fault the run set, stop the runner and the prober, store what is left,
release the place, and hand the outcome to ``finish`` (the engine's service
that records it), before an unexpected error propagates.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings

from loadtest import metrics
from loadtest.execution.chaos_schedule import ChaosAborted, ChaosSchedule
from loadtest.execution.places import RunnerProcess, RunPlace
from loadtest.execution.prober import PROBE_PATH, Prober
from loadtest.execution.runner_process import END
from loadtest.execution.sample_store import SampleStore, sample_values
from loadtest.fault_control import FaultControlError
from loadtest.hooks import PlaceUnavailable
from loadtest.models import ChaosEvent, EndReason, LoadTestRun, RunStatus

logger = logging.getLogger(__name__)

PREFLIGHT_S = 3.0
PREFLIGHT_TIMEOUT_S = 2.0
FLUSH_EVERY_S = 1.0
# A runner that outlives its planned end by this much is stopped as timed out.
END_GRACE_S = 15


@dataclass
class RunOutcome:
    status: str = RunStatus.COMPLETED
    error: str = ""
    end_reason: str = ""
    generator: dict = field(default_factory=dict)


class RunAborted(Exception):
    """The run cannot go on; the message is the readable reason stored on the run."""

    def __init__(self, message: str, *, status: str = RunStatus.FAILED, end_reason: str = EndReason.ERROR) -> None:
        super().__init__(message)
        self.status = status
        self.end_reason = end_reason


class RunLifecycle:
    def __init__(self, *, run: LoadTestRun, place: RunPlace, finish: Callable[[RunOutcome], None],
                 progress: Callable[[dict], None] | None = None,
                 cancel_check: Callable[[], bool] | None = None) -> None:
        self.run = run
        self.place = place
        self.finish = finish
        self.progress = progress
        self.cancel_check = cancel_check
        self.duration = int(run.profile["duration_s"])
        self.store = SampleStore(run_id=run.pk)
        self.events = list(ChaosEvent.objects.filter(run=run))
        # Made once the place is ready: a sandbox's anvils exist only then.
        self.chaos: ChaosSchedule | None = None
        self.runner: RunnerProcess | None = None
        self.prober: Prober | None = None
        self.t0: float | None = None
        self.start_record: dict = {}
        self.end_record: dict | None = None
        self.error_record: dict | None = None
        self.leftover_faults = 0

    def execute(self) -> RunOutcome:
        """Run it to its end and hand the outcome to ``finish``; unexpected errors propagate after that."""
        outcome = RunOutcome()
        unexpected: BaseException | None = None
        metrics.metrics_serve(port=settings.LOADTEST_METRICS_PORT, addr=settings.LOADTEST_METRICS_ADDR)
        metrics.metrics_run_started(run_id=self.run.pk)
        try:
            self.place.prepare()
            self.chaos = ChaosSchedule(run_id=self.run.pk, events=self.events, faults=self.place.fault_control())
            self._leftovers_clear()
            self._preflight()
            self.runner = self.place.runner_start()
            self._loop()
        except RunAborted as exc:
            outcome.status, outcome.error, outcome.end_reason = exc.status, str(exc), exc.end_reason
        except PlaceUnavailable as exc:
            outcome.status, outcome.error, outcome.end_reason = RunStatus.FAILED, str(exc), EndReason.ERROR
        except BaseException as exc:  # noqa: BLE001 - recorded through finish(), then re-raised below
            # Celery's soft time limit, Ctrl-C, a database error …: the run ends
            # failed with the reason, and the error still propagates.
            outcome.status, outcome.end_reason = RunStatus.FAILED, EndReason.ERROR
            outcome.error = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
            if type(exc).__name__ == "SoftTimeLimitExceeded":
                outcome.error, outcome.end_reason = "the run exceeded its time limit", EndReason.TIMEOUT
            elif isinstance(exc, SystemExit | KeyboardInterrupt):
                # The worker was stopped under the run (a shutdown, a restart):
                # the platform's doing, not the target's, so it ends as a run
                # lost with its worker, which its requester may start again.
                outcome.error = f"the worker was stopped during the run ({outcome.error})"
                outcome.end_reason = EndReason.WORKER_LOST
            unexpected = exc
        finally:
            # Faults first: whatever else fails, the anvil must not stay broken.
            fault_error = self.chaos.clear_all(elapsed_s=self._elapsed()) if self.chaos else ""
            if self.prober is not None:
                self.prober.stop()
            if self.runner is not None:
                self.runner.stop()
            self._drain()
            self._flush()
            if fault_error and outcome.status == RunStatus.COMPLETED:
                outcome.status, outcome.error, outcome.end_reason = RunStatus.FAILED, fault_error, EndReason.ERROR
            if self.runner is not None:
                self.runner.close()
            try:
                self.place.release()
            finally:
                # After the release, so the place can say it is gone; recorded even if the release failed.
                outcome.generator = self._generator_info()
                self.finish(outcome)
                metrics.metrics_run_finished(status=outcome.status)
        if unexpected is not None:
            raise unexpected
        return outcome

    def _leftovers_clear(self) -> None:
        try:
            self.leftover_faults = self.chaos.leftovers_clear()
        except FaultControlError as exc:
            raise RunAborted(f"faults left on the anvil could not be cleared before the run: {exc}") from exc

    def _elapsed(self) -> float | None:
        return time.time() - self.t0 if self.t0 is not None else None

    def _preflight(self) -> None:
        """Fail early and clearly if the target does not answer HTTP at all."""
        deadline = time.monotonic() + PREFLIGHT_S
        while True:
            result = self.place.probe(timeout_s=PREFLIGHT_TIMEOUT_S)
            if result["status_code"] is not None:
                return
            if time.monotonic() >= deadline:
                raise RunAborted(f"target unreachable: {self.run.target_url}{PROBE_PATH}: {result['error']}")
            time.sleep(0.3)

    def _loop(self) -> None:
        assert self.runner is not None
        start_limit = self.runner.spawned_at + settings.LOADTEST_START_GRACE_S
        next_flush = time.monotonic() + FLUSH_EVERY_S
        while True:
            try:
                record = self.runner.records.get(timeout=0.1)
            except queue.Empty:
                record = None
            if record is END:
                self._drain()
                break
            if record is not None:
                self._handle(record)
                if self.end_record is not None:
                    # Every second is in; the runner's own shutdown (workers
                    # quitting) is not worth waiting for: stop() ends it.
                    self._drain()
                    break
            now_mono = time.monotonic()
            if self.t0 is None and now_mono > start_limit:
                raise RunAborted(f"the load runner did not start within {settings.LOADTEST_START_GRACE_S}s")
            if self.t0 is not None:
                try:
                    self.chaos.tick(elapsed_s=time.time() - self.t0)
                except ChaosAborted as exc:
                    raise RunAborted(str(exc)) from exc
                if time.time() > self.t0 + self.duration + END_GRACE_S:
                    raise RunAborted(f"the load runner did not finish within {END_GRACE_S}s of the planned end",
                                     end_reason=EndReason.TIMEOUT)
            if now_mono >= next_flush:
                next_flush = now_mono + FLUSH_EVERY_S
                self._flush()
                if self._cancel_requested():
                    raise RunAborted("cancelled on request", status=RunStatus.CANCELLED,
                                     end_reason=EndReason.CANCELLED)

        if self.error_record is not None:
            raise RunAborted(f"the load runner failed: {self.error_record.get('message', 'no reason given')}")
        if self.end_record is None:
            returncode = self.runner.wait(timeout_s=5.0)
            tail = self.runner.stderr_tail()
            raise RunAborted(f"the load runner exited with code {returncode} before the end of the run"
                             f"{': ' + tail if tail else ''}")

    def _handle(self, record: dict) -> None:
        kind = record.get("type")
        if kind == "start":
            self.start_record = record
            self.t0 = float(record["t0"])
            if not self.place.probes_in_runner:
                self.prober = Prober(probe=self.place.probe, t0=self.t0, duration_s=self.duration)
                self.prober.start()
        elif kind == "probe" and self.place.probes_in_runner:
            self._probe_add(record)
        elif kind == "second":
            self._second_add(record)
        elif kind == "end":
            self.end_record = record
        elif kind == "error":
            self.error_record = record
        else:
            logger.warning("run %s: unexpected runner output %r", self.run.pk, record)

    def _second_add(self, record: dict) -> None:
        values = sample_values(record=record)
        second = int(record["second"])
        self.store.second_add(second=second, values=values)
        metrics.metrics_second(sample=values, elapsed_s=second + 1)
        if self.progress is not None:
            self.progress({
                "run_id": self.run.pk, "second": second, "elapsed_s": min(second + 1, self.duration),
                "duration_s": self.duration, "requests": values["requests"], "rps": values["rps"],
                "p95_ms": values["latency_p95_ms"], "failures": values["failures"],
                "active_users": values["active_users"], "up": self.store.last_up,
                "active_faults": len(self.chaos.active) if self.chaos else 0,
            })

    def _drain(self) -> None:
        if self.runner is None:
            return
        while True:
            try:
                record = self.runner.records.get_nowait()
            except queue.Empty:
                return
            if record is not END:
                self._handle(record)

    def _probe_add(self, record: dict) -> None:
        """A probe made where the runner runs: the same fields as the prober's, its time as epoch seconds."""
        result = {name: record.get(name) for name in ("up", "status_code", "latency_ms", "instance", "error")}
        result["up"] = bool(result["up"])
        result["instance"] = str(result["instance"] or "")[:100]
        result["error"] = str(result["error"] or "")[:300]
        result["probed_at"] = datetime.fromtimestamp(float(record["probed_at"]), tz=UTC)
        result["second"] = max(0, int(record["second"]))
        self._probe_store(result)

    def _probe_store(self, result: dict) -> None:
        metrics.TARGET_UP.set(1 if result["up"] else 0)
        self.store.probe_add(result=result)

    def _flush(self) -> None:
        if self.prober is not None:
            for result in self.prober.drain():
                self._probe_store(result)
        self.store.flush()

    def _cancel_requested(self) -> bool:
        if self.cancel_check is not None and self.cancel_check():
            LoadTestRun.objects.filter(pk=self.run.pk).update(cancel_requested=True)
            return True
        return LoadTestRun.objects.filter(pk=self.run.pk, cancel_requested=True).exists()

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
            "seconds_recorded": self.store.seconds_seen,
            "leftover_faults_cleared": self.leftover_faults,
            **self.place.describe(),
        }
        if self.runner is not None and self.end_record is None:
            info["runner_exit_code"] = self.runner.returncode
        if self.start_record:
            info["started_at"] = datetime.fromtimestamp(self.t0, tz=UTC).isoformat()
        return info
