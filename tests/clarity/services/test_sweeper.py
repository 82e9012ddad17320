"""The sweeper gives a run a job only when Redis lost it, and only once its wait is over.

A run deferred by an open circuit breaker (or a 429) has one scheduled job,
due after its Retry-After; PostgreSQL keeps until when (``SyncRun.not_before``).
Real PostgreSQL, Redis and the SYSPRO and Xero sandboxes; the jobs are called
as a worker calls them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rq.job import Job
from rq.registry import ScheduledJobRegistry, StartedJobRegistry

from clarity import jobs
from clarity.models import Flow, RunStatus, SyncRun, Trigger
from clarity.services.sweeper import sweep
from clarity.sync.locks import flow_lease_acquire
from clarity.sync.queues import get_queue, pair_queue_name, run_jobs_pending
from connectors.configs import connector_for
from connectors.models import Connection

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 600  # the breaker's cool-down: far longer than the test


def pair_queue(flow: Flow):
    return get_queue(pair_queue_name(flow.pair_id))


@pytest.fixture
def flow(syspro_xero: dict[str, Any]):
    flow = syspro_xero["flow"]
    queue = pair_queue(flow)
    keys = [
        queue.key,
        queue.intermediate_queue_key,
        ScheduledJobRegistry(queue=queue).key,
        StartedJobRegistry(queue=queue).key,
    ]
    queue.connection.delete(*keys)  # a pair id an earlier test run used leaves no jobs here
    yield flow
    queue.connection.delete(*keys)


def jobs_of(flow: Flow) -> list[str]:
    """Every job of the pair's queue still to run: waiting or scheduled (and not lost)."""
    queue = pair_queue(flow)
    ids = [*queue.get_job_ids(), *ScheduledJobRegistry(queue=queue).get_job_ids(cleanup=False)]
    return [i for i in ids if queue.connection.exists(Job.key_for(i))]


def open_breaker(connection: Connection) -> None:
    """Other workers met Xero failing: its shared breaker is open for ``WAIT`` seconds."""
    settings = {**connection.settings, "circuit_breaker": {"threshold": 3, "cooldown": WAIT}}
    Connection.objects.filter(pk=connection.pk).update(settings=settings)
    connection.refresh_from_db()
    breaker = connector_for(connection).breaker
    assert breaker is not None
    for _ in range(3):
        breaker.failed(breaker.before_call(), "server error, HTTP 503")


def deferred_run(flow: Flow) -> SyncRun:
    """A run whose job (taken from the queue by a worker) met the open breaker."""
    open_breaker(flow.target_connection)
    run = SyncRun.objects.create(flow=flow, trigger=Trigger.MANUAL, status=RunStatus.QUEUED)
    assert jobs._run_flow(run.pk).startswith("deferred")
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED
    assert run.not_before is not None
    assert run.not_before > timezone.now() + timedelta(seconds=WAIT - 60)
    # Long enough ago that the sweeper would call its job lost, wait or not.
    SyncRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(hours=1))
    return run


def test_a_deferred_run_keeps_its_one_scheduled_job_however_often_the_sweeper_runs(flow):
    run = deferred_run(flow)
    scheduled = jobs_of(flow)
    assert len(scheduled) == 1
    assert set(run_jobs_pending(pair_queue_name(flow.pair_id))) == {run.pk}

    for _ in range(5):
        assert sweep()["orphaned_runs"] == 0
    assert jobs_of(flow) == scheduled

    # Even with its wait over, a run whose job is still scheduled gets no second one.
    SyncRun.objects.filter(pk=run.pk).update(not_before=timezone.now() - timedelta(seconds=1))
    assert sweep()["orphaned_runs"] == 0
    assert jobs_of(flow) == scheduled


def test_a_job_finding_the_flow_busy_does_not_reschedule_when_its_run_has_a_job_pending(flow):
    run = deferred_run(flow)
    scheduled = jobs_of(flow)
    # Another run holds the flow: a second job of this run (enqueued twice) defers …
    assert flow_lease_acquire(flow_id=flow.pk, owner="another-worker")
    assert "another job has it" in jobs._run_flow(run.pk)
    # … and adds nothing: the run's scheduled job is its one live job.
    assert jobs_of(flow) == scheduled


@pytest.mark.parametrize("lost", ["job deleted", "job data expired", "redis emptied"])
def test_a_run_whose_job_redis_lost_is_enqueued_again_once_its_wait_is_over(flow, lost):
    run = deferred_run(flow)
    [job_id] = jobs_of(flow)
    queue = pair_queue(flow)
    job = queue.fetch_job(job_id)
    if lost == "job deleted":
        job.delete()
    elif lost == "job data expired":
        queue.connection.delete(job.key)  # its id is still in the scheduled registry
    else:
        queue.connection.flushdb()
    assert run_jobs_pending(pair_queue_name(flow.pair_id)) == {}

    # Still waiting for the breaker: nothing yet.
    assert sweep()["orphaned_runs"] == 0
    assert jobs_of(flow) == []

    SyncRun.objects.filter(pk=run.pk).update(not_before=timezone.now() - timedelta(seconds=1))
    assert sweep()["orphaned_runs"] == 1
    # An id whose data expired may still sit in the queue's list: RQ drops it unread.
    [again] = [job_id for job_id in queue.get_job_ids() if queue.fetch_job(job_id)]
    assert queue.fetch_job(again).args == [run.pk]
    # One job, not one per sweep.
    assert sweep()["orphaned_runs"] == 0
    assert jobs_of(flow) == [again]


def test_a_running_run_whose_worker_died_is_enqueued_again_once(flow):
    run = SyncRun.objects.create(flow=flow, trigger=Trigger.MANUAL, status=RunStatus.RUNNING)
    # Its worker was killed: the flow lease expired, its job says "started" in vain.
    Flow.objects.filter(pk=flow.pk).update(
        locked_by="dead-worker", locked_until=timezone.now() - timedelta(seconds=1)
    )
    queue = pair_queue(flow)
    started = StartedJobRegistry(queue=queue)
    queue.connection.zadd(started.key, {f"run_flow-{run.pk}-dead:execution": 2**40})

    assert sweep()["orphaned_runs"] == 1
    assert sweep()["orphaned_runs"] == 0
    [again] = queue.get_job_ids()
    assert queue.fetch_job(again).args == [run.pk]
