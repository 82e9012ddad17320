"""Which of a system's error codes mean "this record already exists there".

Xero refuses a second contact with a name it already holds; the finance user's way out
is to link the source record to the record that is there, so the next sync updates it.
Each system declares, beside its error table, the codes that mean such a duplicate
(``connectors/<system>/duplicates.py``, on its connector class as ``Connector.duplicates``):
what the record is in words, the entity it is, the field whose value clashed (what the
existing record is found by, read-only, through ``Connector.find_by_field``), and where
that value sits in the record sent. The sync core reads the declaration; data only.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Duplicate:
    """An error code meaning "the target already holds a record with this value"."""

    what: str  # in words: "contact", "invoice"
    entity: str  # the target entity the existing record is found in
    field: str  # the target field whose value must be unique (what it is looked up by)
    value_paths: tuple[str, ...]  # where the value sits in the sent record, first found
