"""SOQL, the subset integrations use: the tokenizer and parser (SELECT, nested
child queries, WHERE with AND/OR/NOT, IN, LIKE, ORDER BY, LIMIT/OFFSET), how a
condition matches a row, the sort order and how a selected relationship field nests.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from connectors.sandbox.core import HttpError
from connectors.sandbox.salesforce.schema import FIELDS, SCHEMA, parse_datetime, sf_error

if TYPE_CHECKING:
    from connectors.sandbox.salesforce.app import SalesforceApp

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:\\.|[^'\\])*')"
    r"|(?P<dt>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))"
    r"|(?P<date>\d{4}-\d{2}-\d{2})"
    r"|(?P<num>-?\d+(?:\.\d+)?)"
    r"|(?P<op><=|>=|!=|<>|[=<>(),])"
    r"|(?P<word>[A-Za-z_][\w.]*))"
)


@dataclass
class Query:
    entity: str
    fields: list[str]
    children: list[tuple[str, Query]] = field(default_factory=list)
    where: Any = None  # ("and"|"or", [..]) | ("not", x) | ("cmp", field, op, value)
    order: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)
    limit: int | None = None
    offset: int = 0


def malformed(message: str) -> HttpError:
    return sf_error(400, "MALFORMED_QUERY", message)


class SoqlParser:
    """Recursive descent over tokens; errors come out as Salesforce's own codes."""

    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        position, text = 0, text.strip()
        while position < len(text):
            match = _TOKEN.match(text, position)
            if not match or match.end() == position:
                raise malformed(f"unexpected token: '{text[position : position + 20]}'")
            kind = match.lastgroup or "word"
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
        self.at = 0

    def peek(self, word: str | None = None) -> bool:
        if self.at >= len(self.tokens):
            return False
        return word is None or self.tokens[self.at][1].upper() == word

    def take(self, word: str | None = None) -> str:
        if not self.peek(word):
            found = self.tokens[self.at][1] if self.at < len(self.tokens) else "end of query"
            raise malformed(f"expecting '{word or 'a token'}', found '{found}'")
        self.at += 1
        return self.tokens[self.at - 1][1]

    def query(self, *, nested: bool = False) -> Query:
        self.take("SELECT")
        fields, children = [], []
        while True:
            if self.peek("("):
                self.take("(")
                child = self.query(nested=True)
                self.take(")")
                children.append((child.entity, child))
            else:
                fields.append(self.take())
            if not self.peek(","):
                break
            self.take(",")
        self.take("FROM")
        result = Query(self.take(), fields, children)
        if self.peek("WHERE"):
            self.take("WHERE")
            result.where = self.disjunction()
        if self.peek("ORDER"):
            self.take("ORDER")
            self.take("BY")
            while True:
                name, descending = self.take(), False
                if self.peek("ASC") or self.peek("DESC"):
                    descending = self.take().upper() == "DESC"
                result.order.append((name, descending))
                if not self.peek(","):
                    break
                self.take(",")
        if self.peek("LIMIT"):
            self.take("LIMIT")
            result.limit = int(self.take())
        if self.peek("OFFSET"):
            self.take("OFFSET")
            result.offset = int(self.take())
        if not nested and self.at < len(self.tokens):
            raise malformed(f"unexpected token: '{self.tokens[self.at][1]}'")
        return result

    def disjunction(self) -> Any:
        parts = [self.conjunction()]
        while self.peek("OR"):
            self.take("OR")
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else ("or", parts)

    def conjunction(self) -> Any:
        parts = [self.factor()]
        while self.peek("AND"):
            self.take("AND")
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else ("and", parts)

    def factor(self) -> Any:
        if self.peek("NOT"):
            self.take("NOT")
            return ("not", self.factor())
        if self.peek("("):
            self.take("(")
            inner = self.disjunction()
            self.take(")")
            return inner
        name = self.take()
        if self.peek("NOT"):
            self.take("NOT")
            self.take("IN")
            return ("not", ("cmp", name, "in", self.value_list()))
        if self.peek("IN"):
            self.take("IN")
            return ("cmp", name, "in", self.value_list())
        op = self.take().upper()
        if op not in {"=", "!=", "<>", "<", ">", "<=", ">=", "LIKE"}:
            raise malformed(f"unexpected operator: '{op}'")
        return ("cmp", name, "!=" if op == "<>" else op, self.value())

    def value_list(self) -> list[Any]:
        self.take("(")
        values = [self.value()]
        while self.peek(","):
            self.take(",")
            values.append(self.value())
        self.take(")")
        return values

    def value(self) -> Any:
        if self.at >= len(self.tokens):
            raise malformed("expecting a value, found end of query")
        kind, text = self.tokens[self.at]
        self.at += 1
        if kind == "str":
            return re.sub(r"\\(.)", r"\1", text[1:-1])
        if kind == "dt":
            return parse_datetime(text)
        if kind == "date":
            return date.fromisoformat(text)
        if kind == "num":
            return float(text)
        if text.upper() in {"TRUE", "FALSE"}:
            return text.upper() == "TRUE"
        if text.upper() == "NULL":
            return None
        raise malformed(f"unexpected value: '{text}'")


def _comparable(value: Any, type_: str) -> Any:
    """A stored value in the form SOQL compares it: datetimes as instants, text case-blind."""
    if value is None:
        return None
    if type_ == "datetime":
        return parse_datetime(value) if isinstance(value, str) else value
    if type_ == "date":
        return date.fromisoformat(value) if isinstance(value, str) else value
    if type_ in {"double", "currency", "percent", "int"}:
        return float(value)
    if type_ in {"id", "reference", "boolean"}:
        return value
    return str(value).lower()


def _like(pattern: str) -> re.Pattern[str]:
    regex = "".join(
        ".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern.lower()
    )
    return re.compile(f"^{regex}$", re.DOTALL)


def matches(condition: Any, read: Callable[[str], tuple[Any, str]]) -> bool:
    """Evaluate a WHERE tree; ``read(name)`` gives a field's value and describe type."""
    if condition is None:
        return True
    kind = condition[0]
    if kind == "and":
        return all(matches(c, read) for c in condition[1])
    if kind == "or":
        return any(matches(c, read) for c in condition[1])
    if kind == "not":
        return not matches(condition[1], read)
    _, name, op, expected = condition
    value, type_ = read(name)
    left = _comparable(value, type_)
    if op == "in":
        return left in {_comparable(e, type_) if isinstance(e, str) else e for e in expected}
    right = _comparable(expected, type_) if isinstance(expected, str) else expected
    if op == "=":
        return left == right
    if op == "!=":
        return left != right
    if left is None or right is None:
        return False
    if op == "LIKE":
        return bool(_like(str(expected)).match(str(left)))
    try:
        return {"<": left < right, ">": left > right, "<=": left <= right, ">=": left >= right}[op]
    except TypeError as exc:
        raise malformed(f"cannot compare {name} with {expected!r}") from exc


def sort_key(value: Any, type_: str) -> tuple[int, Any]:
    """Nulls first, as SOQL sorts ascending by default."""
    comparable = _comparable(value, type_)
    return (0, "") if comparable is None else (1, comparable)


def place(
    item: dict[str, Any],
    name: str,
    app: SalesforceApp,
    sobject: str,
    row: Mapping[str, Any],
    version: str,
) -> None:
    """Put a selected field in the row; ``Account.Name`` nests under ``Account`` as SOQL does."""
    head, _, rest = name.partition(".")
    if not rest:
        item[FIELDS[sobject][name.lower()].name] = row.get(FIELDS[sobject][name.lower()].name)
        return
    spec = next(
        f for f in SCHEMA[sobject][1] if (f.relationship_name or "").lower() == head.lower()
    )
    target = app.data[spec.reference_to or ""].get(row.get(spec.name) or "")
    relationship = spec.relationship_name or head
    if target is None:
        item[relationship] = None
        return
    nested = item.setdefault(
        relationship,
        {
            "attributes": {
                "type": spec.reference_to,
                "url": f"/services/data/v{version}/sobjects/{spec.reference_to}/{target['Id']}",
            }
        },
    )
    place(nested, rest, app, spec.reference_to or "", target, version)
