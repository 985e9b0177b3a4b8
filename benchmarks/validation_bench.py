#!/usr/bin/env python
"""The tracker payload validated three ways, side by side in one run: by hand, with pydantic v2, with msgspec.

    .venv/bin/python benchmarks/validation_bench.py [--rounds 7] [--seconds 0.4] [--hand-rev REV]

The question: which library should validate outside input (the tracker's
``POST /tracker/api/track`` is the hot path), and does it cost a single POST
more than the hand-written validator it replaces (~9.5 µs per run)?

* **hand**: ``tracker/payload.py`` as last written by hand, read from git
  (``--hand-rev``, by default the last commit that changed it by hand).
* **pydantic**: today's ``tracker.payload.payload_validate`` (strict TypedDicts).
* **msgspec**: the same rules with ``msgspec.convert`` into strict Structs,
  written here for the comparison only. Checks msgspec cannot state (text a
  database can store, ISO timestamps, the URL, whole floats as counts, finite
  numbers) run in ``__post_init__``, as they would in production.

All three return the same fields for the same payloads (checked first). Each
round times every candidate on a single payload, then on a batch of 200
different payloads validated as ``runs_ingest_batch`` does (each with its
``[i].`` path), in a rotating order so that a burst of other work on a shared
machine spoils one round of one candidate, not the comparison. It prints
every round, then the median and the range per candidate, with ratios to the
hand validator. Nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import math
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

# The last commit whose tracker/payload.py validated by hand.
HAND_REV = "8395a06626df91f4ef2db4abeec723174d945c58"
BATCH_SIZE = 200


def hand_module(rev: str) -> types.ModuleType:
    source = subprocess.run(["git", "show", f"{rev}:tracker/payload.py"], cwd=BASE_DIR, check=True,
                            capture_output=True, text=True).stdout
    module = types.ModuleType("hand_payload")
    exec(compile(source, f"{rev[:8]}:tracker/payload.py", "exec"), module.__dict__)
    return module


# --- the msgspec candidate -------------------------------------------------------------------------------------

_NOT_BLANK = r"^[^\x00]*[^\x00\s][^\x00]*\Z"
_NUL_FREE = r"^[^\x00]*\Z"


def _text(max_length: int | None = None, *, blank: bool = False) -> Any:
    return Annotated[str, msgspec.Meta(max_length=max_length, pattern=_NUL_FREE if blank else _NOT_BLANK)]


_Count = int | float  # whole floats become ints in __post_init__
_Figure = Annotated[float, msgspec.Meta(ge=0)]


def _unicode_ok(*values: str | None) -> None:
    # msgspec passes lone surrogates through; a database refuses them.
    for value in values:
        if value is not None and not value.isascii():
            value.encode("utf-8")


def _count(value: int | float, name: str) -> int:
    if type(value) is float:
        if not math.isfinite(value) or not value.is_integer():
            raise ValueError(f"{name}: must be a whole number")
        value = int(value)
    if not 0 <= value <= 2**62:
        raise ValueError(f"{name}: must be from 0 to 2**62")
    return value


class _MsgspecDetails(msgspec.Struct):
    target_url: _text(2000)
    request_count: _Count
    method: Literal["GET", "POST"]
    payload_urls: list[_text(blank=True)]
    total_requests: _Count
    successful_requests: _Count
    failed_requests: _Count
    avg_latency_ms: _Figure
    error_rate: Annotated[float, msgspec.Meta(ge=0, le=100)]
    rps: _Figure
    duration_s: _Figure
    test_type: _text(200)
    commit_hash: _text(100, blank=True) | None
    session_id: _text(200, blank=True)
    p50_latency_ms: _Figure | None = None
    p95_latency_ms: _Figure | None = None
    p99_latency_ms: _Figure | None = None

    def __post_init__(self) -> None:
        for name in ("request_count", "total_requests", "successful_requests", "failed_requests"):
            setattr(self, name, _count(getattr(self, name), name))
        _unicode_ok(self.target_url, self.test_type, self.commit_hash, self.session_id, *self.payload_urls)


class _MsgspecPayload(msgspec.Struct, rename={"user_id": "userId", "challenge_type": "challengeType",
                                              "metric_name": "metricName", "client_run_id": "runId"}):
    schema_version: _text(20)
    user_id: _text(200)
    challenge_type: _text(200)
    metric_name: _text(200)
    value: float
    timestamp: str
    labels: dict[str, Any]
    runDetails: _MsgspecDetails  # the client's name, as pydantic's TypedDict has it
    client_run_id: _text(200) | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.value):
            raise ValueError("value: must be a finite number")
        _unicode_ok(self.schema_version, self.user_id, self.challenge_type, self.metric_name, self.client_run_id)


def msgspec_validator(hand: types.ModuleType) -> Callable[..., dict]:
    """payload_validate written with msgspec; the helpers msgspec has no word for come from the same module."""
    from tracker.payload import _KNOWN_DETAILS, _KNOWN_TOP, _json_check, _supported, _url, _utc, text_problem

    def validate(*, payload: object, path: str = "") -> dict[str, Any]:
        try:
            run = msgspec.convert(payload, _MsgspecPayload)
        except msgspec.ValidationError as exc:
            # msgspec names the spot only inside its message: "... - at `$.runDetails.rps`".
            message, _, where = str(exc).rpartition(" - at `$")
            raise ValueError(f"{path}{where.rstrip('`').lstrip('.')}: {message}") from None
        details = run.runDetails
        _supported(run.schema_version)
        _json_check(run.labels, "labels")
        target_url, target_key = _url(details.target_url)
        fields = {
            "schema_version": run.schema_version, "user_id": run.user_id, "challenge_type": run.challenge_type,
            "metric_name": run.metric_name, "value": run.value, "timestamp": _utc(run.timestamp),
            "labels": run.labels, "client_run_id": run.client_run_id, "target_url": target_url,
            "target_key": target_key, "request_count": details.request_count, "method": details.method,
            "payload_urls": details.payload_urls, "total_requests": details.total_requests,
            "successful_requests": details.successful_requests, "failed_requests": details.failed_requests,
            "avg_latency_ms": details.avg_latency_ms, "error_rate": details.error_rate, "rps": details.rps,
            "duration_s": details.duration_s, "test_type": details.test_type,
            "commit_hash": details.commit_hash or None, "session_id": details.session_id,
            "p50_latency_ms": details.p50_latency_ms, "p95_latency_ms": details.p95_latency_ms,
            "p99_latency_ms": details.p99_latency_ms,
        }
        fields["extra"] = {key: value for key, value in payload.items() if key not in _KNOWN_TOP}
        fields["run_details_extra"] = {
            key: value for key, value in payload["runDetails"].items() if key not in _KNOWN_DETAILS
        }
        for prefix, extra in ((path, fields["extra"]), (f"{path}runDetails.", fields["run_details_extra"])):
            for key, value in extra.items():
                if text_problem(key):
                    raise ValueError(f"{prefix}{key[:20]!r}: (a field name) {text_problem(key)}")
                _json_check(value, f"{prefix}{key}")
        return fields

    return validate


# --- the payloads -----------------------------------------------------------------------------------------------


def sample_payload(index: int) -> dict:
    """A run as the tracker's clients send it: naive UTC timestamp, null commit hash, percentiles."""
    return {
        "schema_version": "1.0",
        "userId": "alice",
        "challengeType": "robust-service",
        "metricName": "rps",
        "value": 400.0 + index * 0.25,
        "timestamp": f"2026-03-01T12:{index // 60 % 60:02d}:{index % 60:02d}",
        "labels": {"host": "laptop"},
        "runDetails": {
            "target_url": "http://127.0.0.1:8080",
            "request_count": 1000,
            "method": "POST",
            "payload_urls": ["http://127.0.0.1:8080/corpus/constitution"],
            "total_requests": 1000 + index,
            "successful_requests": 990 + index,
            "failed_requests": 10,
            "avg_latency_ms": 38.2,
            "error_rate": 1.0,
            "rps": 412.5,
            "duration_s": 2.42,
            "test_type": "standard",
            "commit_hash": None,
            "session_id": f"session-{index % 10}",
            "p50_latency_ms": 30.0,
            "p95_latency_ms": 80.5,
            "p99_latency_ms": 120.0,
        },
    }


def _per_run_us(call: Callable[[], object], runs_per_call: int, seconds: float) -> float:
    """Best of three timed stretches of about ``seconds / 3`` each, in µs per run."""
    start = time.perf_counter()
    loops = 0
    while time.perf_counter() - start < 0.02:
        call()
        loops += 1
    per_call = (time.perf_counter() - start) / loops
    number = max(1, int(seconds / 3 / per_call))
    best = math.inf
    gc.collect()
    for _ in range(3):
        began = time.perf_counter()
        for _ in range(number):
            call()
        best = min(best, (time.perf_counter() - began) / number)
    return best / runs_per_call * 1e6


def main() -> None:
    import django
    from django.conf import settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.4, help="time per candidate, case and round")
    parser.add_argument("--hand-rev", default=HAND_REV, help="git revision of the hand-written tracker/payload.py")
    args = parser.parse_args()
    if not settings.configured:
        settings.configure()
    django.setup()
    import pydantic

    from tracker.payload import payload_validate

    candidates = {
        "hand": hand_module(args.hand_rev).payload_validate,
        "pydantic": payload_validate,
        "msgspec": msgspec_validator(hand_module(args.hand_rev)),
    }
    single = sample_payload(0)
    batch = [sample_payload(index) for index in range(BATCH_SIZE)]
    expected = [candidates["hand"](payload=copy.deepcopy(payload)) for payload in batch]
    for name, validate in candidates.items():
        same = all(validate(payload=copy.deepcopy(payload)) == want for payload, want in zip(batch, expected, strict=True))
        print(f"{name:9} returns the hand validator's fields: {'yes' if same else 'NO — figures not comparable'}")
    print(f"python {sys.version.split()[0]}, pydantic {pydantic.VERSION}, msgspec {msgspec.__version__}, "
          f"hand validator from {args.hand_rev[:12]}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n")

    cases = {
        "single": (lambda validate: lambda: validate(payload=single), 1),
        f"batch of {BATCH_SIZE}": (
            lambda validate: lambda: [validate(payload=item, path=f"[{i}].") for i, item in enumerate(batch)],
            BATCH_SIZE,
        ),
    }
    body = json.dumps(single).encode()
    from tracker.payload import _PAYLOAD

    # For scale: the JSON parser before any validator, and each library's own call alone (pydantic's with
    # our Python checks inside it, msgspec's without the ones that run after it).
    parsers = {
        "json.loads": lambda: json.loads(body),
        "msgspec.json.decode": lambda: msgspec.json.decode(body),
        "pydantic core call": lambda: _PAYLOAD.validate_python(single),
        "msgspec core call": lambda: msgspec.convert(single, _MsgspecPayload),
    }
    names = list(candidates)
    figures: dict[tuple[str, str], list[float]] = {(case, name): [] for case in cases for name in names}
    for round_index in range(args.rounds):
        order = names[round_index % len(names):] + names[:round_index % len(names)]
        line = []
        for case, (make, runs) in cases.items():
            for name in order:
                us = _per_run_us(make(candidates[name]), runs, args.seconds)
                figures[case, name].append(us)
            line.append(f"{case}: " + ", ".join(f"{name} {figures[case, name][-1]:.2f}" for name in names))
        for name, parse in parsers.items():
            figures.setdefault(("parse", name), []).append(_per_run_us(parse, 1, args.seconds / 2))
        print(f"round {round_index + 1}: µs per run — " + "; ".join(line))

    print(f"\nµs per run, median of {args.rounds} rounds [range]; ratio = median of the per-round ratios to hand")
    for case in cases:
        print(f"  {case}")
        for name in names:
            values = figures[case, name]
            ratios = [value / hand for value, hand in zip(values, figures[case, "hand"], strict=True)]
            print(f"    {name:9} {statistics.median(values):6.2f} µs  [{min(values):.2f}-{max(values):.2f}]"
                  f"   {statistics.median(ratios):.2f}x hand")
    print("  for scale, on the single payload: parsing its body, and each library's own call alone")
    for name in parsers:
        values = figures["parse", name]
        print(f"    {name:20} {statistics.median(values):6.2f} µs  [{min(values):.2f}-{max(values):.2f}]")


if __name__ == "__main__":
    main()
