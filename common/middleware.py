"""Middleware for the platform's machine-to-machine JSON APIs.

``ApiShortcutMiddleware``: a short way through the stack for APIs that need no
browser middleware. ``ApiRequestBodyMiddleware``: request bodies the API
cannot take get the API's JSON error, not Django's HTML pages or a 500.
"""

from __future__ import annotations

import json
import os
import re
import traceback
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed, RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class ApiShortcutMiddleware:
    """Call the view of a path under ``settings.API_SHORTCUT_PREFIXES`` directly, skipping the middleware below.

    What sits below this middleware (static files, sessions, CSRF, the logged-in
    user, messages, frame options, per-view metrics) serves browsers and the
    admin. An API that authenticates every request by its own key and answers
    JSON needs none of it, and for the tracker's single-run ingest it was about
    30% of the CPU time Django spent on a request (docs/benchmarks.md). So
    views under these prefixes must not use ``request.session``,
    ``request.user`` or messages. Without a session there is no cookie to
    forge, but an API that trusts the client's address (the tracker trusts
    loopback) has an ambient credential all the same: the user's own browser
    is on loopback. Views taking the short way must therefore refuse requests
    made by another site's page themselves (``common.crosssite``; the tracker
    API does, whatever way the request came). An unsafe request (POST, …)
    takes the short way only to a view marked ``csrf_exempt``, and the full
    stack, CSRF check included, to any other.

    What sits above still applies: request metrics, security headers, and the
    conversion of exceptions into error responses.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.prefixes = tuple(settings.API_SHORTCUT_PREFIXES)
        if not self.prefixes:
            raise MiddlewareNotUsed

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(self.prefixes):
            return self.get_response(request)
        # CommonMiddleware is skipped, so check ALLOWED_HOSTS here (400 when the host is not allowed).
        request.get_host()
        try:
            match = resolve(request.path_info)
        except Resolver404:
            # The full stack renders the site's usual 404.
            return self.get_response(request)
        if request.method not in SAFE_METHODS and not getattr(match.func, "csrf_exempt", False):
            return self.get_response(request)
        request.resolver_match = match
        response = match.func(request, *match.args, **match.kwargs)
        if response is None:
            raise ValueError(f"the view {match.view_name} returned None instead of a response")
        return response


# 1*DIGIT in ASCII (RFC 9110): int() would take "-1", " 12" or "١٢", and
# Django's request.body calls int() on it unguarded ("²" is a 500 there).
CONTENT_LENGTH = re.compile(r"[0-9]{1,18}")
_JSON_PACKAGE = os.path.dirname(json.__file__)


def _api_error(status: int, message: str) -> JsonResponse:
    # The shape of every platform API error (common.api), built here because
    # these answers are made before or after DRF, not inside it.
    return JsonResponse({"error": message, "details": {}}, status=status)


def _raised_by_json_decoder(exc: BaseException) -> bool:
    frames = list(traceback.walk_tb(exc.__traceback__))
    return bool(frames) and frames[-1][0].f_code.co_filename.startswith(_JSON_PACKAGE)


class ApiRequestBodyMiddleware:
    """JSON errors for request bodies under ``settings.API_BODY_CHECK_PREFIXES`` (the platform's ``/api/``).

    - a Content-Length that is not plain digits: 400 (Django's ``request.body``
      would raise ValueError, a 500);
    - a body larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE``: 413 before anything
      reads it, and 413 too when Django finds out itself (RequestDataTooBig,
      which it otherwise answers with an HTML 400 page);
    - a chunked body: 411, because Django reads only bodies with a length and
      would hand the view an empty one;
    - JSON nested deeper than Python's decoder can follow (100,000 ``[``): 400
      where the parser did not already say so (a RecursionError out of the
      ``json`` package is the body's doing, not a bug).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.prefixes = tuple(settings.API_BODY_CHECK_PREFIXES)
        if not self.prefixes:
            raise MiddlewareNotUsed

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(self.prefixes):
            return self.get_response(request)
        meta = request.META
        if "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower():
            return _api_error(411, "Chunked request bodies are not accepted; send the body with a Content-Length.")
        declared = meta.get("CONTENT_LENGTH") or "0"
        if not CONTENT_LENGTH.fullmatch(declared):
            return _api_error(400, "The Content-Length header must be a whole number of bytes.")
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and int(declared) > limit:
            return _api_error(413, f"The request body is larger than {limit} bytes.")
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path_info.startswith(self.prefixes):
            return None
        if isinstance(exception, RequestDataTooBig):
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            return _api_error(413, f"The request body is larger than {limit} bytes.")
        if isinstance(exception, RecursionError) and _raised_by_json_decoder(exception):
            return _api_error(400, "JSON parse error - the body is nested too deeply.")
        return None
