"""Real RQ workers for end-to-end tests, shared by every use-case fixture."""

from __future__ import annotations

import time

from clarity.models import IntegrationPair, RunStatus, SyncRun
from clarity.sync.queues import get_queue, queue_names
from clarity.worker import JSONWorker


def work_until_idle(pair: IntegrationPair, *, timeout: float) -> None:
    """Burst workers until no run of the pair is waiting.

    A run deferred by a rate limit sits in RQ's scheduled registry; it is moved
    back onto its queue when due, as RQ's scheduler would.
    """
    queues = [get_queue(name) for name in queue_names([pair.pk])]
    deadline = time.monotonic() + timeout
    while True:
        JSONWorker(queues, connection=queues[0].connection).work(burst=True)
        active = SyncRun.objects.filter(
            flow__pair=pair, status__in=[RunStatus.QUEUED, RunStatus.RUNNING]
        )
        if not active.exists():
            return
        assert time.monotonic() < deadline, f"runs still waiting: {list(active.values())}"
        for queue in queues:
            registry = queue.scheduled_job_registry
            for job_id in registry.get_job_ids():
                job = queue.fetch_job(job_id)
                if job is not None:
                    registry.remove(job)
                    queue.enqueue_job(job)
        time.sleep(0.2)
