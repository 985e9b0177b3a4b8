"""The tracker payload (schema 1.0) that existing clients send: validation and the way back to JSON.

Clients written for the original tracker service keep working unchanged, so
the field names stay camelCase outside and ``runDetails`` snake_case inside,
exactly as they send them. Fields the schema does not name are kept, not
rejected. Every problem raises :class:`PayloadError` naming the field.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

SUPPORTED_MAJOR = "1"
METHODS = ("GET", "POST")

TOP_FIELDS = ("schema_version", "userId", "challengeType", "metricName", "value", "timestamp", "labels", "runDetails")
# runId is ours: an optional client-chosen id that makes a retry idempotent.
OPTIONAL_TOP_FIELDS = ("runId",)
RUN_DETAIL_FIELDS = (
    "target_url", "request_count", "method", "payload_urls", "total_requests", "successful_requests",
    "failed_requests", "avg_latency_ms", "error_rate", "rps", "duration_s", "test_type", "commit_hash",
    "session_id",
)
PERCENTILE_FIELDS = ("p50_latency_ms", "p95_latency_ms", "p99_latency_ms")
_MISSING = object()
_KNOWN_TOP = frozenset(TOP_FIELDS + OPTIONAL_TOP_FIELDS)
_KNOWN_DETAILS = frozenset(RUN_DETAIL_FIELDS + PERCENTILE_FIELDS)


class PayloadError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def target_key_for(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def text_problem(value: str) -> str | None:
    """Why a string cannot be stored as text (NUL characters, lone surrogates), or None."""
    if "\x00" in value:
        return "must not contain NUL characters"
    if value.isascii():
        # Nearly every string a client sends; only non-ASCII text can hold a surrogate.
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode (no lone surrogates)"
    return None


def _json_check(value: object, path: str, *, depth: int = 0) -> None:
    """Reject what a JSON column cannot store: NUL characters, lone surrogates, NaN and infinities."""
    if depth > 32:
        raise PayloadError(path, "is nested too deeply")
    if isinstance(value, str):
        problem = text_problem(value)
        if problem:
            raise PayloadError(path, problem)
    elif isinstance(value, float) and not math.isfinite(value):
        # Python's json reads NaN and Infinity; JSON columns cannot store them.
        raise PayloadError(path, "must be a finite number")
    elif isinstance(value, dict):
        for key, item in value.items():
            problem = text_problem(key)
            if problem:
                raise PayloadError(path, f"key {key[:20]!r} {problem}")
            _json_check(item, f"{path}.{key}", depth=depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _json_check(item, f"{path}[{index}]", depth=depth + 1)


def _string(data: dict, key: str, path: str, *, max_length: int, allow_empty: bool = False,
            nullable: bool = False) -> str | None:
    value = data.get(key, _MISSING)
    if value is _MISSING:
        raise PayloadError(path, "is required")
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise PayloadError(path, "must be a string" + (" or null" if nullable else ""))
    if not allow_empty and not value.strip():
        raise PayloadError(path, "must not be empty")
    if len(value) > max_length:
        raise PayloadError(path, f"must be at most {max_length} characters")
    problem = text_problem(value)
    if problem:
        raise PayloadError(path, problem)
    return value


def _number(data: dict, key: str, path: str, *, minimum: float = 0.0, maximum: float | None = None,
            required: bool = True) -> float | None:
    value = data.get(key, _MISSING)
    if value is _MISSING:
        if required:
            raise PayloadError(path, "is required")
        return None
    if value is None and not required:
        return None
    # bool is an int subclass: true must not pass as 1.
    if type(value) is not float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PayloadError(path, "must be a number")
        try:
            value = float(value)
        except OverflowError:
            raise PayloadError(path, "is too large") from None
    if not math.isfinite(value):
        raise PayloadError(path, "must be a finite number")
    if value < minimum:
        raise PayloadError(path, f"must be at least {minimum:g}")
    if maximum is not None and value > maximum:
        raise PayloadError(path, f"must be at most {maximum:g}")
    return value


def _count(data: dict, key: str, path: str) -> int:
    raw = data.get(key)
    if type(raw) is int and 0 <= raw <= 2**62:
        # What clients send nearly always; everything else takes the checks below.
        return raw
    value = _number(data, key, path)
    if not value.is_integer():
        raise PayloadError(path, "must be a whole number")
    if value > 2**62:
        raise PayloadError(path, "is too large")
    # An int stays exact (a float has 53 bits); 12.0 from a JS client becomes 12.
    raw = data[key]
    return raw if isinstance(raw, int) else int(value)


def _timestamp(data: dict, path: str) -> datetime:
    if "timestamp" not in data:
        raise PayloadError(path, "is required")
    raw = data["timestamp"]
    if not isinstance(raw, str):
        raise PayloadError(path, "must be an ISO-8601 string")
    try:
        value = datetime.fromisoformat(raw.strip())
        # Clients written for the original service send naive UTC times.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except ValueError:
        raise PayloadError(path, f"{raw[:40]!r} is not an ISO-8601 date and time") from None
    except OverflowError:
        raise PayloadError(path, f"{raw[:40]!r} is out of range") from None


@lru_cache(maxsize=1024)
def _target(value: str) -> tuple[str, str] | str:
    """``(url, target key)`` for an http(s) URL, else why not. Cached: a client's runs repeat one target."""
    url = value.strip()
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "must be an http:// or https:// URL"
    return url, target_key_for(url)


def _url(data: dict, path: str) -> tuple[str, str]:
    target = _target(_string(data, "target_url", path, max_length=2000))
    if isinstance(target, str):
        raise PayloadError(path, target)
    return target


def payload_validate(*, payload: object, path: str = "") -> dict[str, Any]:
    """Return the model fields for one payload, or raise PayloadError naming the field (``path`` prefixes it)."""
    if not isinstance(payload, dict):
        raise PayloadError(path or "body", "must be a JSON object")
    p = path
    version = _string(payload, "schema_version", f"{p}schema_version", max_length=20)
    if version.split(".")[0] != SUPPORTED_MAJOR:
        raise PayloadError(f"{p}schema_version", f"{version!r} is not supported; this tracker speaks 1.x")
    fields: dict[str, Any] = {
        "schema_version": version,
        "user_id": _string(payload, "userId", f"{p}userId", max_length=200),
        "challenge_type": _string(payload, "challengeType", f"{p}challengeType", max_length=200),
        "metric_name": _string(payload, "metricName", f"{p}metricName", max_length=200),
        "value": _number(payload, "value", f"{p}value", minimum=-math.inf),
        "timestamp": _timestamp(payload, f"{p}timestamp"),
    }
    if "labels" not in payload:
        raise PayloadError(f"{p}labels", "is required")
    if not isinstance(payload["labels"], dict):
        raise PayloadError(f"{p}labels", "must be an object")
    _json_check(payload["labels"], f"{p}labels")
    fields["labels"] = payload["labels"]
    client_run_id = payload.get("runId")
    if client_run_id is not None:
        if not isinstance(client_run_id, str) or not client_run_id.strip() or len(client_run_id) > 200:
            raise PayloadError(f"{p}runId", "must be a non-empty string of at most 200 characters, or absent")
        problem = text_problem(client_run_id)
        if problem:
            raise PayloadError(f"{p}runId", problem)
    fields["client_run_id"] = client_run_id

    if "runDetails" not in payload:
        raise PayloadError(f"{p}runDetails", "is required")
    details = payload["runDetails"]
    d = f"{p}runDetails."
    if not isinstance(details, dict):
        raise PayloadError(f"{p}runDetails", "must be an object")
    fields["target_url"], fields["target_key"] = _url(details, f"{d}target_url")
    fields["request_count"] = _count(details, "request_count", f"{d}request_count")
    method = _string(details, "method", f"{d}method", max_length=10)
    if method not in METHODS:
        raise PayloadError(f"{d}method", "must be \"GET\" or \"POST\"")
    fields["method"] = method
    if "payload_urls" not in details:
        raise PayloadError(f"{d}payload_urls", "is required")
    urls = details["payload_urls"]
    if not isinstance(urls, list):
        raise PayloadError(f"{d}payload_urls", "must be a list of strings")
    for index, item in enumerate(urls):
        if not isinstance(item, str):
            raise PayloadError(f"{d}payload_urls[{index}]", "must be a string")
        problem = text_problem(item)
        if problem:
            raise PayloadError(f"{d}payload_urls[{index}]", problem)
    fields["payload_urls"] = urls
    for name in ("total_requests", "successful_requests", "failed_requests"):
        fields[name] = _count(details, name, f"{d}{name}")
    fields["avg_latency_ms"] = _number(details, "avg_latency_ms", f"{d}avg_latency_ms")
    fields["error_rate"] = _number(details, "error_rate", f"{d}error_rate", maximum=100.0)
    fields["rps"] = _number(details, "rps", f"{d}rps")
    fields["duration_s"] = _number(details, "duration_s", f"{d}duration_s")
    fields["test_type"] = _string(details, "test_type", f"{d}test_type", max_length=200)
    fields["commit_hash"] = _string(details, "commit_hash", f"{d}commit_hash", max_length=100, nullable=True,
                                    allow_empty=True) or None
    fields["session_id"] = _string(details, "session_id", f"{d}session_id", max_length=200, allow_empty=True)
    for name in PERCENTILE_FIELDS:
        fields[name] = _number(details, name, f"{d}{name}", required=False)

    fields["extra"] = {key: value for key, value in payload.items() if key not in _KNOWN_TOP}
    fields["run_details_extra"] = {key: value for key, value in details.items() if key not in _KNOWN_DETAILS}
    for prefix, extra in ((p, fields["extra"]), (d, fields["run_details_extra"])):
        for key, value in extra.items():
            problem = text_problem(key)
            if problem:
                raise PayloadError(f"{prefix}{key[:20]!r}", f"(a field name) {problem}")
            _json_check(value, f"{prefix}{key}")
    return fields


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def run_as_payload(row: dict[str, Any]) -> dict[str, Any]:
    """A stored run (as a dict of its columns) back in the shape clients sent, plus its ``id``."""
    # Extras first, so a client's odd extra field can never mask a real one.
    details = dict(row["run_details_extra"] or {})
    details.update({
        "target_url": row["target_url"],
        "request_count": row["request_count"],
        "method": row["method"],
        "payload_urls": row["payload_urls"],
        "total_requests": row["total_requests"],
        "successful_requests": row["successful_requests"],
        "failed_requests": row["failed_requests"],
        "avg_latency_ms": row["avg_latency_ms"],
        "error_rate": row["error_rate"],
        "rps": row["rps"],
        "duration_s": row["duration_s"],
        "test_type": row["test_type"],
        "commit_hash": row["commit_hash"],
        "session_id": row["session_id"],
    })
    for name in PERCENTILE_FIELDS:
        if row[name] is not None:
            details[name] = row[name]
    out = dict(row["extra"] or {})
    out.update({
        "id": row["id"],
        "schema_version": row["schema_version"],
        "userId": row["user_id"],
        "challengeType": row["challenge_type"],
        "metricName": row["metric_name"],
        "value": row["value"],
        "timestamp": _iso(row["timestamp"]),
        "labels": row["labels"],
        "runDetails": details,
    })
    if row["client_run_id"] is not None:
        out["runId"] = row["client_run_id"]
    return out
