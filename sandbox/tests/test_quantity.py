from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.validation import FieldError
from sandbox.quantity import bytes_text, cpu_millicores, memory_bytes, millicores_text


@pytest.mark.parametrize(
    ("value", "millicores"),
    [
        ("250m", 250),
        ("0.5", 500),
        ("1", 1000),
        (2, 2000),
        (0.25, 250),
        ("1.5", 1500),
        (".5", 500),
        ("5.", 5000),
        ("1e-3", 1),
        ("2k", 2_000_000),
        ("+1", 1000),
        ("0", 0),
    ],
)
def test_it_reads_cpu_as_millicores(value, millicores):
    assert cpu_millicores(value, field="cpu") == millicores


def test_it_rounds_cpu_up_to_a_whole_millicore_as_the_api_server_does():
    assert cpu_millicores("0.1m", field="cpu") == 1
    assert cpu_millicores("100500u", field="cpu") == 101


@pytest.mark.parametrize(
    ("value", "amount"),
    [
        ("128Mi", 128 * 2**20),
        ("1Gi", 2**30),
        ("1G", 10**9),
        ("1k", 1000),
        ("1Ki", 1024),
        ("1e3", 1000),
        ("1E3", 1000),
        ("1E", 10**18),
        ("0.5Gi", 2**29),
        (1048576, 2**20),
        ("1.5", 2),
        ("100m", 1),
    ],
)
def test_it_reads_memory_as_bytes(value, amount):
    assert memory_bytes(value, field="memory") == amount


@pytest.mark.parametrize(
    "value",
    [
        "lots",
        "",
        " 1",
        "1 ",
        "1\n",
        "1mi",
        "1KB",
        "1.2.3",
        "²",
        "\u0661",  # an Arabic-Indic digit one: a digit to Unicode, not to ASCII
        "0x10",
        "1e",
        "e3",
        "--1",
        "Mi",
        "1e1234",
        True,
        None,
        [],
        {},
        float("inf"),
        float("nan"),
    ],
)
def test_it_refuses_what_is_not_a_quantity(value):
    with pytest.raises(FieldError) as error:
        memory_bytes(value, field="[1].spec.limits.memory")
    assert error.value.field == "[1].spec.limits.memory"


def test_it_refuses_a_negative_quantity():
    with pytest.raises(FieldError, match="negative"):
        cpu_millicores("-1", field="cpu")


@pytest.mark.parametrize("value", ["9999999Ei", "1e999", 10**30, "1" * 40])
def test_it_refuses_a_quantity_beyond_int64_without_building_it(value):
    with pytest.raises(FieldError, match="too large"):
        memory_bytes(value, field="memory")


def test_it_refuses_an_overlong_quantity():
    with pytest.raises(FieldError, match="longer"):
        memory_bytes("0." + "0" * 80 + "1", field="memory")


@given(st.one_of(st.text(max_size=40), st.integers(), st.floats(), st.booleans(), st.none()))
def test_any_value_gives_an_integer_or_a_field_error(value):
    for parse in (cpu_millicores, memory_bytes):
        try:
            result = parse(value, field="x")
        except FieldError as error:
            assert error.field == "x"
        else:
            assert isinstance(result, int)
            assert 0 <= result


@given(st.integers(min_value=0, max_value=10**12))
def test_the_short_forms_read_back_as_the_same_amount(amount):
    assert cpu_millicores(millicores_text(amount), field="cpu") == amount
    assert memory_bytes(bytes_text(amount), field="memory") == amount


def test_the_short_forms_are_the_ones_people_write():
    assert millicores_text(2000) == "2"
    assert millicores_text(250) == "250m"
    assert bytes_text(256 * 2**20) == "256Mi"
    assert bytes_text(1000) == "1000"
