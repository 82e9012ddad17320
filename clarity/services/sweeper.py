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
from clarity.models.ledger import IN_FLIGHT
from clarity.services.maintenance import maintenance_tick
from clarity.services.runs import PairNotLaunched, flow_run_enqueue
from clarity.sync.queues import (
    DEFAULT_QUEUE,
    RUN_FLOW,
    enqueue,
    pair_queue_name,
    run_job_id,
    run_jobs_pending,
)
from clarity.sync.reconciliation import reconciliation_schedules_ensure
from clarity.sync.schedules import schedules_ensure


def stale_queued() -> timedelta:
    """A queued run's job should have started by now; if not, Redis may have lost it."""
    return timedelta(seconds=float(getattr(settings, "CLARITY_STALE_QUEUED_SECONDS", 120.0)))


def runs_lost(*, now: datetime) -> list[tuple[int, int]]:
    """``(run id, pair id)`` of the unfinished runs no RQ job will ever run.

    A queued run older than :func:`stale_queued` whose wait (``not_before``,
    set when it was deferred) is over, and a running run whose flow lease
    expired (its worker is gone) — each only when Redis holds no job for it
    still to start: none waiting in its queue, none scheduled (a deferred
    run's job sits there until its Retry-After). Lost means Redis emptied, the
    job deleted, or its worker killed; a run merely waiting keeps its one job.
    """
    candidates = list(
        SyncRun.objects.filter(
            Q(status=RunStatus.RUNNING)
            & (Q(flow__locked_until__isnull=True) | Q(flow__locked_until__lt=now))
            | Q(status=RunStatus.QUEUED, created_at__lt=now - stale_queued())
            & (Q(not_before__isnull=True) | Q(not_before__lte=now))
        ).values_list("pk", "flow__pair_id")
    )
    pending: dict[int, dict[int, set[str]]] = {}
    for _run_id, pair_id in candidates:
        if pair_id not in pending:
            pending[pair_id] = run_jobs_pending(pair_queue_name(pair_id))
    return [(run_id, pair_id) for run_id, pair_id in candidates if run_id not in pending[pair_id]]


def sweep() -> dict[str, int]:
    """Enqueue again what PostgreSQL says is unfinished; returns what it found.

    A run abandoned by a killed worker stays ``running`` with a flow lease
    nobody renews: once the lease expired it is enqueued again here, and the
    next worker continues it from the ledger. Enqueuing twice is harmless —
    the flow lease lets one job run it and the other defers or finds it done —
    but each extra job costs a worker a turn, so a run gets one only when it
    has none (see :func:`runs_lost`).
    """
    now = timezone.now()
    orphaned = runs_lost(now=now)
    for run_id, pair_id in orphaned:
        enqueue(pair_queue_name(pair_id), RUN_FLOW, run_id, job_id=run_job_id(run_id))
    busy = set(
        SyncRun.objects.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).values_list(
            "flow_id", flat=True
        )
    )
    due_flows = set(
        SyncRecord.objects.filter(
            Q(status=RecordStatus.PENDING, claimed_until__isnull=True)
            | Q(status__in=IN_FLIGHT, claimed_until__lt=now)
            | Q(status=RecordStatus.UNKNOWN, claimed_until__isnull=True)
            | Q(status=RecordStatus.FAILED, error_kind=ErrorKind.TRANSIENT, next_retry_at__lte=now)
        )
        .values_list("flow_id", flat=True)
        .distinct()
    )
    retried = 0
    for flow in Flow.objects.filter(pk__in=due_flows - busy, enabled=True):
        try:
            flow_run_enqueue(flow=flow, trigger=Trigger.RETRY)
        except PairNotLaunched:
            continue  # its records wait for the pair's Launch
        retried += 1
    return {
        "orphaned_runs": len(orphaned),
        "retry_runs": retried,
        "webhook_events": webhook_events_requeue(now=now),
        "schedules": schedules_ensure(),
        "reconciliation_schedules": reconciliation_schedules_ensure(),
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
