"""HTTP shells of url-anvil; the contract is in docs/anvil.md and must not drift (old clients depend on it)."""

from __future__ import annotations

import functools
import hmac
import logging
import re
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from anvil import selectors, services
from anvil.corpus import corpus_documents, corpus_titles
from anvil.fault_injection import fault_cache
from anvil.fetcher import FetchError
from anvil.instance import instance_current
from anvil.safety import UrlNotAllowed, url_check
from anvil.store import StoreError
from common.json_body import EMPTY, NOT_UTF8, TOO_DEEP, TOO_LARGE, json_body_read
from common.validation import FieldError

logger = logging.getLogger(__name__)

INVALID_URLS = "Invalid or empty URL array provided."
FAULT_ID = re.compile(r"^[0-9a-f]{1,32}$")

STORE_ERRORS = (StoreError, OSError)


def _error(status: int, text: str, /, **extra: object) -> JsonResponse:
    return JsonResponse({"error": text, **extra}, status=status)


def _store_unavailable(exc: Exception) -> JsonResponse:
    logger.error("anvil state store failed: %s", exc)
    return _error(503, "State store unavailable.", message=f"{type(exc).__name__}: {exc}")


def methods(*allowed: str) -> Callable:
    """Like ``require_http_methods`` but answering 405 in the anvil's JSON error shape."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method not in allowed:
                response = _error(405, f"Method {request.method} is not allowed here; use {', '.join(allowed)}.")
                response["Allow"] = ", ".join(allowed)
                return response
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


# Content-Length is 1*DIGIT in ASCII (RFC 9110). int() would also take "-1",
# " 12" and other scripts' digits ("١٢"), and str.isdigit() takes "²", which
# int() then refuses.
CONTENT_LENGTH = re.compile(r"[0-9]{1,18}")


def _body_stream(request: HttpRequest, limit: int) -> tuple[object, JsonResponse | None]:
    """Where the body can be read from, or the 4xx that says why it cannot."""
    if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        # Django reads only Content-Length bodies and would see an empty one.
        # A server that decodes the chunks and ends the stream after the last
        # one (gunicorn does, and says so in wsgi.input_terminated) can be read
        # directly; elsewhere the body cannot be delimited safely.
        if not request.META.get("wsgi.input_terminated"):
            return None, _error(411, "Chunked request bodies are not accepted here; send a Content-Length.")
        return request.META["wsgi.input"], None
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not CONTENT_LENGTH.fullmatch(declared):
        return None, _error(400, "Content-Length must be a whole number of bytes.")
    if int(declared) > limit:
        return None, _error(413, f"Request body is larger than {limit} bytes.")
    return request, None


def _json_body(request: HttpRequest) -> tuple[object, JsonResponse | None]:
    """The parsed body, or the 4xx that says why there is none."""
    limit = settings.ANVIL_MAX_BODY_BYTES
    stream, problem = _body_stream(request, limit)
    if problem:
        return None, problem
    body, problem = json_body_read(stream, limit=limit)
    if problem is None:
        return body, None
    message = {
        TOO_LARGE: f"Request body is larger than {limit} bytes.",
        NOT_UTF8: "Malformed JSON body: not UTF-8.",
        TOO_DEEP: "Malformed JSON body: nested too deeply.",
        EMPTY: "Malformed JSON body: Expecting value: line 1 column 1 (char 0).",
    }.get(problem.kind, f"Malformed JSON body: {problem.detail}.")
    return None, _error(problem.status, message)


# --- url-anvil ---------------------------------------------------------------


@methods("GET", "HEAD")
def index(request: HttpRequest) -> HttpResponse:
    try:
        history = selectors.history_list()
    except STORE_ERRORS as exc:
        logger.error("anvil state store failed: %s", exc)
        history = []
    context = {
        "sample_urls": selectors.sample_urls_pick(),
        "history": history,
        "max_urls": settings.ANVIL_MAX_URLS,
        "instance": instance_current().boot_id,
    }
    return render(request, "anvil/index.html", context)


@methods("GET", "HEAD")
def sample_urls(request: HttpRequest) -> JsonResponse:
    return JsonResponse(selectors.sample_urls_pick(), safe=False)


@methods("POST")
def url_test(request: HttpRequest) -> JsonResponse:
    body, problem = _json_body(request)
    if problem:
        return problem
    urls = body.get("urls") if isinstance(body, dict) else None
    if not isinstance(urls, list) or not urls or not all(isinstance(url, str) and url for url in urls):
        return _error(400, INVALID_URLS)
    if len(urls) > settings.ANVIL_MAX_URLS:
        return _error(413, f"Too many URLs: {len(urls)} given, at most {settings.ANVIL_MAX_URLS} per test.")
    try:
        for url in urls:
            url_check(url=url)
        result = services.urls_test(urls=urls)
    except UrlNotAllowed as exc:
        return _error(400, str(exc))
    except FetchError as exc:
        return _error(502, "Failed to test URLs.", message=str(exc))
    except STORE_ERRORS as exc:
        return _store_unavailable(exc)
    return JsonResponse(result)


@methods("GET", "HEAD")
def history(request: HttpRequest) -> JsonResponse:
    try:
        return JsonResponse(selectors.history_list(), safe=False)
    except STORE_ERRORS as exc:
        return _store_unavailable(exc)


@methods("GET", "HEAD")
def healthz(request: HttpRequest) -> JsonResponse:
    # Only the last background read of the store counts: a health check must
    # not add a store round-trip, and an anvil whose store is gone cannot keep
    # its history or see faults.
    fault_cache.applicable()
    instance = instance_current()
    body = {"status": "ok", "instance": instance.boot_id, "uptime_s": round(instance.uptime_s(), 3)}
    if fault_cache.store_error:
        body.update(status="unhealthy", reason=f"state store unreachable: {fault_cache.store_error}")
        return JsonResponse(body, status=503)
    return JsonResponse(body)


@methods("GET", "HEAD")
def corpus(request: HttpRequest, slug: str) -> HttpResponse:
    document = corpus_documents().get(slug)
    if document is None:
        return _error(404, f"No corpus document named {slug!r}.", documents=sorted(corpus_documents()))
    response = HttpResponse(document, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "public, max-age=3600"
    return response


@methods("GET", "HEAD")
def corpus_index(request: HttpRequest) -> JsonResponse:
    titles = corpus_titles()
    return JsonResponse({"documents": [{"slug": slug, "title": title, "url": f"/corpus/{slug}"} for slug, title in titles.items()]})


# --- control API -------------------------------------------------------------


def chaos_api(view: Callable) -> Callable:
    """No token configured: the API does not exist. Otherwise a matching bearer token is required."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        token = settings.ANVIL_CHAOS_TOKEN
        if not token:
            return _error(404, "Not found.")
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            response = _error(401, "Missing bearer token: send 'Authorization: Bearer <ANVIL_CHAOS_TOKEN>'.")
            response["WWW-Authenticate"] = 'Bearer realm="url-anvil chaos"'
            return response
        if not hmac.compare_digest(given.strip().encode(), token.encode()):
            response = _error(401, "Wrong bearer token.")
            response["WWW-Authenticate"] = 'Bearer realm="url-anvil chaos", error="invalid_token"'
            return response
        try:
            return view(request, *args, **kwargs)
        except STORE_ERRORS as exc:
            return _store_unavailable(exc)

    return wrapper


@chaos_api
@methods("GET", "POST", "DELETE")
def chaos_faults(request: HttpRequest) -> JsonResponse:
    if request.method == "GET":
        return JsonResponse({"faults": services.fault_list()})
    if request.method == "DELETE":
        cleared = services.fault_clear()
        fault_cache.invalidate()
        return JsonResponse({"cleared": cleared})
    spec, problem = _json_body(request)
    if problem:
        return problem
    try:
        fault = services.fault_add(spec=spec)
    except FieldError as exc:
        return _error(400, f"Invalid fault: {exc}", field=exc.field)
    fault_cache.invalidate()
    return JsonResponse(fault, status=201)


@chaos_api
@methods("DELETE")
def chaos_fault(request: HttpRequest, fault_id: str) -> JsonResponse:
    cleared = services.fault_clear(fault_id=fault_id) if FAULT_ID.match(fault_id) else 0
    if not cleared:
        return _error(404, f"No active fault with id {fault_id!r}.")
    fault_cache.invalidate()
    return JsonResponse({"cleared": cleared})


@chaos_api
@methods("GET")
def chaos_instances(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"instances": services.instance_list()})


# --- errors outside the views (DEBUG off) ---------------------------------------


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _error(404, f"No such path: {request.path}")


def server_error(request: HttpRequest) -> JsonResponse:
    return _error(500, "Internal error.")
