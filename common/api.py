"""One JSON shape for every API error, whatever raised it.

``{"error": "<one readable sentence>", "details": {"<field>": ["<problem>", …]}}``

DRF's own exceptions (validation, authentication, throttling, 404 …) and
Django's ``Http404`` / ``PermissionDenied`` all pass through here; anything
else is a bug and stays a 500 so that it is seen.
"""

from __future__ import annotations

import math
from typing import Any

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler

# What ``details`` holds: per field, its problems; on a 429 also ``retry_after_s``,
# the same number of seconds as the ``Retry-After`` header.
DETAILS_SCHEMA = {
    "type": "object",
    "properties": {"retry_after_s": {"type": "integer", "minimum": 1}},
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
}


@extend_schema_field(DETAILS_SCHEMA)
class _DetailsField(serializers.DictField):
    pass


@extend_schema_serializer(component_name="Error")
class ErrorBody(serializers.Serializer):
    """Every error answer of the API has this shape."""

    # Documentation only: answers are built by ``api_error`` and the handler below.

    error = serializers.CharField(help_text="One readable sentence.")
    details = _DetailsField(help_text="Per field, its problems; `retry_after_s` on a 429.")


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "the request body is too large"
    default_code = "payload_too_large"


def retry_after_s(wait: float) -> int:
    """Whole seconds to wait, never 0: a fraction left in the window still has to pass."""
    return max(1, math.ceil(wait))


def _flatten(detail: Any) -> Any:
    """ErrorDetail trees → plain strings, lists and dicts."""
    if isinstance(detail, dict):
        return {str(key): _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list | tuple):
        return [_flatten(item) for item in detail]
    return str(detail)


def _fields(detail: Any) -> dict[str, list]:
    if isinstance(detail, dict):
        return {key: value if isinstance(value, list) else [value] for key, value in _flatten(detail).items()}
    return {}


def _summary(exc: exceptions.APIException, details: dict[str, list]) -> str:
    if isinstance(exc, exceptions.ValidationError):
        if not details:
            flat = _flatten(exc.detail)
            return "; ".join(flat) if isinstance(flat, list) else str(flat)
        parts = []
        for field, problems in details.items():
            first = problems[0] if problems else "invalid"
            text = first if isinstance(first, str) else str(first)
            parts.append(text if field == "non_field_errors" else f"{field}: {text}")
        return "; ".join(parts)
    return str(exc.detail) if not isinstance(exc.detail, dict | list) else exc.default_detail


def api_error(message: str, *, status: int, details: dict | None = None, headers: dict | None = None) -> Response:
    """The one error answer; a 429 must name its ``Retry-After`` in ``headers`` (and ``details["retry_after_s"]``)."""
    if status == 429 and not (headers or {}).get("Retry-After"):
        # A caller's bug, caught by its tests: every 429 says when to come back.
        raise ValueError("a 429 answer needs its Retry-After")
    return Response({"error": message, "details": details or {}}, status=status, headers=headers)


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.APIException):
        details = _fields(exc.detail)
        message = _summary(exc, details)
        if response.status_code == 429:
            # DRF writes Retry-After as "%d" of the wait, which is 0 for the
            # last fraction of a window, and none at all for a throttle that
            # cannot tell (wait None); every 429 says when to come back, header
            # and body the same whole seconds, at least one.
            wait = retry_after_s(getattr(exc, "wait", None) or 0)
            details.setdefault("retry_after_s", wait)
            response["Retry-After"] = str(wait)
    else:
        # Http404 / PermissionDenied from Django, already given a status by DRF.
        message = str(response.data.get("detail", "error")) if isinstance(response.data, dict) else "error"
        details = {}
    response.data = {"error": message, "details": details}
    return response
