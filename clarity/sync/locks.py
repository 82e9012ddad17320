"""Leases in PostgreSQL: one worker runs a flow, one worker pushes a record, at a time.

A lease is a conditional UPDATE, so it works the same on PostgreSQL and SQLite
and survives a Redis that lost everything. A worker killed mid-run leaves a
lease that simply expires; the sweeper then hands the work to another.

The durations come from settings (``CLARITY_FLOW_LEASE_SECONDS``,
``CLARITY_CLAIM_SECONDS``) so tests can use seconds where production keeps
minutes. A live worker never lets its lease lapse: ``LeaseKeeper`` renews it
from a thread while the run works, so a slow batch (a rate-limit wait, a
timing-out target) is not mistaken for a dead worker — only a dead process
stops renewing.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db import connections
from django.db.models import Q
from django.utils import timezone

from clarity.models import Flow, SyncRecord

logger = logging.getLogger(__name__)


def flow_lease() -> timedelta:
    return timedelta(seconds=float(getattr(settings, "CLARITY_FLOW_LEASE_SECONDS", 120.0)))


def claim_lease() -> timedelta:
    return timedelta(seconds=float(getattr(settings, "CLARITY_CLAIM_SECONDS", 300.0)))


def new_owner() -> str:
    return uuid.uuid4().hex


def flow_lease_acquire(*, flow_id: int, owner: str) -> bool:
    now = timezone.now()
    return bool(
        Flow.objects.filter(pk=flow_id)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now) | Q(locked_by=owner))
        .update(locked_by=owner, locked_until=now + flow_lease())
    )


def flow_lease_renew(*, flow_id: int, owner: str) -> bool:
    return bool(
        Flow.objects.filter(pk=flow_id, locked_by=owner).update(
            locked_until=timezone.now() + flow_lease()
        )
    )


def flow_lease_release(*, flow_id: int, owner: str) -> None:
    Flow.objects.filter(pk=flow_id, locked_by=owner).update(locked_by="", locked_until=None)


class LeaseKeeper:
    """Renews a run's flow lease, and the claims on the batch being sent, from a thread.

    Why: the leases are how a dead worker is told from a slow one. Renewing
    only between batches made a batch slower than the lease (retries of a
    timing-out target, a long rate-limit wait) look abandoned, and another
    worker could take the flow and send the same records. The thread uses its
    own database connection and stops with the run; when the process is
    killed it stops too, and the leases expire as they should.
    """

    def __init__(self, *, flow_id: int, owner: str) -> None:
        self.flow_id = flow_id
        self.owner = owner
        self.lost = False
        self._claimed: list[int] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, ids: Iterable[int]) -> None:
        """The record ids whose claims to keep alive (the batch in flight)."""
        with self._lock:
            self._claimed = list(ids)

    def start(self) -> LeaseKeeper:
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        interval = max(0.2, min(flow_lease(), claim_lease()).total_seconds() / 3)
        try:
            while not self._stop.wait(interval):
                try:
                    self._renew()
                except Exception:  # a database outage: the run itself will notice
                    logger.warning("could not renew the lease of flow %s", self.flow_id)
                    connections["default"].close()
        finally:
            connections.close_all()

    def _renew(self) -> None:
        if not flow_lease_renew(flow_id=self.flow_id, owner=self.owner):
            self.lost = True
            return
        with self._lock:
            ids = list(self._claimed)
        if ids:
            SyncRecord.objects.filter(pk__in=ids, claimed_by=self.owner).update(
                claimed_until=timezone.now() + claim_lease()
            )
