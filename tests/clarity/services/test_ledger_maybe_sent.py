"""Issue #11: retrying a record that may already be in the target looks it up first.

A "maybe sent" record (its write's answer was lost) retried by a person stays
unknown, so the retry run settles it by a lookup instead of posting it again.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from clarity.models import Flow, RecordStatus, RunStatus, SyncRecord, SyncRun, Trigger
from clarity.services.ledger import (
    ledger_record_edit_and_retry,
    ledger_records_ignore,
    ledger_records_retry,
)
from clarity.services.runs import flow_run_enqueue
from clarity.sync.pipeline import flow_run_execute

pytestmark = pytest.mark.django_db(transaction=True)


def delivered_then_lost(flow: Flow, count: int) -> dict[int, str]:
    """Run the flow, then turn ``count`` delivered rows unknown, as if each write's answer
    had been lost (the contacts are in Xero); returns their target ids by row id."""
    flow_run_execute(run_id=flow_run_enqueue(flow=flow, trigger=Trigger.MANUAL).pk)
    rows = list(
        SyncRecord.objects.filter(flow=flow, status=RecordStatus.SUCCEEDED).order_by("pk")[:count]
    )
    assert len(rows) == count
    SyncRecord.objects.filter(pk__in=[r.pk for r in rows]).update(
        status=RecordStatus.UNKNOWN,
        target_id="",
        target_response=None,
        message="Sent, but the answer never came back; checking the target.",
    )
    return {r.pk: r.target_id for r in rows}


def run_the_retry(flow: Flow) -> None:
    retry = SyncRun.objects.get(flow=flow, trigger=Trigger.RETRY, status=RunStatus.QUEUED)
    flow_run_execute(run_id=retry.pk)


def test_a_retried_unknown_record_is_looked_up_not_sent_again(syspro_xero):
    flow = syspro_xero["flow"]
    lost = delivered_then_lost(flow, 3)
    created = syspro_xero["xero"].stats()["created"]["Contacts"]
    rows = SyncRecord.objects.filter(pk__in=lost)

    assert ledger_records_retry(records=rows, user=None) == (3, 0)
    assert set(rows.values_list("status", flat=True)) == {RecordStatus.UNKNOWN}
    assert not rows.filter(claimed_until__isnull=False).exists()
    run_the_retry(flow)

    assert syspro_xero["xero"].stats()["created"]["Contacts"] == created  # nothing doubled
    assert set(rows.values_list("status", flat=True)) == {RecordStatus.SUCCEEDED}
    assert dict(rows.values_list("pk", "target_id")) == lost  # found as the same contacts


def test_a_record_ignored_while_unknown_is_looked_up_too(syspro_xero, django_user_model):
    flow = syspro_xero["flow"]
    lost = delivered_then_lost(flow, 2)
    created = syspro_xero["xero"].stats()["created"]["Contacts"]
    rows = SyncRecord.objects.filter(pk__in=lost)
    user = django_user_model.objects.create_user("ops", password="x-long-password-1")
    assert ledger_records_ignore(records=rows, user=user, note="check later") == (2, 0)

    ledger_records_retry(records=rows, user=user)
    run_the_retry(flow)

    assert syspro_xero["xero"].stats()["created"]["Contacts"] == created
    assert dict(rows.values_list("pk", "target_id")) == lost


def test_an_unknown_record_cannot_be_edited_until_its_outcome_is_known(
    syspro_xero, django_user_model
):
    flow = syspro_xero["flow"]
    lost = delivered_then_lost(flow, 1)
    record = SyncRecord.objects.get(pk=next(iter(lost)))
    user = django_user_model.objects.create_user("ops", password="x-long-password-1")

    with pytest.raises(ValidationError, match="may already be in the target"):
        ledger_record_edit_and_retry(
            record=record, payload=dict(record.transformed_payload), user=user
        )
    record.refresh_from_db()
    assert record.status == RecordStatus.UNKNOWN
    assert not record.payload_override
