"""Each flow's cron schedule as a job in RQ's scheduler, registered from the database.

Every change to a flow (clarity/services/flows.py) (re)registers its next run
once committed, so an edited schedule takes effect without a restart; the flow
services also fire the scheduled job (``flow_schedule_fire``). The scheduled
job carries the id it was registered under; one left behind by an edit finds a
different id on the flow and does nothing. The sweeper re-registers any
schedule whose job Redis no longer has.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from croniter import croniter
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from clarity.models import Flow
from clarity.sync.queues import DEFAULT_QUEUE, get_queue


def next_fire(cron: str, *, after: datetime | None = None) -> datetime:
    base = after or datetime.now(UTC)
    return croniter(cron.strip(), base).get_next(datetime)


def schedule_wanted(flow: Flow) -> bool:
    """Whether the flow should have a job in the scheduler: enabled, scheduled, with a cron."""
    return flow.enabled and flow.trigger_schedule and bool(flow.schedule_cron.strip())


def flow_schedule_register(*, flow: Flow) -> str:
    """Cancel the flow's scheduled job and schedule its next run; returns the new job id."""
    queue = get_queue(DEFAULT_QUEUE)
    if flow.schedule_job_id:
        job = Job.fetch_many([flow.schedule_job_id], connection=queue.connection)[0]
        if job is not None:
            job.cancel()
            job.delete()
    job_id = ""
    if schedule_wanted(flow):
        job_id = f"schedule-{flow.pk}-{uuid.uuid4().hex[:12]}"
        queue.enqueue_at(
            next_fire(flow.schedule_cron), "clarity.jobs.scheduled_run", flow.pk, job_id,
            job_id=job_id,
        )  # fmt: skip
    Flow.objects.filter(pk=flow.pk).update(schedule_job_id=job_id)
    flow.schedule_job_id = job_id
    return job_id


def schedules_ensure() -> int:
    """Register every scheduled flow whose job is missing from Redis; returns how many."""
    queue = get_queue(DEFAULT_QUEUE)
    present = set(ScheduledJobRegistry(queue=queue).get_job_ids())
    missing = [
        flow
        for flow in Flow.objects.filter(enabled=True, trigger_schedule=True)
        if flow.schedule_job_id not in present
    ]
    for flow in missing:
        flow_schedule_register(flow=flow)
    return len(missing)
