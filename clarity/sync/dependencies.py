"""Record dependencies: point a failed record at the failed record it depends on.

An invoice whose customer never reached Xero fails there with "contact does not
exist". That message alone sends a finance user hunting; the answer is usually
in the ledger already — the customer's own record, failed with its own reason
(a duplicate name, a bad email). ``dependency_hint`` finds that record in the
flow of the same pair that feeds the referenced entity and says so in one
sentence with the record's id, so the admin can link to it.

Which error codes mean such a missing reference is each system's to say
(``connectors/<system>/dependencies.py``, gathered through ``connectors.registry``);
a code is read in the table of the system the record was sent to, so two systems may
use one code for different things. Plain functions over the ledger: no connector, no
HTTP. Cheap when nothing applies (no query unless some system declares the code).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from django.urls import NoReverseMatch, reverse

from clarity.models import Flow, RecordStatus, SyncRecord
from clarity.models.ledger import NEEDS_ACTION
from clarity.sync.keys import field_text
from connectors.dependencies import Dependency
from connectors.registry import SYSTEMS, dependencies_of


@dataclass(frozen=True)
class DependencyHint:
    """What a finance user reads, and the record to link to (None: nothing in the ledger)."""

    sentence: str
    reference: str
    record_id: int | None = None
    url: str = ""


def dependency_hint(record: SyncRecord) -> DependencyHint | None:
    """For a record that failed because a record it refers to is missing in the target,
    the ledger record of that referenced record (in the flow of the same pair that
    writes it) and why it is not there; None when the failure is of another kind."""
    dependency = record_dependency(record)
    if dependency is None:
        return None
    reference = _reference(record, dependency)
    if not reference:
        return None
    flows = list(
        Flow.objects.filter(
            pair_id=record.pair_id, target_entity__in=dependency.target_entities
        ).exclude(pk=record.flow_id)
    )
    if not flows:
        return DependencyHint(
            f"No flow of this pair sends {dependency.what}s to the target, so "
            f"{dependency.what} {reference} has to be created there by hand first.",
            reference,
        )
    found = _referenced_record(flows, reference)
    names = " or ".join(f"'{f.name}'" for f in flows)
    if found is None:
        return DependencyHint(
            f"The {dependency.what} {reference} has not been read by flow {names}: check that "
            f"it exists in the source system, then run that flow and retry this record.",
            reference,
        )
    url = _admin_url(found.pk)
    if found.status == RecordStatus.SUCCEEDED:
        sentence = (
            f"The {dependency.what} {reference} was sent since (ledger record #{found.pk}, "
            f"flow '{found.flow.name}'): retry this record."
        )
    elif found.status in NEEDS_ACTION:
        reason = found.message.strip() or "no reason recorded"
        sentence = (
            f"The {dependency.what} {reference} did not reach the target: its own ledger record "
            f"#{found.pk} (flow '{found.flow.name}') failed: {reason} "
            f"Fix that record first, then retry this one."
        )
    else:
        sentence = (
            f"The {dependency.what} {reference} is ledger record #{found.pk} "
            f"(flow '{found.flow.name}'), which is {found.status}; once it has been sent, "
            f"retry this record."
        )
    return DependencyHint(sentence, reference, found.pk, url)


def record_dependency(record: SyncRecord) -> Dependency | None:
    """What the failed record's error code means is missing, in the table of the system
    the record was sent to; None when that system declares no such meaning for it."""
    code = record.error_code or ""
    if not code or not any(code in dependencies_of(name) for name in SYSTEMS):
        return None
    system = (
        Flow.objects.filter(pk=record.flow_id)
        .values_list("target_connection__system", flat=True)
        .first()
    )
    return dependencies_of(system or "").get(code)


def _reference(record: SyncRecord, dependency: Dependency) -> str:
    sent: Any = record.payload_override or record.transformed_payload or {}
    for path in dependency.reference_paths:
        value = field_text(sent, path) if isinstance(sent, dict) else ""
        if value.strip():
            return value.strip()
    return ""


def _referenced_record(flows: list[Flow], reference: str) -> SyncRecord | None:
    """The newest ledger record of the referenced source record, in any of ``flows``.

    Matched on the source id (a SYSPRO customer code is the ContactNumber sent to
    Xero) or on the target reference the feeding flow sends (its
    ``target_reference_field``, e.g. InvoiceNumber SO-100001 for order 100001).
    """
    match = Q()
    for flow in flows:
        by_flow = Q(source_id=reference)
        if flow.target_reference_field:
            lookup = "transformed_payload__" + flow.target_reference_field.replace(".", "__")
            by_flow |= Q(**{lookup: reference})
        match |= Q(flow=flow) & by_flow
    return SyncRecord.objects.filter(match).select_related("flow").order_by("-pk").first()


def _admin_url(record_id: int) -> str:
    try:
        return reverse("admin:clarity_syncrecord_change", args=[record_id])
    except NoReverseMatch:
        return ""
