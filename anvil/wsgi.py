"""The anvil's WSGI callable: corpus documents are answered before Django.

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

PREFIX = "/corpus/"


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
                ("X-Anvil-Instance", instance_current().boot_id),
            ],
        )
        observe = observers.get((method, path))
        if observe is None:
            observe = observers[(method, path)] = REQUEST_SECONDS.labels("anvil-corpus", method, "200").observe
        observe(time.perf_counter() - started)
        return [b""] if method == "HEAD" else [document]

    return application
