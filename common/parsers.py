"""DRF parsers shared by the platform's APIs (settings: REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"])."""

from __future__ import annotations

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, with nesting too deep for Python's decoder as a 400 instead of a 500.

    ``json`` follows nested arrays and objects by recursion; a body of 100,000
    ``[`` raises RecursionError, which DRF passes on as a server error.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply") from None
