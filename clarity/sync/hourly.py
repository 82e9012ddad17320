"""Keeping the health dashboard's hourly counters: one upsert per saved batch."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from django.db import connection
from django.utils import timezone

from clarity.models import LedgerHourlyCount, SyncRecord
from clarity.models.ledger import COUNTED


def hour_of(moment: datetime) -> datetime:
    """The start of the hour a moment falls in: the counters' bucket."""
    return moment.replace(minute=0, second=0, microsecond=0)


def ledger_outcomes_count(*, rows: Iterable[SyncRecord], at: datetime | None = None) -> None:
    """Add a batch's saved outcomes to the hourly counters the dashboard reads.

    Call it in the transaction that saves the outcomes, so a rolled-back batch
    counts nothing. Pending and unknown rows are not outcomes yet and are left
    out. One INSERT … ON CONFLICT per batch, whatever its size; the rows are
    written in key order so two workers never wait on each other in a cycle.
    """
    counts = Counter((row.flow_id, row.status) for row in rows if row.status in COUNTED)
    if not counts:
        return
    hour = connection.ops.adapt_datetimefield_value(hour_of(at or timezone.now()))
    params: list[object] = []
    for (flow_id, status), count in sorted(counts.items()):
        params += [hour, flow_id, str(status), count]
    table = LedgerHourlyCount._meta.db_table
    values = ", ".join(["(%s, %s, %s, %s)"] * len(counts))
    sql = f"""
        INSERT INTO {table} (hour, flow_id, status, count) VALUES {values}
        ON CONFLICT (hour, flow_id, status) DO UPDATE SET count = {table}.count + EXCLUDED.count
    """  # noqa: S608 - the table name comes from the model, every value is a parameter
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
