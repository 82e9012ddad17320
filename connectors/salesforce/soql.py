"""SOQL: names, literals and the keyset query for records changed since a cursor."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

SOQL_NAME = re.compile(
    r"^\(SELECT [\w, ]+ FROM \w+( WHERE [\w.]+ = (true|false|'[\w .-]*'))?\)$|^\w+(\.\w+)*$"
)


def soql_datetime(value: str) -> str:
    """A Salesforce datetime (``…000+0000``) as a SOQL literal (``…000Z``, unquoted)."""
    moment = datetime.fromisoformat(value).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def soql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


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
