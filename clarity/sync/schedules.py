"""Each flow's cron schedule as a job in RQ's scheduler, registered from the database.

Saving a flow (re)registers its next run at once, so an edited schedule takes
effect without a restart. The scheduled job carries the id it was registered
under; one left behind by an edit finds a different id on the flow and does
nothing. The sweeper re-registers any schedule whose job Redis no longer has.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from croniter import croniter
from django.db import transaction
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from clarity.models import Flow, Trigger
from clarity.services.runs import flow_run_enqueue
from clarity.sync.queues import DEFAULT_QUEUE, get_queue


def next_fire(cron: str, *, after: datetime | None = None) -> datetime:
    base = after or datetime.now(UTC)
    return croniter(cron.strip(), base).get_next(datetime)


def flow_schedule_register(*, flow: Flow) -> str:
    """Cancel the flow's scheduled job and schedule its next run; returns the new job id."""
    queue = get_queue(DEFAULT_QUEUE)
    if flow.schedule_job_id:
        job = Job.fetch_many([flow.schedule_job_id], connection=queue.connection)[0]
        if job is not None:
            job.cancel()
            job.delete()
    job_id = ""
    if flow.enabled and flow.trigger_schedule and flow.schedule_cron.strip():
        job_id = f"schedule-{flow.pk}-{uuid.uuid4().hex[:12]}"
        queue.enqueue_at(
            next_fire(flow.schedule_cron), "clarity.jobs.scheduled_run", flow.pk, job_id,
            job_id=job_id,
        )  # fmt: skip
    Flow.objects.filter(pk=flow.pk).update(schedule_job_id=job_id)
    flow.schedule_job_id = job_id
    return job_id


def flow_schedule_fire(*, flow_id: int, job_id: str) -> bool:
    """The scheduled moment came: run the flow and register the next one."""
    with transaction.atomic():
        flow = Flow.objects.select_for_update().filter(pk=flow_id).first()
        if flow is None or flow.schedule_job_id != job_id:
            return False
        if flow.enabled:
            flow_run_enqueue(flow=flow, trigger=Trigger.SCHEDULE)
    flow_schedule_register(flow=flow)
    return True


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
