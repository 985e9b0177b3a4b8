"""Kubernetes resource quantities ("250m", "0.5", "128Mi", "1G", "1e3") as integers.

The grammar is the API server's (k8s.io/apimachinery resource.Quantity): a
decimal number, then one suffix — binary (Ki … Ei), decimal SI (n u m k M G
T P E, or none) or a decimal exponent (e3, E-2). Rounding is the API
server's too: a value is rounded *up* to the unit asked for, so "0.1m" of
CPU counts as 1 millicore and "1.5" bytes as 2.

Parsed with Decimal, never float: "0.1" must be exact, and a number that is
large only through its suffix or exponent ("1e400", "9999999Ei") must be
refused by comparison before an integer of that size is ever made.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_CEILING, Context, Decimal, InvalidOperation

from common.validation import FieldError

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}

# [0-9], not \d: \d also matches "²" and other Unicode digits. fullmatch, not
# "$": "$" also matches before a trailing newline.
_QUANTITY = re.compile(
    r"(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]{1,3})?"
)
# The API server refuses longer quantity strings too; it also bounds the work here.
_MAX_LENGTH = 64
# What an int64 holds; the API server keeps quantities in one.
_MAX_VALUE = Decimal(2**63 - 1)
# Enough digits for 64 digits of mantissa times 2**60: no rounding happens
# before the one rounding step that is meant.
_EXACT = Context(prec=120, Emin=-2000, Emax=2000)


def quantity_parse(value: object, *, field: str) -> Decimal:
    """The quantity's exact value (in its base unit: cores or bytes), never negative."""
    if isinstance(value, bool):
        # bool is an int in Python; YAML "true" is no quantity.
        raise FieldError(field=field, message="must be a quantity such as '250m' or '128Mi', not a boolean")
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise FieldError(field=field, message="must be a finite quantity")
        # repr() is the shortest text that reads back as the same float: 0.1 → "0.1".
        number = Decimal(repr(value))
    elif isinstance(value, str):
        number = _parse_text(value, field=field)
    else:
        raise FieldError(field=field, message="must be a quantity such as '250m' or '128Mi'")
    if number < 0:
        raise FieldError(field=field, message="must not be negative")
    if number > _MAX_VALUE:
        raise FieldError(field=field, message="is too large")
    return number


def _parse_text(text: str, *, field: str) -> Decimal:
    if len(text) > _MAX_LENGTH:
        raise FieldError(field=field, message=f"is longer than {_MAX_LENGTH} characters")
    match = _QUANTITY.fullmatch(text)
    if match is None:
        raise FieldError(
            field=field,
            message=f"{text[:32]!r} is not a quantity (a number with an optional suffix: m, k, M, G, Ki, Mi, Gi, …)",
        )
    try:
        number = Decimal(match["number"])
        suffix = match["suffix"] or ""
        if suffix in _BINARY:
            return _EXACT.multiply(number, Decimal(_BINARY[suffix]))
        exponent = _DECIMAL[suffix] if suffix in _DECIMAL else int(suffix[1:])
        return _EXACT.multiply(number, _EXACT.power(Decimal(10), exponent))
    except (InvalidOperation, ArithmeticError) as exc:  # pragma: no cover - the bounds above prevent it
        raise FieldError(field=field, message="is not a quantity") from exc


def cpu_millicores(value: object, *, field: str) -> int:
    """CPU in millicores, rounded up: "250m" → 250, "0.5" → 500, 2 → 2000, "0.1m" → 1."""
    cores = quantity_parse(value, field=field)
    return int(_EXACT.multiply(cores, Decimal(1000)).to_integral_value(rounding=ROUND_CEILING))


def memory_bytes(value: object, *, field: str) -> int:
    """Memory in bytes, rounded up: "128Mi" → 134217728, "1G" → 10**9, "1.5" → 2."""
    amount = quantity_parse(value, field=field)
    return int(amount.to_integral_value(rounding=ROUND_CEILING))


def millicores_text(millicores: int) -> str:
    """The compact form people write: 2000 → "2", 250 → "250m"."""
    return str(millicores // 1000) if millicores % 1000 == 0 else f"{millicores}m"


def bytes_text(amount: int) -> str:
    """The largest binary suffix that divides exactly: 268435456 → "256Mi", 1000 → "1000"."""
    for suffix, size in sorted(_BINARY.items(), key=lambda item: -item[1]):
        if amount and amount % size == 0:
            return f"{amount // size}{suffix}"
    return str(amount)
