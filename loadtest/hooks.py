"""What the engine's users plug into: its announcements, and the sources it may ask.

The engine runs every load test and knows none of the apps that ask for them.
They learn of a run's progress by listening here, and lend the engine what it
cannot know by registering here (from their ``AppConfig.ready``):

* ``run_started`` / ``run_finished``: Django signals sent with ``sender=LoadTestRun``
  and ``run=<LoadTestRun>`` after the status change committed. ``run_finished``
  is sent once a run reaches any final status; should a listener fail or the
  process die first, the engine's periodic check sends it again, so listeners
  must be idempotent (a finished submission ignores a second announcement).
* profile sources: named lookups from a key to a ``(profile, chaos_plan)`` pair,
  e.g. ``run_loadtest --challenge SLUG`` asks the source named ``challenge``.
* the tracking sink: where ``run_loadtest --track`` files a run when the tracker
  runs in this process.
* places: where a run may execute besides this host (``LoadTestRun.place``),
  each a factory ``(run) -> RunPlace`` (see ``loadtest.execution.places``)
  and a ``spec_build(input: dict) -> dict`` that turns what a requester gives
  (e.g. ``{"bundle": text, "quota": {...}}``) into the run's ``place_spec``,
  raising ``common.validation.FieldError`` for bad input. The spec holds
  ``target_url`` (the entry point as the runner reaches it, trusted: it is
  the place's own) and ``ready_s`` (the start-up allowance).
"""

from __future__ import annotations

from collections.abc import Callable

from django.dispatch import Signal

from loadtest.execution.runner_process import END as RUNNER_END
from loadtest.execution.runner_process import record_parse as runner_record_parse
from loadtest.execution.runner_process import runner_arguments
from loadtest.fault_control import FaultControlError, HttpFaultControl

run_started = Signal()
run_finished = Signal()

ProfileSource = Callable[[str], "tuple[dict, list] | None"]
TrackingSink = Callable[[dict], dict]

_profile_sources: dict[str, ProfileSource] = {}
_tracking_sinks: list[TrackingSink] = []
_places: dict[str, tuple[Callable, Callable | None]] = {}


# What a place needs from the engine: how to start the runner and read its
# records, and a client of url-anvil's fault control API.
__all__ = ["RUNNER_END", "FaultControlError", "HttpFaultControl", "runner_arguments", "runner_record_parse"]


class PlaceUnavailable(Exception):
    """A place could not be readied (a bundle never got ready, no engine): the run fails with this reason."""


class UnknownProfileSource(LookupError):
    """Nothing registered a profile source of that name (its app is not installed)."""


def profile_source_register(*, name: str, source: ProfileSource) -> None:
    _profile_sources[name] = source


def profile_source_lookup(*, name: str, key: str) -> tuple[dict, list] | None:
    """The ``(profile, chaos_plan)`` the named source has for ``key``, or None if it has none."""
    source = _profile_sources.get(name)
    if source is None:
        raise UnknownProfileSource(name)
    return source(key)


def tracking_sink_register(*, sink: TrackingSink) -> None:
    _tracking_sinks[:] = [sink]


def tracking_sink_get() -> TrackingSink | None:
    return _tracking_sinks[0] if _tracking_sinks else None


def place_register(*, name: str, factory: Callable, spec_build: Callable | None = None) -> None:
    _places[name] = (factory, spec_build)


def place_factory_get(*, name: str) -> Callable | None:
    entry = _places.get(name)
    return entry[0] if entry else None


def place_spec_builder_get(*, name: str) -> Callable | None:
    entry = _places.get(name)
    return entry[1] if entry else None
