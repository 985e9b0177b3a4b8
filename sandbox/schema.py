"""Each object checked against the real Kubernetes OpenAPI schemas, strictly.

The schemas ship with kubernetes-validate (generated from the API server's
own OpenAPI documents); "strict" is their variant that refuses unknown
fields, as a server with strict field validation does. This runs before the
policy checks, so those only ever see objects a real API server would take,
and a bundle accepted here also applies to a cluster of that version.

The schemas check structure and types, not everything an API server checks
(names, label syntax, port ranges, quantities): the policy checks what the
sandbox relies on of the rest.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import kubernetes_validate

from common.validation import FieldError
from sandbox.fieldpath import path_of

# The Kubernetes version whose schemas a bundle must satisfy. An older one
# on purpose: the API keeps fields once they are GA, so a bundle valid for
# 1.33 applies to the clusters participants are likely to try it on.
KUBERNETES_VERSION = "1.33"

# Kind → apiVersion: what a bundle may hold at all.
ALLOWED_KINDS = {"Deployment": "apps/v1", "Service": "v1", "ConfigMap": "v1"}

_MESSAGE_LIMIT = 200


def object_check_kind(obj: dict[str, Any], *, index: int) -> str:
    """The object's kind, once its kind and apiVersion are ones a bundle may use."""
    kind = obj.get("kind")
    api_version = obj.get("apiVersion")
    allowed = ", ".join(f"{version} {name}" for name, version in ALLOWED_KINDS.items())
    if not isinstance(kind, str) or kind not in ALLOWED_KINDS:
        shown = kind if isinstance(kind, str) else "missing"
        raise FieldError(field=path_of(index, ["kind"]), message=f"{shown[:60]!r} is not allowed; a bundle holds {allowed}")
    if api_version != ALLOWED_KINDS[kind]:
        raise FieldError(field=path_of(index, ["apiVersion"]), message=f"a {kind} must be apiVersion {ALLOWED_KINDS[kind]}")
    return kind


def object_check_schema(obj: dict[str, Any], *, index: int, kubernetes_version: str = KUBERNETES_VERSION) -> None:
    try:
        kubernetes_validate.validate(obj, kubernetes_version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        field, message = _describe(exc)
        raise FieldError(
            field=path_of(index, field), message=f"{message} (Kubernetes {kubernetes_version} schema)"
        ) from None


def _describe(error: jsonschema.ValidationError) -> tuple[list[str | int], str]:
    path: list[str | int] = list(error.absolute_path)
    instance = error.instance
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        # Name the unknown field itself, not the object around it.
        known = error.schema.get("properties", {})
        unknown = sorted(key for key in instance if key not in known)
        if unknown:
            return [*path, unknown[0]], "is not a field of this object"
    if error.validator == "required" and isinstance(instance, dict):
        missing = [name for name in error.validator_value if name not in instance]
        if missing:
            return [*path, missing[0]], "is required"
    message = error.message
    if len(message) > _MESSAGE_LIMIT:
        message = message[: _MESSAGE_LIMIT - 1] + "…"
    return path, message
