"""A run is admitted twice: when it is queued and when a worker takes it up. Between the
two a person may pause the flow, or point its pair at a production system (which then
awaits Launch); the worker then reads and writes nothing and the run says why (real
PostgreSQL, Redis and sandboxes)."""

from __future__ import annotations

import pytest

from clarity.jobs import run_flow
from clarity.models import RunStatus, SyncRecord, Trigger
from clarity.services.flows import flow_pause, flow_unpause
from clarity.services.runs import flow_run_enqueue
from clarity.sync.admission import run_refusal
from connectors.models import Environment

pytestmark = pytest.mark.django_db(transaction=True)


def requests_to(syspro_xero) -> int:
    return sum(int(syspro_xero[name].stats()["requests"]) for name in ("syspro", "xero"))


def test_a_run_queued_before_its_flow_was_paused_reads_and_writes_nothing(syspro_xero):
    flow = syspro_xero["flow"]
    run = flow_run_enqueue(flow=flow, trigger=Trigger.MANUAL)
    flow_pause(flow=flow, reason="Mapping under review")
    before = requests_to(syspro_xero)

    assert run_flow(run.pk) == RunStatus.FAILED
    run.refresh_from_db()
    assert run.message == f"Not run: Flow '{flow.name}' is disabled: Mapping under review"
    assert run.finished_at is not None
    assert requests_to(syspro_xero) == before
    assert not SyncRecord.objects.filter(flow=flow).exists()

    # Enabled again, the flow's next run does the work.
    flow_unpause(flow=flow, user=None)
    flow.refresh_from_db()
    again = flow_run_enqueue(flow=flow, trigger=Trigger.MANUAL)
    assert run_flow(again.pk) in (RunStatus.SUCCEEDED, RunStatus.PARTIAL)  # seed's bad rows
    assert SyncRecord.objects.filter(flow=flow, status="succeeded").exists()


def test_a_run_queued_before_its_pair_went_to_production_waits_for_launch(syspro_xero):
    flow = syspro_xero["flow"]
    run = flow_run_enqueue(flow=flow, trigger=Trigger.MANUAL)
    target = flow.target_connection
    target.environment = Environment.PRODUCTION
    target.save()
    before = requests_to(syspro_xero)

    assert run_flow(run.pk) == RunStatus.FAILED
    run.refresh_from_db()
    assert run.message.startswith(f"Not run: Launch the pair '{flow.pair.name}' first")
    assert requests_to(syspro_xero) == before
    assert not SyncRecord.objects.filter(flow=flow).exists()


def test_an_enabled_flow_of_a_sandbox_pair_may_run(syspro_xero):
    assert run_refusal(syspro_xero["flow"]) is None
