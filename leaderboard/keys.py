"""Participant API keys: ``scc_<prefix>_<secret>``.

The prefix (8 hex characters) is stored in clear to find the row; the whole
key is stored only as an HMAC-SHA256 under ``LEADERBOARD_API_KEY_SECRET`` and
compared in constant time, so a copy of the database does not reveal any key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from django.conf import settings

KEY_SCHEME = "scc"
_KEY_RE = re.compile(r"^scc_([0-9a-f]{8})_[A-Za-z0-9_-]{32,64}$")


def api_key_generate() -> tuple[str, str]:
    """A fresh key and its prefix."""
    prefix = secrets.token_hex(4)
    return f"{KEY_SCHEME}_{prefix}_{secrets.token_urlsafe(32)}", prefix


def api_key_hash(*, key: str) -> str:
    secret = settings.LEADERBOARD_API_KEY_SECRET.encode()
    return hmac.new(secret, key.encode(), hashlib.sha256).hexdigest()


def api_key_prefix(*, key: str) -> str | None:
    """The prefix of a well-formed key, or None for anything that cannot be one."""
    match = _KEY_RE.match(key)
    return match.group(1) if match else None


def api_key_matches(*, key: str, key_hash: str) -> bool:
    return hmac.compare_digest(api_key_hash(key=key), key_hash)
