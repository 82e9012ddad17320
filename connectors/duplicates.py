"""Which of a system's error codes mean "this record already exists there".

Xero refuses a second contact with a name it already holds; the finance user's way out
is to link the source record to the record that is there, so the next sync updates it.
Each system declares, beside its error table, the codes that mean such a duplicate
(``connectors/<system>/duplicates.py``, on its connector class as ``Connector.duplicates``):
what the record is in words, and how the existing record is found, read-only: by the
field whose value clashed (``Connector.find_by_field``, the value taken from the record
sent), or by its own id where the system's error names it (Salesforce's "duplicates
value on record with id: 001…"). The sync core reads the declaration; data only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Duplicate:
    """An error code meaning "the target already holds this record"."""

    what: str  # in words: "contact", "invoice"
    # The target field whose value must be unique (what the existing record is found by),
    # and where that value sits in the record sent, first found.
    field: str = ""
    value_paths: tuple[str, ...] = ()
    # The entities this applies to (one code can mean a clash on different fields per
    # entity); empty: any entity.
    entities: tuple[str, ...] = ()
    # Where the system's error names the existing record's own id: a pattern with a group
    # ``id``, searched in the failure's message and the system's raw answer.
    id_pattern: re.Pattern[str] | None = None

    def applies_to(self, entity: str) -> bool:
        return not self.entities or entity in self.entities


Duplicates = Mapping[str, tuple[Duplicate, ...]]


def duplicate_for(table: Duplicates, code: str, entity: str) -> Duplicate | None:
    """The declaration of ``code`` for a record written to ``entity``; None if none."""
    return next((d for d in table.get(code, ()) if d.applies_to(entity)), None)
