"""Reads of validate runs: the counts a report page shows, the rows its export writes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.db.models import Count, QuerySet

from clarity.models import ValidateOutcome, ValidateRecord, ValidateRun
from clarity.selectors.exports import CHUNK_ROWS, cell_text

# (header, the column or joined name it is read from)
VALIDATE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("run", "run_id"),
    ("flow", "run__flow__name"),
    ("source id", "source_id"),
    ("part", "part"),
    ("business key", "business_key"),
    ("outcome", "outcome"),
    ("since previous run", "since_previous"),
    ("target id", "target_id"),
    ("error kind", "error_kind"),
    ("error code", "error_code"),
    ("message", "message"),
    ("differences", "differences"),
    ("would send", "transformed_payload"),
    ("acknowledged note", "acknowledged_note"),
)
VALIDATE_HEADERS = tuple(header for header, _ in VALIDATE_COLUMNS)
_JSON_COLUMNS = {"differences", "transformed_payload"}


def validate_records_export_rows(*, records: QuerySet[ValidateRecord]) -> Iterator[tuple[Any, ...]]:
    """The selected report rows in the queryset's order; differences and payloads as JSON
    text (exact: read back with ``json.loads``)."""
    columns = [column for _, column in VALIDATE_COLUMNS]
    json_at = {i for i, column in enumerate(columns) if column in _JSON_COLUMNS}
    for row in records.values_list(*columns).iterator(chunk_size=CHUNK_ROWS):
        yield tuple(
            (_json(value) if i in json_at else cell_text(value)) for i, value in enumerate(row)
        )


def _json(value: Any) -> str:
    return "" if value in (None, {}) else json.dumps(value, sort_keys=True, ensure_ascii=False)


def validate_outcome_counts(*, records: QuerySet[ValidateRecord]) -> dict[str, int]:
    """``{outcome: records}`` of the selection, every outcome present (0 where none)."""
    counts = dict.fromkeys(ValidateOutcome.values, 0)
    for outcome, number in (
        records.order_by()
        .values_list("outcome")
        .annotate(n=Count("id"))
        .values_list("outcome", "n")
    ):
        counts[outcome] = number
    return counts


def validate_run_counts(*, run: ValidateRun) -> dict[str, int]:
    """``{outcome: records}`` of one run, from the counts it keeps (no scan of its records)."""
    return {
        ValidateOutcome.WOULD_CREATE: run.would_create_count,
        ValidateOutcome.WOULD_UPDATE: run.would_update_count,
        ValidateOutcome.UNCHANGED: run.unchanged_count,
        ValidateOutcome.WOULD_SKIP: run.would_skip_count,
        ValidateOutcome.WOULD_FAIL: run.would_fail_count,
    }


def validate_run_summary(*, run: ValidateRun) -> str:
    """What changed since the previous run, in one sentence ("" for a flow's first run)."""
    if run.previous_id is None:
        return ""
    parts = [f"{run.fixed_count} would-fail fixed"]
    if run.gone_count:
        parts.append(f"{run.gone_count} would-fail no longer read")
    parts.append(f"{run.new_count} new would-fail")
    return f"Since validate run #{run.previous_id}: {', '.join(parts)}."
