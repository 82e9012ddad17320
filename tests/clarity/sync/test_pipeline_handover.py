"""Handing a flow over to its next waiting run when a run ends (pipeline._hand_over): a run
whose only job is a deferred one — a worker's lease attempt fell just before the release
and it deferred the run by BUSY_DEFER_SECONDS while the ending run looked — starts now,
not 15 s later (the stall benchmarks/realtime_latency.py showed), on a real Redis."""

from __future__ import annotations

from datetime import timedelta

import pytest

from clarity.models import RunStatus, SyncRun, Trigger
from clarity.sync.pipeline import BUSY_DEFER_SECONDS, _hand_over
from clarity.sync.queues import RUN_FLOW, get_queue, pair_queue_name, run_job_id
from tests.factories import FlowFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def waiting(django_capture_on_commit_callbacks):
    flow = FlowFactory(trigger_webhook=True)
    queue = get_queue(pair_queue_name(flow.pair_id))
    queue.empty()
    run = SyncRun.objects.create(flow=flow, trigger=Trigger.WEBHOOK, status=RunStatus.QUEUED)
    return flow, run, queue


def runs_due_now(queue) -> list[int]:
    return [job.args[0] for job in queue.jobs if job.func_name == RUN_FLOW]


def test_a_run_left_with_only_a_deferred_job_is_started_now(
    waiting, django_capture_on_commit_callbacks
):
    flow, run, queue = waiting
    # What the deferring worker left: its job due in BUSY_DEFER_SECONDS (not_before was
    # read as unset by the ending run, before the deferring worker wrote it).
    queue.enqueue_in(timedelta(seconds=BUSY_DEFER_SECONDS), RUN_FLOW, run.pk,
                     job_id=run_job_id(run.pk))  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        _hand_over(flow)
    assert runs_due_now(queue) == [run.pk]


def test_a_run_whose_job_waits_in_the_queue_gets_no_second_one(
    waiting, django_capture_on_commit_callbacks
):
    flow, run, queue = waiting
    queue.enqueue(RUN_FLOW, run.pk, job_id=run_job_id(run.pk))
    with django_capture_on_commit_callbacks(execute=True):
        _hand_over(flow)
    assert runs_due_now(queue) == [run.pk]
