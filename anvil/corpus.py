"""The offline corpus: public-domain texts shipped in ``anvil/corpus/``, served at ``/corpus/<slug>``.

Loaded once per process into memory; the master URL list is built from it, so
the same sample URLs always fetch the same bytes and hash the same.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from django.conf import settings

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"


@cache
def corpus_documents() -> dict[str, bytes]:
    """slug -> document bytes, sorted by slug."""
    return {path.stem: path.read_bytes() for path in sorted(CORPUS_DIR.glob("*.txt"))}


def corpus_titles() -> dict[str, str]:
    return {slug: body.split(b"\n", 1)[0].decode().strip() for slug, body in corpus_documents().items()}


def master_urls() -> tuple[str, ...]:
    """The master list sample URLs are drawn from: every corpus document under ``ANVIL_CORPUS_BASE_URL``."""
    return _master_urls(settings.ANVIL_CORPUS_BASE_URL)


@cache
def _master_urls(base_url: str) -> tuple[str, ...]:
    # Keyed by the base URL so that tests overriding the setting get fresh URLs.
    return tuple(f"{base_url}/corpus/{slug}" for slug in corpus_documents())
