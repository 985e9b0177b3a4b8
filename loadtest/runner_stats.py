"""Per-second accounting of the runner, kept free of Locust so it can be unit tested.

Every finished request is counted into the wall-clock second it completed in:
counts, failures by kind, latency sum / max, the sparse latency histogram
(``common.histogram``) and the anvil instance ids seen. Workers ship their
seconds to the master in the compact "wire" form; the master merges and turns
each complete second into the JSON record the parent stores as a RunSample.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from common.histogram import SIGNIFICANT_BITS, histogram_percentiles, histogram_to_json

_EXACT_BELOW = 1 << SIGNIFICANT_BITS

PROTOCOL_VERSION = 1


@dataclass
class SecondStats:
    requests: int = 0
    successes: int = 0
    failures: int = 0
    failures_by_kind: dict[str, int] = field(default_factory=dict)
    latency_sum_ms: float = 0.0
    success_latency_sum_ms: float = 0.0
    latency_max_ms: float = 0.0
    histogram: dict[int, int] = field(default_factory=dict)
    instances: set[str] = field(default_factory=set)

    def merge_wire(self, wire: dict) -> None:
        self.requests += wire["r"]
        self.successes += wire["s"]
        self.failures += wire["f"]
        for kind, count in wire["k"].items():
            self.failures_by_kind[kind] = self.failures_by_kind.get(kind, 0) + count
        self.latency_sum_ms += wire["ls"]
        self.success_latency_sum_ms += wire["ss"]
        self.latency_max_ms = max(self.latency_max_ms, wire["mx"])
        for bucket, count in wire["h"].items():
            key = int(bucket)
            self.histogram[key] = self.histogram.get(key, 0) + count
        self.instances.update(wire["i"])

    def to_wire(self) -> dict:
        return {
            "r": self.requests, "s": self.successes, "f": self.failures, "k": self.failures_by_kind,
            "ls": self.latency_sum_ms, "ss": self.success_latency_sum_ms, "mx": self.latency_max_ms,
            "h": {str(bucket): count for bucket, count in self.histogram.items()}, "i": sorted(self.instances),
        }


class SecondBook:
    """The seconds a process has counted and not yet handed on, keyed by epoch second."""

    def __init__(self) -> None:
        self.seconds: dict[int, SecondStats] = {}
        # Fraction of a second the run's t0 lies past a whole epoch second:
        # seconds are counted from t0, not from the epoch's whole seconds.
        self.offset = 0.0

    def record(self, at: float, latency_ms: float, failure_kind: str | None, instance: str | None) -> None:
        """Count one finished request. The hot path: positional arguments, the bucket inlined."""
        key = int(at - self.offset)
        stats = self.seconds.get(key)
        if stats is None:
            stats = self.seconds[key] = SecondStats()
        stats.requests += 1
        stats.latency_sum_ms += latency_ms
        if latency_ms > stats.latency_max_ms:
            stats.latency_max_ms = latency_ms
        # Same as common.histogram.histogram_bucket, without the call.
        bucket = int(latency_ms * 1000.0 + 0.5) if latency_ms > 0 else 0
        if bucket >= _EXACT_BELOW:
            shift = bucket.bit_length() - SIGNIFICANT_BITS
            bucket = (bucket >> shift) << shift
        histogram = stats.histogram
        histogram[bucket] = histogram.get(bucket, 0) + 1
        if failure_kind is None:
            stats.successes += 1
            stats.success_latency_sum_ms += latency_ms
        else:
            stats.failures += 1
            stats.failures_by_kind[failure_kind] = stats.failures_by_kind.get(failure_kind, 0) + 1
        if instance is not None and instance not in stats.instances:
            stats.instances.add(instance)

    def take_wire(self) -> dict[str, dict]:
        """Everything counted so far, in wire form; the book starts empty again."""
        taken, self.seconds = self.seconds, {}
        return {str(second): stats.to_wire() for second, stats in taken.items()}

    def merge_wire(self, seconds: dict[str, dict]) -> None:
        for second, wire in seconds.items():
            key = int(second)
            stats = self.seconds.get(key)
            if stats is None:
                stats = self.seconds[key] = SecondStats()
            stats.merge_wire(wire)

    def pop(self, *, epoch_second: int) -> SecondStats:
        return self.seconds.pop(epoch_second, None) or SecondStats()

    def later_than(self, *, epoch_second: int) -> list[int]:
        return sorted(second for second in self.seconds if second > epoch_second)


def second_record(*, second: int, stats: SecondStats, active_users: int) -> dict:
    """The JSON line for one second; field names match ``RunSample``."""
    percentiles = histogram_percentiles(histogram=stats.histogram, qs=(50, 95, 99))
    requests = stats.requests
    # A bucket's middle may lie above the largest value actually seen in it.
    top = round(stats.latency_max_ms, 3)
    for q, value in percentiles.items():
        if value is not None and value > top:
            percentiles[q] = top
    return {
        "type": "second",
        "second": second,
        "requests": requests,
        "successes": stats.successes,
        "failures": stats.failures,
        "failures_by_kind": dict(sorted(stats.failures_by_kind.items())),
        "rps": float(requests),
        "active_users": active_users,
        "latency_avg_ms": round(stats.latency_sum_ms / requests, 3) if requests else None,
        "latency_p50_ms": percentiles[50],
        "latency_p95_ms": percentiles[95],
        "latency_p99_ms": percentiles[99],
        "latency_max_ms": round(stats.latency_max_ms, 3) if requests else None,
        "success_latency_sum_ms": round(stats.success_latency_sum_ms, 3),
        "latency_histogram": histogram_to_json(histogram=stats.histogram),
        "instances": sorted(stats.instances),
    }


_TIMEOUT_WORDS = ("timed out", "timeout")


def failure_kind_of(*, status_code: int | None, exception: BaseException | None) -> str:
    """``"503"`` for an HTTP status, a judged answer's own kind (``redirect``, ``wrong_answer``),
    else ``timeout`` / ``connection`` / ``error``."""
    kind = getattr(exception, "failure_kind", None)
    if isinstance(kind, str):
        return kind
    if status_code:
        return str(status_code)
    if exception is None:
        return "error"
    if isinstance(exception, TimeoutError | socket.timeout) or any(
        word in f"{type(exception).__name__} {exception}".lower() for word in _TIMEOUT_WORDS
    ):
        return "timeout"
    if isinstance(exception, ConnectionError | socket.gaierror | OSError):
        return "connection"
    return "error"
