"""Reads of flow runs."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from clarity.models import SyncRun


def sync_runs_filter(
    *,
    pair_id: int | None = None,
    flow_id: int | None = None,
    status: str = "",
    trigger: str = "",
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> QuerySet[SyncRun]:
    """Runs narrowed the way the runs admin narrows them, plus pair, flow and a date range."""
    exact = {
        "flow__pair_id": pair_id,
        "flow_id": flow_id,
        "status": status,
        "trigger": trigger,
        "created_at__gte": created_after,
        "created_at__lt": created_before,
    }
    return SyncRun.objects.filter(**{k: v for k, v in exact.items() if v not in (None, "")})
