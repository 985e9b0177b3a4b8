"""Reads of the anvil's shared state."""

from __future__ import annotations

import random

from anvil.corpus import master_urls
from anvil.services import HISTORY_SIZE
from anvil.store import store_get

SAMPLE_SIZE = 5


def history_list(*, limit: int = HISTORY_SIZE) -> list[dict]:
    """The latest URL-test results, newest first, as every process of the deployment sees them."""
    return store_get().history_read(limit=limit)


def sample_urls_pick(*, count: int = SAMPLE_SIZE) -> list[str]:
    """``count`` distinct URLs from the master list; ``random.sample`` leaves the list itself untouched."""
    urls = master_urls()
    return random.sample(urls, k=min(count, len(urls)))
