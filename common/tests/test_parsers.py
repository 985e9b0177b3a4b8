from __future__ import annotations

import io

import pytest
from rest_framework.exceptions import ParseError

from common.parsers import JSONParser


def parse(raw: bytes):
    return JSONParser().parse(io.BytesIO(raw), "application/json", {})


def test_it_parses_json_like_drfs_parser():
    assert parse(b'{"challenge": "robust-service", "n": [1, 2]}') == {"challenge": "robust-service", "n": [1, 2]}


@pytest.mark.parametrize("raw", [b"[" * 100_000, b'{"a":' * 50_000, b"[" * 20_000 + b"]" * 20_000])
def test_nesting_too_deep_for_the_decoder_is_a_parse_error(raw):
    with pytest.raises(ParseError, match="nested too deeply"):
        parse(raw)


def test_malformed_json_is_still_drfs_parse_error():
    with pytest.raises(ParseError, match="JSON parse error"):
        parse(b"{not json")


def test_it_is_the_default_parser_of_the_api(settings):
    assert settings.REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"] == ["common.parsers.JSONParser"]
