"""The parts of url-anvil's HTTP contract that other processes rely on."""

from __future__ import annotations

import hashlib

# Every answer of url-anvil names the process that gave it; a restarted
# process shows up under a new id.
INSTANCE_HEADER = "X-Anvil-Instance"
# url-anvil's POST /api/test hashes the fetched bodies joined by this, in request order.
CONTENT_SEPARATOR = b"\n---\n"
CORPUS_PATH_PREFIX = "/corpus/"


def content_hash(bodies: list[bytes]) -> str:
    """The ``content_hash`` url-anvil answers for these bodies: anyone can recompute it."""
    digest = hashlib.sha256()
    for index, body in enumerate(bodies):
        if index:
            digest.update(CONTENT_SEPARATOR)
        digest.update(body)
    return digest.hexdigest()
