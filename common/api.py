"""One JSON shape for every API error, whatever raised it.

``{"error": "<one readable sentence>", "details": {"<field>": ["<problem>", …]}}``

DRF's own exceptions (validation, authentication, throttling, 404 …) and
Django's ``Http404`` / ``PermissionDenied`` all pass through here; anything
else is a bug and stays a 500 so that it is seen.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler


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
    return Response({"error": message, "details": details or {}}, status=status, headers=headers)


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.APIException):
        details = _fields(exc.detail)
        message = _summary(exc, details)
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            details.setdefault("retry_after_s", int(exc.wait) + 1)
    else:
        # Http404 / PermissionDenied from Django, already given a status by DRF.
        message = str(response.data.get("detail", "error")) if isinstance(response.data, dict) else "error"
        details = {}
    response.data = {"error": message, "details": details}
    return response
