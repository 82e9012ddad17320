"""Date formats written the way consultants write them: ``DD/MM/YYYY``, ``YYYY-MM-DD``.

A format is compiled once into a regex (reading) and a ``str.format`` template
(writing); this is several times faster than ``strptime``/``strftime`` per value.

``XERO`` (any case) is a source format of its own: Xero's JSON dates,
``/Date(1573603200000+0000)/``. The number is milliseconds since 1970-01-01 UTC
and the optional ``+hhmm``/``-hhmm`` the offset of the time zone the value
belongs to (as in .NET's JSON dates, which Xero's are), so the date and time
read are those at that offset: ``/Date(1573560000000+1300)/`` (12:00 UTC on 12
November 2019) reads as 01:00 on 13 November. Xero itself reads ISO dates, so
``XERO`` is not a target format.
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

XERO = "XERO"
# Up to 15 digits of milliseconds: past year 33000, so anything longer is garbage.
_XERO_DATE = re.compile(r"/Date\((-?\d{1,15})(?:([+-])(\d{2})(\d{2}))?\)/")
_EPOCH = dt.datetime(1970, 1, 1)

Reader = Callable[[str], dt.datetime | None]
Writer = Callable[[dt.datetime], str]


def _is_xero(fmt: Any) -> bool:
    return isinstance(fmt, str) and fmt.strip().upper() == XERO


def read_xero(text: str) -> dt.datetime | None:
    """``/Date(1573603200000+1300)/`` -> the date and time at the given offset (see above)."""
    found = _XERO_DATE.fullmatch(text)
    if found is None:
        return None
    millis, sign, hours, minutes = found.groups()
    offset = 0 if sign is None else int(hours) * 60 + int(minutes)
    try:
        return _EPOCH + dt.timedelta(
            milliseconds=int(millis), minutes=-offset if sign == "-" else offset
        )
    except OverflowError:  # before year 1 or after 9999
        return None


def _pieces(fmt: Any, field: str) -> list[tuple[bool, str]]:
    if _is_xero(fmt):
        raise SpecError(
            ErrorCode.INVALID_TRANSFORM_ARGS,
            f"{field}: {XERO} is a source format only; Xero reads dates as YYYY-MM-DD",
            field,
        )
    if not isinstance(fmt, str) or not _TOKEN.search(fmt):
        raise SpecError(
            ErrorCode.INVALID_TRANSFORM_ARGS,
            f"{field}: {fmt!r} is not a date format; use tokens YYYY, YY, MM, DD, HH, mm, ss "
            f"as in DD/MM/YYYY, or {XERO} for Xero's /Date(1573603200000+0000)/ dates",
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
    if _is_xero(fmt):
        return read_xero
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
    month, day = group["month"], group["day"]  # both are there: checked above
    year = group.get("year")
    # A four-digit year as read, or a two-digit one in the 2000s.
    year_at, century = (year, 0) if year is not None else (group["year2"], 2000)
    times = [group.get(n) for n in ("hour", "minute", "second")]
    match = pattern.fullmatch
    datetime = dt.datetime

    if year is not None and times == [None, None, None]:  # the usual date-only format

        def read_date(text: str) -> dt.datetime | None:
            found = match(text)
            if found is None:
                return None
            parts = found.groups()
            try:
                return datetime(int(parts[year]), int(parts[month]), int(parts[day]))
            except ValueError:
                return None

        return read_date

    def read(text: str) -> dt.datetime | None:
        found = match(text)
        if found is None:
            return None
        parts = found.groups()
        try:
            hour, minute, second = (0 if i is None else int(parts[i]) for i in times)
            return datetime(
                century + int(parts[year_at]),
                int(parts[month]),
                int(parts[day]),
                hour,
                minute,
                second,
            )
        except ValueError:
            return None

    return read


def writer(fmt: Any, field: str) -> Writer:
    """Compile a format into a function rendering a datetime."""
    pieces = _pieces(fmt, field)
    template = "".join(
        _TOKENS[text][2] if is_token else text.replace("{", "{{").replace("}", "}}")
        for is_token, text in pieces
    )
    if "YY" not in [text for is_token, text in pieces if is_token]:
        return template.format  # a call fewer per value than going through a lambda
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
