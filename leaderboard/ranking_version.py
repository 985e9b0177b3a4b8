"""The ranking version and the request counters, shared by every web process.

With Redis (``REDIS_URL``) they are plain Redis keys reached through one
client per process, so that a throttled read of the leaderboard costs a single
round trip (count the request *and* read the ranking version in one pipeline).
Without Redis they live in Django's cache (the file cache shared on the host).
All keys start with ``LEADERBOARD_CACHE_NAMESPACE``.
"""

from __future__ import annotations

import functools
import time

import redis
from django.conf import settings
from django.core.cache import cache

VERSION_KEY = "version"


def shared_key(name: str) -> str:
    return f"{settings.LEADERBOARD_CACHE_NAMESPACE}:{name}"


@functools.cache
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def _as_int(raw: object) -> int:
    return int(raw) if raw is not None else 0


def counter_incr(*, key: str, ttl_s: int, with_version: bool = False) -> tuple[int, int | None]:
    """Add one to a counter that expires ``ttl_s`` after its first hit.

    Returns the new count and, when asked, the ranking version read in the same round trip.
    """
    full_key = shared_key(key)
    if settings.REDIS_URL:
        pipe = _redis(settings.REDIS_URL).pipeline(transaction=False)
        pipe.incr(full_key)
        pipe.expire(full_key, ttl_s, nx=True)
        if with_version:
            pipe.get(shared_key(VERSION_KEY))
        results = pipe.execute()
        return int(results[0]), (_as_int(results[2]) if with_version else None)
    if cache.add(full_key, 1, timeout=ttl_s):
        count = 1
    else:
        try:
            count = cache.incr(full_key)
        except ValueError:
            # Expired between add and incr: this request opens a new window.
            cache.set(full_key, 1, timeout=ttl_s)
            count = 1
    return count, (version_get() if with_version else None)


def version_get() -> int:
    """The ranking version: it changes whenever any leaderboard may have changed."""
    if settings.REDIS_URL:
        return _as_int(_redis(settings.REDIS_URL).get(shared_key(VERSION_KEY)))
    return _as_int(cache.get(shared_key(VERSION_KEY)))


def version_bump() -> None:
    value = time.time_ns()
    if settings.REDIS_URL:
        _redis(settings.REDIS_URL).set(shared_key(VERSION_KEY), value)
    else:
        cache.set(shared_key(VERSION_KEY), value, timeout=None)
