"""RQ entry points: thin, JSON-serialisable arguments (ids), the work is in clarity.sync."""

from __future__ import annotations

import os
from datetime import timedelta

from clarity.models import SyncRun
from clarity.sync.pipeline import RunDeferred, flow_run_execute
from clarity.sync.queues import enqueue, pair_queue_name
from clarity.sync.schedules import flow_schedule_fire
from clarity.sync.sweeper import sweep
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
    except RunDeferred as deferred:
        # Reschedule instead of sleeping in the worker (a 429's Retry-After, a busy flow).
        pair_id = SyncRun.objects.values_list("flow__pair_id", flat=True).get(pk=run_id)
        enqueue(
            pair_queue_name(pair_id),
            "clarity.jobs.run_flow",
            run_id,
            delay=timedelta(seconds=max(1.0, deferred.seconds)),
        )
        return f"deferred {deferred.seconds:.0f}s: {deferred.reason}"


def scheduled_run(flow_id: int, job_id: str) -> bool:
    return flow_schedule_fire(flow_id=flow_id, job_id=job_id)


def sweep_now() -> dict[str, int]:
    return sweep()


def process_webhook_events(event_ids: list[int]) -> int:
    return webhook_events_process(event_ids=event_ids)
