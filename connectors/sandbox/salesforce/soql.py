"""SOQL, the subset integrations use, as strictly as Salesforce parses it.

The tokenizer and parser (SELECT with nested child queries and ``COUNT()``,
WHERE with AND/OR/NOT, IN, LIKE, date literals, ORDER BY … NULLS FIRST/LAST,
LIMIT/OFFSET), the type check of every literal against its field, how a
condition matches a row, the sort order and how a selected relationship field
nests. Every refusal is Salesforce's error code with its message shape
(``\\n<query>\\n<caret>\\nERROR at Row:r:Column:c\\n<message>``) [S: REST answers quoted at
https://life-improver.com/salesforce/salesforce-datetime-representation-in-soql-executed-via-rest-api/];
anything else a client sends is a 400, never a 500.

Evidence, besides that shape:

* [P] literal formats, and "a dateTime format filters dateTime fields only, a date
  format date fields only", unquoted; the date literals and their ranges —
  https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_dateformats.htm
* [P] ``OFFSET`` above 2,000 is ``NUMBER_OUTSIDE_VALID_RANGE``; ``OFFSET`` in a
  subquery only under a parent ``LIMIT 1`` (else ``MALFORMED_QUERY``) —
  https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_offset.htm
* [P] ``COUNT()`` answers in ``totalSize`` with no records; ``COUNT(field)`` is an
  ``AggregateResult`` row (``expr0`` unless aliased); ASC sorts nulls first and
  DESC nulls last unless ``NULLS FIRST|LAST`` says otherwise — SOQL reference,
  "COUNT() and COUNT(fieldName)" and "ORDER BY".
* [S] a quoted date/number/boolean, or an unquoted value on a text field, is
  ``INVALID_FIELD`` "value of filter criterion for field 'X' must be of type T and
  should (not) be enclosed in quotes"; a malformed Id literal is
  ``INVALID_QUERY_FILTER_OPERATOR`` "invalid ID field: x" (forum answers quoting the
  REST error). [A] the type name in the message is the describe type.
* [A] the date literals use UTC for "today" and Sunday as the first day of the week
  (the en_US locale); fiscal literals are not emulated.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from connectors.sandbox.core import HttpError
from connectors.sandbox.salesforce.schema import (
    FIELDS,
    SCHEMA,
    canonical_id,
    parse_datetime,
    sf_error,
)

if TYPE_CHECKING:
    from connectors.sandbox.salesforce.app import SalesforceApp

MAX_OFFSET = 2000
MAX_DEPTH = 40  # [A] nesting of parentheses/NOT; Salesforce's own cap is the query length
MAX_QUERY_LENGTH = 100_000  # [P] SOQL statements are at most 100,000 characters

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:\\.|[^'\\])*')"
    r"|(?P<dt>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))"
    r"|(?P<date>\d{4}-\d{2}-\d{2})"
    r"|(?P<num>-?\d+(?:\.\d+)?)"
    r"|(?P<op><=|>=|!=|<>|[=<>(),:])"
    r"|(?P<word>[A-Za-z_][\w.]*))"
)

_FIXED_RANGES = frozenset(
    {
        "YESTERDAY",
        "TODAY",
        "TOMORROW",
        "LAST_WEEK",
        "THIS_WEEK",
        "NEXT_WEEK",
        "LAST_MONTH",
        "THIS_MONTH",
        "NEXT_MONTH",
        "LAST_90_DAYS",
        "NEXT_90_DAYS",
        "LAST_QUARTER",
        "THIS_QUARTER",
        "NEXT_QUARTER",
        "LAST_YEAR",
        "THIS_YEAR",
        "NEXT_YEAR",
    }
)
_COUNTED_RANGES = frozenset(
    f"{kind}_N_{unit}"
    for kind in ("LAST", "NEXT")
    for unit in ("DAYS", "WEEKS", "MONTHS", "QUARTERS", "YEARS")
) | frozenset(f"N_{unit}_AGO" for unit in ("DAYS", "WEEKS", "MONTHS", "QUARTERS", "YEARS"))

_TEXT_TYPES = frozenset(
    {"string", "picklist", "textarea", "email", "phone", "url", "multipicklist", "combobox"}
)
_NUMERIC_TYPES = frozenset({"double", "currency", "percent", "int"})
_ID_TYPES = frozenset({"id", "reference"})


@dataclass(frozen=True)
class Literal:
    """A value as written in the query: its kind (``str``, ``num``, ``date``, ``dt``,
    ``bool``, ``null``, ``range``), its parsed value and where it stands."""

    kind: str
    value: Any
    position: int
    text: str


@dataclass
class Query:
    entity: str
    fields: list[str]
    children: list[tuple[str, Query]] = field(default_factory=list)
    where: Any = None  # ("and"|"or", [..]) | ("not", x) | ("cmp", field, op, Literal | [..], pos)
    order: list[tuple[str, bool, bool]] = field(default_factory=list)  # (field, desc, nulls_last)
    limit: int | None = None
    offset: int = 0
    text: str = ""
    count: str | None = None  # "rows" for COUNT(), else COUNT(field)'s alias
    count_field: str | None = None


def malformed(message: str) -> HttpError:
    return sf_error(400, "MALFORMED_QUERY", message)


def query_error(text: str, position: int, code: str, message: str) -> HttpError:
    """Salesforce's shape: the query line, a caret under the fault, its row and column."""
    before = text[:position]
    row = before.count("\n") + 1
    line_start = before.rfind("\n") + 1
    line_end = text.find("\n", position)
    line = text[line_start : line_end if line_end >= 0 else len(text)]
    column = position - line_start + 1
    start = max(0, column - 80)  # a window around the fault, as Salesforce trims long lines
    caret = " " * (column - 1 - start) + "^"
    body = f"\n{line[start : start + 160]}\n{caret}\nERROR at Row:{row}:Column:{column}\n{message}"
    return sf_error(400, code, body)


class SoqlParser:
    """Recursive descent over tokens; errors come out as Salesforce's own codes."""

    def __init__(self, text: str) -> None:
        if len(text) > MAX_QUERY_LENGTH:
            raise malformed(f"Query is too long: at most {MAX_QUERY_LENGTH} characters")
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []
        position = 0
        while position < len(text):
            if text[position:].strip() == "":
                break
            match = _TOKEN.match(text, position)
            if not match or match.end() == position:
                start = len(text) - len(text[position:].lstrip())
                found = text[start : start + 20]
                raise query_error(text, start, "MALFORMED_QUERY", f"unexpected token: '{found}'")
            kind = match.lastgroup or "word"
            self.tokens.append((kind, match.group(kind), match.start(kind)))
            position = match.end()
        self.at = 0
        self.depth = 0

    # -- tokens ---------------------------------------------------------------

    def _here(self) -> int:
        return self.tokens[self.at][2] if self.at < len(self.tokens) else len(self.text)

    def error(self, message: str, code: str = "MALFORMED_QUERY") -> HttpError:
        return query_error(self.text, self._here(), code, message)

    def peek(self, word: str | None = None, offset: int = 0) -> bool:
        at = self.at + offset
        if at >= len(self.tokens):
            return False
        kind, text, _ = self.tokens[at]
        return word is None or (kind in ("word", "op") and text.upper() == word)

    def take(self, word: str | None = None) -> str:
        if not self.peek(word):
            found = self.tokens[self.at][1] if self.at < len(self.tokens) else "<EOF>"
            expected = f"expecting '{word}', " if word else ""
            raise self.error(f"{expected}unexpected token: '{found}'")
        self.at += 1
        return self.tokens[self.at - 1][1]

    def name(self) -> str:
        """A field or object name: a word, nothing else."""
        if self.at >= len(self.tokens) or self.tokens[self.at][0] != "word":
            found = self.tokens[self.at][1] if self.at < len(self.tokens) else "<EOF>"
            raise self.error(f"unexpected token: '{found}'")
        return self.take()

    def integer(self, clause: str) -> int:
        if self.at >= len(self.tokens) or not re.fullmatch(r"\d{1,9}", self.tokens[self.at][1]):
            found = self.tokens[self.at][1] if self.at < len(self.tokens) else "<EOF>"
            raise self.error(f"{clause} expects a non-negative integer, found '{found}'")
        return int(self.take())

    def _nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error("Query is nested too deeply")

    # -- grammar --------------------------------------------------------------

    def query(self, *, nested: bool = False) -> Query:
        self._nest()
        start = self.at
        self.take("SELECT")
        fields: list[str] = []
        children: list[tuple[str, Query]] = []
        count: str | None = None
        count_field: str | None = None
        aggregates = 0
        while True:
            if self.peek("("):
                if nested:
                    raise self.error("Nesting of semi join sub-selects is not supported")
                self.take("(")
                child = self.query(nested=True)
                self.take(")")
                children.append((child.entity, child))
            elif self.peek("COUNT") and self.peek("(", 1):
                self.take("COUNT")
                self.take("(")
                aggregates += 1
                if self.peek(")"):
                    count = "rows"
                else:
                    count_field = self.name()
                    count = "expr0"
                self.take(")")
                aliased = self.peek() and self.tokens[self.at][0] == "word"
                if count_field and aliased and not self.peek("FROM"):
                    count = self.take()
            else:
                fields.append(self.name())
            if not self.peek(","):
                break
            self.take(",")
        if count and (fields or children or aggregates > 1):
            raise query_error(
                self.text,
                self.tokens[start][2],
                "MALFORMED_QUERY",
                "COUNT() and COUNT(field) cannot be combined with other fields without GROUP BY",
            )
        self.take("FROM")
        result = Query(self.name(), fields, children, text=self.text)
        result.count, result.count_field = count, count_field
        if self.peek("WHERE"):
            self.take("WHERE")
            result.where = self.disjunction()
        if self.peek("ORDER"):
            self.take("ORDER")
            self.take("BY")
            while True:
                name, descending = self.name(), False
                if self.peek("ASC") or self.peek("DESC"):
                    descending = self.take().upper() == "DESC"
                nulls_last = descending
                if self.peek("NULLS"):
                    self.take("NULLS")
                    if not (self.peek("FIRST") or self.peek("LAST")):
                        raise self.error("expecting 'FIRST' or 'LAST' after NULLS")
                    nulls_last = self.take().upper() == "LAST"
                result.order.append((name, descending, nulls_last))
                if not self.peek(","):
                    break
                self.take(",")
        if self.peek("LIMIT"):
            self.take("LIMIT")
            result.limit = self.integer("LIMIT")
        if self.peek("OFFSET"):
            self.take("OFFSET")
            position = self._here()
            result.offset = self.integer("OFFSET")
            if result.offset > MAX_OFFSET:
                raise query_error(
                    self.text,
                    position,
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    f"Maximum SOQL offset allowed is {MAX_OFFSET}",
                )
        if not nested and self.at < len(self.tokens):
            raise self.error(f"unexpected token: '{self.tokens[self.at][1]}'")
        if not nested:
            for _, child in children:
                if child.offset and result.limit != 1:
                    raise malformed(
                        "A subquery can use OFFSET only if the parent query has a LIMIT 1 clause"
                    )
        self.depth -= 1
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
        self._nest()
        try:
            if self.peek("NOT"):
                self.take("NOT")
                return ("not", self.factor())
            if self.peek("("):
                self.take("(")
                inner = self.disjunction()
                self.take(")")
                return inner
            position = self._here()
            name = self.name()
            if self.peek("NOT") and self.peek("IN", 1):
                self.take("NOT")
                self.take("IN")
                return ("not", ("cmp", name, "in", self.value_list(), position))
            if self.peek("IN"):
                self.take("IN")
                return ("cmp", name, "in", self.value_list(), position)
            if self.at >= len(self.tokens):
                raise self.error("unexpected token: '<EOF>'")
            op = self.take().upper()
            if op not in {"=", "!=", "<>", "<", ">", "<=", ">=", "LIKE"}:
                raise query_error(
                    self.text,
                    self.tokens[self.at - 1][2],
                    "MALFORMED_QUERY",
                    f"unexpected token: '{op}'",
                )
            return ("cmp", name, "!=" if op == "<>" else op, self.value(), position)
        finally:
            self.depth -= 1

    def value_list(self) -> list[Literal]:
        self.take("(")
        values = [self.value()]
        while self.peek(","):
            self.take(",")
            values.append(self.value())
        self.take(")")
        return values

    def value(self) -> Literal:
        if self.at >= len(self.tokens):
            raise self.error("unexpected token: '<EOF>'")
        kind, text, position = self.tokens[self.at]
        self.at += 1
        try:
            if kind == "str":
                return Literal("str", re.sub(r"\\(.)", r"\1", text[1:-1]), position, text)
            if kind == "dt":
                return Literal("dt", parse_datetime(text), position, text)
            if kind == "date":
                return Literal("date", date.fromisoformat(text), position, text)
        except ValueError:
            raise query_error(
                self.text, position, "MALFORMED_QUERY", f"invalid date: '{text}'"
            ) from None
        if kind == "num":
            return Literal("num", float(text), position, text)
        upper = text.upper() if kind == "word" else ""
        if upper in {"TRUE", "FALSE"}:
            return Literal("bool", upper == "TRUE", position, text)
        if upper == "NULL":
            return Literal("null", None, position, text)
        if upper in _FIXED_RANGES:
            return Literal("range", (upper, 0), position, text)
        if upper in _COUNTED_RANGES:
            if not self.peek(":"):
                raise self.error(f"{upper} needs a number, as in {upper}:7")
            self.take(":")
            n = self.integer(upper)
            return Literal("range", (upper, n), position, f"{text}:{n}")
        raise query_error(self.text, position, "MALFORMED_QUERY", f"unexpected token: '{text}'")


# -- types ------------------------------------------------------------------------


def _type_word(type_: str) -> str:
    return {"datetime": "dateTime", "reference": "id"}.get(type_, type_)


def check_literals(
    query: Query, condition: Any, read: Callable[[Mapping[str, Any], str], tuple[Any, str]]
) -> Any:
    """The WHERE tree with each literal checked against its field's type, as Salesforce
    does before reading a row; Id literals come back in their 18-character form."""
    if condition is None:
        return None
    kind = condition[0]
    if kind in ("and", "or"):
        return (kind, [check_literals(query, c, read) for c in condition[1]])
    if kind == "not":
        return ("not", check_literals(query, condition[1], read))
    _, name, op, expected, position = condition
    _, type_ = read({}, name)
    if op == "in":
        return ("cmp", name, op, [_checked(query, name, type_, op, v) for v in expected], position)
    return ("cmp", name, op, _checked(query, name, type_, op, expected), position)


def _checked(query: Query, name: str, type_: str, op: str, literal: Literal) -> Literal:
    def refuse(quoted: bool) -> HttpError:
        should = "should not" if quoted else "should"
        message = (
            f"value of filter criterion for field '{name}' must be of type {_type_word(type_)} "
            f"and {should} be enclosed in quotes"
        )
        return query_error(query.text, literal.position, "INVALID_FIELD", message)

    if literal.kind == "null":
        return literal
    if op == "LIKE" and type_ not in _TEXT_TYPES | _ID_TYPES:
        raise query_error(
            query.text,
            literal.position,
            "INVALID_FIELD",
            f"invalid operator on field '{name}': LIKE works on text fields only",
        )
    if type_ == "datetime":
        if literal.kind not in ("dt", "range"):
            raise refuse(quoted=True)
    elif type_ == "date":
        if literal.kind not in ("date", "range"):
            raise refuse(quoted=True)
    elif type_ in _NUMERIC_TYPES:
        if literal.kind != "num":
            raise refuse(quoted=True)
    elif type_ == "boolean":
        if literal.kind != "bool":
            raise refuse(quoted=True)
    elif literal.kind != "str":
        raise refuse(quoted=False)
    elif type_ in _ID_TYPES and op != "LIKE":
        full = canonical_id(literal.value)
        if full is None and literal.value != "":
            raise query_error(
                query.text,
                literal.position,
                "INVALID_QUERY_FILTER_OPERATOR",
                f"invalid ID field: {literal.value}",
            )
        return Literal("str", full or "", literal.position, literal.text)
    return literal


# -- date literals -------------------------------------------------------------


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def date_range(literal: tuple[str, int], today: date) -> tuple[date, date]:
    """[start, end) in days of a date literal such as ``LAST_N_DAYS:7`` on ``today``."""
    name, n = literal
    week = today - timedelta(days=(today.weekday() + 1) % 7)  # Sunday starts the week
    month = today.replace(day=1)
    quarter = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    year = date(today.year, 1, 1)
    day = timedelta(days=1)
    fixed = {
        "YESTERDAY": (today - day, today),
        "TODAY": (today, today + day),
        "TOMORROW": (today + day, today + 2 * day),
        "LAST_WEEK": (week - 7 * day, week),
        "THIS_WEEK": (week, week + 7 * day),
        "NEXT_WEEK": (week + 7 * day, week + 14 * day),
        "LAST_MONTH": (_add_months(month, -1), month),
        "THIS_MONTH": (month, _add_months(month, 1)),
        "NEXT_MONTH": (_add_months(month, 1), _add_months(month, 2)),
        "LAST_90_DAYS": (today - 90 * day, today + day),
        "NEXT_90_DAYS": (today + day, today + 91 * day),
        "LAST_QUARTER": (_add_months(quarter, -3), quarter),
        "THIS_QUARTER": (quarter, _add_months(quarter, 3)),
        "NEXT_QUARTER": (_add_months(quarter, 3), _add_months(quarter, 6)),
        "LAST_YEAR": (_add_months(year, -12), year),
        "THIS_YEAR": (year, _add_months(year, 12)),
        "NEXT_YEAR": (_add_months(year, 12), _add_months(year, 24)),
    }
    if name in fixed:
        return fixed[name]
    if name == "LAST_N_DAYS":  # includes today [P]
        return today - n * day, today + day
    if name == "NEXT_N_DAYS":
        return today + day, today + (n + 1) * day
    if name == "N_DAYS_AGO":
        return today - n * day, today - (n - 1) * day
    parts = name.split("_")  # LAST_N_WEEKS, NEXT_N_MONTHS, N_YEARS_AGO
    unit = parts[1 if name.startswith("N_") else 2]
    step = {"WEEKS": 0, "MONTHS": 1, "QUARTERS": 3, "YEARS": 12}[unit]
    if step == 0:

        def shift(k: int) -> date:
            return week + 7 * k * day

    else:
        base = {1: month, 3: quarter, 12: year}[step]

        def shift(k: int) -> date:
            return _add_months(base, k * step)

    if name.startswith("LAST_N_"):
        return shift(-n), shift(0)
    if name.startswith("NEXT_N_"):
        return shift(1), shift(n + 1)
    return shift(-n), shift(-n + 1)  # N_<unit>_AGO


# -- evaluation ------------------------------------------------------------------


def _comparable(value: Any, type_: str) -> Any:
    """A stored value in the form SOQL compares it: datetimes as instants, text case-blind."""
    if value is None:
        return None
    if type_ == "datetime":
        return parse_datetime(value) if isinstance(value, str) else value
    if type_ == "date":
        return date.fromisoformat(value) if isinstance(value, str) else value
    if type_ in _NUMERIC_TYPES:
        return float(value)
    if type_ in _ID_TYPES or type_ == "boolean":
        return value
    return str(value).lower()


def _like(pattern: str) -> re.Pattern[str]:
    regex = "".join(
        ".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern.lower()
    )
    return re.compile(f"^{regex}$", re.DOTALL)


def _compare(left: Any, op: str, literal: Literal, type_: str, today: date) -> bool:
    if literal.kind == "range":
        if left is None:
            return op == "!="
        start, end = date_range(literal.value, today)
        day = left.date() if isinstance(left, datetime) else left
        return {
            "=": start <= day < end,
            "!=": not start <= day < end,
            "<": day < start,
            "<=": day < end,
            ">": day >= end,
            ">=": day >= start,
        }.get(op, False)
    right = literal.value
    if type_ not in _ID_TYPES and isinstance(right, str):
        right = right.lower()
    if op == "=":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if left is None or right is None:
        return False
    if op == "LIKE":
        return bool(_like(str(literal.value)).match(str(left).lower()))
    return bool(
        {"<": left < right, ">": left > right, "<=": left <= right, ">=": left >= right}[op]
    )


def matches(condition: Any, read: Callable[[str], tuple[Any, str]], today: date) -> bool:
    """Evaluate a checked WHERE tree; ``read(name)`` gives a field's value and describe type."""
    if condition is None:
        return True
    kind = condition[0]
    if kind == "and":
        return all(matches(c, read, today) for c in condition[1])
    if kind == "or":
        return any(matches(c, read, today) for c in condition[1])
    if kind == "not":
        return not matches(condition[1], read, today)
    _, name, op, expected, _ = condition
    value, type_ = read(name)
    left = _comparable(value, type_)
    if op == "in":
        return any(_compare(left, "=", e, type_, today) for e in expected)
    return _compare(left, op, expected, type_, today)


def sort_key(value: Any, type_: str, nulls_last_ascending: bool) -> tuple[int, Any]:
    """Nulls before or after every value, in the order the sort runs (ascending)."""
    comparable = _comparable(value, type_)
    if comparable is None:
        return (2 if nulls_last_ascending else 0, "")
    return (1, comparable)


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
