"""The Xero sandbox's query language: ``where`` filters, list filters (``IDs``,
``Statuses``…), ``order`` and ``If-Modified-Since``, and the validation error Xero
answers a request it cannot read with.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from connectors.sandbox.core import HttpError, Request, Response, json_response
from connectors.sandbox.xero.fields import parse_date
from connectors.sandbox.xero.schema import ID_FIELDS, Record


def parse_since(value: str | None) -> int | None:
    """Milliseconds from If-Modified-Since, given as ISO 8601 (UTC) or an HTTP date."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError) as exc:
            raise HttpError(validation_error(f"Bad If-Modified-Since: {value}")) from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def _lookup(record: Record, path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def filter_rows(rows: list[Record], entity: str, request: Request) -> list[Record]:
    """The ``where`` clauses this sandbox understands: ``A=="x" AND B!=2``, Guid("…")."""
    list_filters = {
        "IDs": ID_FIELDS[entity],
        "InvoiceNumbers": "InvoiceNumber",
        "ContactIDs": "Contact.ContactID",
        "Statuses": "Status",
    }
    for param, field in list_filters.items():
        if request.arg(param):
            wanted = {v.strip().strip('"') for v in (request.arg(param) or "").split(",")}
            rows = [r for r in rows if str(_lookup(r, field)) in wanted]
    where = request.arg("where")
    if not where:
        return rows
    test = WhereParser(where).parse()
    return [r for r in rows if test(r)]


# The ``where`` language Xero documents [P] developer.xero.com/documentation/api/accounting/
# requests-and-responses ("Retrieving a filtered set"): comparisons ``==`` ``!=`` ``>``
# ``>=`` ``<`` ``<=``, ``AND``/``&&``, ``OR``/``||``, parentheses, ``.StartsWith("…")``,
# ``.EndsWith("…")``, ``.Contains("…")``, ``.ToLower()``/``.ToUpper()``, ``Guid("…")`` and
# ``DateTime(2026, 01, 31)`` / ``DateTime(2026, 01, 31, 13, 00, 00)``.
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<op>==|!=|>=|<=|>|<|=|&&|\|\||\(|\)|,|!)
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<name>\.?[A-Za-z_][\w.]*)
    )""",
    re.VERBOSE,
)
_COMPARE = {
    "==": lambda a, b: a == b,
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}
_TEXT_TESTS = {
    "StartsWith": str.startswith,
    "EndsWith": str.endswith,
    "Contains": lambda text, part: part in text,
}

Test = Callable[[Record], bool]


class WhereParser:
    """A small recursive-descent reader of one ``where`` expression into a record test."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        position = 0
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None or match.end() == position:
                if text[position:].strip() == "":
                    break
                raise self.error()
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
        self.at = 0

    def error(self) -> HttpError:
        return HttpError(validation_error(f"Unsupported where clause: {self.text}"))

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise self.error()
        self.at += 1
        return token

    def parse(self) -> Test:
        test = self.any_of()
        if self.peek() is not None:
            raise self.error()
        return test

    def any_of(self) -> Test:
        tests = [self.all_of()]
        while self.peek() in (("op", "||"), ("name", "OR"), ("name", "or")):
            self.take()
            tests.append(self.all_of())
        return tests[0] if len(tests) == 1 else lambda r: any(t(r) for t in tests)

    def all_of(self) -> Test:
        tests = [self.one()]
        while self.peek() in (("op", "&&"), ("name", "AND"), ("name", "and")):
            self.take()
            tests.append(self.one())
        return tests[0] if len(tests) == 1 else lambda r: all(t(r) for t in tests)

    def one(self) -> Test:
        token = self.peek()
        if token in (("op", "!"), ("name", "NOT")):
            self.take()
            inner = self.one()
            return lambda r: not inner(r)
        if token == ("op", "("):
            self.take("(")
            inner = self.any_of()
            self.take(")")
            return inner
        kind, path = self.take()
        if kind != "name":
            raise self.error()
        path, transforms, text_test = self.path_parts(path)
        if text_test is not None:
            name, argument = text_test
            return lambda r: _text_test(_field(r, path, transforms), name, argument)
        operator = self.peek()
        if operator is None or operator[1] not in _COMPARE:
            # a bare boolean field: ``IsCustomer`` means ``IsCustomer == true``
            return lambda r: _field(r, path, transforms) is True
        self.take()
        value = self.value()
        compare = _COMPARE[operator[1]]
        return lambda r: _compare(compare, _field(r, path, transforms), value)

    def path_parts(self, dotted: str) -> tuple[str, list[str], tuple[str, str] | None]:
        """``Contact.Name.ToLower().StartsWith("a")`` → path, transforms, text test."""
        path: list[str] = []
        transforms: list[str] = []
        parts = dotted.split(".")
        while parts:
            part = parts.pop(0)
            if part not in _TEXT_TESTS and part not in ("ToLower", "ToUpper"):
                if transforms or not part:
                    raise self.error()
                path.append(part)
                continue
            if parts:  # a method must be called: Name.Contains.X is not one
                raise self.error()
            self.take("(")
            if part in _TEXT_TESTS:
                kind, raw = self.take()
                self.take(")")
                if kind != "string" or not path:
                    raise self.error()
                return ".".join(path), transforms, (part, _unquote(raw))
            self.take(")")
            transforms.append(part)
            following = self.peek()
            if following and following[0] == "name" and following[1].startswith("."):
                self.take()
                parts = following[1][1:].split(".")
        if not path:
            raise self.error()
        return ".".join(path), transforms, None

    def value(self) -> Any:
        kind, raw = self.take()
        if kind == "string":
            return _unquote(raw)
        if kind == "number":
            return float(raw) if "." in raw else int(raw)
        if kind != "name":
            raise self.error()
        lowered = raw.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        if lowered == "null":
            return None
        if lowered == "guid":
            self.take("(")
            kind, guid = self.take()
            self.take(")")
            if kind != "string":
                raise self.error()
            return _unquote(guid).lower()
        if raw == "DateTime":
            return self.datetime_value()
        raise self.error()

    def datetime_value(self) -> datetime:
        self.take("(")
        numbers: list[int] = []
        while True:
            kind, raw = self.take()
            if kind != "number" or "." in raw:
                raise self.error()
            numbers.append(int(raw))
            if self.take()[1] == ")":
                break
        if len(numbers) not in (3, 6):
            raise self.error()
        year, month, day, hour, minute, second = [*numbers, 0, 0, 0][:6]
        try:
            return datetime(year, month, day, hour, minute, second)
        except ValueError as exc:
            raise self.error() from exc


def _unquote(raw: str) -> str:
    return re.sub(r"\\(.)", r"\1", raw[1:-1])


def _field(record: Record, path: str, transforms: list[str]) -> Any:
    value = _lookup(record, path)
    for transform in transforms:
        if isinstance(value, str):
            value = value.lower() if transform == "ToLower" else value.upper()
    return value


def _text_test(value: Any, name: str, argument: str) -> bool:
    return isinstance(value, str) and bool(_TEXT_TESTS[name](value, argument))


def _compare(compare: Callable[[Any, Any], bool], left: Any, right: Any) -> bool:
    """Compare like with like: dates as dates, ids case-insensitively; else not equal."""
    if isinstance(right, datetime):
        left = parse_date(left)
        if left is None:
            return False
    elif isinstance(left, str) and isinstance(right, str) and _is_guid(right):
        left = left.lower()
    elif isinstance(left, bool) or isinstance(right, bool):
        if not (isinstance(left, bool) and isinstance(right, bool)):
            return compare is _COMPARE["!="]
    elif right is not None and not isinstance(left, str if isinstance(right, str) else int | float):
        return compare is _COMPARE["!="]  # a number against text, text against a number
    try:
        return bool(compare(left, right))
    except TypeError:
        return compare is _COMPARE["!="]


def _is_guid(text: str) -> bool:
    return re.fullmatch(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}", text) is not None


def order_rows(rows: list[Record], order: str | None) -> list[Record]:
    if not order:
        return rows
    field, _, direction = order.strip().partition(" ")

    def key(record: Record) -> tuple[int, Any]:
        """Missing first, then numbers and dates, then text, then anything else as text:
        records whose field holds different types still sort instead of failing."""
        value = _lookup(record, field)
        if value is None:
            return (0, 0)
        moment = parse_date(value) if isinstance(value, str) and value[:6] == "/Date(" else None
        if moment is not None:
            return (1, moment.replace(tzinfo=UTC).timestamp() * 1000)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return (1, value)
        return (2, value) if isinstance(value, str) else (3, repr(value))

    return sorted(rows, key=key, reverse=direction.strip().upper() == "DESC")


def validation_error(message: str, status: int = 400) -> Response:
    body = {
        "ErrorNumber": 10,
        "Type": "ValidationException",
        "Message": "A validation exception occurred",
        "Elements": [{"ValidationErrors": [{"Message": message}]}],
    }
    return json_response(body, status)
