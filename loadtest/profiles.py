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
from typing import Any

SHAPES = ("constant", "step", "spike")

# The url-anvil API the simulated users exercise, by task name.
TASK_NAMES = ("sample_urls", "test", "history", "index")
DEFAULT_TASKS = {"sample_urls": 4, "test": 2, "history": 1, "index": 1}

MAX_USERS = 5000
MAX_SPAWN_RATE = 1000.0
MAX_TIMEOUT_S = 120.0
MAX_WAIT_S = 60.0
MAX_CHAOS_EVENTS = 50
# A fault outlives its planned end by this much at most, even if the platform
# dies before clearing it: the expiry is the last line of defence.
CHAOS_TTL_MARGIN_S = 10

_COMMON_FIELDS = {
    "shape", "users", "spawn_rate", "duration_s", "timeout_s", "connect_timeout_s",
    "wait_min_s", "wait_max_s", "tasks",
}
_SHAPE_FIELDS = {
    "constant": set(),
    "step": {"step_users", "step_every_s", "max_users"},
    "spike": {"spike_users", "spike_at_s", "spike_duration_s"},
}
_EVENT_FIELDS = {"at_s", "duration_s", "kind", "params", "scope"}


class ProfileError(ValueError):
    """A profile or chaos plan is not acceptable; ``field`` names the culprit (dotted path)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _max_duration_s() -> int:
    # Read lazily so this module stays importable without configured settings.
    from django.conf import settings

    return int(getattr(settings, "LOADTEST_MAX_DURATION_S", 3600))


def _number(data: dict, field: str, *, default: Any, minimum: float, maximum: float,
            integer: bool = False, exclusive_minimum: bool = False, prefix: str = "") -> Any:
    value = data.get(field, default)
    name = f"{prefix}{field}"
    # bool is an int subclass: true/false must not pass as 1/0.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProfileError(name, "must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ProfileError(name, "must be a finite number")
    if integer:
        if isinstance(value, float):
            if not value.is_integer():
                raise ProfileError(name, "must be a whole number")
            value = int(value)
    else:
        value = float(value)
    if value < minimum or (exclusive_minimum and value == minimum):
        raise ProfileError(name, f"must be {'above' if exclusive_minimum else 'at least'} {minimum:g}")
    if value > maximum:
        raise ProfileError(name, f"must be at most {maximum:g}")
    return value


def _tasks_validate(raw: object) -> dict[str, int]:
    if raw is None:
        return dict(DEFAULT_TASKS)
    if not isinstance(raw, dict):
        raise ProfileError("tasks", f"must be an object of weights for {', '.join(TASK_NAMES)}")
    tasks: dict[str, int] = {}
    for name, _weight in raw.items():
        if name not in TASK_NAMES:
            raise ProfileError(f"tasks.{name}", f"unknown task; use {', '.join(TASK_NAMES)}")
        tasks[name] = _number(raw, name, default=0, minimum=0, maximum=1000, integer=True, prefix="tasks.")
    if not any(tasks.values()):
        raise ProfileError("tasks", "at least one task needs a weight above 0")
    return {name: tasks.get(name, 0) for name in TASK_NAMES}


def profile_validate(*, profile: object) -> dict:
    """Return ``profile`` normalized with every default filled in, or raise ProfileError."""
    if not isinstance(profile, dict):
        raise ProfileError("profile", "must be a JSON object")
    shape = profile.get("shape", "constant")
    if shape not in SHAPES:
        raise ProfileError("shape", f"must be one of {', '.join(SHAPES)}")
    allowed = _COMMON_FIELDS | _SHAPE_FIELDS[shape]
    for field in profile:
        if field not in allowed:
            raise ProfileError(str(field), f"is not a field of a {shape} profile")

    out: dict[str, Any] = {"shape": shape}
    out["users"] = _number(profile, "users", default=10, minimum=1 if shape == "constant" else 0,
                           maximum=MAX_USERS, integer=True)
    out["spawn_rate"] = _number(profile, "spawn_rate", default=max(1.0, float(out["users"])),
                                minimum=0, maximum=MAX_SPAWN_RATE, exclusive_minimum=True)
    out["duration_s"] = _number(profile, "duration_s", default=30, minimum=1, maximum=_max_duration_s(),
                                integer=True)
    out["timeout_s"] = _number(profile, "timeout_s", default=10.0, minimum=0.1, maximum=MAX_TIMEOUT_S)
    out["connect_timeout_s"] = _number(profile, "connect_timeout_s", default=min(5.0, out["timeout_s"]),
                                       minimum=0.1, maximum=MAX_TIMEOUT_S)
    out["wait_min_s"] = _number(profile, "wait_min_s", default=0.1, minimum=0, maximum=MAX_WAIT_S)
    out["wait_max_s"] = _number(profile, "wait_max_s", default=max(0.5, out["wait_min_s"]), minimum=0,
                                maximum=MAX_WAIT_S)
    if out["wait_max_s"] < out["wait_min_s"]:
        raise ProfileError("wait_max_s", "must not be below wait_min_s")
    out["tasks"] = _tasks_validate(profile.get("tasks"))

    if shape == "step":
        out["step_users"] = _number(profile, "step_users", default=10, minimum=1, maximum=MAX_USERS, integer=True)
        out["step_every_s"] = _number(profile, "step_every_s", default=10, minimum=1,
                                      maximum=out["duration_s"], integer=True)
        out["max_users"] = _number(profile, "max_users", default=max(out["users"], 1) + 5 * out["step_users"],
                                   minimum=max(out["users"], 1), maximum=MAX_USERS, integer=True)
    elif shape == "spike":
        if out["users"] < 0:
            raise ProfileError("users", "must be at least 0")
        out["spike_users"] = _number(profile, "spike_users", default=max(1, out["users"] * 5),
                                     minimum=max(out["users"], 1), maximum=MAX_USERS, integer=True)
        out["spike_at_s"] = _number(profile, "spike_at_s", default=out["duration_s"] // 3, minimum=0,
                                    maximum=out["duration_s"] - 1, integer=True)
        out["spike_duration_s"] = _number(profile, "spike_duration_s",
                                          default=max(1, out["duration_s"] // 3), minimum=1,
                                          maximum=out["duration_s"], integer=True)
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


def chaos_plan_validate(*, plan: object, duration_s: float | None = None) -> list[dict]:
    """Return the plan normalized (in the given order), or raise ProfileError naming the field.

    Each event is ``{"at_s", "duration_s", "kind", "params", "scope"}``; the fault
    part is checked by the anvil's own ``fault_spec_validate``. With ``duration_s``
    (the profile's), every event must start before the run ends.
    """
    from anvil.faults import FaultSpecError, fault_spec_validate

    if plan is None:
        return []
    if not isinstance(plan, list):
        raise ProfileError("chaos_plan", "must be a JSON list of events")
    if len(plan) > MAX_CHAOS_EVENTS:
        raise ProfileError("chaos_plan", f"has {len(plan)} events; at most {MAX_CHAOS_EVENTS} are allowed")
    events = []
    for index, raw in enumerate(plan):
        prefix = f"chaos_plan[{index}]."
        if not isinstance(raw, dict):
            raise ProfileError(f"chaos_plan[{index}]", "must be a JSON object")
        for field in raw:
            if field not in _EVENT_FIELDS:
                raise ProfileError(f"{prefix}{field}", f"is not a field of a chaos event; use {', '.join(sorted(_EVENT_FIELDS))}")
        for field in ("at_s", "duration_s", "kind"):
            if field not in raw:
                raise ProfileError(f"{prefix}{field}", "is required")
        limit = float(duration_s) if duration_s is not None else float(_max_duration_s())
        at_s = _number(raw, "at_s", default=None, minimum=0, maximum=limit, prefix=prefix)
        if duration_s is not None and at_s >= duration_s:
            raise ProfileError(f"{prefix}at_s", f"must be before the end of the run ({duration_s:g}s)")
        event_duration = _number(raw, "duration_s", default=None, minimum=0, maximum=float(_max_duration_s()),
                                 exclusive_minimum=True, prefix=prefix)
        candidate = {"kind": raw.get("kind"), "params": raw.get("params", {}), "scope": raw.get("scope", "all"),
                     "ttl_s": math.ceil(event_duration) + CHAOS_TTL_MARGIN_S}
        try:
            spec = fault_spec_validate(spec=candidate)
        except FaultSpecError as exc:
            field = "duration_s" if exc.field == "ttl_s" else exc.field
            raise ProfileError(f"{prefix}{field}", exc.message) from exc
        events.append({"at_s": at_s, "duration_s": event_duration, "kind": spec["kind"],
                       "params": spec["params"], "scope": spec["scope"]})
    return events
