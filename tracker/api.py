"""The tracker's JSON API, compatible with the clients of the original tracker service.

Plain Django views rather than DRF: the answers keep the original shape
(``{"status": "ok"|"error", "message": …}``), and the single POST is the hot
path the benchmark measures, so it does as little as possible.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from tracker.payload import PayloadError, text_problem
from tracker.selectors import CursorError, cursor_decode, runs_grouped_for_user
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
    raw = request.read(limit + 1)
    if len(raw) > limit:
        return None, _error(413, f"body is larger than {limit} bytes")
    if not raw.strip():
        return None, _error(400, "body: is empty; send a JSON object")
    try:
        return json.loads(raw.decode()), None
    except UnicodeDecodeError:
        return None, _error(400, "body: is not UTF-8")
    except ValueError as exc:
        return None, _error(400, f"body: is not valid JSON ({exc})")
    except RecursionError:
        return None, _error(400, "body: is nested too deeply")


def _authorised_post_body(request: HttpRequest) -> tuple[object, JsonResponse | None]:
    """The parsed JSON body of an allowed POST, or the answer that refuses it."""
    if request.method != "POST":
        return None, _error(405, "use POST", allowed=["POST"])
    refusal = api_refusal(request)
    if refusal is not None:
        return None, refusal
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
    except PayloadError as exc:
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
    except PayloadError as exc:
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
    raw_limit = request.GET.get("limit", "")
    limit = settings.TRACKER_PAGE_DEFAULT
    if raw_limit:
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= settings.TRACKER_PAGE_MAX:
            return _error(400, f"limit: must be a whole number from 1 to {settings.TRACKER_PAGE_MAX}", field="limit")
        limit = int(raw_limit)
    cursor = None
    if request.GET.get("cursor"):
        try:
            cursor = cursor_decode(cursor=request.GET["cursor"])
        except CursorError as exc:
            return _error(400, f"cursor: {exc}", field="cursor")
    grouped, next_cursor = runs_grouped_for_user(user_id=user_id, limit=limit, cursor=cursor)
    response = JsonResponse(grouped)
    if next_cursor is not None:
        response["X-Next-Cursor"] = next_cursor
        response["Link"] = f'<{request.path}?limit={limit}&cursor={next_cursor}>; rel="next"'
    return response
