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
from clarity.models.ledger import NEEDS_ACTION
from clarity.sync import bulk, storable
from clarity.sync.hourly import ledger_outcomes_count
from clarity.sync.payloads import record_payloads_cap
from mappings.engine import ProblemKind

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


# The mapping engine keeps kinds of its own (it imports nothing of the project, so not
# the connectors' ErrorKind either); this is the one place they become the ledger's.
PROBLEM_KINDS: dict[ProblemKind, ErrorKind] = {
    ProblemKind.DATA: ErrorKind.DATA,
    ProblemKind.CONFIG: ErrorKind.CONFIG,
}


def mark_failed(row: SyncRecord, *, kind: str, code: str, message: str, raw: Any = None) -> None:
    row.status = RecordStatus.FAILED
    row.error_kind = kind
    row.error_code = str(code)[:100]
    row.message = message
    if raw is not None:
        row.target_response = raw
    row.next_retry_at = None
    if kind == ErrorKind.TRANSIENT:
        schedule_retry(row)


def schedule_retry(row: SyncRecord) -> None:
    """When a temporary failure is sent again: after a backoff, and never past the limit.

    The one place a retry time is set, so no path (a lost answer looked up and
    not found, a lapsed claim, a 5xx) can retry sooner or more often than this.
    After ``MAX_ATTEMPTS`` sends the record stops retrying by itself and waits
    for a person, and its message says so.
    """
    if row.attempts < MAX_ATTEMPTS:
        row.next_retry_at = timezone.now() + backoff(row.attempts)
        return
    row.next_retry_at = None
    row.message = (
        f"{row.message} Gave up after {row.attempts} attempts; it is no longer retried by "
        "itself. Once the cause is fixed, retry it from the ledger."
    ).strip()


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


def mark_split(row: SyncRecord, *, parts: int) -> None:
    """The source row of a split: its parts carry the outcomes, each on its own row."""
    row.status = RecordStatus.SPLIT
    row.message = (
        f"The mapping split this record into {parts} records; each is delivered as a part "
        "of its own, with its own outcome (see Parts)."
    )
    row.error_kind = row.error_code = row.target_id = ""
    row.next_retry_at = None
    row.transformed_payload = None


def save(rows: Sequence[SyncRecord]) -> None:
    """Write a batch's outcomes at once; a success resolves the same record's older failures."""
    if not rows:
        return
    now = timezone.now()
    for row in rows:
        row.claimed_by = ""
        row.claimed_until = None
        row.updated_at = now
        _storable(row)  # first: the cap measures the payloads as JSON text
        record_payloads_cap(row)
    succeeded = [r for r in rows if r.status == RecordStatus.SUCCEEDED]
    with transaction.atomic():
        bulk.rows_update(rows, SAVED_FIELDS)
        _resolve_older_failures(succeeded, now=now)
        ledger_outcomes_count(rows=rows, at=now)


def _storable(row: SyncRecord) -> None:
    """What a mapping made or a target answered is stored escaped where PostgreSQL can't hold
    it as is (a NUL, a lone surrogate, NaN): one odd answer never fails a batch's save."""
    for name in ("transformed_payload", "target_response"):
        value = getattr(row, name)
        if value is not None and storable.problems(value):
            setattr(row, name, storable.escaped(value))
    for name in ("message", "target_id", "error_code"):
        setattr(row, name, storable.escaped_text(getattr(row, name)))


def _resolve_older_failures(rows: Iterable[SyncRecord], *, now: Any) -> None:
    """Older failures of the same record end resolved; a split's parts count one by one.

    Part 1 and an unsplit record (part 0) are the same target record, as in the
    pipeline's known targets; part 2's success says nothing of part 1.
    """
    latest: dict[tuple[int, int], dict[str, int]] = {}
    for row in rows:
        latest.setdefault((row.flow_id, max(row.part, 1)), {})[row.source_id] = row.pk
    for (flow_id, part), by_source in latest.items():
        stale = SyncRecord.objects.filter(
            flow_id=flow_id,
            source_id__in=list(by_source),
            part__in=[0, 1] if part == 1 else [part],
            status__in=NEEDS_ACTION,
        ).exclude(pk__in=list(by_source.values()))
        stale.update(
            status=RecordStatus.RESOLVED,
            resolved_at=now,
            resolution_note="Resolved by itself: a later sync of this record succeeded.",
            next_retry_at=None,
            updated_at=now,
        )
