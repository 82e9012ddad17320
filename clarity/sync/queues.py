"""One RQ queue per integration pair, plus ``default``; jobs are JSON, enqueued after commit."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import django_rq
from django.db import transaction
from rq import Queue
from rq.serializers import JSONSerializer

DEFAULT_QUEUE = "default"
JOB_TIMEOUT = 3600


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
