"""The pipeline's hand-over: a run that waited because another run held its flow starts
the moment that run ends, not after its deferral (real PostgreSQL, Redis and sandboxes)."""

from __future__ import annotations

import pytest

from clarity.jobs import run_flow
from clarity.models import RunStatus, SyncRun, Trigger
from clarity.services.runs import flow_run_enqueue
from clarity.sync.locks import flow_lease_acquire, flow_lease_release
from clarity.sync.pipeline import flow_run_execute
from clarity.sync.queues import get_queue, pair_queue_name

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_run_deferred_behind_a_busy_flow_starts_when_that_run_ends(syspro_xero):
    flow = syspro_xero["flow"]
    queue = get_queue(pair_queue_name(flow.pair_id))
    queue.empty()
    assert flow_lease_acquire(flow_id=flow.pk, owner="another worker")
    waiting = flow_run_enqueue(flow=flow, trigger=Trigger.WEBHOOK)
    queue.empty()
    assert run_flow(waiting.pk).startswith("deferred 15s")
    waiting.refresh_from_db()
    assert waiting.not_before is not None and not queue.get_job_ids()  # due in 15 s
    flow_lease_release(flow_id=flow.pk, owner="another worker")

    # The run that held the flow: here one already running when the trigger came.
    running = SyncRun.objects.create(flow=flow, trigger=Trigger.MANUAL, status=RunStatus.QUEUED)
    assert flow_run_execute(run_id=running.pk).status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL)

    waiting.refresh_from_db()
    assert waiting.status == RunStatus.QUEUED and waiting.not_before is None
    [job] = queue.get_jobs()
    assert list(job.args) == [waiting.pk]


def test_a_run_being_deferred_as_the_holder_ends_is_started_too(syspro_xero):
    """The race: its worker found the flow busy and is about to defer it (its job is no
    longer pending, its delay not yet written) just as the holder ends."""
    flow = syspro_xero["flow"]
    queue = get_queue(pair_queue_name(flow.pair_id))
    waiting = flow_run_enqueue(flow=flow, trigger=Trigger.WEBHOOK)
    queue.empty()  # its job was taken by a worker
    running = SyncRun.objects.create(flow=flow, trigger=Trigger.MANUAL, status=RunStatus.QUEUED)
    flow_run_execute(run_id=running.pk)
    [job] = queue.get_jobs()
    assert list(job.args) == [waiting.pk]


def test_a_waiting_run_whose_job_is_queued_gets_no_second_job(syspro_xero):
    flow = syspro_xero["flow"]
    queue = get_queue(pair_queue_name(flow.pair_id))
    queue.empty()
    waiting = flow_run_enqueue(flow=flow, trigger=Trigger.WEBHOOK)
    running = SyncRun.objects.create(flow=flow, trigger=Trigger.MANUAL, status=RunStatus.QUEUED)
    flow_run_execute(run_id=running.pk)
    assert [list(job.args) for job in queue.get_jobs()] == [[waiting.pk]]
