"""Recording what became of ledger rows: failures with backoff, successes, saving in bulk."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from clarity.models import ErrorKind, RecordStatus, SyncRecord
from clarity.services.health import ledger_outcomes_count
from clarity.services.retention import record_payloads_cap
from clarity.sync import bulk

MAX_ATTEMPTS = 6
MAX_BACKOFF = 3600.0

SAVED_FIELDS = [
    "status",
    "target_id",
    "error_kind",
    "error_code",
    "message",
    "attempts",
    "next_retry_at",
    "transformed_payload",
    "target_response",
    "mapping_version",
    "claimed_by",
    "claimed_until",
    "run",
    "updated_at",
]


def backoff(attempts: int) -> timedelta:
    """Exponential backoff with full jitter, so retries of many records don't arrive together."""
    # The base is a setting (CLARITY_RETRY_BACKOFF_SECONDS, 30 s) so chaos tests can retry fast.
    base = float(getattr(settings, "CLARITY_RETRY_BACKOFF_SECONDS", 30.0))
    ceiling = min(MAX_BACKOFF, base * 2 ** max(attempts - 1, 0))
    return timedelta(seconds=ceiling / 2 + random.uniform(0, ceiling / 2))


def mark_failed(row: SyncRecord, *, kind: str, code: str, message: str, raw: Any = None) -> None:
    row.status = RecordStatus.FAILED
    row.error_kind = kind
    row.error_code = str(code)[:100]
    row.message = message
    if raw is not None:
        row.target_response = raw
    row.next_retry_at = (
        timezone.now() + backoff(row.attempts)
        if kind == ErrorKind.TRANSIENT and row.attempts < MAX_ATTEMPTS
        else None
    )


def mark_succeeded(row: SyncRecord, *, target_id: str, raw: Any = None) -> None:
    row.status = RecordStatus.SUCCEEDED
    row.target_id = target_id[:200]
    row.error_kind = row.error_code = row.message = ""
    row.next_retry_at = None
    row.target_response = raw


def mark_skipped(row: SyncRecord, *, reason: str) -> None:
    row.status = RecordStatus.SKIPPED
    row.message = reason
    row.error_kind = row.error_code = ""
    row.next_retry_at = None


def save(rows: Sequence[SyncRecord]) -> None:
    """Write a batch's outcomes at once; a success resolves the same record's older failures."""
    if not rows:
        return
    now = timezone.now()
    for row in rows:
        row.claimed_by = ""
        row.claimed_until = None
        row.updated_at = now
        record_payloads_cap(row)
    succeeded = [r for r in rows if r.status == RecordStatus.SUCCEEDED]
    with transaction.atomic():
        bulk.rows_update(rows, SAVED_FIELDS)
        _resolve_older_failures(succeeded, now=now)
        ledger_outcomes_count(rows=rows, at=now)


def _resolve_older_failures(rows: Iterable[SyncRecord], *, now: Any) -> None:
    by_flow: dict[int, dict[str, int]] = {}
    for row in rows:
        by_flow.setdefault(row.flow_id, {})[row.source_id] = row.pk
    for flow_id, latest in by_flow.items():
        stale = SyncRecord.objects.filter(
            flow_id=flow_id,
            source_id__in=list(latest),
            status__in=[RecordStatus.FAILED, RecordStatus.UNKNOWN],
        ).exclude(pk__in=list(latest.values()))
        stale.update(
            status=RecordStatus.RESOLVED,
            resolved_at=now,
            resolution_note="Resolved by itself: a later sync of this record succeeded.",
            next_retry_at=None,
            updated_at=now,
        )
