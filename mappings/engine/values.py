"""How the engine reads values as text and numbers, and makes results JSON-safe.

Numbers are kept as ``Decimal`` so money stays exact through sums and rounding;
the target connector (or ``to_json_safe``) decides how to put them on the wire.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from mappings.engine.error_codes import ErrorCode
from mappings.engine.inline import Bind, InlineKeepingNumber
from mappings.engine.problems import TransformError, show

# A "number" this large is garbage, and int() of a huge exponent could take ages.
_LIMIT = Decimal("1e40")
_NEG_LIMIT = -_LIMIT


def as_text(value: Any) -> str:
    """The text of a scalar; lists and objects are refused rather than printed."""
    if type(value) is str:
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal | float | dt.date):
        return str(value) if not isinstance(value, dt.date) else value.isoformat()
    raise TransformError(ErrorCode.INVALID_TEXT, f"expected text but got {show(value)}")


def decimal_reader(
    exponent: Decimal | None = None, rounding: str | None = None
) -> Callable[[Any], Decimal]:
    """A function reading a JSON number or numeric text as an exact Decimal.

    With ``exponent`` the number is also rounded to it (``rounding`` mode) - in
    the same call, since the ``decimal`` transform runs for most line fields.
    Thousands separators are refused, not guessed: "1,234" and "1.234" mean
    different amounts in different countries.
    """

    def read(value: Any) -> Decimal:
        try:
            if type(value) is str:
                number = Decimal(value)  # Decimal() itself ignores surrounding whitespace
            elif type(value) is Decimal:  # e.g. a product going on to be rounded
                number = value
            elif type(value) is int:
                number = Decimal(value)
            elif type(value) is float:
                number = Decimal(repr(value))
            else:
                raise TransformError(ErrorCode.INVALID_NUMBER, f"{show(value)} is not a number")
            if not _NEG_LIMIT < number < _LIMIT:
                raise TransformError(ErrorCode.INVALID_NUMBER, f"{show(value)} is out of range")
        except (InvalidOperation, ValueError):  # NaN fails the range check too
            raise TransformError(
                ErrorCode.INVALID_NUMBER, f"{show(value)} is not a number"
            ) from None
        if exponent is None:
            return number
        try:
            return number.quantize(exponent, rounding)
        except InvalidOperation:
            raise TransformError(ErrorCode.INVALID_NUMBER, f"{show(value)} is too large") from None

    return read


as_decimal = decimal_reader()
# What Decimal() and its comparisons raise on bad text or NaN (InvalidOperation
# is an ArithmeticError): an inline fast path catches these and hands the value
# to the function it stands for, which turns them into the right TransformError.
FAST_ERRORS = (ArithmeticError, ValueError)


def in_range(bind: Bind, number: str) -> str:
    """An expression for ``decimal_reader``'s range check of the Decimal named ``number``."""
    return f"{bind(_NEG_LIMIT)} < {number} < {bind(_LIMIT)}"


def decimal_inline(
    read: Callable[[Any], Decimal], exponent: Decimal | None, rounding: str | None
) -> InlineKeepingNumber:
    """``read`` (from ``decimal_reader``) written out for numeric text and Decimals.

    Anything else - ints, floats, bad text, NaN, out of range, too large to
    round - goes to ``read`` itself, so problems stay word for word the same.
    Used as an ``Inline`` too, keeping nothing (``keep=""``).
    """

    def emit(bind: Bind, v: str, keep: str = "") -> list[str]:
        number, slow = bind(Decimal), f"{bind(read)}({v})"
        result = "number"
        if exponent is not None:
            result = f"number.quantize({bind(exponent)}, {bind(rounding)})"
        lines = [
            "try:",
            f"    number = {number}({v}) if type({v}) is str else {v} "
            f"if type({v}) is {number} else None",
            f"    if number is not None and {in_range(bind, 'number')}:",
            f"        value = {result}",
            "    else:",
            f"        value = {slow}",
            f"except {bind(FAST_ERRORS)}:",
            f"    value = {slow}",
        ]
        if keep:  # after the quantize: a number too large to round is not kept
            lines.insert(4, f"        {keep} = number")
        return lines

    return emit


def is_empty(value: Any) -> bool:
    return value is None or (type(value) is str and not value.strip())


def join_text(values: Any, separator: str) -> str | None:
    """Join the non-empty values as text; None when nothing is left."""
    parts = [as_text(v).strip() for v in values if not is_empty(v)]
    return separator.join(parts) if parts else None


def to_json_safe(value: Any) -> Any:
    """Decimals to strings, dates to ISO text, tuples to lists - recursively."""
    if isinstance(value, dict):
        return {k: to_json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_safe(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value
