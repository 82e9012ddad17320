"""The XML SYSPRO's business objects read and write: parsing the ``XmlIn`` and
``XmlParameters`` arguments, building the output, and COMFND's ``Where``
(bracketed ``Expression`` elements) compiled into one row predicate.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any
from xml.sax.saxutils import escape

from connectors.sandbox.syspro.schema import NUMERIC_COLUMNS, BoError, Row


def parse_xml(xml: str | None, what: str) -> ET.Element:
    if not xml:
        raise BoError(f"{what} is required")
    try:
        # Test input on loopback; expat resolves no external entities.
        return ET.fromstring(xml)  # noqa: S314
    except ET.ParseError as exc:
        raise BoError(f"{what} is not well formed XML: {exc}") from exc


def text_of(element: ET.Element | None, path: str, default: str = "") -> str:
    if element is None:
        return default
    found = element.find(path)
    return default if found is None or found.text is None else found.text.strip()


def flag(parameters: ET.Element | None, name: str, default: str = "N") -> bool:
    value = text_of(parameters, name, default).upper() or default
    if value not in ("Y", "N"):
        raise BoError(f"Parameter '{name}' must be Y or N, not '{value}'")
    return value == "Y"


def parse_decimal(value: str, what: str) -> Decimal:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{what} '{value}' is not numeric") from None
    if not number.is_finite():
        raise ValueError(f"{what} '{value}' is not numeric")
    return number


def parse_date(value: str, what: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{what} '{value}' is not a valid date (YYYY-MM-DD)") from None


def add_element(parent: ET.Element, tag: str, text: object = None) -> ET.Element:
    child = ET.SubElement(parent, tag)
    if text is not None:
        child.text = str(text)
    return child


def row_element(
    parent: ET.Element, tag: str, row: Mapping[str, str], columns: Iterable[str] | None = None
) -> ET.Element:
    element = add_element(parent, tag)
    for column in columns or row:
        add_element(element, column, row.get(column, ""))
    return element


def rows_text(
    rows: Iterable[Mapping[str, str]], columns: Iterable[str], tag: Callable[[str], str]
) -> str:
    """``<Row>`` elements written out as text (``tag`` spells each element name)."""
    names = [(column, tag(column)) for column in columns]
    row_tag = tag("Row")
    return "".join(
        f"<{row_tag}>"
        + "".join(f"<{name}>{escape(str(row.get(column, '')))}</{name}>" for column, name in names)
        + f"</{row_tag}>"
        for row in rows
    )


def add_status(root: ET.Element, processed: int, invalid: int) -> None:
    status = add_element(root, "StatusOfItems")
    add_element(status, "ItemsProcessed", processed)
    add_element(status, "ItemsInvalid", invalid)


_CONDITIONS: dict[str, Callable[[Any, Any], bool]] = {
    "EQ": lambda a, b: a == b,
    "NE": lambda a, b: a != b,
    "LT": lambda a, b: a < b,
    "LE": lambda a, b: a <= b,
    "GT": lambda a, b: a > b,
    "GE": lambda a, b: a >= b,
}


def typed(column: str, value: str) -> Any:
    if column in NUMERIC_COLUMNS:
        try:
            return Decimal(value or "0")
        except InvalidOperation:
            raise BoError(f"Value '{value}' is not numeric for column '{column}'") from None
    return value


Predicate = Callable[[Row], bool]


def compile_where(table: str, where: ET.Element | None, columns: set[str]) -> Predicate:
    """COMFND's bracketed ``Expression`` list as one predicate (AND binds tighter than OR)."""
    tokens: list[str | Predicate] = []  # brackets, And/Or and the expressions
    for expression in [] if where is None else where.findall("Expression"):
        if tokens:
            tokens.append(text_of(expression, "AndOr", "And").upper())
        tokens.extend("(" * text_of(expression, "OpenBracket").count("("))
        column = text_of(expression, "Column")
        if column not in columns:
            raise BoError(f"Column '{column}' not found in table '{table}'")
        condition = text_of(expression, "Condition", "EQ").upper()
        tokens.append(_predicate(column, condition, text_of(expression, "Value")))
        tokens.extend(")" * text_of(expression, "CloseBracket").count(")"))
    if not tokens:
        return lambda row: True
    position = 0

    def take() -> str | Predicate | None:
        nonlocal position
        position += 1
        return tokens[position - 1] if position <= len(tokens) else None

    def peek() -> str | Predicate | None:
        return tokens[position] if position < len(tokens) else None

    def atom() -> Predicate:
        part = take()
        if part == "(":
            inner = disjunction()
            if take() != ")":
                raise BoError("Unbalanced brackets in the Where clause")
            return inner
        if not callable(part):
            raise BoError("Malformed Where clause")
        return part

    def conjunction() -> Predicate:
        parts = [atom()]
        while peek() == "AND":
            take()
            parts.append(atom())
        return parts[0] if len(parts) == 1 else _all_of(parts)

    def disjunction() -> Predicate:
        parts = [conjunction()]
        while peek() == "OR":
            take()
            parts.append(conjunction())
        if len(parts) == 1:
            return parts[0]
        columns = {p.column for p in parts if isinstance(p, _Equals)}
        if len(columns) == 1 and all(isinstance(p, _Equals) for p in parts):
            # "key = a OR key = b OR …" (a lookup of many keys) as one set test.
            values = frozenset(p.value for p in parts if isinstance(p, _Equals))
            return ColumnIn(columns.pop(), values)
        return _any_of(parts)

    predicate = disjunction()
    if position != len(tokens):
        raise BoError("Malformed Where clause")
    return predicate


def _all_of(parts: list[Predicate]) -> Predicate:
    # Loops, not all()/any() over a generator: a page of 50,000 customers tests each.
    def test(row: Row) -> bool:
        for part in parts:  # noqa: SIM110 - see above
            if not part(row):
                return False
        return True

    return test


def _any_of(parts: list[Predicate]) -> Predicate:
    def test(row: Row) -> bool:
        for part in parts:  # noqa: SIM110 - see above
            if part(row):
                return True
        return False

    return test


def _predicate(column: str, condition: str, value: str) -> Predicate:
    if condition == "LIKE":
        pattern = re.compile(re.escape(value).replace("%", ".*") + "$", re.IGNORECASE)
        return lambda row: bool(pattern.match(row.get(column, "")))
    compare = _CONDITIONS.get(condition)
    if compare is None:
        raise BoError(f"Condition '{condition}' is not supported")
    wanted = typed(column, value)
    if condition == "EQ":
        return _Equals(column, wanted)
    return lambda row: compare(typed(column, row.get(column, "")), wanted)


@dataclass(frozen=True)
class _Equals:
    column: str
    value: Any

    def __call__(self, row: Row) -> bool:
        return bool(typed(self.column, row.get(self.column, "")) == self.value)


@dataclass(frozen=True)
class ColumnIn:
    """``column`` is one of ``values``: what an OR of equalities on one column compiles to."""

    column: str
    values: frozenset[Any]

    def __call__(self, row: Row) -> bool:
        return typed(self.column, row.get(self.column, "")) in self.values
