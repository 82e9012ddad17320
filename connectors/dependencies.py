"""Which of a system's error codes mean "a record this one refers to is not there (yet)".

An invoice whose customer never reached Xero fails there with "contact does not exist".
Each system declares, beside its error table, the codes that mean such a missing reference
(``connectors/<system>/dependencies.py``, on its connector class as ``Connector.dependencies``),
what is missing in words, which entity a flow writes to create it, and where the reference
sits in the record sent. The sync core (``clarity.sync.dependencies``) reads that declaration
to point the failed record at the ledger record of what it needs. Data only: no Django.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dependency:
    """An error code meaning "the record this one refers to is not in the target"."""

    what: str  # in words: "customer", "invoice"
    target_entities: tuple[str, ...]  # the entity the feeding flow writes
    reference_paths: tuple[str, ...]  # where the reference sits in the sent record, first found
