"""Retry runs, end to end: a real worker, PostgreSQL, Redis and both sandboxes."""

from __future__ import annotations

import pytest
from django.urls import reverse

from clarity.models import RecordStatus, SyncRecord, SyncRun, Trigger
from clarity.services.runs import flow_run_enqueue
from tests.clarity.sync.test_e2e import run_worker

pytestmark = pytest.mark.django_db(transaction=True)

LEDGER = reverse("admin:clarity_syncrecord_changelist")


def test_a_retry_run_counts_and_lists_exactly_the_records_retried(syspro_xero, finance_client):
    flow = syspro_xero["flow"]
    flow_run_enqueue(flow=flow, trigger=Trigger.MANUAL)
    run_worker(flow.pair_id)
    chosen = list(
        SyncRecord.objects.filter(flow=flow, status=RecordStatus.SUCCEEDED)
        .order_by("id")
        .values_list("pk", flat=True)[:100]
    )
    # As if they had failed: a lookup fixed since, say.
    SyncRecord.objects.filter(pk__in=chosen).update(
        status=RecordStatus.FAILED, error_kind="data", error_code="lookup_missing"
    )
    finance_client.post(
        LEDGER, {"action": "retry_selected", "_selected_action": chosen}, follow=True
    )
    run_worker(flow.pair_id)
    retry = SyncRun.objects.filter(flow=flow, trigger=Trigger.RETRY).get()
    assert (retry.total_count, retry.done_count, retry.skipped_count) == (100, 100, 0), (
        retry.total_count,
        retry.succeeded_count,
        retry.skipped_count,
        retry.failed_count,
    )
    listed = finance_client.get(LEDGER, {"run": retry.pk})
    assert {r.pk for r in listed.context["cl"].result_list} == set(chosen)
