"""The API's JSON parser: DRF's, with nesting past the parser's depth a 400.

Python's ``json`` module parses nested arrays and objects recursively; a body nested a few
thousand levels deep (``[[[[…]]]]``, a few kilobytes) exhausts the interpreter's recursion limit
and raises ``RecursionError``, which DRF's parser, catching only ``ValueError``, let through as a
500. Here it is a ``ParseError`` (400) like any other malformed body. No request of the API's
schema is nested more than two levels, so nothing valid is refused.
"""

from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

TOO_DEEP = "JSON parse error - nested too deeply."


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        """DRF's parse; raises ``ParseError`` (400) for malformed or too deeply nested JSON."""
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(TOO_DEEP) from None
