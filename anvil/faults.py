"""The fault JSON: one description of a fault for the control API, chaos plans and the admin.

``{"kind": ..., "params": {...}, "scope": "all" | {"fraction": f} | {"instance": "<boot id>"}, "ttl_s": n}``

``fault_spec_validate`` is pure (no settings, no store) so that any app can check a
chaos plan without talking to an anvil.
"""

from __future__ import annotations

import math
from typing import Any

KINDS = ("latency", "error", "hang", "crash", "unhealthy")
CRASH_TARGETS = ("worker", "server")
TTL_DEFAULT_S = 60
# Every fault expires: a platform that dies mid-challenge must not leave the anvil broken for long.
TTL_MAX_S = 24 * 3600
LATENCY_MAX_MS = 120_000
HANG_MAX_S = 3600
BOOT_ID_MAX_LENGTH = 64


class FaultSpecError(ValueError):
    """A fault description is unusable; ``field`` is the dotted path of the culprit (e.g. ``params.ms``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _number(value: object, *, field: str, minimum: float, maximum: float, minimum_exclusive: bool = False) -> float:
    # bool is an int subclass; "true" as a delay is a client bug, not 1 ms.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FaultSpecError(field, "must be a number")
    if value < minimum or (minimum_exclusive and value == minimum):
        bound = "greater than" if minimum_exclusive else "at least"
        raise FaultSpecError(field, f"must be {bound} {minimum:g}")
    if value > maximum:
        raise FaultSpecError(field, f"must be at most {maximum:g}")
    return float(value)


def _integer(value: object, *, field: str, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise FaultSpecError(field, "must be an integer")
    value = int(value)
    if not minimum <= value <= maximum:
        raise FaultSpecError(field, f"must be between {minimum} and {maximum}")
    return value


def _probability(params: dict, default: float) -> float:
    if "probability" not in params:
        return default
    return _number(params["probability"], field="params.probability", minimum=0.0, maximum=1.0)


def _params_latency(params: dict) -> dict:
    ms = _number(params.get("ms", 200), field="params.ms", minimum=0, maximum=LATENCY_MAX_MS)
    jitter = _number(params.get("jitter_ms", 0), field="params.jitter_ms", minimum=0, maximum=LATENCY_MAX_MS)
    return {"ms": ms, "jitter_ms": jitter, "probability": _probability(params, 1.0)}


def _params_error(params: dict) -> dict:
    status = _integer(params.get("status", 500), field="params.status", minimum=400, maximum=599)
    return {"status": status, "probability": _probability(params, 1.0)}


def _params_hang(params: dict) -> dict:
    seconds = _number(params.get("seconds", 30), field="params.seconds", minimum=0, maximum=HANG_MAX_S, minimum_exclusive=True)
    return {"seconds": seconds, "probability": _probability(params, 1.0)}


def _params_crash(params: dict) -> dict:
    # {} means "crash once": the first request that meets the fault takes its
    # process down and uses the fault up. With a probability, every request
    # rolls the dice until the fault expires, unless "once" is also set.
    once_default = "probability" not in params
    once = params.get("once", once_default)
    if not isinstance(once, bool):
        raise FaultSpecError("params.once", "must be true or false")
    # "worker": the serving process dies and its gunicorn master replaces it, as
    # a segfault would. "server": the whole anvil instance (master and workers)
    # dies, as a killed container or host would; only whatever supervises the
    # participant's setup brings it back.
    target = params.get("target", "worker")
    if target not in CRASH_TARGETS:
        raise FaultSpecError("params.target", f"must be one of {', '.join(CRASH_TARGETS)}")
    return {"probability": _probability(params, 1.0), "once": once, "target": target}


def _params_unhealthy(params: dict) -> dict:
    return {}


_PARAMS = {
    "latency": (_params_latency, {"ms", "jitter_ms", "probability"}),
    "error": (_params_error, {"status", "probability"}),
    "hang": (_params_hang, {"seconds", "probability"}),
    "crash": (_params_crash, {"probability", "once", "target"}),
    "unhealthy": (_params_unhealthy, set()),
}


def _scope(scope: object) -> str | dict:
    if scope == "all":
        return "all"
    if isinstance(scope, dict) and len(scope) == 1:
        if "fraction" in scope:
            fraction = _number(scope["fraction"], field="scope.fraction", minimum=0.0, maximum=1.0, minimum_exclusive=True)
            return {"fraction": fraction}
        if "instance" in scope:
            instance = scope["instance"]
            if not isinstance(instance, str) or not instance.strip() or len(instance) > BOOT_ID_MAX_LENGTH:
                raise FaultSpecError("scope.instance", f"must be a boot id (1-{BOOT_ID_MAX_LENGTH} characters)")
            return {"instance": instance.strip()}
    raise FaultSpecError("scope", 'must be "all", {"fraction": 0<f<=1} or {"instance": "<boot id>"}')


def fault_spec_validate(*, spec: object) -> dict[str, Any]:
    """Check a fault description and return it normalized, every default filled in.

    Raises ``FaultSpecError`` naming the first field that is wrong.
    """
    if not isinstance(spec, dict):
        raise FaultSpecError("spec", "must be a JSON object")
    unknown = sorted(set(spec) - {"kind", "params", "scope", "ttl_s"})
    if unknown:
        raise FaultSpecError(str(unknown[0]), "is not a fault field (use kind, params, scope, ttl_s)")
    kind = spec.get("kind")
    if kind not in KINDS:
        raise FaultSpecError("kind", f"must be one of {', '.join(KINDS)}")
    params = spec.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise FaultSpecError("params", "must be a JSON object")
    builder, allowed = _PARAMS[kind]
    extra = sorted(set(params) - allowed)
    if extra:
        hint = ", ".join(sorted(allowed)) or "none"
        raise FaultSpecError(f"params.{extra[0]}", f"is not a parameter of a {kind} fault (allowed: {hint})")
    ttl_s = _number(spec.get("ttl_s", TTL_DEFAULT_S), field="ttl_s", minimum=0, maximum=TTL_MAX_S, minimum_exclusive=True)
    return {
        "kind": kind,
        "params": builder(params),
        "scope": _scope(spec.get("scope", "all")),
        "ttl_s": ttl_s,
    }
