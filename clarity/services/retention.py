"""Keeping the ledger to a size: pruning old successes per pair.

Capping huge payloads happens as each row is saved (clarity/sync/payloads.py).

Pruning walks the primary key in ranges of ``batch_size`` and deletes each range
in its own short transaction: row locks on at most one batch at a time, never a
table lock, so workers keep writing outcomes while it runs. Only succeeded and
skipped rows go; failed, pending, unknown, resolved and ignored rows stay, as
does every row of a pair whose retention is blank (the default: forever).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from clarity.models import AuditEvent, IntegrationPair, SyncRecord
from clarity.models.ledger import PRUNABLE

logger = logging.getLogger(__name__)


def ledger_prune(*, now: datetime | None = None, batch_size: int = 5000) -> int:
    """Delete succeeded and skipped ledger rows older than their pair's retention.

    Returns how many rows were deleted. A row is old when both its creation and
    its last change are before the pair's cut-off, so a record that succeeded
    yesterday after failing for a month is kept for the full period. Rows with
    an audit trail (a person retried, edited or resolved them) are kept too.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    now = now or timezone.now()
    cutoffs = {
        pair_id: now - timedelta(days=days)
        for pair_id, days in IntegrationPair.objects.filter(
            retention_days__isnull=False
        ).values_list("pk", "retention_days")
    }
    if not cutoffs:
        return 0
    # Bounds by index probes: the lowest key, and the key of the newest row created
    # before the latest cut-off (plus a batch: keys and creation times are only
    # nearly in the same order; each row's own times are checked anyway).
    low = _first_pk_from(None)
    newest_expired = (
        SyncRecord.objects.filter(created_at__lt=max(cutoffs.values()))
        .order_by("-created_at")
        .values_list("pk", flat=True)
        .first()
    )
    if low is None or newest_expired is None:
        return 0
    high = newest_expired + batch_size
    sql, params = _delete_sql(cutoffs)
    deleted = 0
    start: int | None = low
    while start is not None and start <= high:
        end = start + batch_size
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [start, end, *params])
            deleted += max(cursor.rowcount, 0)
        start = _first_pk_from(end)  # jumps over gaps left by earlier prunes
    if deleted:
        logger.info("ledger_prune: deleted %s expired ledger rows", deleted)
    return deleted


def _delete_sql(cutoffs: dict[int, datetime]) -> tuple[str, list[Any]]:
    """One key range's DELETE; parameters after the range's two bounds.

    Plain SQL, not ``QuerySet.delete()``: that would first load every row of the
    batch, payloads and all, to cascade to audit events — and a row a person
    retried or edited keeps its audit trail, so it is not deleted at all.
    """
    ledger = connection.ops.quote_name(SyncRecord._meta.db_table)
    audit = connection.ops.quote_name(AuditEvent._meta.db_table)
    per_pair = " OR ".join(
        ["(r.pair_id = %s AND r.created_at < %s AND r.updated_at < %s)"] * len(cutoffs)
    )
    params: list[Any] = [str(status) for status in PRUNABLE]
    for pair_id, cutoff in sorted(cutoffs.items()):
        moment = connection.ops.adapt_datetimefield_value(cutoff)
        params += [pair_id, moment, moment]
    sql = f"""
        DELETE FROM {ledger} AS r
        WHERE r.id >= %s AND r.id < %s
          AND r.status IN ({", ".join(["%s"] * len(PRUNABLE))})
          AND ({per_pair})
          AND NOT EXISTS (SELECT 1 FROM {audit} AS a WHERE a.record_id = r.id)
    """  # noqa: S608 - table names come from the models, every value is a parameter
    return sql, params


def _first_pk_from(start: int | None) -> int | None:
    rows = SyncRecord.objects.order_by("pk")
    if start is not None:
        rows = rows.filter(pk__gte=start)
    return rows.values_list("pk", flat=True).first()
