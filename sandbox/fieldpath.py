"""Dotted paths naming a field of a bundle: ``[1].spec.template.spec.containers[0].image``.

``[n]`` is the n-th object of the bundle (counting from 0) or the n-th item
of a list. A key that is not a plain identifier — a ConfigMap's
``haproxy.cfg``, a label ``app.kubernetes.io/name`` — is written
``["haproxy.cfg"]`` so that a path has one reading.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

BUNDLE = ""  # the field of errors about the bundle as a whole (the project's convention for "the whole input")
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def path_join(base: str, *parts: str | int) -> str:
    return base + "".join(_part(part) for part in parts)


def path_of(index: int, parts: Iterable[str | int]) -> str:
    return path_join(f"[{index}]", *parts)


def _part(part: str | int) -> str:
    if isinstance(part, int):
        return f"[{part}]"
    if _PLAIN.fullmatch(part):
        return f".{part}"
    return f"[{json.dumps(part)}]"
