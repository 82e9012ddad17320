"""Reading one element of a request the way Xero's deserialiser does, before any rule runs.

``clean(schema, element)`` answers the element as the sandbox will use it — unknown and
read-only properties dropped, dates in one form, enum names in Xero's spelling — and
every problem with it, so that ``Organisation.save`` never meets a value it cannot use
half way through a save. Evidence:

- Which properties exist, their types, enums and maximum lengths: [P] XeroAPI/Xero-OpenAPI
  ``xero_accounting.yaml`` (see ``spec_fields``).
- Unknown properties are ignored, and the elements Xero echoes back (also in a 400's
  ``Elements``) carry only the schema's properties: [O] XeroAPI/Xero-Java#171 (a 400's
  ``Elements`` are the deserialised objects with Xero's defaults, not the request's text).
- Dates are accepted as ``YYYY-MM-DD``, ``YYYY-MM-DDThh:mm:ss`` and ``/Date(ms±hhmm)/``:
  [P] the spec's ``x-is-msdate`` and its examples; [O] xero-python
  ``api_client/serializer.py`` (``serialize_date_ms`` sends ``/Date(ms+0000)/``).
- A value of the wrong type, an impossible date (2026-11-31) or an enum value the spec does
  not list is a validation error for that element, not a server error: [A] the wording.
- Enum names are read case-insensitively: [A] (Xero's .NET JSON enum converter).
"""

from __future__ import annotations

import math
import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.sandbox.xero.spec_fields import SCHEMAS

# Largest magnitude an amount may have: Xero stores money as decimal(19,4)-like values;
# 1e15 keeps every total representable. [A]
MAX_AMOUNT = Decimal("1e15")
_MS_DATE = re.compile(r"^/Date\((-?\d{1,15})([+-]\d{4})?\)/$")
_ISO_DATE = re.compile(
    r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?(Z|[+-]\d{2}:?\d{2})?)?$"
)


def clean(schema: str, element: Any, path: str = "") -> tuple[dict[str, Any], list[str]]:
    """The element as Xero reads it, and the messages for each value it cannot read."""
    if not isinstance(element, dict):
        return {}, [f"{path or schema} must be an object."]
    known = SCHEMAS[schema]
    cleaned: dict[str, Any] = {}
    errors: list[str] = []
    for name, value in element.items():
        kind = known.get(name)
        if kind is None or kind[0] == "readonly" or value is None:
            continue
        where = f"{path}.{name}" if path else name
        result, problems = _value(kind, value, where)
        errors += problems
        if not problems:
            cleaned[name] = result
    return cleaned, errors


def _value(kind: tuple[Any, ...], value: Any, where: str) -> tuple[Any, list[str]]:
    tag = kind[0]
    if tag == "object":
        if kind[1] is None and isinstance(value, dict):
            return value, []
        if kind[1] is None:
            return None, [f"{where} must be an object."]
        return clean(kind[1], value, where)
    if tag == "list":
        if not isinstance(value, list):
            return None, [f"{where} must be a list."]
        items, errors = [], []
        for n, item in enumerate(value):
            item_kind = ("object", kind[1]) if kind[1] in SCHEMAS else (kind[1], None)
            result, problems = _value(item_kind, item, f"{where}[{n}]")
            items.append(result)
            errors += problems
        return items, errors
    if tag == "date":
        moment = parse_date(value)
        if moment is None:
            return None, [f"{where} '{_shown(value)}' is not a valid date: use YYYY-MM-DD."]
        return moment.strftime("%Y-%m-%dT%H:%M:%S"), []
    if tag == "enum":
        folded = {v.casefold(): v for v in kind[1]}
        if isinstance(value, str) and value.casefold() in folded:
            return folded[value.casefold()], []
        listed = f": use one of {', '.join(kind[1])}" if len(kind[1]) <= 12 else ""
        return None, [f"{where} '{_shown(value)}' is not a valid value{listed}."]
    if tag in ("number", "integer"):
        return _number(value, where, integral=tag == "integer")
    if tag == "boolean":
        if isinstance(value, bool):
            return value, []
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true", []
        return None, [f"{where} must be true or false."]
    if tag == "uuid":
        try:
            return str(uuid.UUID(value if isinstance(value, str) else "")), []
        except ValueError:
            return None, [f"{where} '{_shown(value)}' is not a valid identifier."]
    # a string: JSON numbers are read as their text, anything else is refused [A]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None, [f"{where} must be text."]
    text = value if isinstance(value, str) else str(value)
    if "\x00" in text:
        return None, [f"{where} must not contain NUL characters."]
    if kind[1] is not None and len(text) > kind[1]:
        return None, [f"{where} must be {kind[1]} characters or fewer."]
    return text, []


def _number(value: Any, where: str, *, integral: bool) -> tuple[Any, list[str]]:
    refused = None, [f"{where} '{_shown(value)}' is not a valid number."]
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return refused
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):  # ValueError: an int past Python's digit limit
        return refused
    if not amount.is_finite() or abs(amount) >= MAX_AMOUNT:
        return refused
    if integral:
        return (int(amount), []) if amount == amount.to_integral_value() else refused
    if isinstance(value, int | float) and not (isinstance(value, float) and math.isnan(value)):
        return value, []
    return float(amount) if amount != amount.to_integral_value() else int(amount), []


def parse_date(value: Any) -> datetime | None:
    """A naive UTC datetime from any date form Xero reads, or None when it is not one."""
    if not isinstance(value, str):
        return None
    ms = _MS_DATE.match(value)
    try:
        if ms:
            moment = datetime(1970, 1, 1) + timedelta(milliseconds=int(ms.group(1)))
        elif _ISO_DATE.match(value):
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if moment.tzinfo is not None:
                moment = moment.astimezone(UTC).replace(tzinfo=None)
        else:
            return None
    except (ValueError, OverflowError):
        return None
    return moment if 1900 <= moment.year <= 9999 else None


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
