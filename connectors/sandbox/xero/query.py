"""The Xero sandbox's query language: ``where`` filters, list filters (``IDs``,
``Statuses``…), ``order`` and ``If-Modified-Since``, and the validation error Xero
answers a request it cannot read with.
"""

from __future__ import annotations

import email.utils
import re
from datetime import UTC, datetime
from typing import Any

from connectors.sandbox.core import HttpError, Request, Response, json_response
from connectors.sandbox.xero.schema import ID_FIELDS, Record, from_xero_date


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
    # AND binds tighter than OR: any of the OR-ed groups, each all of its clauses.
    groups: list[list[tuple[str, bool, Any]]] = [[]]
    position = 0
    while position < len(where):
        match = _CLAUSE.match(where, position)
        if match is None:
            raise HttpError(validation_error(f"Unsupported where clause: {where[position:]}"))
        field, operator, raw, joiner = match.groups()
        groups[-1].append((field, operator == "!=", _value(raw)))
        if joiner in ("OR", "||"):
            groups.append([])
        position = match.end()
    if not groups[-1]:
        raise HttpError(validation_error(f"Unsupported where clause: {where}"))
    return [
        r
        for r in rows
        if any(all((_lookup(r, f) == v) != negate for f, negate, v in group) for group in groups)
    ]


# One clause of a where filter and what joins it to the next: Name=="A \"B\"" AND …
_CLAUSE = re.compile(
    r'\s*([\w.]+)\s*(==|!=)\s*("(?:[^"\\]|\\.)*"|(?:Guid|GUID)\("[^"]*"\)|[^\s"]+)'
    r"\s*(AND|&&|OR|\|\||$)"
)


def _value(raw: str) -> Any:
    if raw.startswith(("Guid(", "GUID(")):
        return raw[6:-2]
    if raw.startswith('"'):
        return re.sub(r"\\(.)", r"\1", raw[1:-1])
    return _literal(raw)


def _literal(raw: str) -> Any:
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return float(raw) if "." in raw else int(raw)
    except ValueError as exc:
        raise HttpError(validation_error(f"Unsupported value in where: {raw}")) from exc


def order_rows(rows: list[Record], order: str | None) -> list[Record]:
    if not order:
        return rows
    field, _, direction = order.strip().partition(" ")

    def key(record: Record) -> tuple[int, Any]:
        value = _lookup(record, field)
        if isinstance(value, str) and value.startswith("/Date("):
            return (1, from_xero_date(value))
        return (0, "") if value is None else (1, value)

    return sorted(rows, key=key, reverse=direction.strip().upper() == "DESC")


def validation_error(message: str, status: int = 400) -> Response:
    body = {
        "ErrorNumber": 10,
        "Type": "ValidationException",
        "Message": "A validation exception occurred",
        "Elements": [{"ValidationErrors": [{"Message": message}]}],
    }
    return json_response(body, status)
