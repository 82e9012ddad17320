"""Leases in PostgreSQL: one worker runs a flow, one worker pushes a record, at a time.

A lease is a conditional UPDATE, so it works the same on PostgreSQL and SQLite
and survives a Redis that lost everything. A worker killed mid-run leaves a
lease that simply expires; the sweeper then hands the work to another.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from clarity.models import Flow

FLOW_LEASE = timedelta(minutes=2)


def new_owner() -> str:
    return uuid.uuid4().hex


def flow_lease_acquire(*, flow_id: int, owner: str) -> bool:
    now = timezone.now()
    return bool(
        Flow.objects.filter(pk=flow_id)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now) | Q(locked_by=owner))
        .update(locked_by=owner, locked_until=now + FLOW_LEASE)
    )


def flow_lease_renew(*, flow_id: int, owner: str) -> bool:
    return bool(
        Flow.objects.filter(pk=flow_id, locked_by=owner).update(
            locked_until=timezone.now() + FLOW_LEASE
        )
    )


def flow_lease_release(*, flow_id: int, owner: str) -> None:
    Flow.objects.filter(pk=flow_id, locked_by=owner).update(locked_by="", locked_until=None)
