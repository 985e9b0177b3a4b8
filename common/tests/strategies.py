"""Hypothesis strategies for outside input: any JSON value, and valid input spoiled at one spot.

"Any JSON value" is what Python's json module can hand a validator: it reads
NaN, Infinity and 1e400 (as inf), keeps ints of any size, and passes lone
surrogates and NUL characters through in strings.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

# Text that looks numeric to str.isdigit() or int() but is not an ASCII number,
# plus what databases refuse.
AWKWARD_TEXT = ["²", "٣", "\uff15", "1_000", " 12 ", "+5", "-0", "1e3", "12.0", "0x1f", "NaN", "Infinity", "",
                "   ", "\x00", "a\x00b", "\ud800", "\udfff", "\x1c", "true", "null", "\u2028"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([0, 1, -1, 2**53 + 1, 2**62, 2**63, -(2**63), 10**400, -(10**400)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 0.5, 1.0, 12.0, 1e20, 1e300, float("inf"), float("-inf"), float("nan")]),
    st.text(max_size=20),
    st.sampled_from(AWKWARD_TEXT),
)

json_keys = st.one_of(st.text(max_size=12), st.sampled_from(AWKWARD_TEXT))

json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(json_keys, children, max_size=4),
    ),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every spot of a JSON value (the root too), as key/index paths."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_paths(item, (*prefix, index)))
    return found


@st.composite
def spoiled(draw: st.DrawFn, valid: Any, *, extra_keys: list[str] | None = None) -> Any:
    """``valid`` with one spot replaced by any JSON value, removed, or a key added next to it."""
    value = copy.deepcopy(valid)
    path = draw(st.sampled_from(_paths(value)))
    if not path:
        return draw(json_values)
    parent = value
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    action = draw(st.sampled_from(["replace", "replace", "remove", "add"]))
    if action == "remove":
        del parent[last]
    elif action == "add" and isinstance(parent, dict):
        key = draw(st.one_of(json_keys, st.sampled_from(extra_keys or ["x"])))
        parent[key] = draw(json_values)
    else:
        parent[last] = draw(json_values)
    return value
