"""Targeted runs: events that name records queue one run reading just those, coalesced."""

from __future__ import annotations

import pytest

from clarity.models import RunStatus, SyncRun, Trigger
from clarity.services.runs import flow_run_enqueue
from clarity.sync.queues import get_queue, pair_queue_name
from tests.factories import FlowFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def flow():
    flow = FlowFactory(trigger_webhook=True)
    get_queue(pair_queue_name(flow.pair_id)).empty()
    return flow


def queued_jobs(flow) -> list[str]:
    return get_queue(pair_queue_name(flow.pair_id)).get_job_ids()


def test_events_close_together_make_one_run_for_the_union_of_their_ids(
    flow, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        runs = {
            flow_run_enqueue(flow=flow, trigger=Trigger.WEBHOOK, record_ids=[f"C{n}", "C0"]).pk
            for n in range(100)
        }
    assert len(runs) == 1 and len(queued_jobs(flow)) == 1
    run = SyncRun.objects.get()
    assert run.targeted and run.target_ids == sorted({f"C{n}" for n in range(100)})
    assert run.target_field == ""


def test_a_poll_wanted_meanwhile_widens_the_waiting_run_to_a_poll(flow):
    flow_run_enqueue(flow=flow, trigger=Trigger.WEBHOOK, record_ids=["C1"])
    flow_run_enqueue(flow=flow, trigger=Trigger.SCHEDULE)
    # ...and a targeted trigger afterwards does not narrow it again.
    flow_run_enqueue(flow=flow, trigger=Trigger.WEBHOOK, record_ids=["C2"])
    run = SyncRun.objects.get()
    assert run.target_ids is None and not run.targeted


@pytest.mark.parametrize(
    "second",
    [
        {"record_ids": ["C2"], "key_field": "Invoice.InvoiceID"},  # ids of another kind
        {"record_ids": [f"K{n}" for n in range(200)]},  # past the bound together
        {"record_ids": []},  # an event naming nothing: a poll
    ],
)
def test_what_one_targeted_run_cannot_read_makes_it_a_poll(flow, second):
    flow_run_enqueue(flow=flow, trigger=Trigger.WEBHOOK, record_ids=["C1"])
    flow_run_enqueue(flow=flow, trigger=Trigger.WEBHOOK, **second)
    assert SyncRun.objects.get().target_ids is None


def test_more_ids_than_the_bound_poll_at_once(flow, settings):
    settings.CLARITY_TARGETED_RUN_MAX_IDS = 3
    run = flow_run_enqueue(flow=flow, trigger=Trigger.WEBHOOK, record_ids=["a", "b", "c", "d"])
    assert run.target_ids is None
    assert SyncRun.objects.get(pk=run.pk).target_ids is None


def test_ids_arriving_once_the_run_started_get_a_run_of_their_own(flow):
    first = flow_run_enqueue(flow=flow, trigger=Trigger.WEBHOOK, record_ids=["C1"])
    SyncRun.objects.filter(pk=first.pk).update(status=RunStatus.RUNNING)  # a worker took it
    second = flow_run_enqueue(flow=flow, trigger=Trigger.WEBHOOK, record_ids=["C2"])
    assert second.pk != first.pk and second.target_ids == ["C2"]
    assert SyncRun.objects.get(pk=first.pk).target_ids == ["C1"]  # what it read stays


def test_a_retry_run_is_neither_joined_by_nor_turned_into_a_targeted_run(flow):
    retry = flow_run_enqueue(flow=flow, trigger=Trigger.RETRY)
    targeted = flow_run_enqueue(flow=flow, trigger=Trigger.WEBHOOK, record_ids=["C1"])
    assert targeted.pk != retry.pk and targeted.target_ids == ["C1"]
    assert flow_run_enqueue(flow=flow, trigger=Trigger.RETRY, record_ids=["X"]).pk == retry.pk
    assert SyncRun.objects.get(pk=retry.pk).target_ids is None
