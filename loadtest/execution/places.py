"""Where a run executes: the seam between a run's life cycle and the place its parts run in.

A place decides where the load runner and the health prober run, how they
reach the target, and how the run's faults reach url-anvil. Today's place is
this host: the runner is a child process, the prober a thread, the target the
run's URL, the faults go through ``loadtest.fault_control``. A sandbox (a
private network of containers the platform owns) is another place with the
same members.
"""

from __future__ import annotations

from typing import Protocol

from loadtest import hooks
from loadtest.execution.prober import PROBE_PATH, probe_once
from loadtest.execution.runner_process import LocalRunnerProcess
from loadtest.fault_control import FaultControl, fault_control_get
from loadtest.models import LoadTestRun


class RunnerProcess(Protocol):
    """A started load runner: its records (dicts, then ``runner_process.END``) and its end."""

    records: object
    spawned_at: float

    @property
    def returncode(self) -> int | None: ...

    def wait(self, *, timeout_s: float) -> int | None: ...

    def stop(self) -> None: ...

    def stderr_tail(self) -> str: ...

    def close(self) -> None: ...


class RunPlace(Protocol):
    """Where one run executes. ``prepare`` readies it (e.g. starts a sandbox) and
    ``release`` tears down whatever ``prepare`` made, however the run ended.
    A place whose target cannot be reached from the orchestrator sets
    ``probes_in_runner``: the runner then probes from where it runs and sends
    ``probe`` records with its seconds."""

    name: str
    probes_in_runner: bool

    def prepare(self) -> None: ...

    def runner_start(self) -> RunnerProcess: ...

    def probe(self, *, timeout_s: float | None = None) -> dict: ...

    def fault_control(self) -> FaultControl: ...

    def describe(self) -> dict: ...

    def release(self) -> None: ...


class LocalPlace:
    """This host: a runner subprocess loads the run's URL; probes and faults go from here."""

    name = "local"
    probes_in_runner = False

    def __init__(self, *, run: LoadTestRun, faults: FaultControl | None = None) -> None:
        self.run = run
        self._faults = faults

    def prepare(self) -> None:
        return None

    def runner_start(self) -> LocalRunnerProcess:
        return LocalRunnerProcess(target_url=self.run.target_url, profile=self.run.profile,
                                  processes=self.run.processes)

    def probe(self, *, timeout_s: float | None = None) -> dict:
        url = self.run.target_url + PROBE_PATH
        return probe_once(url=url) if timeout_s is None else probe_once(url=url, timeout_s=timeout_s)

    def fault_control(self) -> FaultControl:
        if self._faults is None:
            self._faults = fault_control_get()
        return self._faults

    def describe(self) -> dict:
        return {"place": self.name}

    def release(self) -> None:
        return None


class UnknownPlace(LookupError):
    """The run names a place no installed app provides."""


def place_for(*, run: LoadTestRun) -> RunPlace:
    """The place a run executes in: this host, or one an app registered in ``loadtest.hooks``."""
    if run.place == LocalPlace.name:
        return LocalPlace(run=run)
    factory = hooks.place_factory_get(name=run.place)
    if factory is None:
        raise UnknownPlace(f"no place named {run.place!r} is installed")
    return factory(run=run)
