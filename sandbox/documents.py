"""A bundle's text → a bounded list of plain JSON objects, or a FieldError.

YAML (one or more documents, as ``kubectl apply -f`` reads them) or JSON (a
list of objects, or one object); a text that opens like JSON but is not
JSON is read as YAML (flow style looks the same). Whatever the text, the result is made of
dict / list / str / int / float / bool / None only, with string keys, finite
numbers and bounded size and depth — the things JSON Schema validation and
the policy checks may then take for granted.

Bounds, in the order they apply: the text's size before anything is parsed;
the number of objects while YAML documents are read one by one; nodes and
depth while the parsed data is copied into plain objects (YAML aliases can
make a small text expand into a very large tree, so nodes are counted as
visited, not as written).
"""

from __future__ import annotations

import json
import math
from typing import Any

import yaml

from common.validation import FieldError
from sandbox.fieldpath import BUNDLE, path_join

MAX_NODES = 50_000
MAX_DEPTH = 40
# The API server's int64; beyond it a number cannot mean what it says.
_INT_LIMIT = 2**63


class _Loader(yaml.SafeLoader):
    """SafeLoader, plus what kubectl's YAML reading does differently.

    * A key given twice in one mapping is an error (a strict API server
      refuses it too); PyYAML would keep the last value silently, so a
      reviewer reading the first one would see another bundle than the one run.
    * Unquoted dates stay the strings they are (kubectl sends text, and
      every Kubernetes field that holds one is a string).
    * A plain ``=`` is the string "=" (PyYAML has no constructor for the
      YAML 1.1 "value" tag it resolves to).
    Pure Python on purpose: libyaml's composer recurses in C, where a deeply
    nested flow sequence would overflow the stack instead of raising.
    """

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                continue
            key = self.construct_object(key_node)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark, f"found duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_Loader.add_constructor("tag:yaml.org,2002:value", yaml.SafeLoader.construct_yaml_str)


def documents_parse(text: str, *, max_bytes: int, max_objects: int) -> list[dict[str, Any]]:
    if not isinstance(text, str):
        raise FieldError(field=BUNDLE, message="the bundle must be text")
    # Every character is at least one byte: the cheap test first, and the exact
    # one (surrogatepass: a lone surrogate must be counted, not crash) after.
    if len(text) > max_bytes or len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise FieldError(field=BUNDLE, message=f"the bundle is larger than {max_bytes} bytes")
    stripped = text.lstrip()
    if not stripped:
        raise FieldError(field=BUNDLE, message="the bundle is empty")
    raw = None
    if stripped[0] in "[{":
        raw = _json_documents(stripped, max_objects=max_objects)
    if raw is None:
        raw = _yaml_documents(text, max_objects=max_objects)
    budget = _Budget()
    objects = []
    for index, document in enumerate(raw):
        if not isinstance(document, dict):
            raise FieldError(field=f"[{index}]", message="must be a Kubernetes object (a mapping), not a list or a scalar")
        objects.append(_plain(document, path=f"[{index}]", depth=0, budget=budget))
    if not objects:
        raise FieldError(field=BUNDLE, message="the bundle holds no Kubernetes object")
    return objects


def _json_documents(text: str, *, max_objects: int) -> list[Any] | None:
    """The documents of a JSON text, or None when it is no JSON (it may be YAML in flow style)."""
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise FieldError(field=BUNDLE, message="JSON: nested too deeply") from None
    except json.JSONDecodeError:
        return None
    except ValueError as exc:  # NaN / Infinity, an integer of too many digits: JSON, but no number
        raise FieldError(field=BUNDLE, message=f"JSON: {_short(str(exc))}") from None
    documents = data if isinstance(data, list) else [data]
    if len(documents) > max_objects:
        raise FieldError(field=BUNDLE, message=f"the bundle holds more than {max_objects} objects")
    return documents


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _yaml_documents(text: str, *, max_objects: int) -> list[Any]:
    documents: list[Any] = []
    loader = None
    try:
        # The reader checks the characters as it is made: inside the try.
        loader = _Loader(text)
        while loader.check_data():
            document = loader.get_data()
            # An empty document ("---" twice, a trailing "---") is nothing, as for kubectl.
            if document is None:
                continue
            if len(documents) == max_objects:
                raise FieldError(field=BUNDLE, message=f"the bundle holds more than {max_objects} objects")
            documents.append(document)
    except FieldError:
        raise  # a ValueError too, but already the answer
    except yaml.YAMLError as exc:
        raise FieldError(field=BUNDLE, message=f"YAML: {_yaml_problem(exc)}") from None
    except RecursionError:
        raise FieldError(field=BUNDLE, message="YAML: nested too deeply") from None
    except ValueError as exc:
        # PyYAML turns digits into int() without a length limit of its own;
        # Python's (4300 digits) raises ValueError.
        raise FieldError(field=BUNDLE, message=f"YAML: {_short(str(exc))}") from None
    finally:
        if loader is not None:
            loader.dispose()
    return documents


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem:
        where = exc.problem_mark or exc.context_mark
        at = f" (line {where.line + 1}, column {where.column + 1})" if where is not None else ""
        return _short(exc.problem) + at
    return _short(str(exc))


def _short(message: str, limit: int = 200) -> str:
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 1] + "…"


class _Budget:
    def __init__(self) -> None:
        self.nodes = 0

    def spend(self) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise FieldError(field=BUNDLE, message=f"the bundle has more than {MAX_NODES} values (YAML aliases count each time they are used)")


def _plain(value: Any, *, path: str, depth: int, budget: _Budget) -> Any:
    """A fresh copy made only of JSON types, or a FieldError naming what is not."""
    budget.spend()
    if depth > MAX_DEPTH:
        raise FieldError(field=path, message=f"is nested more than {MAX_DEPTH} levels deep")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise FieldError(field=path, message="is not valid Unicode text") from None
        return value
    if isinstance(value, int):
        if not -_INT_LIMIT <= value < _INT_LIMIT:
            raise FieldError(field=path, message="is an integer out of range")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FieldError(field=path, message="must be a finite number")
        return value
    if isinstance(value, list):
        return [_plain(item, path=path_join(path, i), depth=depth + 1, budget=budget) for i, item in enumerate(value)]
    if isinstance(value, dict):
        copy = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise FieldError(field=path, message=f"has a key that is not a string: {_short(repr(key), 60)}")
            key_path = path_join(path, key)
            copy[_plain(key, path=key_path, depth=depth + 1, budget=budget)] = _plain(
                item, path=key_path, depth=depth + 1, budget=budget
            )
        return copy
    # YAML's binary, sets, … : types that JSON, and so the API server, does not have.
    raise FieldError(field=path, message=f"is a {type(value).__name__}, which a Kubernetes object cannot hold")
