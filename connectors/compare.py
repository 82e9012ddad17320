"""Does the other side already hold this? One rule set for every system and the core.

Connectors leave out writes that would change nothing (each save stamps a new version
that the other direction would read as a change), and the sync core skips a record the
other side already holds. Both ask ``already_held(sent, held)``: is every value of
``sent`` what ``held`` (the target's copy) already has? Fields ``held`` has and ``sent``
does not are not compared.

The rules, from what the systems send back for what was written:

* **Blank is blank.** None, "" and text of only spaces are the same: Salesforce omits
  or nulls an empty field [P] (REST API: a null field "is cleared"), KashFlow and Xero
  answer "" or leave a cleared field out [O] (their sandboxes' fixtures).
* **Text is trimmed.** Leading and trailing spaces are not a difference: a system that
  trims what it stores would otherwise be written again on every run [A].
* **Numbers compare as Decimal** when either side is a number: Salesforce answers
  ``12.5`` for a currency sent as ``"12.50"``, KashFlow ``100.0`` for ``100`` [O]. Two
  texts are compared as text, so the codes ``"007"`` and ``"7"`` stay different; floats
  go through their shortest repr, so ``0.1`` is ``Decimal("0.1")``, not its binary value.
* **True is not 1.** A boolean equals only a boolean.
* **Dates and times compare as moments**: ``2026-03-01T09:00:00Z``,
  ``2026-03-01T09:00:00.000+0000`` (Salesforce [P], "Valid Date and DateTime Formats")
  and ``2026-03-01T09:00:00`` (KashFlow keeps UTC without a zone [A]) are one moment;
  a date alone is that day's midnight UTC (KashFlow answers a date as
  ``2026-03-01T00:00:00`` [O]); Xero's JSON ``/Date(1775692800000+0000)/`` is milliseconds
  since the epoch in UTC, the offset only saying where it was written [P]
  (developer.xero.com/documentation/api/accounting/requests-and-responses, "JSON dates";
  xero-python ``api_client/deserializer.py`` reads the milliseconds as UTC [O]).
* **Records and lists** compare field by field and item by item (lists in order, of the
  same length); a field named in ``ignore`` (Salesforce's ``attributes``) is skipped at
  every level.

Plain Python: the core and every connector import it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

# Xero's (and .NET's) JSON date: milliseconds since the epoch, UTC, and an optional offset.
_JSON_DATE = re.compile(r"/Date\((-?\d+)([+-]\d{4})?\)/")
# An ISO 8601 date, optionally with a time and a zone, the way the systems write them.
_ISO_MOMENT = re.compile(
    r"\d{4}-\d{2}-\d{2}"
    r"([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?"
)


def already_held(sent: Any, held: Any, *, ignore: Collection[str] = ()) -> bool:
    """Whether writing ``sent`` over ``held`` would change nothing, by the rules above."""
    if isinstance(sent, Mapping):
        held = held if isinstance(held, Mapping) else {}
        return all(
            already_held(value, held.get(name), ignore=ignore)
            for name, value in sent.items()
            if name not in ignore
        )
    if _is_list(sent) or _is_list(held):
        return (
            _is_list(sent)
            and _is_list(held)
            and len(sent) == len(held)
            and all(already_held(a, b, ignore=ignore) for a, b in zip(sent, held, strict=True))
        )
    return same_value(sent, held)


def same_value(sent: Any, held: Any) -> bool:
    """Whether two single values are the same value as the systems store them."""
    if _blank(sent) or _blank(held):
        return _blank(sent) and _blank(held)
    if isinstance(sent, bool) or isinstance(held, bool):
        return isinstance(sent, bool) and isinstance(held, bool) and sent is held
    if _is_number(sent) or _is_number(held):
        return _decimal(sent) is not None and _decimal(sent) == _decimal(held)
    moment_sent, moment_held = as_moment(sent), as_moment(held)
    if moment_sent is not None and moment_held is not None:
        return moment_sent == moment_held
    return _text(sent) == _text(held)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, float):
        value = repr(value)
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _text(value: Any) -> str:
    return str(value).strip()


def as_moment(value: Any) -> datetime | None:
    """A date or time as an aware moment (no zone: UTC); None when it is not one."""
    if isinstance(value, str) and (json_date := _JSON_DATE.fullmatch(value.strip())):
        return datetime.fromtimestamp(int(json_date.group(1)) / 1000, tz=UTC)
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str) and _ISO_MOMENT.fullmatch(value.strip()):
        text = value.strip().replace("Z", "+00:00")
        text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text)  # +0000 -> +00:00
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
