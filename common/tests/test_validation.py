"""common.validation: one field-error type, pydantic's errors in our words, whole numbers from JSON and from text."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import AfterValidator, ConfigDict, Field, TypeAdapter
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

from common.tests.strategies import AWKWARD_TEXT, json_values
from common.validation import (
    ErrorMessage,
    FieldError,
    WholeNumber,
    field_path,
    validate,
    whole_number_from_text,
)


def _raise_field_error(value: object) -> object:
    raise FieldError("deep[2]", "is wrong in here")


def _raise_custom(value: object) -> object:
    raise PydanticCustomError("ours", 'must be "all" or {"fraction": f}')


class _Inner(TypedDict):
    __pydantic_config__ = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)  # type: ignore[misc]
    count: Annotated[int, WholeNumber(ge=0, le=2**62)]
    ratio: Annotated[float, Field(gt=0, le=1)]


class _Sample(TypedDict, total=False):
    __pydantic_config__ = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)  # type: ignore[misc]
    kind: Annotated[Literal["a", "b"], ErrorMessage("must be one of a, b")]
    method: Literal["GET", "POST"]
    users: Annotated[int, WholeNumber(ge=1, le=5000)]
    delay: Annotated[float, Field(ge=0)]
    name: Annotated[str, Field(min_length=1, max_length=3)]
    inner: _Inner
    items: Annotated[list[_Inner], Field(max_length=2)]
    weights: dict[Annotated[Literal["x"], ErrorMessage("unknown weight")], int]
    flag: bool


SAMPLE = TypeAdapter(_Sample)


def _problem(value: object, **options) -> FieldError:
    with pytest.raises(FieldError) as caught:
        validate(SAMPLE, value, **options)
    return caught.value


class TestFieldError:
    def test_it_reads_as_field_colon_message(self):
        error = FieldError("runDetails.rps", "must be a number")
        assert str(error) == "runDetails.rps: must be a number"
        assert (error.field, error.message) == ("runDetails.rps", "must be a number")
        assert isinstance(error, ValueError)

    def test_the_whole_input_has_no_field(self):
        assert str(FieldError("", "the local tracker is disabled")) == "the local tracker is disabled"

    def test_it_survives_pickling_and_copying_with_both_parts(self):
        import copy
        import pickle

        error = FieldError("chaos_plan[0].at_s", "must be at least 0")
        for again in (pickle.loads(pickle.dumps(error)), copy.copy(error)):
            assert (type(again), again.field, again.message, str(again)) == (
                FieldError, error.field, error.message, str(error))


class TestFieldPath:
    def test_names_are_dotted_and_indexes_bracketed(self):
        loc = (1, "spec", "template", "spec", "containers", 0, "image")
        assert field_path(loc) == "[1].spec.template.spec.containers[0].image"

    def test_a_prefix_goes_first_with_or_without_its_dot(self):
        assert field_path(("runDetails", "rps"), prefix="[3].") == "[3].runDetails.rps"
        assert field_path((), prefix="[3].") == "[3]"
        assert field_path(("ms",), prefix="params.") == "params.ms"
        assert field_path((0, "at_s"), prefix="chaos_plan") == "chaos_plan[0].at_s"

    def test_a_dict_key_names_its_own_spot(self):
        assert field_path(("tasks", "delete_everything", "[key]")) == "tasks.delete_everything"

    def test_an_empty_key_is_still_visible(self):
        assert field_path(("",)) == '""'


@pytest.mark.parametrize(
    ("value", "field", "message"),
    [
        ([], "spec", "must be a JSON object"),
        ({"kind": "c"}, "kind", "must be one of a, b"),
        ({"method": "PUT"}, "method", "must be 'GET' or 'POST'"),
        ({"users": 0}, "users", "must be at least 1"),
        ({"users": 5001}, "users", "must be at most 5000"),
        ({"users": True}, "users", "must be a number"),
        ({"users": "12"}, "users", "must be a number"),
        ({"users": 2.5}, "users", "must be a whole number"),
        ({"users": float("inf")}, "users", "must be a finite number"),
        ({"users": float("nan")}, "users", "must be a finite number"),
        ({"users": 1e300}, "users", "is too large"),
        ({"delay": -1}, "delay", "must be at least 0"),
        ({"delay": float("nan")}, "delay", "must be a finite number"),
        ({"delay": float("-inf")}, "delay", "must be a finite number"),
        ({"delay": 10**400}, "delay", "is too large"),
        ({"delay": None}, "delay", "must be a number"),
        ({"delay": False}, "delay", "must be a number"),
        ({"name": ""}, "name", "must not be empty"),
        ({"name": "abcd"}, "name", "must be at most 3 characters"),
        ({"name": 3}, "name", "must be a string"),
        ({"inner": {"count": 1}}, "inner.ratio", "is required"),
        ({"inner": {"count": 2**63, "ratio": 1}}, "inner.count", "is too large"),
        ({"inner": {"count": 1, "ratio": 0}}, "inner.ratio", "must be greater than 0"),
        ({"items": [{"count": 1, "ratio": 1}, {"count": "1", "ratio": 1}]}, "items[1].count", "must be a number"),
        ({"items": [{"count": 1, "ratio": 1}] * 3}, "items", "has 3 items; at most 2 are allowed"),
        ({"items": {}}, "items", "must be a JSON list"),
        ({"weights": {"y": 1}}, "weights.y", "unknown weight"),
        ({"colour": "red"}, "colour", "is not a known field"),
        ({"flag": 1}, "flag", "must be true or false"),
    ],
)
def test_it_names_the_field_and_says_what_is_wrong_in_our_words(value, field, message):
    problem = _problem(value, root="spec")
    assert (problem.field, problem.message) == (field, message)


def test_a_caller_may_reword_an_error_type():
    problem = _problem({"colour": "red"}, messages={"extra_forbidden": "is not a fault field"})
    assert str(problem) == "colour: is not a fault field"


def test_a_prefix_places_the_input_inside_a_larger_one():
    assert _problem({"users": 0}, prefix="[7].").field == "[7].users"
    assert _problem([], prefix="[7].").field == "[7]"


class TestErrorsRaisedByValidators:
    def test_a_field_error_inside_keeps_its_words_below_where_it_was_raised(self):
        adapter = TypeAdapter(dict[str, Annotated[Any, AfterValidator(_raise_field_error)]])
        with pytest.raises(FieldError) as caught:
            validate(adapter, {"labels": 1}, prefix="[0].")
        assert str(caught.value) == "[0].labels.deep[2]: is wrong in here"

    def test_a_custom_error_keeps_its_words_braces_and_all(self):
        adapter = TypeAdapter(dict[str, Annotated[Any, AfterValidator(_raise_custom)]])
        with pytest.raises(FieldError) as caught:
            validate(adapter, {"scope": 1})
        assert str(caught.value) == 'scope: must be "all" or {"fraction": f}'


class TestWholeNumber:
    ADAPTER = TypeAdapter(Annotated[int, WholeNumber(ge=0, le=2**62)])

    def test_a_whole_float_from_a_javascript_client_becomes_an_int(self):
        value = self.ADAPTER.validate_python(12.0)
        assert (value, type(value)) == (12, int)

    def test_an_int_stays_exact_beyond_the_float_range(self):
        assert self.ADAPTER.validate_python(2**53 + 1) == 2**53 + 1

    @pytest.mark.parametrize("value", [True, False, "12", "²", None, [], 12.5, float("inf"), -1, 2**62 + 1, 10**400])
    def test_anything_else_is_refused(self, value):
        with pytest.raises(FieldError):
            validate(self.ADAPTER, value)

    @given(json_values)
    @settings(max_examples=200, deadline=None)
    def test_any_json_value_is_a_whole_number_in_range_or_a_field_error(self, value):
        try:
            number = validate(self.ADAPTER, value)
        except FieldError:
            return
        assert type(number) is int and 0 <= number <= 2**62
        assert number == value and not isinstance(value, bool)


class TestWholeNumberFromText:
    @pytest.mark.parametrize(("text", "number"), [("5", 5), ("1000", 1000), ("0005", 5)])
    def test_it_reads_ascii_digits(self, text, number):
        assert whole_number_from_text(text, field="limit", minimum=1, maximum=1000) == number

    @pytest.mark.parametrize("text", ["", "0", "1001", "²", "٣", "\uff15", "+5", "-5", "5.0", "5_0", " 5", "1e3", "9" * 40])
    def test_it_refuses_what_only_looks_like_a_number_in_range(self, text):
        with pytest.raises(FieldError) as caught:
            whole_number_from_text(text, field="limit", minimum=1, maximum=1000)
        assert str(caught.value) == "limit: must be a whole number from 1 to 1000"

    @given(st.one_of(st.text(max_size=12), st.sampled_from(AWKWARD_TEXT), json_values))
    @settings(max_examples=200, deadline=None)
    def test_any_text_is_a_number_in_range_or_a_field_error(self, text):
        try:
            number = whole_number_from_text(text, field="n", minimum=1, maximum=1000)
        except FieldError as exc:
            assert exc.field == "n"
            return
        assert isinstance(text, str) and text.isascii() and text.isdigit()
        assert 1 <= number <= 1000
