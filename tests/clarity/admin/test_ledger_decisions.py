"""The decision queue in the ledger's admin (#16): records that matched several target
records, or one in part, listed by a filter; their page shows the candidates with Link to
this one / Create new / Skip, and many are skipped at once."""

from __future__ import annotations

from html import unescape

import pytest
from django.urls import reverse

from clarity.models import AuditEvent, Decision, MatchDecision, MatchOutcome, RecordStatus, SyncRun
from tests.factories import RecordFactory

pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = reverse("admin:clarity_syncrecord_changelist")
CANDIDATES = [
    {"target_id": "c-1", "label": "Twin Traders Ltd (c-1)", "fields": {"EmailAddress": "a@t.x"},
     "agreed": ["EmailAddress"], "differing": []},
    {"target_id": "c-2", "label": "Twin Traders (old) (c-2)", "fields": {"EmailAddress": "a@t.x"},
     "agreed": ["EmailAddress"], "differing": []},
]  # fmt: skip


def undecided(**extra):
    record = RecordFactory(
        status=RecordStatus.UNDECIDED,
        error_code="match_ambiguous",
        message="2 Xero contacts match 'a@t.x' by EmailAddress: choose one, create new, or skip.",
        transformed_payload={"Name": "Twin Traders", "EmailAddress": "a@t.x"},
        **extra,
    )
    MatchDecision.objects.create(
        record=record,
        flow=record.flow,
        source_id=record.source_id,
        outcome=MatchOutcome.AMBIGUOUS,
        candidates=CANDIDATES,
    )
    return record


def test_the_queue_lists_only_records_waiting_for_a_decision(finance_client):
    waiting = undecided()
    RecordFactory(flow=waiting.flow, status=RecordStatus.FAILED)
    response = finance_client.get(CHANGELIST, {"queue": "decide"})
    assert [r.pk for r in response.context["cl"].result_list] == [waiting.pk]
    assert "Needs a decision" in unescape(response.content.decode())


def test_the_page_shows_the_candidates_and_the_three_choices(finance_client, consultant_client):
    record = undecided()
    url = reverse("admin:clarity_syncrecord_change", args=[record.pk])
    page = unescape(finance_client.get(url).content.decode())
    for text in ("Twin Traders Ltd (c-1)", "Twin Traders (old) (c-2)", "Link to this one",
                 "Create new", "Skip", "choose one, create new, or skip"):  # fmt: skip
        assert text in page
    # A consultant reads the ledger but takes no decisions.
    assert "Link to this one" not in unescape(consultant_client.get(url).content.decode())
    decide = reverse("admin:clarity_syncrecord_decide", args=[record.pk])
    assert consultant_client.post(decide, {"decision": "create"}).status_code == 403


def test_create_new_through_the_page_sends_it_and_remembers(finance_client, finance):
    record = undecided()
    decide = reverse("admin:clarity_syncrecord_decide", args=[record.pk])
    response = finance_client.post(decide, {"decision": "create"}, follow=True)
    assert any("sent as a new record" in str(m) for m in response.context["messages"])
    record.refresh_from_db()
    assert record.status == RecordStatus.PENDING
    match = MatchDecision.objects.get(record=record)
    assert (match.decision, match.decided_by) == (Decision.CREATE, finance)
    assert AuditEvent.objects.filter(record=record, action="create_new", user=finance).exists()
    assert SyncRun.objects.filter(flow=record.flow, trigger="retry").exists()


def test_a_link_to_what_was_not_offered_is_refused(finance_client):
    record = undecided()
    decide = reverse("admin:clarity_syncrecord_decide", args=[record.pk])
    response = finance_client.post(decide, {"decision": "link", "target_id": "c-9"}, follow=True)
    assert any("Choose one of the records shown" in str(m) for m in response.context["messages"])
    record.refresh_from_db()
    assert (record.status, record.target_id) == (RecordStatus.UNDECIDED, "")


def test_skip_needs_a_note_and_skips_many_at_once(finance_client, finance):
    first, second = undecided(), undecided()
    failed = RecordFactory(status=RecordStatus.FAILED)
    ids = [first.pk, second.pk, failed.pk]
    action = {"action": "skip_selected", "_selected_action": ids}
    refused = finance_client.post(CHANGELIST, {**action, "note": " "}, follow=True)
    assert any("note is required" in str(m) for m in refused.context["messages"])
    done = finance_client.post(CHANGELIST, {**action, "note": "Xero's are right"}, follow=True)
    shown = [str(m) for m in done.context["messages"]]
    assert "2 record(s) skipped, none sent." in shown
    assert "1 record(s) refused: only undecided records can be skipped." in shown
    for record in (first, second):
        record.refresh_from_db()
        assert (record.status, record.resolution_note) == (RecordStatus.SKIPPED, "Xero's are right")
        assert MatchDecision.objects.get(record=record).decision == Decision.SKIP
    failed.refresh_from_db()
    assert failed.status == RecordStatus.FAILED


def test_finance_reads_the_audit_trail(finance_client):
    response = finance_client.get(reverse("admin:clarity_auditevent_changelist"))
    assert response.status_code == 200
