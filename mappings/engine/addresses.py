"""Split a one-field postal address into street lines and a postcode.

Good enough for UK postcodes and US ZIP codes, which is what the connected
systems hold; anything else keeps all its text in the lines with no postcode.
"""

from __future__ import annotations

import re
from typing import Any

from mappings.engine.error_codes import ErrorCode
from mappings.engine.problems import TransformError, show

_UK = re.compile(r"\b([A-Z]{1,2}[0-9][A-Z0-9]?)\s*([0-9][A-Z]{2})\s*$", re.IGNORECASE)
_US = re.compile(r"\b(\d{5}(?:-\d{4})?)\s*$")
_PATTERNS = {"uk": (_UK,), "us": (_US,), "any": (_UK, _US)}
_SEPARATORS = re.compile(r"\s*(?:,|\n|\r)\s*")
COUNTRIES = tuple(_PATTERNS)


def parse_address(value: Any, lines: int, country: str) -> list[str | None]:
    """``lines`` street lines (extra parts folded into the last) followed by the postcode."""
    if value is None:
        return [None] * (lines + 1)
    if type(value) is not str:
        raise TransformError(ErrorCode.INVALID_ADDRESS, f"{show(value)} is not an address")
    text = value.strip()
    postcode = None
    for pattern in _PATTERNS[country]:
        match = pattern.search(text)
        if match is not None:
            postcode = " ".join(g.upper() for g in match.groups() if g)
            text = text[: match.start()]
            break
    parts = [p.strip() for p in _SEPARATORS.split(text) if p.strip()]
    if len(parts) > lines:
        parts[lines - 1 :] = [", ".join(parts[lines - 1 :])]
    return [*parts, *[None] * (lines - len(parts)), postcode]
