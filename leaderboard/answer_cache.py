"""Whole leaderboard answers kept per process, valid for one ranking version."""

from __future__ import annotations

import time

from django.conf import settings


class AnswerCache:
    """Encoded answers kept in this process, valid for one ranking version and at most LEADERBOARD_CACHE_S.

    Checking the version costs one shared read per request; building a
    leaderboard answer costs queries and rendering. Entries are whole
    responses that hold nothing specific to the client.
    """

    max_entries = 256

    def __init__(self) -> None:
        self._entries: dict[tuple, tuple[int, float, bytes]] = {}

    def get(self, *, key: tuple, version: int) -> bytes | None:
        if not settings.LEADERBOARD_CACHE_S:
            return None
        entry = self._entries.get(key)
        if entry is None or entry[0] != version or entry[1] < time.monotonic():
            return None
        return entry[2]

    def holds(self, *, key: tuple) -> bool:
        """Whether an unexpired answer for ``key`` is kept, whatever its version."""
        entry = self._entries.get(key) if settings.LEADERBOARD_CACHE_S else None
        return entry is not None and entry[1] >= time.monotonic()

    def put(self, *, key: tuple, version: int, body: bytes) -> None:
        if not settings.LEADERBOARD_CACHE_S:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (version, time.monotonic() + settings.LEADERBOARD_CACHE_S, body)

    def clear(self) -> None:
        self._entries.clear()
