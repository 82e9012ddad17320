"""The validate report's "Acknowledge selected would-fail records (with note)": the go-live
checklist then accepts those failures; the note is required and who/when are kept."""

from __future__ import annotations

import pytest
from django.urls import reverse

from clarity.models import AuditEvent
from clarity.models.validation import ValidateOutcome
from tests.clarity.admin.operations import messages_of
from tests.clarity.golive import ready_pair, validated

pytestmark = pytest.mark.django_db


def test_would_fail_records_are_acknowledged_from_the_report_with_a_note(
    consultant_client, consultant
):
    ready = ready_pair()
    run = validated(ready.flow, failing=2, acknowledged=False)
    report = f"{reverse('admin:clarity_validaterecord_changelist')}?run={run.pk}"
    chosen = [str(pk) for pk in run.records.values_list("pk", flat=True)]
    action = {"action": "acknowledge_selected", "_selected_action": chosen}

    response = consultant_client.post(report, {**action, "note": ""}, follow=True)
    assert "the note is required" in messages_of(response)
    assert not run.records.filter(acknowledged_at__isnull=False).exists()

    response = consultant_client.post(
        report, {**action, "note": "Closed accounts, not migrated"}, follow=True
    )
    assert "2 would-fail record(s) acknowledged" in messages_of(response)
    acknowledged = run.records.filter(outcome=ValidateOutcome.WOULD_FAIL)
    assert {(r.acknowledged_note, r.acknowledged_by) for r in acknowledged} == {
        ("Closed accounts, not migrated", consultant)
    }
    assert AuditEvent.objects.filter(action="validate_acknowledge", user=consultant).count() == 2
    pair_page = consultant_client.get(
        reverse("admin:clarity_integrationpair_change", args=[ready.pair.pk])
    ).content.decode()
    assert "each acknowledged with a note" in pair_page


def test_acknowledging_is_not_offered_to_finance(finance_client):
    ready = ready_pair()
    report = f"{reverse('admin:clarity_validaterecord_changelist')}?run={ready.run.pk}"
    page = finance_client.get(report)
    assert page.status_code == 200 and "acknowledge_selected" not in page.content.decode()
    finance_client.post(
        report,
        {"action": "acknowledge_selected", "_selected_action": [ready.failing.pk], "note": "x"},
    )
    ready.failing.refresh_from_db()
    assert ready.failing.acknowledged_note == "Closed accounts"  # as it was
