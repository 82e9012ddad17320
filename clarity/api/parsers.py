"""The API's JSON parser: DRF's reads bodies with ``json.load``, catching only ValueError.

A body nested a few thousand levels deep raised RecursionError (a 500), and NaN,
Infinity, 1e400 or a NUL in a string parsed and then failed in PostgreSQL. This one
reads with ``loads_bounded`` and answers every such body with a 400 that says why.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from mappings.engine.jsonload import JSONInputError, loads_bounded


class BoundedJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = stream.read().decode(encoding)
        except UnicodeDecodeError:
            raise ParseError(f"JSON parse error - the body is not {encoding} text.") from None
        try:
            return loads_bounded(text)
        except JSONInputError as exc:
            raise ParseError(f"JSON parse error - {exc.message}") from None
