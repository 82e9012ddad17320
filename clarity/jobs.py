"""RQ entry points: thin, JSON-serialisable arguments (ids); the work is in services and sync."""

from __future__ import annotations

import os
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from clarity.models import Flow, SyncRun
from clarity.services.flows import flow_pause, flow_schedule_fire
from clarity.services.reconciliation import (
    reconciliation_nightly_fire,
    reconciliation_run_execute,
)
from clarity.services.sweeper import sweep
from clarity.sync.pipeline import FlowPaused, RunDeferred, flow_run_execute
from clarity.sync.queues import RUN_FLOW, enqueue, pair_queue_name, run_job_id, run_jobs_pending
from clarity.sync.validation import validate_run_execute
from clarity.webhooks.services import webhook_events_process


def run_flow(run_id: int) -> str:
    profile_dir = os.environ.get("CLARITY_PROFILE_DIR")
    if not profile_dir:
        return _run_flow(run_id)
    # A switch for performance work: each job's cProfile stats, one file per job.
    import cProfile
    import uuid

    profiler = cProfile.Profile()
    try:
        return profiler.runcall(_run_flow, run_id)
    finally:
        profiler.dump_stats(os.path.join(profile_dir, f"run_flow-{run_id}-{uuid.uuid4().hex}.prof"))


def _run_flow(run_id: int) -> str:
    try:
        return flow_run_execute(run_id=run_id).status
    except FlowPaused as paused:
        # The run failed with the reason; the flow stops until a person reconnects it.
        flow_pause(flow=Flow.objects.get(pk=paused.flow_id), reason=paused.reason)
        return f"paused: {paused.reason}"
    except RunDeferred as deferred:
        # Reschedule instead of sleeping in the worker (a 429's Retry-After, a busy flow).
        # PostgreSQL keeps until when the run waits: should Redis lose the job, the
        # sweeper enqueues it again then, not before (clarity/services/sweeper.py).
        seconds = max(1.0, deferred.seconds)
        not_before = timezone.now() + timedelta(seconds=seconds)
        SyncRun.objects.filter(Q(not_before__isnull=True) | Q(not_before__lt=not_before),
                               pk=run_id).update(not_before=not_before)  # fmt: skip
        pair_id = SyncRun.objects.values_list("flow__pair_id", flat=True).get(pk=run_id)
        queue_name = pair_queue_name(pair_id)
        if run_id in run_jobs_pending(queue_name):
            # Another job of this run waits already (enqueued twice): one pending job per run.
            return f"deferred {deferred.seconds:.0f}s: {deferred.reason} (another job has it)"
        enqueue(queue_name, RUN_FLOW, run_id, delay=timedelta(seconds=seconds),
                job_id=run_job_id(run_id))  # fmt: skip
        return f"deferred {deferred.seconds:.0f}s: {deferred.reason}"


def scheduled_run(flow_id: int, job_id: str) -> bool:
    return flow_schedule_fire(flow_id=flow_id, job_id=job_id)


def reconcile(run_id: int) -> str:
    return reconciliation_run_execute(run_id=run_id).status


def reconciliation_nightly(pair_id: int, job_id: str) -> bool:
    return reconciliation_nightly_fire(pair_id=pair_id, job_id=job_id)


def validate_flow(run_id: int) -> str:
    return validate_run_execute(run_id=run_id).status


def sweep_now() -> dict[str, int]:
    return sweep()


def process_webhook_events(event_ids: list[int]) -> int:
    return webhook_events_process(event_ids=event_ids)
