"""The tracker's JSON API, compatible with the clients of the original tracker service.

Plain Django views rather than DRF: the answers keep the original shape
(``{"status": "ok"|"error", "message": …}``), and the single POST is the hot
path the benchmark measures, so it does as little as possible.
"""

from __future__ import annotations

import hmac
import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from common.crosssite import cross_site_reason
from common.json_body import EMPTY, NOT_UTF8, TOO_DEEP, TOO_LARGE, json_body_read
from common.validation import FieldError
from tracker.payload import text_problem
from tracker.selectors import cursor_decode, page_limit_parse, runs_grouped_for_user
from tracker.services import run_ingest, runs_ingest_batch


def _error(status: int, message: str, **extra) -> JsonResponse:
    return JsonResponse({"status": "error", "message": message, **extra}, status=status)


@lru_cache(maxsize=8)
def _networks(spec: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(item, strict=False) for item in spec)


def client_is_local(request: HttpRequest) -> bool:
    """Whether the client's address is in TRACKER_TRUSTED_NETWORKS (default: loopback only)."""
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in _networks(tuple(settings.TRACKER_TRUSTED_NETWORKS)))


def api_refusal(request: HttpRequest) -> JsonResponse | None:
    """None when the client may use the API, else the answer that says why not."""
    # First, whatever the client's address or key: a browser on this machine
    # is "local" too, and a page on any site could otherwise make it write to
    # the notebook. No program of ours sends Origin or Sec-Fetch-Site.
    cross_site = cross_site_reason(request)
    if cross_site is not None:
        return _error(403, f"cross-site requests are refused: {cross_site}")
    expected = settings.LOCAL_TRACKER_API_KEY
    if expected:
        sent = request.headers.get("x-api-key")
        if not sent:
            return _error(401, "missing x-api-key header")
        if not hmac.compare_digest(sent.encode(), expected.encode()):
            return _error(403, "wrong x-api-key")
        return None
    if not client_is_local(request):
        return _error(403, "no LOCAL_TRACKER_API_KEY is configured, so only clients on this machine "
                           "(TRACKER_TRUSTED_NETWORKS) may use the API")
    return None


def _json_body(request: HttpRequest) -> tuple[object, JsonResponse | None]:
    limit = settings.TRACKER_MAX_BODY_BYTES
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None, _error(400, "Content-Length is not a number")
    if length > limit:
        return None, _error(413, f"body is larger than {limit} bytes")
    # Read the stream ourselves: request.body would apply Django's 2.5 MB
    # form limit, which a large batch legitimately exceeds.
    body, problem = json_body_read(request, limit=limit)
    if problem is None:
        return body, None
    message = {
        TOO_LARGE: f"body is larger than {limit} bytes",
        EMPTY: "body: is empty; send a JSON object",
        NOT_UTF8: "body: is not UTF-8",
        TOO_DEEP: "body: is nested too deeply",
    }.get(problem.kind, f"body: is not valid JSON ({problem.detail})")
    return None, _error(problem.status, message)


def _is_json(content_type: str) -> bool:
    media_type = content_type.lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def _authorised_post_body(request: HttpRequest) -> tuple[object, JsonResponse | None]:
    """The parsed JSON body of an allowed POST, or the answer that refuses it."""
    if request.method != "POST":
        return None, _error(405, "use POST", allowed=["POST"])
    refusal = api_refusal(request)
    if refusal is not None:
        return None, refusal
    # A JSON body cannot come from a plain HTML form or a "simple" cross-site
    # fetch (text/plain needs no preflight): only from a client that asked for
    # it. (No body at all carries nothing to refuse; it is answered below.)
    has_body = request.META.get("CONTENT_LENGTH") not in (None, "", "0")
    if has_body and not _is_json(request.content_type or ""):
        return None, _error(415, f"Content-Type must be application/json, not {request.content_type or 'missing'!r}")
    return _json_body(request)


def _store_batch(data: object) -> JsonResponse:
    results = runs_ingest_batch(payloads=data)
    created = sum(1 for _, new in results if new)
    message = f"stored {created} runs" + (f", {len(results) - created} already stored" if created < len(results) else "")
    return JsonResponse({"status": "ok", "message": message, "ids": [pk for pk, _ in results], "count": len(results)})


@csrf_exempt
def track(request: HttpRequest) -> JsonResponse:
    """POST one run (a JSON object) or many (a JSON array, stored in one transaction)."""
    data, problem = _authorised_post_body(request)
    if problem is not None:
        return problem
    try:
        if isinstance(data, list):
            return _store_batch(data)
        run_id, created = run_ingest(payload=data)
    except FieldError as exc:
        return _error(400, str(exc), field=exc.field)
    return JsonResponse({"status": "ok", "message": "run stored" if created else "run already stored", "id": run_id})


@csrf_exempt
def runs_batch(request: HttpRequest) -> JsonResponse:
    """POST a JSON array of runs: all stored in one transaction, or none."""
    data, problem = _authorised_post_body(request)
    if problem is not None:
        return problem
    try:
        return _store_batch(data)
    except FieldError as exc:
        return _error(400, str(exc), field=exc.field)


def user_runs(request: HttpRequest, user_id: str) -> JsonResponse:
    """GET a user's runs as ``{target_url: {session_id: [run, …]}}``, newest first, one bounded page at a time.

    The body keeps the grouped shape clients expect; paging travels in headers
    (``X-Next-Cursor`` and a ``Link: <…>; rel="next"``), pass ``?cursor=`` to continue.
    """
    if request.method != "GET":
        return _error(405, "use GET", allowed=["GET"])
    refusal = api_refusal(request)
    if refusal is not None:
        return refusal
    problem = text_problem(user_id)
    if problem:
        return _error(400, f"userId: {problem}", field="userId")
    try:
        limit = page_limit_parse(raw=request.GET.get("limit"))
        cursor = cursor_decode(cursor=request.GET["cursor"]) if request.GET.get("cursor") else None
    except FieldError as exc:
        return _error(400, str(exc), field=exc.field)
    grouped, next_cursor = runs_grouped_for_user(user_id=user_id, limit=limit, cursor=cursor)
    response = JsonResponse(grouped)
    if next_cursor is not None:
        response["X-Next-Cursor"] = next_cursor
        response["Link"] = f'<{request.path}?limit={limit}&cursor={next_cursor}>; rel="next"'
    return response
