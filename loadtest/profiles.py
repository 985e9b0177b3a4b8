"""Load profiles and chaos plans: validation, normalization and the user-count schedule.

A profile is plain JSON so that a challenge, a CLI call and a stored run all
describe load the same way::

    {"shape": "constant", "users": 20, "spawn_rate": 10, "duration_s": 60,
     "timeout_s": 10, "connect_timeout_s": 5, "wait_min_s": 0.1, "wait_max_s": 0.5,
     "tasks": {"sample_urls": 4, "test": 2, "history": 1, "index": 1}}

``step`` adds ``step_users``, ``step_every_s`` and ``max_users`` (``users`` is
the start); ``spike`` adds ``spike_users``, ``spike_at_s`` and
``spike_duration_s`` (``users`` is the base). A chaos plan is a list of timed
faults in the anvil's own fault JSON plus ``at_s`` and ``duration_s``.

No Django models and no Locust here: the runner process imports
``profile_users_at`` and the web/Celery side imports the validators.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, NotRequired, get_args

from pydantic import ConfigDict, Field, TypeAdapter
from pydantic_core import ErrorDetails
from typing_extensions import TypedDict

from common.validation import ErrorMessage, FieldError, WholeNumber, validate

Shape = Literal["constant", "step", "spike"]
SHAPES: tuple[str, ...] = get_args(Shape)

# The url-anvil API the simulated users exercise, by task name.
TaskName = Literal["sample_urls", "test", "history", "index"]
TASK_NAMES: tuple[str, ...] = get_args(TaskName)
DEFAULT_TASKS = {"sample_urls": 4, "test": 2, "history": 1, "index": 1}

MAX_USERS = 5000
MAX_SPAWN_RATE = 1000.0
MAX_TIMEOUT_S = 120.0
MAX_WAIT_S = 60.0
MAX_TASK_WEIGHT = 1000
MAX_CHAOS_EVENTS = 50
# A fault outlives its planned end by this much at most, even if the platform
# dies before clearing it: the expiry is the last line of defence.
CHAOS_TTL_MARGIN_S = 10

_EVENT_FIELDS = {"at_s", "duration_s", "kind", "params", "scope"}
# Faults that only a place running the target's replicas itself can make real
# (a sandbox): ``pod_kill`` kills one replica's processes (its restart policy
# brings it back), ``partition`` cuts one replica off its network for the
# event's duration. Their scope picks replicas: "one" (the default), "all" or
# {"fraction": f}.
CONTAINER_FAULT_KINDS: tuple[str, ...] = ("pod_kill", "partition")


# Strict: true is not 1 user, "10" is not a number, and NaN, Infinity and
# 1e400 (which Python's json reads as inf) are no duration at all.
_STRICT = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)

ShapeField = Annotated[Shape, ErrorMessage(f"must be one of {', '.join(SHAPES)}")]
Users = Annotated[int, WholeNumber(ge=0, le=MAX_USERS)]
WholeSeconds = Annotated[int, WholeNumber(ge=1)]
Timeout = Annotated[float, Field(ge=0.1, le=MAX_TIMEOUT_S)]
Wait = Annotated[float, Field(ge=0, le=MAX_WAIT_S)]
Tasks = dict[
    Annotated[TaskName, ErrorMessage(f"unknown task; use {', '.join(TASK_NAMES)}")],
    Annotated[int, WholeNumber(ge=0, le=MAX_TASK_WEIGHT)],
]


class _Shape(TypedDict, total=False):
    # Only the shape, to pick the model; everything else is looked at by that model.
    __pydantic_config__ = ConfigDict(strict=True, extra="ignore")  # type: ignore[misc]
    shape: ShapeField


class _ConstantProfile(TypedDict, total=False):
    """What a client may give; profile_validate fills in the rest. Bounds that depend on
    other fields or on settings are checked there."""

    __pydantic_config__ = _STRICT  # type: ignore[misc]
    shape: ShapeField
    users: Users
    spawn_rate: Annotated[float, Field(gt=0, le=MAX_SPAWN_RATE)]
    duration_s: WholeSeconds
    timeout_s: Timeout
    connect_timeout_s: Timeout
    wait_min_s: Wait
    wait_max_s: Wait
    tasks: Tasks | None


class _StepProfile(_ConstantProfile, total=False):
    step_users: Annotated[int, WholeNumber(ge=1, le=MAX_USERS)]
    step_every_s: WholeSeconds
    max_users: Users


class _SpikeProfile(_ConstantProfile, total=False):
    spike_users: Users
    spike_at_s: Annotated[int, WholeNumber(ge=0)]
    spike_duration_s: WholeSeconds


_SHAPE = TypeAdapter(_Shape)
_PROFILES: dict[str, TypeAdapter[dict]] = {
    "constant": TypeAdapter(_ConstantProfile),
    "step": TypeAdapter(_StepProfile),
    "spike": TypeAdapter(_SpikeProfile),
}


class _ChaosEvent(TypedDict):
    __pydantic_config__ = _STRICT  # type: ignore[misc]
    at_s: Annotated[float, Field(ge=0)]
    duration_s: Annotated[float, Field(gt=0)]
    # The fault part is the anvil's to check (fault_spec_validate).
    kind: Any
    params: NotRequired[Any]
    scope: NotRequired[Any]


_CHAOS_EVENT = TypeAdapter(_ChaosEvent)


class _ReplicaFraction(TypedDict):
    __pydantic_config__ = _STRICT  # type: ignore[misc]
    fraction: Annotated[float, Field(gt=0, le=1)]


_REPLICA_FRACTION = TypeAdapter(_ReplicaFraction)
_NO_PARAMS = TypeAdapter(Annotated[dict[str, Any], Field(max_length=0)])


def _container_fault_validate(*, kind: str, params: object, scope: object, prefix: str) -> dict:
    """A ``pod_kill`` / ``partition`` event's fault part, normalized: no params, a scope of replicas."""
    validate(_NO_PARAMS, {} if params is None else params, root=f"{prefix}params",
             messages={"too_long": f"{kind} takes no params", "dict_type": "must be a JSON object"})
    if scope in ("one", "all"):
        normalized: str | dict = scope
    elif isinstance(scope, dict) and set(scope) == {"fraction"}:
        normalized = validate(_REPLICA_FRACTION, scope, prefix=f"{prefix}scope.")
    else:
        raise FieldError(f"{prefix}scope", 'must be "one", "all" or {"fraction": f} (0 < f ≤ 1) of the replicas')
    return {"kind": kind, "params": {}, "scope": normalized}
_CHAOS_PLAN = TypeAdapter(Annotated[list[Any], Field(max_length=MAX_CHAOS_EVENTS)])


def _max_duration_s() -> int:
    # Read lazily so this module stays importable without configured settings.
    from django.conf import settings

    return int(getattr(settings, "LOADTEST_MAX_DURATION_S", 3600))


def _at_least(value: float, minimum: float, field: str) -> None:
    if value < minimum:
        raise FieldError(field, f"must be at least {minimum:g}")


def _at_most(value: float, maximum: float, field: str) -> None:
    if value > maximum:
        raise FieldError(field, f"must be at most {maximum:g}")


def profile_validate(*, profile: object) -> dict:
    """Return ``profile`` normalized with every default filled in, or raise FieldError naming the field."""
    shape = validate(_SHAPE, profile, root="profile").get("shape", "constant")
    adapter = _PROFILES[shape]
    given = validate(adapter, profile, root="profile",
                     messages={"extra_forbidden": f"is not a field of a {shape} profile"})

    out: dict[str, Any] = {"shape": shape, "users": given.get("users", 10)}
    users = out["users"]
    out["spawn_rate"] = given.get("spawn_rate", max(1.0, float(users)))
    out["duration_s"] = given.get("duration_s", 30)
    out["timeout_s"] = given.get("timeout_s", 10.0)
    out["connect_timeout_s"] = given.get("connect_timeout_s", min(5.0, out["timeout_s"]))
    out["wait_min_s"] = given.get("wait_min_s", 0.1)
    out["wait_max_s"] = given.get("wait_max_s", max(0.5, out["wait_min_s"]))
    tasks = given.get("tasks")
    out["tasks"] = dict(DEFAULT_TASKS) if tasks is None else {name: tasks.get(name, 0) for name in TASK_NAMES}
    duration_s = out["duration_s"]
    if shape == "step":
        out["step_users"] = given.get("step_users", 10)
        out["step_every_s"] = given.get("step_every_s", 10)
        out["max_users"] = given.get("max_users", max(users, 1) + 5 * out["step_users"])
    elif shape == "spike":
        out["spike_users"] = given.get("spike_users", max(1, users * 5))
        out["spike_at_s"] = given.get("spike_at_s", duration_s // 3)
        out["spike_duration_s"] = given.get("spike_duration_s", max(1, duration_s // 3))
    # Defaults derived from other fields (spawn_rate from users, say) obey the
    # same bounds as given values.
    validate(adapter, out, root="profile")

    # Rules that involve more than one field, or the settings.
    if shape == "constant":
        _at_least(users, 1, "users")
    _at_most(duration_s, _max_duration_s(), "duration_s")
    if out["wait_max_s"] < out["wait_min_s"]:
        raise FieldError("wait_max_s", "must not be below wait_min_s")
    if not any(out["tasks"].values()):
        raise FieldError("tasks", "at least one task needs a weight above 0")
    if shape == "step":
        _at_most(out["step_every_s"], duration_s, "step_every_s")
        _at_least(out["max_users"], max(users, 1), "max_users")
    elif shape == "spike":
        _at_least(out["spike_users"], max(users, 1), "spike_users")
        _at_most(out["spike_at_s"], duration_s - 1, "spike_at_s")
        _at_most(out["spike_duration_s"], duration_s, "spike_duration_s")
    return out


def profile_users_at(*, profile: dict, elapsed_s: float) -> int:
    """How many users a validated profile wants ``elapsed_s`` seconds into the run."""
    shape = profile["shape"]
    if shape == "step":
        steps = int(elapsed_s // profile["step_every_s"])
        return min(profile["max_users"], profile["users"] + steps * profile["step_users"])
    if shape == "spike":
        start = profile["spike_at_s"]
        if start <= elapsed_s < start + profile["spike_duration_s"]:
            return profile["spike_users"]
        return profile["users"]
    return profile["users"]


def profile_peak_users(*, profile: dict) -> int:
    shape = profile["shape"]
    if shape == "step":
        return profile["max_users"]
    if shape == "spike":
        return profile["spike_users"]
    return profile["users"]


def chaos_event_fault_spec(*, event: dict) -> dict:
    """The anvil fault JSON for one normalized chaos event, with an expiry just past its planned end."""
    return {
        "kind": event["kind"],
        "params": event["params"],
        "scope": event["scope"],
        "ttl_s": math.ceil(event["duration_s"]) + CHAOS_TTL_MARGIN_S,
    }


def _too_many_events(error: ErrorDetails) -> str:
    return f"has {error['ctx']['actual_length']} events; at most {MAX_CHAOS_EVENTS} are allowed"


def chaos_plan_validate(*, plan: object, duration_s: float | None = None, container_faults: bool = False) -> list[dict]:
    """Return the plan normalized (in the given order), or raise FieldError naming the field.

    Each event is ``{"at_s", "duration_s", "kind", "params", "scope"}``; the fault
    part is checked by the anvil's own ``fault_spec_validate``. With ``duration_s``
    (the profile's), every event must start before the run ends. The
    ``CONTAINER_FAULT_KINDS`` are accepted only with ``container_faults`` (a run
    in a place that runs the replicas, a sandbox); anywhere else they are
    refused by name.
    """
    from anvil.faults import fault_spec_validate

    if plan is None:
        return []
    plan = validate(_CHAOS_PLAN, plan, root="chaos_plan",
                    messages={"list_type": "must be a JSON list of events", "too_long": _too_many_events})
    max_duration_s = float(_max_duration_s())
    unknown = f"is not a field of a chaos event; use {', '.join(sorted(_EVENT_FIELDS))}"
    events = []
    for index, raw in enumerate(plan):
        prefix = f"chaos_plan[{index}]."
        event = validate(_CHAOS_EVENT, raw, prefix=prefix, messages={"extra_forbidden": unknown})
        at_s, event_duration = event["at_s"], event["duration_s"]
        _at_most(at_s, float(duration_s) if duration_s is not None else max_duration_s, f"{prefix}at_s")
        if duration_s is not None and at_s >= duration_s:
            raise FieldError(f"{prefix}at_s", f"must be before the end of the run ({duration_s:g}s)")
        _at_most(event_duration, max_duration_s, f"{prefix}duration_s")
        if event["kind"] in CONTAINER_FAULT_KINDS:
            if not container_faults:
                raise FieldError(f"{prefix}kind", f"{event['kind']} needs a run in a sandbox (a bundle): only there "
                                                  "does the platform run the replicas it would kill or cut off")
            spec = _container_fault_validate(kind=event["kind"], params=event.get("params"),
                                             scope=event.get("scope", "one"), prefix=prefix)
            events.append({"at_s": at_s, "duration_s": event_duration, **spec})
            continue
        candidate = {"kind": event["kind"], "params": event.get("params", {}), "scope": event.get("scope", "all"),
                     "ttl_s": math.ceil(event_duration) + CHAOS_TTL_MARGIN_S}
        try:
            spec = fault_spec_validate(spec=candidate)
        except FieldError as exc:
            field = "duration_s" if exc.field == "ttl_s" else exc.field
            raise FieldError(f"{prefix}{field}", exc.message) from exc
        events.append({"at_s": at_s, "duration_s": event_duration, "kind": spec["kind"],
                       "params": spec["params"], "scope": spec["scope"]})
    return events
