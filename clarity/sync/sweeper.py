"""RQ is only the doorbell: this puts back whatever Redis lost or a killed worker left.

Run by every worker between jobs (clarity/worker.py), at most once per interval
across all workers. It reads PostgreSQL — the truth — and enqueues: runs still
queued or running whose worker is gone, flows with ledger rows due (pending,
transient failures whose retry time came, unknown outcomes), webhook events
stored but never processed, and scheduled flows whose next scheduled job is
missing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from clarity.jobs_maintenance import maintenance_tick
from clarity.models import (
    ErrorKind,
    Flow,
    RecordStatus,
    RunStatus,
    SyncRecord,
    SyncRun,
    Trigger,
    WebhookEvent,
    WebhookStatus,
)
from clarity.services.runs import flow_run_enqueue
from clarity.sync.queues import DEFAULT_QUEUE, enqueue, pair_queue_name
from clarity.sync.schedules import schedules_ensure


def stale_queued() -> timedelta:
    """A queued run's job should have started by now; if not, Redis may have lost it."""
    return timedelta(seconds=float(getattr(settings, "CLARITY_STALE_QUEUED_SECONDS", 120.0)))


def sweep() -> dict[str, int]:
    """Enqueue again what PostgreSQL says is unfinished; returns what it found.

    A run abandoned by a killed worker stays ``running`` with a flow lease
    nobody renews: once the lease expired it is enqueued again here, and the
    next worker continues it from the ledger. Enqueuing twice is harmless —
    the flow lease lets one job run it and the other defers or finds it done.
    """
    now = timezone.now()
    orphaned = list(
        SyncRun.objects.filter(
            Q(status=RunStatus.RUNNING)
            & (Q(flow__locked_until__isnull=True) | Q(flow__locked_until__lt=now))
            | Q(status=RunStatus.QUEUED, created_at__lt=now - stale_queued())
        ).values_list("pk", "flow__pair_id")
    )
    for run_id, pair_id in orphaned:
        enqueue(pair_queue_name(pair_id), "clarity.jobs.run_flow", run_id)
    busy = set(
        SyncRun.objects.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).values_list(
            "flow_id", flat=True
        )
    )
    due_flows = set(
        SyncRecord.objects.filter(
            Q(status=RecordStatus.PENDING, claimed_until__isnull=True)
            | Q(status__in=[RecordStatus.PENDING, RecordStatus.UNKNOWN], claimed_until__lt=now)
            | Q(status=RecordStatus.UNKNOWN, claimed_until__isnull=True)
            | Q(status=RecordStatus.FAILED, error_kind=ErrorKind.TRANSIENT, next_retry_at__lte=now)
        )
        .values_list("flow_id", flat=True)
        .distinct()
    )
    retried = 0
    for flow in Flow.objects.filter(pk__in=due_flows - busy, enabled=True):
        flow_run_enqueue(flow=flow, trigger=Trigger.RETRY)
        retried += 1
    return {
        "orphaned_runs": len(orphaned),
        "retry_runs": retried,
        "webhook_events": webhook_events_requeue(now=now),
        "schedules": schedules_ensure(),
        **maintenance_tick(),
    }


# Most event ids one re-enqueued job carries; a backlog becomes several jobs.
WEBHOOK_REQUEUE_CHUNK = 500


def webhook_events_requeue(*, now: datetime) -> int:
    """Enqueue again events stored but still unprocessed; returns how many.

    An event is stored and its job enqueued in one transaction, but Redis may
    lose the job afterwards. Processing locks each event and skips processed
    ones, so an event whose job merely runs late is still processed once.
    """
    ids = list(
        WebhookEvent.objects.filter(
            status=WebhookStatus.RECEIVED, received_at__lt=now - stale_queued()
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for start in range(0, len(ids), WEBHOOK_REQUEUE_CHUNK):
        chunk = ids[start : start + WEBHOOK_REQUEUE_CHUNK]
        enqueue(DEFAULT_QUEUE, "clarity.jobs.process_webhook_events", chunk)
    return len(ids)
