"""Every ledger action: the statuses it takes (one definition), the rest refused, an audit row.

Each action is tried on a record of every status, through the service and
through the entry point people use (the admin's actions, the REST API).
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from rest_framework.test import APIClient

from clarity.models import AuditEvent, RecordStatus, SyncRecord
from clarity.models.ledger import NEEDS_ACTION, RETRYABLE, UNDECIDED
from clarity.services.ledger import (
    ASSIGN,
    EDIT_AND_RETRY,
    IGNORE,
    RESOLVE,
    RETRY,
    SKIP,
    ledger_record_edit_and_retry,
    ledger_records_assign,
    ledger_records_ignore,
    ledger_records_resolve,
    ledger_records_retry,
    ledger_records_retry_code,
    ledger_records_skip,
)
from tests.factories import FlowFactory, RecordFactory, UserFactory

pytestmark = pytest.mark.django_db

ALL_STATUSES = [RecordStatus(value) for value, _ in RecordStatus.choices]
CHANGELIST = reverse("admin:clarity_syncrecord_changelist")


@pytest.fixture
def ledger() -> dict[RecordStatus, SyncRecord]:
    """One record of every status, in one flow, all failing with the same code."""
    flow = FlowFactory()
    return {
        status: RecordFactory(flow=flow, status=status, error_code="lookup_missing")
        for status in ALL_STATUSES
    }


def _call(action: str, records, user):
    if action == "retry":
        return ledger_records_retry(records=records, user=user)
    if action == "ignore":
        return ledger_records_ignore(records=records, user=user, note="Not ours")
    if action == "resolve":
        return ledger_records_resolve(records=records, user=user, note="Fixed in Xero")
    if action == "skip":
        return ledger_records_skip(records=records, user=user, note="Xero's is right")
    return ledger_records_assign(records=records, assignee=user, tags="vat", user=user)


@pytest.mark.parametrize(
    ("action", "definition"),
    [
        ("retry", RETRY),
        ("ignore", IGNORE),
        ("resolve", RESOLVE),
        ("assign", ASSIGN),
        ("skip", SKIP),
    ],
)
def test_each_bulk_action_takes_its_statuses_refuses_the_rest_and_audits_each_change(
    ledger, action, definition
):
    user = UserFactory(role="Finance")
    records = SyncRecord.objects.filter(pk__in=[r.pk for r in ledger.values()])

    counts = _call(action, records, user)

    accepted = {s for s in ALL_STATUSES if definition.applies_to(s)}
    assert counts == (len(accepted), len(ALL_STATUSES) - len(accepted))
    audited = AuditEvent.objects.filter(action=definition.audit)
    assert {e.record_id for e in audited} == {ledger[s].pk for s in accepted}
    assert {e.user for e in audited} == {user}
    for status in set(ALL_STATUSES) - accepted:  # refused: left exactly as it was
        record = SyncRecord.objects.get(pk=ledger[status].pk)
        assert (record.status, record.assigned_to, record.resolution_note) == (status, None, "")


def test_the_actions_share_one_definition_of_what_they_take():
    assert RETRY.accepts == EDIT_AND_RETRY.accepts == RETRYABLE
    assert ASSIGN.accepts == NEEDS_ACTION
    # A record waiting for a decision is closed by skipping it, not by ignore or resolve.
    assert IGNORE.accepts == RESOLVE.accepts == (RecordStatus.FAILED, RecordStatus.UNKNOWN)
    assert SKIP.accepts == UNDECIDED
    assert RESOLVE.refused(2) == (
        "2 record(s) refused: only failed or unknown records can be resolved."
    )


def test_resolving_an_unknown_record_is_allowed_like_ignoring_it(ledger):
    user = UserFactory(role="Finance")
    unknown = SyncRecord.objects.filter(pk=ledger[RecordStatus.UNKNOWN].pk)

    assert ledger_records_resolve(records=unknown, user=user, note="Found in Xero") == (1, 0)

    event = AuditEvent.objects.get(action="resolve")
    assert event.detail == {"note": "Found in Xero", "before": {"status": "unknown"}}


def test_retry_by_code_audits_each_record_it_sends_again(ledger):
    counts = ledger_records_retry_code(flow=None, error_code="lookup_missing", user=None)

    assert counts == (1, 0)  # the failed one; the code's other records are not failed
    assert AuditEvent.objects.get(action="retry").record_id == ledger[RecordStatus.FAILED].pk


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_edit_and_retry_takes_retryable_records_only_and_says_why_not(ledger, status):
    user = UserFactory(role="Finance")
    record = ledger[status]
    record.message = ""
    record.save()
    if status == RecordStatus.UNKNOWN or not EDIT_AND_RETRY.applies_to(status):
        with pytest.raises(ValidationError) as refused:
            ledger_record_edit_and_retry(record=record, payload={"Name": "x"}, user=user)
        if status != RecordStatus.UNKNOWN:  # unknown: may be in the target, looked up first
            assert refused.value.messages == [EDIT_AND_RETRY.refusal(status)]
        assert not AuditEvent.objects.exists()
        return
    ledger_record_edit_and_retry(record=record, payload={"Name": "x"}, user=user)
    assert AuditEvent.objects.filter(record=record, action="edit_payload", user=user).exists()
    assert AuditEvent.objects.filter(record=record, action="retry", user=user).exists()


def test_a_close_without_a_note_changes_nothing(ledger):
    records = SyncRecord.objects.filter(pk=ledger[RecordStatus.FAILED].pk)
    for close in (ledger_records_ignore, ledger_records_resolve):
        with pytest.raises(ValidationError, match="the note is required"):
            close(records=records, user=UserFactory(), note="  ")
    assert SyncRecord.objects.get(pk=ledger[RecordStatus.FAILED].pk).status == "failed"
    assert not AuditEvent.objects.exists()


# -- through the entry points ------------------------------------------------------------


@pytest.mark.parametrize(
    ("admin_action", "definition", "done"),
    [
        ("resolve_selected", RESOLVE, "record(s) marked resolved."),
        ("ignore_selected", IGNORE, "record(s) ignored."),
        ("assign_to_me", ASSIGN, "failed record(s) assigned to you."),
        ("retry_selected", RETRY, "record(s) queued to be sent again."),
    ],
)
def test_the_admin_actions_say_what_they_refused_and_why(
    finance_client, finance, ledger, admin_action, definition, done
):
    ids = [str(r.pk) for r in ledger.values()]
    response = finance_client.post(
        CHANGELIST,
        {"action": admin_action, "_selected_action": ids, "note": "Checked"},
        follow=True,
    )

    said = [str(m) for m in response.context["messages"]]
    accepted = [s for s in ALL_STATUSES if definition.applies_to(s)]
    assert f"{len(accepted)} {done}" in said
    assert definition.refused(len(ALL_STATUSES) - len(accepted)) in said
    audited = AuditEvent.objects.filter(action=definition.audit, user=finance)
    assert {e.record_id for e in audited} == {ledger[s].pk for s in accepted}


def test_the_api_resolves_an_unknown_record_audited_and_refuses_a_succeeded_one(ledger):
    user = UserFactory(role="Finance")
    client = APIClient()
    client.force_authenticate(user)
    unknown, ok = ledger[RecordStatus.UNKNOWN], ledger[RecordStatus.SUCCEEDED]

    response = client.post(f"/api/records/{unknown.pk}/resolve/", {"note": "In Xero"})
    refused = client.post(f"/api/records/{ok.pk}/resolve/", {"note": "x"})

    assert response.status_code == 200 and response.json()["status"] == RecordStatus.RESOLVED
    assert AuditEvent.objects.get(action="resolve").user == user
    assert refused.status_code == 409
    assert refused.json()["detail"] == RESOLVE.refusal(RecordStatus.SUCCEEDED)
    retried = client.post(f"/api/records/{ok.pk}/retry/")
    assert retried.status_code == 409
    assert RETRY.refusal(RecordStatus.SUCCEEDED) in retried.json()["detail"]
