"""A sparse log-linear latency histogram with at most ~0.8% relative error.

The load-test runner stores one of these per second (``RunSample.latency_histogram``)
so that percentiles over any window — a whole run, the seconds of a fault —
come from the raw latencies, not from averaged per-second percentiles.

Shape: a latency is turned into whole microseconds. Values below 128 µs are
their own bucket (exact). Larger values keep their 7 most significant bits:
a bucket spans ``2**e`` µs starting at ``(v >> e) << e``, and since every value
in it is at least ``64 * 2**e``, reporting the bucket's middle is off by at most
``1/128`` (0.78%). The key of a bucket is its lower bound in µs as a string
(JSON object keys are strings), so a stored histogram reads as
``{"1024": 3, "51200": 17}`` — 17 requests at about 51.2 ms.

Plain Python, no Django: the Locust runner process imports it too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

SIGNIFICANT_BITS = 7
_EXACT_BELOW = 1 << SIGNIFICANT_BITS  # 128 µs


def histogram_bucket(*, latency_ms: float) -> int:
    """The lower bound, in µs, of the bucket that holds ``latency_ms``."""
    micros = round(latency_ms * 1000.0) if latency_ms > 0 else 0
    if micros < _EXACT_BELOW:
        return micros
    shift = micros.bit_length() - SIGNIFICANT_BITS
    return (micros >> shift) << shift


def histogram_bucket_value_ms(*, bucket: int) -> float:
    """The value reported for every latency in ``bucket`` (its middle), in ms."""
    if bucket < _EXACT_BELOW:
        return bucket / 1000.0
    width = 1 << (bucket.bit_length() - SIGNIFICANT_BITS)
    return (bucket + width / 2.0) / 1000.0


def histogram_add(*, histogram: dict, latency_ms: float, count: int = 1) -> None:
    """Count ``count`` requests of ``latency_ms`` into a stored-form ``histogram`` (in place).

    The runner's hot path instead keeps int keys (``histogram_bucket``) and
    converts once per second with ``histogram_to_json``.
    """
    key = str(histogram_bucket(latency_ms=latency_ms))
    histogram[key] = histogram.get(key, 0) + count


def histogram_to_json(*, histogram: Mapping) -> dict[str, int]:
    """The storable form: str keys, no empty buckets."""
    return {str(key): int(count) for key, count in histogram.items() if count}


def histogram_merge(*, histograms: Iterable[Mapping | None]) -> dict[str, int]:
    """Sum several histograms (any key type, ``None`` skipped) into a stored-form one."""
    merged: dict[int, int] = {}
    for histogram in histograms:
        if not histogram:
            continue
        for key, count in histogram.items():
            bucket = int(key)
            merged[bucket] = merged.get(bucket, 0) + int(count)
    return {str(bucket): count for bucket, count in sorted(merged.items()) if count}


def histogram_count(*, histogram: Mapping | None) -> int:
    return sum(int(count) for count in (histogram or {}).values())


def histogram_percentile(*, histogram: Mapping | None, q: float) -> float | None:
    """The ``q``-th percentile in ms, ``q`` in [0, 100] (nearest rank); None when empty.

    ``q`` is a percentage like numpy's ``percentile``: pass 95 for p95, not 0.95.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"q={q!r} must be a percentage between 0 and 100")
    buckets = sorted((int(key), int(count)) for key, count in (histogram or {}).items() if count)
    total = sum(count for _, count in buckets)
    if total == 0:
        return None
    # Nearest rank: the smallest value with at least q% of the values at or below it.
    rank = max(1, math.ceil(q / 100.0 * total))
    seen = 0
    for bucket, count in buckets:
        seen += count
        if seen >= rank:
            return histogram_bucket_value_ms(bucket=bucket)
    return histogram_bucket_value_ms(bucket=buckets[-1][0])


def histogram_percentiles(*, histogram: Mapping | None, qs: Iterable[float]) -> dict[float, float | None]:
    """Several percentiles in one pass over the sorted buckets."""
    wanted = sorted(set(qs))
    for q in wanted:
        if not 0 <= q <= 100:
            raise ValueError(f"q={q!r} must be a percentage between 0 and 100")
    buckets = sorted((int(key), int(count)) for key, count in (histogram or {}).items() if count)
    total = sum(count for _, count in buckets)
    result: dict[float, float | None] = dict.fromkeys(wanted)
    if total == 0:
        return result
    index = 0
    seen = 0
    for q in wanted:
        rank = max(1, math.ceil(q / 100.0 * total))
        while seen < rank and index < len(buckets):
            seen += buckets[index][1]
            index += 1
        result[q] = histogram_bucket_value_ms(bucket=buckets[index - 1][0])
    return result
