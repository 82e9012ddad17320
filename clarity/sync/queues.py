"""One RQ queue per integration pair, plus ``default``; jobs are JSON, enqueued after commit."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import django_rq
from django.db import transaction
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer

DEFAULT_QUEUE = "default"
JOB_TIMEOUT = 3600
RUN_FLOW = "clarity.jobs.run_flow"
PENDING = {JobStatus.QUEUED.value, JobStatus.SCHEDULED.value}


def pair_queue_name(pair_id: int) -> str:
    return f"pair-{pair_id}"


def get_queue(name: str) -> Queue:
    return Queue(
        name,
        connection=django_rq.get_connection(DEFAULT_QUEUE),
        serializer=JSONSerializer,
        default_timeout=JOB_TIMEOUT,
    )


def queue_names(pair_ids: Iterable[int]) -> list[str]:
    """Pair queues first: a worker drains sync work before housekeeping."""
    return [*(pair_queue_name(pk) for pk in sorted(pair_ids)), DEFAULT_QUEUE]


def enqueue(
    queue_name: str,
    func: str,
    *args: Any,
    delay: timedelta | None = None,
    job_id: str | None = None,
) -> None:
    """Enqueue once the surrounding transaction commits, so a job never sees uncommitted rows."""

    def send() -> None:
        queue = get_queue(queue_name)
        if delay:
            queue.enqueue_in(delay, func, *args, job_id=job_id)
        else:
            queue.enqueue(func, *args, job_id=job_id)

    transaction.on_commit(send)


def run_job_id(run_id: int) -> str:
    """A ``run_flow`` job's id names its run, so its run is known without loading the job."""
    return f"run_flow-{run_id}-{uuid.uuid4().hex}"


def _run_of(job_id: str) -> int | None:
    prefix, _, rest = job_id.partition("-")
    run, _, _ = rest.partition("-")
    return int(run) if prefix == "run_flow" and run.isdigit() else None


def run_jobs_pending(queue_name: str, *, scheduled: bool = True) -> dict[int, set[str]]:
    """The ``run_flow`` jobs of one queue still to start, by run id.

    Waiting in the queue (or just taken from it by a worker) and, unless
    ``scheduled`` is False, scheduled for later (a deferred run's job, due after
    its Retry-After). A job a worker has
    started is not counted: a live one holds its flow's lease, and a killed
    worker's stays "started" in RQ for a minute and more. A job enqueued without
    :func:`run_job_id` (by hand, by older code) is recognised by its function
    and argument.
    """
    queue = get_queue(queue_name)
    connection = queue.connection
    ids = [*queue.get_job_ids(), *connection.lrange(queue.intermediate_queue_key, 0, -1)]
    if scheduled:
        ids += ScheduledJobRegistry(queue=queue).get_job_ids(cleanup=False)
    ids = list(dict.fromkeys(i.decode() if isinstance(i, bytes) else i for i in ids))
    # By the job's own status: an id whose job data is gone (deleted, expired) is a
    # lost job, and one a worker took stays listed as taken until RQ's cleanup.
    with connection.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.hget(Job.key_for(job_id), "status")
        statuses = pipe.execute()
    live: dict[int, set[str]] = {}
    unnamed = []
    for job_id, status in zip(ids, statuses, strict=True):
        if (status.decode() if isinstance(status, bytes) else status) not in PENDING:
            continue
        run = _run_of(job_id)
        if run is None:
            unnamed.append(job_id)
        else:
            live.setdefault(run, set()).add(job_id)
    if unnamed:
        jobs = Job.fetch_many(unnamed, connection=connection, serializer=JSONSerializer)
        for job in jobs:
            run = _run_arg(job) if job is not None else None
            if run is not None:
                live.setdefault(run, set()).add(job.id)
    return live


def _run_arg(job: Job) -> int | None:
    try:
        func, args = job.func_name, job.args
    except Exception:  # an unreadable job is nobody's run
        return None
    return args[0] if func == RUN_FLOW and args and isinstance(args[0], int) else None
