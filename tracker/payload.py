"""The tracker payload (schema 1.0) that existing clients send: validation and the way back to JSON.

Clients written for the original tracker service keep working unchanged, so
the field names stay camelCase outside and ``runDetails`` snake_case inside,
exactly as they send them. Fields the schema does not name are kept, not
rejected. Every problem raises :class:`~common.validation.FieldError` naming the field.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any, Literal, NotRequired
from urllib.parse import urlsplit

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints, TypeAdapter
from pydantic_core import ErrorDetails
from typing_extensions import TypedDict

from common.validation import ErrorMessage, FieldError, WholeNumber, validate

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
_KNOWN_TOP = frozenset(TOP_FIELDS + OPTIONAL_TOP_FIELDS)
_KNOWN_DETAILS = frozenset(RUN_DETAIL_FIELDS + PERCENTILE_FIELDS)
# How a path shows a field whose name is "" (JSON allows it).
EMPTY_KEY = '""'
# Counts go into 64-bit columns.
MAX_COUNT = 2**62



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
        raise FieldError(path, "is nested too deeply")
    if isinstance(value, str):
        problem = text_problem(value)
        if problem:
            raise FieldError(path, problem)
    elif isinstance(value, float) and not math.isfinite(value):
        # Python's json reads NaN and Infinity; JSON columns cannot store them.
        raise FieldError(path, "must be a finite number")
    elif isinstance(value, dict):
        for key, item in value.items():
            problem = text_problem(key)
            if problem:
                raise FieldError(path, f"key {key[:20]!r} {problem}")
            name = key or EMPTY_KEY
            _json_check(item, f"{path}.{name}" if path else name, depth=depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _json_check(item, f"{path}[{index}]", depth=depth + 1)


def _json_storable(value: dict) -> dict:
    _json_check(value, "")
    return value


def _supported(version: str) -> str:
    if version.split(".")[0] != SUPPORTED_MAJOR:
        raise FieldError("", f"{version!r} is not supported; this tracker speaks 1.x")
    return version


def _utc(raw: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw.strip())
        # Clients written for the original service send naive UTC times.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except ValueError:
        raise FieldError("", f"{raw[:40]!r} is not an ISO-8601 date and time") from None
    except OverflowError:
        raise FieldError("", f"{raw[:40]!r} is out of range") from None


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


def _url(value: str) -> tuple[str, str]:
    target = _target(value)
    if isinstance(target, str):
        raise FieldError("", target)
    return target


# Text a database column can store. pydantic's core refuses lone surrogates
# in any string it runs a pattern on; the patterns refuse NUL characters and,
# for required text, blank text. "Blank" is what str.strip() removes: regex
# \s plus the separators \x1c-\x1f (a test holds the two to all of Unicode).
_NUL_FREE = r"^[^\x00]*$"
_NOT_BLANK = r"^[^\x00]*[^\x00\s\x1c-\x1f][^\x00]*$"


def Text(max_length: int | None = None, *, blank: bool = False) -> Any:
    """Text of at most ``max_length`` characters, without NUL characters; not blank unless ``blank``."""
    return Annotated[str, StringConstraints(max_length=max_length, pattern=_NUL_FREE if blank else _NOT_BLANK)]


def _pattern_message(error: ErrorDetails) -> str:
    value = error.get("input")
    return "must not contain NUL characters" if isinstance(value, str) and "\x00" in value else "must not be empty"


_MESSAGES = {"string_pattern_mismatch": _pattern_message, "list_type": "must be a list of strings"}

# Strict, as JSON demands: true is not 1, "412" is not a number, and NaN,
# Infinity and 1e400 (which Python's json reads as inf) cannot be stored.
_STRICT = ConfigDict(strict=True, allow_inf_nan=False)

Count = Annotated[int, WholeNumber(ge=0, le=MAX_COUNT)]
Figure = Annotated[float, Field(ge=0)]


class _RunDetails(TypedDict):
    # Fields the schema does not name are allowed (and kept, see payload_validate).
    __pydantic_config__ = _STRICT  # type: ignore[misc]
    target_url: Annotated[Text(2000), AfterValidator(_url)]  # → (url, target key)
    request_count: Count
    method: Annotated[Literal["GET", "POST"], ErrorMessage('must be "GET" or "POST"')]
    payload_urls: list[Text(blank=True)]
    total_requests: Count
    successful_requests: Count
    failed_requests: Count
    avg_latency_ms: Figure
    error_rate: Annotated[float, Field(ge=0, le=100)]
    rps: Figure
    duration_s: Figure
    test_type: Text(200)
    commit_hash: Text(100, blank=True) | None
    session_id: Text(200, blank=True)
    p50_latency_ms: NotRequired[Figure | None]
    p95_latency_ms: NotRequired[Figure | None]
    p99_latency_ms: NotRequired[Figure | None]


class _Payload(TypedDict):
    __pydantic_config__ = _STRICT  # type: ignore[misc]
    schema_version: Annotated[Text(20), AfterValidator(_supported)]
    user_id: Annotated[Text(200), Field(validation_alias="userId")]
    challenge_type: Annotated[Text(200), Field(validation_alias="challengeType")]
    metric_name: Annotated[Text(200), Field(validation_alias="metricName")]
    value: float
    timestamp: Annotated[str, ErrorMessage("must be an ISO-8601 string"), AfterValidator(_utc)]  # → aware, UTC
    labels: Annotated[dict[str, Any], AfterValidator(_json_storable)]
    client_run_id: NotRequired[Annotated[Text(200) | None, Field(validation_alias="runId")]]
    runDetails: _RunDetails


_PAYLOAD = TypeAdapter(_Payload)


def payload_validate(*, payload: object, path: str = "") -> dict[str, Any]:
    """Return the model fields for one payload, or raise FieldError naming the field (``path`` prefixes it)."""
    fields: dict[str, Any] = validate(_PAYLOAD, payload, prefix=path, root="body", messages=_MESSAGES)
    details = fields.pop("runDetails")
    fields.setdefault("client_run_id", None)
    fields["target_url"], fields["target_key"] = details.pop("target_url")
    details["commit_hash"] = details["commit_hash"] or None
    for name in PERCENTILE_FIELDS:
        details.setdefault(name, None)
    fields.update(details)

    raw_details = payload["runDetails"]
    fields["extra"] = {key: value for key, value in payload.items() if key not in _KNOWN_TOP}
    fields["run_details_extra"] = {key: value for key, value in raw_details.items() if key not in _KNOWN_DETAILS}
    d = f"{path}runDetails."
    for prefix, extra in ((path, fields["extra"]), (d, fields["run_details_extra"])):
        for key, value in extra.items():
            problem = text_problem(key)
            if problem:
                raise FieldError(f"{prefix}{key[:20]!r}", f"(a field name) {problem}")
            _json_check(value, f"{prefix}{key or EMPTY_KEY}")
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
