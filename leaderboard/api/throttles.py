"""Fixed-window request counters in shared state, per client IP and per API key.

DRF's ``SimpleRateThrottle`` keeps a list of every request's timestamp in one
cache entry and rewrites it on each request, which grows with the rate; one
atomic counter per window is enough here and costs the same at any rate (a
single Redis round trip, see ``leaderboard.ranking_version``). Rates come from
``settings.LEADERBOARD_API_RATES`` at request time.
"""

from __future__ import annotations

import time

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from leaderboard.ranking_version import counter_incr

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def rate_parse(*, rate: str) -> tuple[int, int]:
    count, _, period = rate.partition("/")
    try:
        return int(count), _PERIODS[period.strip()[:1].lower()]
    except (ValueError, KeyError):
        raise ValueError(f"throttle rate {rate!r} must look like 100/minute") from None


class _WindowThrottle(BaseThrottle):
    scope = ""

    def ident(self, request: Request, view: object) -> str | None:
        raise NotImplementedError

    def allow_request(self, request: Request, view: object) -> bool:
        rate = settings.LEADERBOARD_API_RATES.get(self.scope)
        ident = self.ident(request, view)
        if not rate or ident is None:
            return True
        limit, period = rate_parse(rate=rate)
        now = time.time()
        window = int(now // period)
        # A view that needs the ranking version gets it in the same round trip.
        wants_version = getattr(view, "reads_ranking_version", False)
        count, version = counter_incr(key=f"throttle:{self.scope}:{ident}:{window}", ttl_s=period + 1, with_version=wants_version)
        if wants_version:
            request.ranking_version = version
        self._wait = period - (now % period)
        return count <= limit

    def wait(self) -> float | None:
        return getattr(self, "_wait", None)


class IPThrottle(_WindowThrottle):
    scope = "ip"

    def ident(self, request: Request, view: object) -> str | None:
        return self.get_ident(request)


class KeyThrottle(_WindowThrottle):
    scope = "key"

    def ident(self, request: Request, view: object) -> str | None:
        user = getattr(request, "user", None)
        return str(user.pk) if getattr(user, "pk", None) else None


class SubmitThrottle(KeyThrottle):
    scope = "submit"
