"""A short way through the middleware stack for machine-to-machine JSON APIs."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpRequest, HttpResponse
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
    ``request.user`` or messages. Without a session there is no ambient
    credential to forge, so CSRF protection has nothing to guard; still, an
    unsafe request (POST, …) takes the short way only to a view marked
    ``csrf_exempt``, and the full stack, CSRF check included, to any other.

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
