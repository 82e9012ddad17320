"""SYSPRO customers → Xero contacts: real RQ worker, Redis, PostgreSQL and both sandboxes."""

from __future__ import annotations

import pytest
from django.db.models import Count

from clarity.models import RecordStatus, RunStatus, SyncRecord, SyncRun, Trigger
from clarity.services.runs import flow_run_enqueue
from clarity.sync.queues import get_queue, queue_names
from clarity.worker import JSONWorker

pytestmark = pytest.mark.django_db(transaction=True)


def run_worker(pair_id: int) -> None:
    queues = [get_queue(name) for name in queue_names([pair_id])]
    for queue in queues:
        assert queue.serializer.__name__ == "JSONSerializer"
    JSONWorker(queues, connection=queues[0].connection).work(burst=True)


def created(control, entity: str = "Contacts") -> int:
    return control.stats().get("created", {}).get(entity, 0)


def statuses(flow) -> dict[str, int]:
    rows = SyncRecord.objects.filter(flow=flow).values("status").annotate(n=Count("id"))
    return {row["status"]: row["n"] for row in rows}


def test_customers_reach_xero_once_and_updates_update(syspro_xero):
    flow = syspro_xero["flow"]
    xero = syspro_xero["xero"]
    before = created(xero)

    run = flow_run_enqueue(flow=flow, trigger=Trigger.MANUAL)
    run_worker(flow.pair_id)
    run.refresh_from_db()
    assert run.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL), run.message
    counts = statuses(flow)
    read = sum(counts.values())
    assert read == 320  # every customer SYSPRO has is in the ledger
    assert counts[RecordStatus.SUCCEEDED] == created(xero) - before
    assert run.total_count == read
    # The two SYSPRO customers with one name collide in Xero: one fails, readably.
    duplicate = SyncRecord.objects.filter(flow=flow, status=RecordStatus.FAILED).first()
    assert duplicate is not None
    assert duplicate.error_kind == "data"
    assert "Harbour View Trading" in duplicate.message
    flow.refresh_from_db()
    assert flow.cursor  # moved only after outcomes were stored

    # A re-run creates nothing new.
    sent = created(xero)
    second = flow_run_enqueue(flow=flow, trigger=Trigger.MANUAL)
    run_worker(flow.pair_id)
    second.refresh_from_db()
    assert created(xero) == sent
    assert SyncRecord.objects.filter(flow=flow).count() == read
    assert second.status == RunStatus.SUCCEEDED

    # The cursor set back (a backfill) re-reads everything and still sends nothing twice.
    type(flow).objects.filter(pk=flow.pk).update(cursor="")
    flow_run_enqueue(flow=flow, trigger=Trigger.MANUAL)
    run_worker(flow.pair_id)
    assert created(xero) == sent
    last = SyncRun.objects.filter(flow=flow).order_by("-id").first()
    assert last.skipped_count >= counts[RecordStatus.SUCCEEDED]
