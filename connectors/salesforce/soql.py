"""SOQL: names, literals and the keyset query for records changed since a cursor."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation

SOQL_NAME = re.compile(
    r"^\(SELECT [\w, ]+ FROM \w+( WHERE [\w.]+ = (true|false|'[\w .-]*'))?\)$|^\w+(\.\w+)*$"
)


def soql_datetime(value: str) -> str:
    """A Salesforce datetime (``…000+0000``) as a SOQL literal (``…000Z``, unquoted)."""
    moment = datetime.fromisoformat(value).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def soql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def soql_literal(value: object, field_type: str) -> str:
    """``value`` as SOQL writes it for a field of ``field_type`` (a FieldSpec type).

    Salesforce refuses a quoted number, boolean, date or datetime (``INVALID_FIELD``
    "... should not be enclosed in quotes") and an unquoted text, so only text and
    Ids are quoted. Raises ValueError for a value the field's type cannot hold.
    """
    if field_type in ("number", "integer"):
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a number")
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a number") from None
        if not number.is_finite():
            raise ValueError(f"{value!r} is not a number")
        return format(number, "f")
    if field_type == "boolean":
        text = str(value).lower()
        if text not in ("true", "false"):
            raise ValueError(f"{value!r} is not true or false")
        return text
    if field_type == "date":
        return date.fromisoformat(str(value)[:10]).isoformat()
    if field_type == "datetime":
        return soql_datetime(str(value))
    return soql_string(str(value))


def changes_query(
    entity: str, fields: Sequence[str], cursor: str | None, *, overlap: float = 0.0
) -> str:
    """SOQL for records changed after ``cursor`` (``"<SystemModstamp> <Id>"``), oldest first.

    Keyset paging on (SystemModstamp, Id) resumes exactly after the last record
    stored, even when many records share one timestamp. ``overlap`` seconds
    re-read records whose transaction committed late with an earlier stamp; the
    ledger skips versions it already has.
    """
    if not all(SOQL_NAME.match(name) for name in (entity, *fields)):
        raise ValueError("SOQL names must be plain field and object names.")
    query = f"SELECT {', '.join(fields)} FROM {entity}"  # noqa: S608 (names checked above)
    if cursor:
        stamp, _, last_id = cursor.partition(" ")
        since = datetime.fromisoformat(stamp) - timedelta(seconds=overlap)
        after = f"SystemModstamp > {soql_datetime(since.isoformat())}"
        if last_id and not overlap:
            after = (
                f"({after} OR (SystemModstamp = {soql_datetime(stamp)} "
                f"AND Id > {soql_string(last_id)}))"
            )
        query += f" WHERE {after}"
    return query + " ORDER BY SystemModstamp, Id"
