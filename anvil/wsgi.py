"""The anvil's WSGI callable: Django without per-request database bookkeeping, corpus answered first.

The anvil never opens a database connection or uses Django's cache (its tests
run with database access blocked), yet Django's request signals walk both
connection handlers around every request; ``detach_unused_request_signals``
removes that (~8 µs of ~60 µs per request measured in process).

Every ``POST /api/test`` with corpus URLs makes the anvil serve several
corpus requests to itself, so their cost multiplies. They are static bytes,
untouched by faults (the corpus stands for the outside world), so this layer
answers them directly, with the same headers and the same metric as the Django
view in ``anvil.views.corpus``, which still handles everything else (unknown
slugs, the index, in-process tests).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from anvil.corpus import corpus_documents
from anvil.instance import instance_current
from anvil.metrics import REQUEST_SECONDS
from common.contract import INSTANCE_HEADER

PREFIX = "/corpus/"


def detach_unused_request_signals() -> None:
    from django.core.cache import close_caches
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections, reset_queries

    request_started.disconnect(reset_queries)
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    request_finished.disconnect(close_caches)


def corpus_fast_path(django_app: Callable) -> Callable:
    documents = corpus_documents()
    observers: dict[tuple[str, str], Callable[[float], None]] = {}

    def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD")
        if not path.startswith(PREFIX) or method not in ("GET", "HEAD"):
            return django_app(environ, start_response)
        document = documents.get(path[len(PREFIX) :])
        if document is None:
            return django_app(environ, start_response)
        started = time.perf_counter()
        start_response(
            "200 OK",
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(document))),
                ("Cache-Control", "public, max-age=3600"),
                (INSTANCE_HEADER, instance_current().boot_id),
            ],
        )
        observe = observers.get((method, path))
        if observe is None:
            observe = observers[(method, path)] = REQUEST_SECONDS.labels("anvil-corpus", method, "200").observe
        observe(time.perf_counter() - started)
        return [b""] if method == "HEAD" else [document]

    return application
