"""The ledger's vocabularies are defined once: error kinds come from the connectors, and
every module asks for record statuses by a named group of ``RecordStatus``."""

from __future__ import annotations

import re
from pathlib import Path

from clarity.models import SyncRecord
from clarity.models.ledger import (
    COUNTED,
    IN_FLIGHT,
    NEEDS_ACTION,
    PRUNABLE,
    RETRYABLE,
    SETTLED,
    TARGET_KNOWN,
    UNDECIDED,
    ErrorKind,
    RecordStatus,
)
from connectors import errors as connector_errors

ROOT = Path(__file__).resolve().parents[3]


def test_the_ledger_stores_the_connectors_error_kinds() -> None:
    assert ErrorKind is connector_errors.ErrorKind
    field = SyncRecord._meta.get_field("error_kind")
    assert [value for value, _ in field.choices] == [kind.value for kind in ErrorKind]
    assert all(label for _, label in field.choices)
    record = SyncRecord(error_kind=ErrorKind.TRANSIENT)
    assert record.get_error_kind_display() == "Temporary (retries by itself)"


def test_every_status_is_settled_waiting_or_needing_action_exactly_once() -> None:
    waiting = {RecordStatus.PENDING}
    groups = [set(SETTLED), set(NEEDS_ACTION), waiting]
    assert set().union(*groups) == set(RecordStatus)
    assert sum(len(g) for g in groups) == len(RecordStatus)


def test_the_named_groups_agree_with_each_other() -> None:
    # What needs a person is retryable, except a choice between candidates: sending the
    # record again would not choose for them.
    assert set(NEEDS_ACTION) - set(UNDECIDED) <= set(RETRYABLE)
    assert set(UNDECIDED) <= set(NEEDS_ACTION) and not set(UNDECIDED) & set(RETRYABLE)
    assert not set(RETRYABLE) & {RecordStatus.SUCCEEDED, RecordStatus.PENDING}
    assert set(PRUNABLE) <= set(SETTLED)
    assert RecordStatus.UNKNOWN in IN_FLIGHT and RecordStatus.PENDING in IN_FLIGHT
    assert set(COUNTED) == {
        RecordStatus.SUCCEEDED,
        RecordStatus.SKIPPED,
        RecordStatus.FAILED,
        *UNDECIDED,
    }
    assert RecordStatus.LINKED in TARGET_KNOWN and RecordStatus.LINKED not in NEEDS_ACTION


# Two or more statuses spelt out together: a group defined again outside the ledger model.
SPELT_OUT = re.compile(r"RecordStatus\.[A-Z]+\s*,\s*RecordStatus\.[A-Z]+")


def test_no_module_spells_out_a_group_of_statuses_again() -> None:
    ledger = ROOT / "clarity" / "models" / "ledger.py"
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for package in ("clarity", "portal")
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != ledger and "migrations" not in path.parts
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if SPELT_OUT.search(line)
    ]
    assert offenders == []
