"""One way to check outside input: pydantic types and adapters, one field-error type.

Every validator of the project raises :class:`FieldError` naming the culprit by
its dotted path (``runDetails.target_url``, ``chaos_plan[1].params.ms``; ``""``
when the whole input is at fault), so that every API can answer it with the
same JSON and every command with exit code 2.

The pieces:

* :func:`validate` runs a ``TypeAdapter`` and turns the first problem of a
  pydantic ``ValidationError`` into a ``FieldError`` (:func:`field_error`),
  worded the way our messages always were ("must be at least 0", "is required").
* :class:`WholeNumber`: an int, or a float without a fraction (JavaScript
  clients send ``12.0``), never a bool or a string, and without the float
  round trip that would lose exactness above 2**53.
* :class:`ErrorMessage`: one sentence for every problem of the value it wraps.
* :func:`whole_number_from_text` for query parameters and form fields.

Models are meant to be strict (``ConfigDict(strict=True, allow_inf_nan=False)``):
JSON has no "maybe a number" — ``true`` is not 1, ``"²"`` is not 2 (though
``"²".isdigit()`` is true and ``int("²")`` raises), and Python's json module
reads ``NaN``, ``Infinity`` and ``1e400`` (as inf) that no column can store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any, TypeVar

from pydantic import GetCoreSchemaHandler, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails, core_schema

T = TypeVar("T")

# Bounds this large are storage limits (a 64-bit column, a float's exact
# range), not rules a client reads: "at most 4.61169e+18" would help nobody.
_STORAGE_BOUND = 2**53


class FieldError(ValueError):
    """Input refused: ``field`` names where (a dotted path, "" for the whole input), ``message`` says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message

    def __reduce__(self) -> tuple:
        # Rebuilt from both parts (pickle, copy, Celery's result backend), not from the joined text.
        return type(self), (self.field, self.message)


def field_path(loc: Sequence[str | int], *, prefix: str = "") -> str:
    """``("runDetails", "payload_urls", 1)`` → ``runDetails.payload_urls[1]``, after ``prefix`` (``"[3]."``, ``"params."``)."""
    path = prefix.rstrip(".")
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part != "[key]":
            # pydantic marks a dict key's own error with "[key]"; the key itself names the spot.
            name = str(part) or '""'
            path = f"{path}.{name}" if path else name
    return path


def _join(path: str, inner: str) -> str:
    if not inner:
        return path
    if not path or inner.startswith("["):
        return path + inner
    return f"{path}.{inner}"


def _bound(value: object) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def _too_large_or(template: str, key: str) -> Callable[[ErrorDetails], str]:
    def message(error: ErrorDetails) -> str:
        bound = error.get("ctx", {}).get(key)
        if isinstance(bound, int | float) and abs(bound) >= _STORAGE_BOUND:
            return "is too large"
        return template.format(_bound(bound))

    return message


def _float_type(error: ErrorDetails) -> str:
    value = error.get("input")
    # A strict float takes any int, except one beyond the float range (10**400).
    if isinstance(value, int) and not isinstance(value, bool):
        return "is too large"
    return "must be a number"


def _string_too_short(error: ErrorDetails) -> str:
    minimum = error.get("ctx", {}).get("min_length", 1)
    return "must not be empty" if minimum == 1 else f"must be at least {minimum} characters"


def _ctx(template: str) -> Callable[[ErrorDetails], str]:
    return lambda error: template.format(**{k: _bound(v) for k, v in error.get("ctx", {}).items()})


Message = str | Callable[[ErrorDetails], str]

MESSAGES: dict[str, Message] = {
    "missing": "is required",
    "extra_forbidden": "is not a known field",
    "bool_type": "must be true or false",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_parsing_size": "is too large",
    "float_type": _float_type,
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "string_type": "must be a string",
    "string_unicode": "must be valid Unicode (no lone surrogates)",
    "string_too_short": _string_too_short,
    "string_too_long": _ctx("must be at most {max_length} characters"),
    "dict_type": "must be a JSON object",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "list_type": "must be a JSON list",
    "too_long": _ctx("has {actual_length} items; at most {max_length} are allowed"),
    "literal_error": _ctx("must be {expected}"),
    "greater_than": _ctx("must be greater than {gt}"),
    "greater_than_equal": _too_large_or("must be at least {}", "ge"),
    "less_than": _too_large_or("must be less than {}", "lt"),
    "less_than_equal": _too_large_or("must be at most {}", "le"),
}


def _message(error: ErrorDetails, messages: Mapping[str, Message] | None) -> str:
    kind = error["type"]
    message = (messages or {}).get(kind) or MESSAGES.get(kind)
    if message is None:
        # A PydanticCustomError raised by one of our validators carries our own words.
        text = error["msg"]
        return text[:1].lower() + text[1:] if text.startswith("Input ") else text
    return message if isinstance(message, str) else message(error)


def field_error(exc: ValidationError, *, prefix: str = "", root: str = "",
                messages: Mapping[str, Message] | None = None) -> FieldError:
    """The first problem of ``exc`` as a FieldError.

    ``prefix`` goes before every path (a batch item's ``[3].``); ``root`` names
    the whole input when it is the culprit itself (``"body"``, ``"spec"``);
    ``messages`` rewords error types for this input (``{"extra_forbidden": …}``).
    A FieldError raised inside a validator keeps its words and its field,
    read relative to where the validator ran.
    """
    error = exc.errors(include_url=False)[0]
    path = field_path(error["loc"], prefix=prefix)
    inner = error.get("ctx", {}).get("error")
    if isinstance(inner, FieldError):
        path, message = _join(path, inner.field), inner.message
    elif error["type"] in ("value_error", "assertion_error") and inner is not None:
        message = str(inner)
    else:
        message = _message(error, messages)
    return FieldError(path or root, message)


def validate(adapter: TypeAdapter[T], value: object, *, prefix: str = "", root: str = "",
             messages: Mapping[str, Message] | None = None) -> T:
    """``adapter.validate_python(value)``, raising FieldError (see :func:`field_error`) instead of pydantic's error."""
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        raise field_error(exc, prefix=prefix, root=root, messages=messages) from exc


@dataclass(frozen=True, slots=True)
class ErrorMessage:
    """Tell every problem of the value it follows in ``Annotated`` in these words.

    ``Annotated[Kind, ErrorMessage("must be one of latency, error")]``: the
    check stays in pydantic's core, only its words change. Whatever comes after
    it in ``Annotated`` keeps its own messages; a missing field is still "is
    required".
    """

    text: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.custom_error_schema(handler(source), "field_message", custom_error_message=self.text)


@dataclass(frozen=True, slots=True)
class WholeNumber:
    """``Annotated[int, WholeNumber(ge=0, le=1000)]``: a whole number from JSON (or, with ``text``, typed as text).

    From JSON: an int, or a float without a fraction (``12.0`` → 12); never a
    bool, a string, NaN or an infinity. Ints are kept as they are, so 2**53 + 1
    stays exact. With ``text=True``: ASCII digits only (a query parameter, a
    form field) — ``"²"``, ``"٣"``, ``"+5"``, ``"5_0"`` and ``"5.0"`` are not
    whole numbers here, whatever ``str.isdigit`` and ``int()`` think.
    """

    ge: int | None = None
    le: int | None = None
    text: bool = False

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        if self.text:
            first = core_schema.str_schema(strict=True, pattern=r"^[0-9]{1,30}$")
        else:
            # Infinities pass this step so that the next one calls them what they are.
            first = core_schema.union_schema(
                [core_schema.int_schema(strict=True), core_schema.float_schema(strict=True, allow_inf_nan=True)],
                mode="left_to_right", custom_error_type="number_type", custom_error_message="must be a number",
            )
        # Lax on purpose, whatever the model's config says: 12.0 becomes 12, 12.5 is refused.
        bounded = core_schema.int_schema(strict=False, ge=self.ge, le=self.le)
        return core_schema.chain_schema([first, bounded])


@lru_cache(maxsize=64)
def _whole_text(minimum: int, maximum: int) -> TypeAdapter[int]:
    return TypeAdapter(Annotated[int, WholeNumber(ge=minimum, le=maximum, text=True)])


def whole_number_from_text(text: object, *, field: str, minimum: int, maximum: int) -> int:
    """A whole number from ``minimum`` to ``maximum`` typed as text, or FieldError saying exactly that."""
    try:
        return _whole_text(minimum, maximum).validate_python(text)
    except ValidationError:
        raise FieldError(field, f"must be a whole number from {minimum} to {maximum}") from None
