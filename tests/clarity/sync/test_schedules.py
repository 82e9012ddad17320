"""Adaptive polling: every few seconds while changes come, backing off while idle, within
the flow's bounds; registered in RQ's scheduler (a real Redis) like a cron schedule."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from rq.registry import ScheduledJobRegistry

from clarity.models import Flow, RunStatus, SyncRun, Trigger
from clarity.services.flows import flow_schedule_fire, flow_update
from clarity.services.runs import flow_run_enqueue
from clarity.sync.pipeline import flow_run_execute
from clarity.sync.queues import DEFAULT_QUEUE, get_queue
from clarity.sync.schedules import flow_schedule_register, poll_interval_next, schedules_ensure
from connectors.configs import connector_for
from tests.factories import FlowFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("current", "changed", "expected"),
    [
        (None, False, 5),
        (5, False, 10),
        (40, False, 60),
        (60, False, 60),
        (60, True, 5),
        (2, False, 10),
    ],
)
def test_the_interval_doubles_while_idle_and_drops_back_when_changes_come(
    current, changed, expected
):
    assert poll_interval_next(current=current, minimum=5, maximum=60, changed=changed) == expected


def scheduled_in(flow: Flow) -> float:
    """Seconds from now until the flow's registered job fires."""
    registry = ScheduledJobRegistry(queue=get_queue(DEFAULT_QUEUE))
    return registry.get_scheduled_time(flow.schedule_job_id).timestamp() - time.time()


def finish_last_poll(flow: Flow, *, read: int) -> None:
    SyncRun.objects.filter(flow=flow, status=RunStatus.QUEUED).update(
        status=RunStatus.SUCCEEDED, total_count=read
    )


@pytest.fixture
def adaptive(django_capture_on_commit_callbacks):
    get_queue(DEFAULT_QUEUE).empty()
    flow = FlowFactory(trigger_schedule=False, trigger_manual=True)
    with django_capture_on_commit_callbacks(execute=True):
        flow = flow_update(
            flow=flow,
            data={"poll_adaptive": True, "poll_min_seconds": 5, "poll_max_seconds": 40},
            user=None,
        )
    return flow


def fire(flow: Flow) -> Flow:
    flow.refresh_from_db()
    assert flow_schedule_fire(flow_id=flow.pk, job_id=flow.schedule_job_id)
    flow.refresh_from_db()
    return flow


def test_an_idle_source_is_polled_less_and_less_and_a_busy_one_every_few_seconds(adaptive):
    flow = adaptive
    assert flow.schedule_job_id and 3 < scheduled_in(flow) <= 5  # first poll: the shortest
    seen = []
    for _ in range(5):
        flow = fire(flow)
        seen.append(flow.poll_interval_seconds)
        assert flow.poll_interval_seconds - 2 < scheduled_in(flow) <= flow.poll_interval_seconds
        finish_last_poll(flow, read=0)
    assert seen == [5, 10, 20, 40, 40]  # the first poll's result is not known yet at first
    last = SyncRun.objects.filter(flow=flow).latest("pk")
    SyncRun.objects.filter(pk=last.pk).update(total_count=7)  # the last poll found changes
    flow = fire(flow)
    assert flow.poll_interval_seconds == 5 and scheduled_in(flow) <= 5
    assert SyncRun.objects.filter(flow=flow, trigger=Trigger.SCHEDULE).count() == 6


def test_a_poll_still_running_keeps_the_interval(adaptive):
    flow = fire(fire(adaptive))
    assert flow.poll_interval_seconds == 5  # the first poll never finished: nothing known
    SyncRun.objects.filter(flow=flow).update(status=RunStatus.RUNNING)
    assert fire(flow).poll_interval_seconds == 5


def test_the_sweeper_registers_an_adaptive_poll_whose_job_redis_lost(adaptive):
    get_queue(DEFAULT_QUEUE).connection.flushdb()
    assert schedules_ensure() == 1
    adaptive.refresh_from_db()
    assert scheduled_in(adaptive) <= 5


@pytest.mark.parametrize(
    ("values", "field", "says"),
    [
        ({"poll_adaptive": True, "trigger_schedule": True, "schedule_cron": "*/5 * * * *"},
         "poll_adaptive", "either a cron schedule or adaptive polling"),
        ({"poll_adaptive": True, "poll_min_seconds": 60, "poll_max_seconds": 30},
         "poll_max_seconds", "must be at least the shortest (60s)"),
        ({"poll_adaptive": True, "poll_min_seconds": 0}, "poll_min_seconds", "greater than"),
        ({"poll_adaptive": True, "poll_max_seconds": 90_000}, "poll_max_seconds", "less than"),
    ],
)  # fmt: skip
def test_bounds_are_checked_when_the_flow_is_saved(values, field, says):
    flow = FlowFactory()
    with pytest.raises(ValidationError) as refused:
        flow_update(flow=flow, data=values, user=None)
    assert says in " ".join(refused.value.message_dict[field])


def test_the_dashboard_shows_each_flows_polling_mode_and_interval(adaptive, operator_client):
    Flow.objects.filter(pk=adaptive.pk).update(poll_interval_seconds=20)
    FlowFactory(pair=adaptive.pair, trigger_schedule=True, schedule_cron="*/15 * * * *")
    html = operator_client.get(reverse("admin:clarity_healthdashboard_changelist")).content
    text = html.decode()
    assert "adaptive poll every 20s now (5s while changes come, up to 40s idle)" in text
    assert "scheduled (*/15 * * * *)" in text


@pytest.fixture
def backed_off(syspro_xero) -> Flow:
    """The SYSPRO → Xero flow polling adaptively, backed off to 160 s after idle polls."""
    get_queue(DEFAULT_QUEUE).empty()
    flow = syspro_xero["flow"]
    Flow.objects.filter(pk=flow.pk).update(
        trigger_schedule=False, trigger_webhook=True, poll_adaptive=True,
        poll_min_seconds=5, poll_max_seconds=300, poll_interval_seconds=160,
    )  # fmt: skip
    flow.refresh_from_db()
    flow_schedule_register(flow=flow)
    assert 150 < scheduled_in(flow) <= 160
    return flow


def customer_keys(flow: Flow, n: int) -> list[str]:
    source = connector_for(flow.source_connection)
    try:
        return [
            r["Customer"] for r in next(iter(source.read_changes("customers", None))).records[:n]
        ]
    finally:
        source.close()


def executed(flow: Flow, **how: Any) -> SyncRun:
    run = flow_run_execute(run_id=flow_run_enqueue(flow=flow, **how).pk)
    # A full poll meets the sandbox's seeded bad customers: partial, still a finished run.
    assert run.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL), run.message
    flow.refresh_from_db()
    return run


@pytest.mark.django_db(transaction=True)  # the pipeline reads ahead in a thread of its own
@pytest.mark.parametrize(
    "trigger", [Trigger.WEBHOOK, Trigger.SCHEDULE], ids=["a targeted run", "a poll"]
)
def test_a_run_that_finds_changes_brings_the_next_poll_to_the_shortest_interval(
    backed_off, trigger
):
    keys = customer_keys(backed_off, 2) if trigger == Trigger.WEBHOOK else None
    run = executed(backed_off, trigger=trigger, record_ids=keys)
    assert run.total_count == len(keys) if keys else run.total_count > 0
    assert backed_off.poll_interval_seconds == 5 and scheduled_in(backed_off) <= 5
    # The poll it brought forward keeps the shortest interval (changes came since the poll
    # before); one that found nothing since backs off again.
    flow = fire(backed_off)
    assert flow.poll_interval_seconds == 5
    finish_last_poll(flow, read=0)
    assert fire(flow).poll_interval_seconds == 10


@pytest.mark.django_db(transaction=True)
def test_a_run_that_finds_nothing_leaves_the_backed_off_poll_alone(backed_off):
    run = executed(backed_off, trigger=Trigger.WEBHOOK, record_ids=["NO-SUCH-CUSTOMER"])
    assert run.total_count == 0
    assert backed_off.poll_interval_seconds == 160 and 140 < scheduled_in(backed_off) <= 160
