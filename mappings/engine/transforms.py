"""The transforms a row can chain, each compiled once into a ``Step``.

A transform raises ``TransformError`` on bad data and lets ``None`` (an empty
source field) through untouched, except those whose job is emptiness:
``default``, ``constant``, ``lookup`` (whose table decides) and ``address``.
The None check is not inside the functions: the code generated for a plan
(``mappings.engine.codegen``) does it inline, which saves a call per value.

Blanks: the typed transforms (``decimal``, ``integer``, ``date``, ``boolean``)
treat a blank - None, "" or only whitespace, as SYSPRO sends an empty column -
one way, chosen per transform by the ``blank`` arg (see ``_blanks``): no value
by default, so the target is left out and a default can fill it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Decimal,
)
from typing import Any

from mappings.engine import addresses, dates
from mappings.engine.error_codes import ErrorCode
from mappings.engine.inline import Bind, Inline, NumberInline
from mappings.engine.lookups import Lookup
from mappings.engine.problems import SpecError, TransformError, show
from mappings.engine.spec import Transform
from mappings.engine.values import (
    as_decimal,
    as_text,
    decimal_inline,
    decimal_reader,
    is_empty,
    join_text,
)

Fn = Callable[[Any], Any]

ROUNDING = {
    "half_up": ROUND_HALF_UP,
    "half_even": ROUND_HALF_EVEN,
    "half_down": ROUND_HALF_DOWN,
    "up": ROUND_UP,
    "down": ROUND_DOWN,
    "ceiling": ROUND_CEILING,
    "floor": ROUND_FLOOR,
}
_TRUE = frozenset({"yes", "y", "true", "t", "1", "on"})
_FALSE = frozenset({"no", "n", "false", "f", "0", "off"})
_NO_VALUE = object()
# ``blank`` arg: a blank gives no value (the default), fails the record, or is
# replaced by any other value given, converted like a source value would be.
BLANK_EMPTY, BLANK_FAIL = "empty", "fail"


@dataclass(frozen=True, slots=True)
class Step:
    """One compiled transform.

    ``keeps_none``: None passes through without ``fn`` being called (``fn`` may
    assume a value), so the generated code guards the call instead of every
    transform wrapping itself in another function. ``inline``: ``fn``'s common
    case written into the generated code, and ``number_inline`` the same keeping
    the number it read (see ``mappings.engine.inline``).
    """

    fn: Fn
    keeps_none: bool = True
    inline: Inline | None = None
    number_inline: NumberInline | None = None


def _text_step(method: str) -> Step:
    """``trim``, ``upper``, ``lower``: a str method on the value as text (inlined for a str)."""

    text_method: Callable[[str], str] = getattr(str, method)

    def apply(value: Any) -> str:
        return text_method(as_text(value))

    def inline(bind: Bind, v: str) -> list[str]:
        return [f"value = {v}.{method}() if type({v}) is str else {bind(apply)}({v})"]

    return Step(apply, inline=inline)


class _Args:
    """Typed reads of a transform's args, raising SpecErrors that name the arg."""

    def __init__(self, name: str, args: Mapping[str, Any]) -> None:
        self.name = name
        self.args = args

    def fail(self, arg: str, message: str) -> SpecError:
        return SpecError(
            ErrorCode.INVALID_TRANSFORM_ARGS, f'"{self.name}": {message}', f"args.{arg}"
        )

    def get(self, arg: str, kind: type | tuple[type, ...], default: Any = _NO_VALUE) -> Any:
        if arg not in self.args:
            if default is _NO_VALUE:
                raise self.fail(arg, f"{arg} is required")
            return default
        value = self.args[arg]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not object):
            raise self.fail(arg, f"{arg} has the wrong type ({show(value)})")
        return value

    def rounding(self, default: str | None) -> str | None:
        mode = self.get("rounding", (str, type(None)), default)
        if mode is not None and mode not in ROUNDING:
            raise self.fail("rounding", f"rounding must be one of {', '.join(ROUNDING)}")
        return None if mode is None else ROUNDING[mode]


def _blanks(args: _Args, convert: Fn) -> tuple[Fn, bool]:
    """``convert`` with the ``blank`` arg applied, and whether None may skip it (``keeps_none``).

    One rule for every typed transform, so "" from SYSPRO and a missing field
    from another system end the same way. A replacement is converted once here:
    a replacement the transform cannot read is a mistake in the mapping, caught
    when it is saved rather than on the first blank record.
    """
    policy = args.get("blank", object, BLANK_EMPTY)
    if policy == BLANK_EMPTY:

        def blank_is_empty(value: Any) -> Any:
            if type(value) is str and not value.strip():
                return None
            return convert(value)

        return blank_is_empty, True
    if policy == BLANK_FAIL:
        message = f'"{args.name}": the value is blank, and this row requires one'

        def blank_fails(value: Any) -> Any:
            if is_empty(value):
                raise TransformError(ErrorCode.BLANK_VALUE, message)
            return convert(value)

        return blank_fails, False
    if is_empty(policy):
        raise args.fail("blank", 'blank must be "empty", "fail" or a value to use instead')
    try:
        replacement = convert(policy)
    except TransformError as exc:
        raise args.fail("blank", f"the value for blanks cannot be used: {exc.message}") from None

    def blank_is_replaced(value: Any) -> Any:
        return replacement if is_empty(value) else convert(value)

    return blank_is_replaced, False


def _trim(args: _Args, lookups: Mapping[str, Lookup]) -> Step:
    return _text_step("strip")


def _upper(args: _Args, lookups: Mapping[str, Lookup]) -> Step:
    return _text_step("upper")


def _lower(args: _Args, lookups: Mapping[str, Lookup]) -> Step:
    return _text_step("lower")


def _text(args: _Args, lookups: Mapping[str, Lookup]) -> Step:
    return Step(as_text)


def _date(args: _Args, lookups: Mapping[str, Lookup]) -> Step:
    formats = args.get("from", (str, list))
    formats = [formats] if isinstance(formats, str) else formats
    if not formats:
        raise args.fail("from", "give at least one input format, e.g. DD/MM/YYYY")
    readers = [dates.reader(f, "args.from") for f in formats]
    write = dates.writer(args.get("to", str, "YYYY-MM-DD"), "args.to")
    convert, keeps_none = _blanks(args, dates.converter(readers, write))
    return Step(convert, keeps_none)


def _decimal(args: _Args, lookups: Mapping[str, Lookup]) -> Step:
    places = args.get("places", (int, type(None)), None)
    rounding = args.rounding("half_up")
    exponent = None
    if places is not None:
        if not 0 <= places <= 12:
            raise args.fail("places", "places must be between 0 and 12")
        exponent = Decimal(1).scaleb(-places)
    read, keeps_none = _blanks(
        args, as_decimal if exponent is None else decimal_reader(exponent, rounding)
    )
    inline = decimal_inline(read, exponent, rounding)  # blanks take its slow path: ``read``
    return Step(read, keeps_none, inline=inline, number_inline=inline)


def _integer(args: _Args, lookups: Mapping[str, Lookup]) -> Step:
    rounding = args.rounding(None)

    def to_integer(value: Any) -> int:
        number = as_decimal(value)
        whole = number.to_integral_value(rounding=rounding or ROUND_HALF_UP)
        if rounding is None and whole != number:
            raise TransformError(ErrorCode.INVALID_NUMBER, f"{show(value)} is not a whole number")
        return int(whole)

    return Step(*_blanks(args, to_integer))


def _boolean(args: _Args, lookups: Mapping[str, Lookup]) -> Step:
    def to_boolean(value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if type(value) is str or type(value) is int:
            text = str(value).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
        raise TransformError(
            ErrorCode.INVALID_BOOLEAN, f"{show(value)} is not yes/no, true/false, Y/N or 1/0"
        )

    return Step(*_blanks(args, to_boolean))


def _split(args: _Args, lookups: Mapping[str, Lookup]) -> Step:
    separator = args.get("separator", str)
    if not separator:
        raise args.fail("separator", "separator cannot be empty")
    index = args.get("index", (int, type(None)), None)

    def split(value: Any) -> Any:
        parts = [p.strip() for p in as_text(value).split(separator)]
        if index is None:
            return parts
        return parts[index] if -len(parts) <= index < len(parts) else None

    return Step(split)


def _concat(args: _Args, lookups: Mapping[str, Lookup]) -> Step:
    separator = args.get("separator", str, "")
    before = args.get("before", str, "")
    after = args.get("after", str, "")

    def concat(value: Any) -> str | None:
        text = join_text(value, separator) if isinstance(value, list) else as_text(value)
        return None if text is None else f"{before}{text}{after}"

    def inline(bind: Bind, v: str) -> list[str]:
        text = " + ".join(
            [*([bind(before)] if before else []), v, *([bind(after)] if after else [])]
        )
        return [f"value = {text} if type({v}) is str else {bind(concat)}({v})"]

    return Step(concat, inline=inline)


def _address(args: _Args, lookups: Mapping[str, Lookup]) -> Step:
    lines = args.get("lines", int, 2)
    if not 1 <= lines <= 6:
        raise args.fail("lines", "lines must be between 1 and 6")
    country = args.get("country", str, "any")
    if country not in addresses.COUNTRIES:
        raise args.fail("country", f"country must be one of {', '.join(addresses.COUNTRIES)}")
    return Step(lambda value: addresses.parse_address(value, lines, country), keeps_none=False)


def _default(args: _Args, lookups: Mapping[str, Lookup]) -> Step:
    fallback = args.get("value", object)
    return Step(lambda value: fallback if is_empty(value) else value, keeps_none=False)


def _constant(args: _Args, lookups: Mapping[str, Lookup]) -> Step:
    constant = args.get("value", object)
    return Step(
        lambda value: constant,
        keeps_none=False,
        inline=lambda bind, v: [f"value = {bind(constant)}"],
    )


def _lookup(args: _Args, lookups: Mapping[str, Lookup]) -> Step:
    name = args.get("table", str)
    if name not in lookups:
        known = ", ".join(f'"{n}"' for n in sorted(lookups)) or "none defined"
        raise SpecError(
            ErrorCode.UNKNOWN_LOOKUP,
            f'"lookup": there is no lookup table "{name}" (known: {known})',
            "args.table",
            lookup=name,
        )
    lookup = lookups[name]
    return Step(lookup.translate, keeps_none=False, inline=lookup.inline)


@dataclass(frozen=True, slots=True)
class _Kind:
    build: Callable[[_Args, Mapping[str, Lookup]], Step]
    args: frozenset[str]


TRANSFORMS: dict[str, _Kind] = {
    "trim": _Kind(_trim, frozenset()),
    "upper": _Kind(_upper, frozenset()),
    "lower": _Kind(_lower, frozenset()),
    "text": _Kind(_text, frozenset()),
    "date": _Kind(_date, frozenset({"from", "to", "blank"})),
    "decimal": _Kind(_decimal, frozenset({"places", "rounding", "blank"})),
    "integer": _Kind(_integer, frozenset({"rounding", "blank"})),
    "boolean": _Kind(_boolean, frozenset({"blank"})),
    "split": _Kind(_split, frozenset({"separator", "index"})),
    "concat": _Kind(_concat, frozenset({"separator", "before", "after"})),
    "address": _Kind(_address, frozenset({"lines", "country"})),
    "default": _Kind(_default, frozenset({"value"})),
    "constant": _Kind(_constant, frozenset({"value"})),
    "lookup": _Kind(_lookup, frozenset({"table"})),
}


def build_transform(transform: Transform, lookups: Mapping[str, Lookup]) -> Step:
    """Compile one transform; SpecError fields are relative to the transform."""
    kind = TRANSFORMS.get(transform.name)
    if kind is None:
        raise SpecError(
            ErrorCode.UNKNOWN_TRANSFORM,
            f'unknown transform "{transform.name}" (known: {", ".join(TRANSFORMS)})',
            "name",
        )
    if not isinstance(transform.args, Mapping):
        raise SpecError(ErrorCode.INVALID_TRANSFORM_ARGS, "args must be a mapping", "args")
    unknown = sorted(set(transform.args) - kind.args)
    if unknown:
        accepted = ", ".join(sorted(kind.args)) or "no args"
        raise SpecError(
            ErrorCode.INVALID_TRANSFORM_ARGS,
            f'"{transform.name}" does not take {", ".join(map(str, unknown))} '
            f"(it takes {accepted})",
            f"args.{unknown[0]}",
        )
    return kind.build(_Args(transform.name, transform.args), lookups)
