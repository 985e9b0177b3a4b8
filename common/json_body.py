"""Reading a JSON request body within a size limit: one way for every API that reads its own body.

Each caller words the problem for its own clients (their messages are part
of their contracts); this decides what the problem is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import BinaryIO

TOO_LARGE = "too_large"
EMPTY = "empty"
NOT_UTF8 = "not_utf8"
NOT_JSON = "not_json"
TOO_DEEP = "too_deep"


@dataclass(frozen=True)
class BodyProblem:
    status: int
    kind: str
    detail: str = ""


def json_body_read(stream: BinaryIO, *, limit: int) -> tuple[object, BodyProblem | None]:
    """The parsed body (read one byte past ``limit`` at most), or the problem with it."""
    raw = stream.read(limit + 1)
    if len(raw) > limit:
        return None, BodyProblem(413, TOO_LARGE)
    if not raw.strip():
        return None, BodyProblem(400, EMPTY)
    try:
        return json.loads(raw.decode()), None
    except UnicodeDecodeError:
        return None, BodyProblem(400, NOT_UTF8)
    except ValueError as exc:
        return None, BodyProblem(400, NOT_JSON, str(exc))
    except RecursionError:
        # json follows nesting by recursion: 100,000 "[" must be a 400, not a 500.
        return None, BodyProblem(400, TOO_DEEP)
