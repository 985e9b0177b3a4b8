"""Whether an answer from the target is right, not only whether it came.

The corpus url-anvil fetches is offline and fixed, so the platform can
recompute every ``content_hash`` itself: a server that makes answers up, or
replays one answer to everything, scores nothing. A cache in front of
url-anvil still scores, since its answers are right. The load users (in the
runner process) and the health prober use these checks; no Django here.
"""

from __future__ import annotations

import json
from functools import lru_cache
from urllib.parse import urlsplit

from anvil.corpus import corpus_documents
from common.contract import CORPUS_PATH_PREFIX, INSTANCE_HEADER, content_hash


class AnswerProblem(Exception):
    """An answer that does not count as a success; ``failure_kind`` is how it is counted."""

    failure_kind = "wrong_answer"


class WrongAnswer(AnswerProblem):
    failure_kind = "wrong_answer"


class Redirected(AnswerProblem):
    """The run's target is fixed: a 3xx is not followed, and counts as a failure of its own."""

    failure_kind = "redirect"


def redirect_problem(*, status: int, location: str | None) -> Redirected | None:
    if 300 <= status < 400:
        return Redirected(f"answered {status} (redirect to {location or 'nowhere'}), which is not followed")
    return None


def instance_problem(*, instance: str | None) -> WrongAnswer | None:
    return None if instance else WrongAnswer(f"no {INSTANCE_HEADER} header: not an answer of url-anvil")


def _slug_of(url: object) -> str | None:
    if not isinstance(url, str):
        return None
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    if not path.startswith(CORPUS_PATH_PREFIX):
        return None
    slug = path[len(CORPUS_PATH_PREFIX):]
    return slug if slug in corpus_documents() else None


def sample_urls_check(*, body: bytes) -> tuple[list[str], WrongAnswer | None]:
    """The sample URLs of a ``GET /api/sample-urls`` answer, or the reason it is wrong."""
    try:
        urls = json.loads(body)
    except ValueError:
        return [], WrongAnswer("sample URLs: not JSON")
    if not isinstance(urls, list) or not urls:
        return [], WrongAnswer("sample URLs: not a non-empty JSON list")
    if not all(_slug_of(url) for url in urls):
        return [], WrongAnswer("sample URLs: not all of them are documents of the corpus")
    return urls, None


@lru_cache(maxsize=4096)
def expected_content_hash(urls: tuple[str, ...]) -> str:
    documents = corpus_documents()
    return content_hash([documents[_slug_of(url)] for url in urls])


def test_answer_check(*, urls: list[str], body: bytes) -> WrongAnswer | None:
    """None when a ``POST /api/test`` answer holds the right hash of ``urls``' documents."""
    try:
        answer = json.loads(body)
    except ValueError:
        return WrongAnswer("test: not JSON")
    if not isinstance(answer, dict):
        return WrongAnswer("test: not a JSON object")
    if answer.get("content_hash") != expected_content_hash(tuple(urls)):
        return WrongAnswer("test: content_hash is not the hash of the requested documents")
    if answer.get("urls_tested") != len(urls):
        return WrongAnswer("test: urls_tested does not match the URLs sent")
    return None


def healthz_check(*, body: bytes) -> WrongAnswer | None:
    """None when a ``GET /healthz`` 200 answer says ``{"status": "ok", ...}``."""
    try:
        answer = json.loads(body)
    except ValueError:
        return WrongAnswer("healthz: not JSON")
    if not isinstance(answer, dict) or answer.get("status") != "ok":
        return WrongAnswer('healthz: not {"status": "ok"}')
    return None
