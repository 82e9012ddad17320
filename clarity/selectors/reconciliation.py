"""Reads of reconciliation results: counts per kind, and findings as the export writes them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import Count, Q, QuerySet

from clarity.models import FindingKind, ReconciliationFinding, ReconciliationRun
from clarity.selectors.exports import CHUNK_ROWS, cell_text


def reconciliation_kind_counts(*, run: ReconciliationRun) -> list[tuple[str, str, int, int]]:
    """(kind, label, findings, of them still open) for each kind the run found."""
    rows = (
        run.findings.values("kind")
        .annotate(n=Count("id"), open=Count("id", filter=Q(acknowledged_at__isnull=True)))
        .values_list("kind", "n", "open")
    )
    found = {kind: (n, still_open) for kind, n, still_open in rows}
    return [(kind, label, *found[kind]) for kind, label in FindingKind.choices if kind in found]


FINDING_HEADERS = (
    "Run",
    "Flow",
    "Kind",
    "Period",
    "Business key",
    "Source id",
    "Target id",
    "Source value",
    "Target value",
    "Fields that differ",
    "Ledger record",
    "Message",
    "Acknowledged at",
    "Acknowledged by",
    "Note",
)


def reconciliation_export_rows(
    *, findings: QuerySet[ReconciliationFinding]
) -> Iterator[tuple[Any, ...]]:
    """The findings' rows for the export, read a chunk at a time off a server-side cursor."""
    labels = dict(FindingKind.choices)
    columns = (
        "run_id", "flow__name", "kind", "period", "business_key", "source_id", "target_id",
        "source_value", "target_value", "field_diff", "record_id", "message",
        "acknowledged_at", "acknowledged_by__username", "acknowledged_note",
    )  # fmt: skip
    for row in findings.values_list(*columns).iterator(chunk_size=CHUNK_ROWS):
        values = list(row)
        values[2] = labels.get(values[2], values[2])
        values[9] = "; ".join(
            f"{d.get('field')}: {d.get('source')!r} → {d.get('target')!r}" for d in values[9] or []
        )
        yield tuple(cell_text(v) for v in values)
