"""The anvil's one middleware: instance header, anvil metrics, fault injection.

It is the anvil role's only middleware (see settings.MIDDLEWARE): every
microsecond here is paid by every request, so the histogram child for each
(route, method, status) is looked up once and kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from anvil.fault_injection import fault_cache, faults_apply
from anvil.instance import instance_current
from anvil.metrics import REQUEST_SECONDS, method_label


class AnvilMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self._observers: dict[tuple[str, str, int], Callable[[float], None]] = {}

    def _observer(self, route: str, method: str, status: int) -> Callable[[float], None]:
        key = (route, method_label(method), status)
        observe = self._observers.get(key)
        if observe is None:
            observe = self._observers[key] = REQUEST_SECONDS.labels(route, key[1], str(status)).observe
        return observe

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        response["X-Anvil-Instance"] = instance_current().boot_id
        match = request.resolver_match
        route = (match.url_name if match else None) or "unmatched"
        self._observer(route, request.method or "", response.status_code)(time.perf_counter() - started)
        return response

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> HttpResponse | None:
        # Here rather than in __call__: the route is known, so exempt routes
        # (control API, metrics, corpus) are told apart by name, and unknown
        # paths (404) are left alone.
        faults = fault_cache.applicable()
        if not faults:
            return None
        return faults_apply(request=request, route=request.resolver_match.url_name or "", faults=faults)
