"""``/metrics`` of the platform behind an optional bearer token (``METRICS_TOKEN`` / ``METRICS_TOKEN_FILE``).

The exposition names every view, status and database the platform has, and
the playground may be published beyond this machine. With a token set, only
a scraper that sends ``Authorization: Bearer <token>`` gets it (Prometheus:
``authorization.credentials_file``); without one it stays open, as on a
developer laptop.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django_prometheus.exports import ExportToDjangoView

REALM = 'Bearer realm="metrics"'


def _refusal(status: int, message: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"error": message, "details": {}}, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        given = given.strip()
        if scheme.lower() != "bearer" or not given:
            return _refusal(401, "Send the metrics token as 'Authorization: Bearer <METRICS_TOKEN>'.",
                            **{"WWW-Authenticate": REALM})
        if not hmac.compare_digest(given.encode(), token.encode()):
            return _refusal(403, "Wrong metrics token.", **{"WWW-Authenticate": f'{REALM}, error="invalid_token"'})
    return ExportToDjangoView(request)
