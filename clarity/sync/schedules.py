"""Each flow's cron schedule or adaptive poll as a job in RQ's scheduler, registered from
the database.

An adaptive poll (``Flow.poll_adaptive``) has no cron: its next poll comes after an
interval between the flow's shortest and longest. One rule sets it: any run that read
the source and found changes — a poll, or a targeted run a webhook or the doorbell
started — brings the interval back to the shortest as it finishes, and the next poll
with it (``poll_interval_after_run``); a poll that fires when nothing was found since the
last one doubles it (``poll_interval_adapt``).

Every change to a flow (clarity/services/flows.py) (re)registers its next run
once committed, so an edited schedule takes effect without a restart; the flow
services also fire the scheduled job (``flow_schedule_fire``). The scheduled
job carries the id it was registered under; one left behind by an edit finds a
different id on the flow and does nothing. The sweeper re-registers any
schedule whose job Redis no longer has.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

import redis.exceptions
from croniter import croniter
from django.db import models, transaction
from django.db.models import Q
from rq import exceptions as rq_exceptions
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from clarity.models import Flow, SyncRun, Trigger
from clarity.sync.admission import launch_refusal
from clarity.sync.queues import DEFAULT_QUEUE, get_queue

logger = logging.getLogger(__name__)


def next_fire(cron: str, *, after: datetime | None = None) -> datetime:
    base = after or datetime.now(UTC)
    return croniter(cron.strip(), base).get_next(datetime)


def schedule_wanted(flow: Flow) -> bool:
    """Whether the flow should have a job in the scheduler: enabled, and polling adaptively
    or scheduled with a cron — and its pair launched if it is a production pair (until
    then its runs are refused anyway; Launch registers the schedules)."""
    if not flow.enabled:
        return False
    if not (flow.poll_adaptive or (flow.trigger_schedule and bool(flow.schedule_cron.strip()))):
        return False
    return launch_refusal(pair_id=flow.pair_id) is None


def poll_interval_next(*, current: int | None, minimum: int, maximum: int, changed: bool) -> int:
    """An adaptive poll's next interval in seconds: back to ``minimum`` when the last poll
    found changes (more are likely to follow), else twice the current one up to ``maximum``
    (a quiet source is asked less and less often, within a bound)."""
    maximum = max(minimum, maximum)
    if changed or current is None:
        return minimum
    return min(max(current, minimum) * 2, maximum)


def _read_changes(runs: models.QuerySet[SyncRun]) -> models.QuerySet[SyncRun]:
    """The runs that read the source and found changes (a retry run reads nothing)."""
    return runs.exclude(trigger=Trigger.RETRY).filter(total_count__gt=0)


def poll_interval_adapt(*, flow: Flow) -> int:
    """Set an adaptive flow's interval as its poll fires; returns it.

    The last poll is the flow's newest scheduled run; while it is still queued or running
    nothing new is known and the interval stays as it is. Otherwise it is the shortest when
    the last poll, or any run since (before the first poll: any run), found changes, and
    doubles when none did.
    """
    last = flow.runs.filter(trigger=Trigger.SCHEDULE).order_by("-pk").first()
    if last is not None and last.active:
        interval = flow.poll_interval_seconds or flow.poll_min_seconds
    else:
        since = flow.runs.filter(pk__gte=last.pk) if last is not None else flow.runs.all()
        changed = _read_changes(since).exists()
        interval = poll_interval_next(
            current=flow.poll_interval_seconds,
            minimum=flow.poll_min_seconds,
            maximum=flow.poll_max_seconds,
            changed=changed,
        )
    interval = min(max(interval, flow.poll_min_seconds), max(flow.poll_max_seconds, 1))
    if interval != flow.poll_interval_seconds:
        Flow.objects.filter(pk=flow.pk).update(poll_interval_seconds=interval)
        flow.poll_interval_seconds = interval
    return interval


def poll_interval_after_run(*, run: SyncRun) -> bool:
    """A run of an adaptive flow that found changes — a poll, or a targeted run an event
    or the doorbell started — brings the next poll to the shortest interval from now: more
    changes are likely to follow, and they should not wait out a backed-off interval.
    Returns whether the next poll moved. Redis down only leaves the old job in place (the
    interval is stored; the next registration uses it)."""
    if not run.flow.poll_adaptive or not _read_changes(SyncRun.objects.filter(pk=run.pk)).exists():
        return False
    with transaction.atomic():
        flow = Flow.objects.select_for_update().filter(pk=run.flow_id, poll_adaptive=True).first()
        if flow is None:
            return False
        interval = poll_interval_next(
            current=flow.poll_interval_seconds,
            minimum=flow.poll_min_seconds,
            maximum=flow.poll_max_seconds,
            changed=True,
        )
        Flow.objects.filter(pk=flow.pk).update(poll_interval_seconds=interval)
        flow.poll_interval_seconds = interval
    try:
        due = _scheduled_at(flow.schedule_job_id)
        if due is not None and due <= _next_moment(flow):
            return False  # it comes sooner anyway
        flow_schedule_register(flow=flow)
    except redis.exceptions.RedisError:
        logger.warning("flow %s: next poll not moved sooner (Redis unreachable)", flow.pk)
        return False
    return True


def _scheduled_at(job_id: str) -> datetime | None:
    """When the scheduled job ``job_id`` fires; None when none waits in the scheduler."""
    if not job_id:
        return None
    try:
        return ScheduledJobRegistry(queue=get_queue(DEFAULT_QUEUE)).get_scheduled_time(job_id)
    except rq_exceptions.NoSuchJobError:
        return None


def polling_mode(flow: Flow) -> str:
    """How the flow is started, in words for the dashboard and the flow page."""
    ways = []
    if flow.poll_adaptive:
        now = flow.poll_interval_seconds or flow.poll_min_seconds
        ways.append(
            f"adaptive poll every {now}s now "
            f"({flow.poll_min_seconds}s while changes come, up to {flow.poll_max_seconds}s idle)"
        )
    elif flow.trigger_schedule and flow.schedule_cron.strip():
        ways.append(f"scheduled ({flow.schedule_cron.strip()})")
    if flow.trigger_webhook:
        ways.append("on events" + (" (filtered)" if flow.event_filter else ""))
    if not ways:
        ways.append("manual runs only" if flow.trigger_manual else "never")
    return "; ".join(ways)


def _next_moment(flow: Flow) -> datetime:
    """When the flow's next scheduled run fires: its interval from now when it polls
    adaptively (the shortest before its first poll), else its cron's next time."""
    if flow.poll_adaptive:
        seconds = flow.poll_interval_seconds or flow.poll_min_seconds
        seconds = min(max(seconds, flow.poll_min_seconds), max(flow.poll_max_seconds, 1))
        return datetime.now(UTC) + timedelta(seconds=seconds)
    return next_fire(flow.schedule_cron)


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
            _next_moment(flow), "clarity.jobs.scheduled_run", flow.pk, job_id,
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
        for flow in Flow.objects.filter(
            Q(trigger_schedule=True) | Q(poll_adaptive=True), enabled=True
        )
        if schedule_wanted(flow) and flow.schedule_job_id not in present
    ]
    for flow in missing:
        flow_schedule_register(flow=flow)
    return len(missing)
