"""The fault JSON: one description of a fault for the control API, chaos plans and the admin.

``{"kind": ..., "params": {...}, "scope": "all" | {"fraction": f} | {"instance": "<boot id>"}, "ttl_s": n}``

``fault_spec_validate`` is pure (no settings, no store) so that any app can check a
chaos plan without talking to an anvil.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, StringConstraints, TypeAdapter, model_validator
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

from common.validation import ErrorMessage, WholeNumber, validate

Kind = Literal["latency", "error", "hang", "crash", "unhealthy"]
CrashTarget = Literal["worker", "server"]
KINDS: tuple[str, ...] = get_args(Kind)
CRASH_TARGETS: tuple[str, ...] = get_args(CrashTarget)
TTL_DEFAULT_S = 60
# Every fault expires: a platform that dies mid-challenge must not leave the anvil broken for long.
TTL_MAX_S = 24 * 3600
LATENCY_MAX_MS = 120_000
HANG_MAX_S = 3600
BOOT_ID_MAX_LENGTH = 64
SCOPE_MESSAGE = 'must be "all", {"fraction": 0<f<=1} or {"instance": "<boot id>"}'


# Strict: JSON's true is not 1 ms, "300" is not a number, and NaN, Infinity
# and 1e400 (which Python's json reads as inf) are no delay at all.
_STRICT = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)

Probability = Annotated[float, Field(ge=0, le=1)]
Milliseconds = Annotated[float, Field(ge=0, le=LATENCY_MAX_MS)]


class _LatencyParams(BaseModel):
    model_config = _STRICT
    ms: Milliseconds = 200.0
    jitter_ms: Milliseconds = 0.0
    probability: Probability = 1.0


class _ErrorParams(BaseModel):
    model_config = _STRICT
    status: Annotated[int, WholeNumber(ge=400, le=599), ErrorMessage("must be an integer from 400 to 599")] = 500
    probability: Probability = 1.0


class _HangParams(BaseModel):
    model_config = _STRICT
    seconds: Annotated[float, Field(gt=0, le=HANG_MAX_S)] = 30.0
    probability: Probability = 1.0


class _CrashParams(BaseModel):
    model_config = _STRICT
    probability: Probability = 1.0
    once: bool = True
    # "worker": the serving process dies and its gunicorn master replaces it, as
    # a segfault would. "server": the whole anvil instance (master and workers)
    # dies, as a killed container or host would; only whatever supervises the
    # participant's setup brings it back.
    target: Annotated[CrashTarget, ErrorMessage(f"must be one of {', '.join(CRASH_TARGETS)}")] = "worker"

    @model_validator(mode="after")
    def _once_unless_probable(self) -> _CrashParams:
        # {} means "crash once": the first request that meets the fault takes its
        # process down and uses the fault up. With a probability, every request
        # rolls the dice until the fault expires, unless "once" is also set.
        if "once" not in self.model_fields_set:
            self.once = "probability" not in self.model_fields_set
        return self


class _UnhealthyParams(BaseModel):
    model_config = _STRICT


_PARAM_MODELS: dict[str, type[BaseModel]] = {
    "latency": _LatencyParams, "error": _ErrorParams, "hang": _HangParams, "crash": _CrashParams,
    "unhealthy": _UnhealthyParams,
}
# Per kind: the adapter and the words for a parameter it does not have.
_PARAMS = {
    kind: (TypeAdapter(model),
           f"is not a parameter of a {kind} fault (allowed: {', '.join(sorted(model.model_fields)) or 'none'})")
    for kind, model in _PARAM_MODELS.items()
}


class _Fraction(TypedDict):
    __pydantic_config__ = _STRICT  # type: ignore[misc]
    fraction: Annotated[float, Field(gt=0, le=1)]


class _Instance(TypedDict):
    __pydantic_config__ = _STRICT  # type: ignore[misc]
    # Padding around a boot id is a copy-and-paste slip, not another instance.
    instance: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=BOOT_ID_MAX_LENGTH),
        ErrorMessage(f"must be a boot id (1-{BOOT_ID_MAX_LENGTH} characters)"),
    ]


_FRACTION = TypeAdapter(_Fraction)
_INSTANCE = TypeAdapter(_Instance)


def _scope_parse(value: object) -> str | dict:
    # Chosen by its one key, so that a problem is told about that key
    # ("scope.fraction: must be at most 1"), not about every shape it is not.
    if value == "all":
        return "all"
    if isinstance(value, dict) and len(value) == 1:
        if "fraction" in value:
            return _FRACTION.validate_python(value)
        if "instance" in value:
            return _INSTANCE.validate_python(value)
    raise PydanticCustomError("scope", SCOPE_MESSAGE)


class _Fault(BaseModel):
    model_config = _STRICT
    kind: Annotated[Kind, ErrorMessage(f"must be one of {', '.join(KINDS)}")]
    params: dict[str, Any] | None = None
    scope: Annotated[str | dict, PlainValidator(_scope_parse)] = "all"
    ttl_s: Annotated[float, Field(gt=0, le=TTL_MAX_S)] = float(TTL_DEFAULT_S)


_FAULT = TypeAdapter(_Fault)


def fault_spec_validate(*, spec: object) -> dict[str, Any]:
    """Check a fault description and return it normalized, every default filled in.

    Raises ``FieldError`` naming the first field that is wrong.
    """
    fault = validate(_FAULT, spec, root="spec",
                     messages={"extra_forbidden": "is not a fault field (use kind, params, scope, ttl_s)"})
    adapter, unknown = _PARAMS[fault.kind]
    params = validate(adapter, fault.params or {}, prefix="params.", messages={"extra_forbidden": unknown})
    return {"kind": fault.kind, "params": params.model_dump(), "scope": fault.scope, "ttl_s": fault.ttl_s}
