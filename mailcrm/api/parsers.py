"""A JSON parser that refuses text no database column can hold, numbers no JSON column can
hold, and nesting too deep to parse (all were 500s)."""

from __future__ import annotations

import math
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def _check_text(data: Any) -> None:
    pending = [data]  # a loop, not recursion: bodies may nest deeply
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, float) and not math.isfinite(value):
            # 1e999 parses as infinity, which no JSON column stores (a 500 at the INSERT of a
            # transactional email's metadata); NaN and Infinity are refused by the parser.
            raise ParseError("JSON numbers must be finite; this one is too large.")
        elif isinstance(value, str):
            # PostgreSQL stores neither NUL in text or jsonb nor lone surrogates (which JSON's
            # \ud800 escapes allow): both were a 500 at the INSERT.
            if "\x00" in value:
                raise ParseError("JSON text may not contain NUL characters (\\u0000).")
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ParseError("JSON text may not contain unpaired surrogates.") from None


class StrictTextJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON nested too deeply.") from None
        _check_text(data)
        return data
