"""Date formats written the way consultants write them: ``DD/MM/YYYY``, ``YYYY-MM-DD``.

A format is compiled once into a regex (reading) and a ``str.format`` template
(writing); this is several times faster than ``strptime``/``strftime`` per value.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from mappings.engine.error_codes import ErrorCode
from mappings.engine.problems import SpecError, TransformError, show

# Longest tokens first so "YYYY" wins over "YY" and "MM" over "M".
_TOKENS: dict[str, tuple[str, str, str]] = {
    # token: (regex group, read pattern, write template over (datetime, 2-digit year))
    "YYYY": ("year", r"\d{4}", "{0.year:04d}"),
    "YY": ("year2", r"\d{2}", "{1:02d}"),
    "MM": ("month", r"\d{1,2}", "{0.month:02d}"),
    "DD": ("day", r"\d{1,2}", "{0.day:02d}"),
    "HH": ("hour", r"\d{1,2}", "{0.hour:02d}"),
    "mm": ("minute", r"\d{2}", "{0.minute:02d}"),
    "ss": ("second", r"\d{2}", "{0.second:02d}"),
}
_TOKEN = re.compile("|".join(sorted(_TOKENS, key=len, reverse=True)))

Reader = Callable[[str], dt.datetime | None]
Writer = Callable[[dt.datetime], str]


def _pieces(fmt: Any, field: str) -> list[tuple[bool, str]]:
    if not isinstance(fmt, str) or not _TOKEN.search(fmt):
        raise SpecError(
            ErrorCode.INVALID_TRANSFORM_ARGS,
            f"{field}: {fmt!r} is not a date format; use tokens YYYY, YY, MM, DD, HH, mm, ss "
            "as in DD/MM/YYYY",
            field,
        )
    pieces: list[tuple[bool, str]] = []
    position = 0
    for match in _TOKEN.finditer(fmt):
        if match.start() > position:
            pieces.append((False, fmt[position : match.start()]))
        pieces.append((True, match.group()))
        position = match.end()
    if position < len(fmt):
        pieces.append((False, fmt[position:]))
    return pieces


def reader(fmt: Any, field: str) -> Reader:
    """Compile a format into a parser returning a datetime, or None when the text doesn't fit."""
    pieces = _pieces(fmt, field)
    fields = [_TOKENS[text][0] for is_token, text in pieces if is_token]
    if (
        len(set(fields)) != len(fields)
        or not {"day", "month"} <= set(fields)
        or not ({"year", "year2"} & set(fields))
    ):
        raise SpecError(
            ErrorCode.INVALID_TRANSFORM_ARGS,
            f"{field}: {fmt!r} must contain a year, a month and a day exactly once",
            field,
        )
    pattern = re.compile(
        "".join(
            f"({_TOKENS[text][1]})" if is_token else re.escape(text) for is_token, text in pieces
        )
    )

    group = {name: i for i, name in enumerate(fields)}
    year, year2, month, day = (group.get(n) for n in ("year", "year2", "month", "day"))
    times = [group.get(n) for n in ("hour", "minute", "second")]
    match = pattern.fullmatch

    def read(text: str) -> dt.datetime | None:
        found = match(text)
        if found is None:
            return None
        parts = found.groups()
        try:
            return dt.datetime(
                int(parts[year]) if year is not None else 2000 + int(parts[year2]),
                int(parts[month]),
                int(parts[day]),
                *(0 if i is None else int(parts[i]) for i in times),
            )
        except ValueError:
            return None

    return read


def writer(fmt: Any, field: str) -> Writer:
    """Compile a format into a function rendering a datetime."""
    template = "".join(
        _TOKENS[text][2] if is_token else text.replace("{", "{{").replace("}", "}}")
        for is_token, text in _pieces(fmt, field)
    )
    return lambda value: template.format(value, value.year % 100)


def converter(readers: list[Reader], write: Writer) -> Callable[[Any], str]:
    """The ``date`` transform: read with the first reader that fits, write in the target format."""

    def convert(value: Any) -> str:
        if type(value) is str:
            text = value.strip()
            for read in readers:
                parsed = read(text)
                if parsed is not None:
                    return write(parsed)
            raise TransformError(ErrorCode.INVALID_DATE, f"{show(value)} is not a valid date")
        if isinstance(value, dt.datetime):
            return write(value)
        if isinstance(value, dt.date):
            return write(dt.datetime(value.year, value.month, value.day))
        raise TransformError(ErrorCode.INVALID_DATE, f"{show(value)} is not a date")

    return convert
