"""The ledger admin as a finance user uses it, and what it costs per page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from clarity.models import RecordStatus, SyncRecord
from clarity.pagination import EstimatedCountPaginator, planner_estimate
from tests.factories import FlowFactory, RecordFactory

CHANGELIST = reverse("admin:clarity_syncrecord_changelist")


def listed_ids(response) -> set[int]:
    return {obj.pk for obj in response.context["cl"].result_list}


@pytest.fixture
def ledger(db):
    flow_a = FlowFactory(name="Customers")
    flow_b = FlowFactory(name="Invoices")
    ok = RecordFactory(flow=flow_a, source_id="CUST1", target_id="xero-contact-1")
    failed = RecordFactory(
        flow=flow_a,
        source_id="CUST2",
        status=RecordStatus.FAILED,
        error_kind="data",
        error_code="lookup_missing",
        message="no entry for 'EFT' in lookup \"SYSPRO payment method → Xero bank account\"",
        source_payload={"PaymentMethod": "EFT", "Amount": "12.50"},
        transformed_payload={"Account": None},
        target_response={"Elements": [{"ValidationErrors": [{"Message": "Account missing"}]}]},
    )
    other = RecordFactory(
        flow=flow_b,
        source_id="SO-1",
        business_key="INV-00042",
        status=RecordStatus.FAILED,
        error_kind="transient",
        error_code="http_503",
    )
    old = RecordFactory(flow=flow_b, source_id="SO-0")
    SyncRecord.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=60))
    return {"ok": ok, "failed": failed, "other": other, "old": old, "flows": (flow_a, flow_b)}


def test_filters_narrow_the_ledger(finance_client, ledger):
    flow_a, flow_b = ledger["flows"]
    week_ago = (timezone.now() - timedelta(days=7)).isoformat()
    cases = [
        ({"status": "failed"}, {ledger["failed"].pk, ledger["other"].pk}),
        ({"error_kind": "transient"}, {ledger["other"].pk}),
        ({"error_code": "lookup_missing"}, {ledger["failed"].pk}),
        ({"flow": flow_b.pk}, {ledger["other"].pk, ledger["old"].pk}),
        ({"pair": flow_a.pair_id}, {ledger["ok"].pk, ledger["failed"].pk}),
        (
            {"created_at__gte": week_ago},
            {ledger["ok"].pk, ledger["failed"].pk, ledger["other"].pk},
        ),
    ]
    for query, expected in cases:
        response = finance_client.get(CHANGELIST, query)
        assert response.status_code == 200, query
        assert listed_ids(response) == expected, query


def test_error_code_filter_offers_the_codes_in_use(finance_client, ledger):
    html = finance_client.get(CHANGELIST).content.decode()
    assert "?error_code=lookup_missing" in html
    assert "?error_code=http_503" in html


def test_search_matches_source_target_and_business_keys_exactly(finance_client, ledger):
    for term, record in (("CUST2", "failed"), ("xero-contact-1", "ok"), ("INV-00042", "other")):
        response = finance_client.get(CHANGELIST, {"q": term})
        assert listed_ids(response) == {ledger[record].pk}, term
    assert listed_ids(finance_client.get(CHANGELIST, {"q": "CUST"})) == set()


def test_detail_page_shows_payloads_pretty_printed_and_read_only(finance_client, ledger):
    record = ledger["failed"]
    response = finance_client.get(reverse("admin:clarity_syncrecord_change", args=[record.pk]))
    html = response.content.decode()
    assert "no entry for &#x27;EFT&#x27; in lookup" in html
    assert '<pre class="ledger-json">{\n  &quot;Amount&quot;: &quot;12.50&quot;,' in html
    assert "Target response" in html and "Account missing" in html
    assert html.count("<textarea") == 1  # only the "Edit the payload and retry" form
    assert 'name="_save"' not in html


def test_finance_resolves_failed_records_with_a_note(finance_client, finance, ledger):
    ids = [ledger["failed"].pk, ledger["ok"].pk]
    response = finance_client.post(
        CHANGELIST,
        {"action": "resolve_selected", "_selected_action": ids, "note": "Fixed in Xero by hand"},
        follow=True,
    )
    assert "1 record(s) marked resolved." in response.content.decode()
    failed = SyncRecord.objects.get(pk=ledger["failed"].pk)
    assert failed.status == RecordStatus.RESOLVED
    assert failed.resolved_by == finance
    assert failed.resolution_note == "Fixed in Xero by hand"
    assert SyncRecord.objects.get(pk=ledger["ok"].pk).status == RecordStatus.SUCCEEDED


def test_resolving_without_a_note_is_refused_and_changes_nothing(finance_client, ledger):
    response = finance_client.post(
        CHANGELIST,
        {"action": "resolve_selected", "_selected_action": [ledger["failed"].pk], "note": " "},
        follow=True,
    )
    assert "the note is required" in response.content.decode()
    assert SyncRecord.objects.get(pk=ledger["failed"].pk).status == RecordStatus.FAILED


def test_a_consultant_cannot_resolve(consultant_client, ledger):
    response = consultant_client.post(
        CHANGELIST,
        {"action": "resolve_selected", "_selected_action": [ledger["failed"].pk], "note": "x"},
    )
    assert SyncRecord.objects.get(pk=ledger["failed"].pk).status == RecordStatus.FAILED
    assert response.status_code in (200, 302)


@pytest.mark.django_db
def test_changelist_queries_do_not_grow_with_rows(finance_client, django_assert_max_num_queries):
    flow = FlowFactory()
    RecordFactory.create_batch(5, flow=flow)
    with django_assert_max_num_queries(20) as few:
        finance_client.get(CHANGELIST)
    RecordFactory.create_batch(60, flow=flow, status=RecordStatus.FAILED, error_code="E1")
    RecordFactory.create_batch(5, flow=FlowFactory())
    for query in ("", "?status=failed", "?q=CUST00001", "?p=2"):
        with django_assert_max_num_queries(len(few.captured_queries)):
            assert finance_client.get(CHANGELIST + query).status_code == 200


@pytest.mark.django_db
def test_large_results_are_estimated_not_counted(monkeypatch):
    """On PostgreSQL the planner's estimate stands in for COUNT(*) above a threshold."""
    assert connection.vendor == "postgresql"
    flow = FlowFactory()
    RecordFactory.create_batch(300, flow=flow)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE clarity_syncrecord")
    estimate = planner_estimate(SyncRecord.objects.all())
    assert 250 <= estimate <= 350

    monkeypatch.setattr("clarity.pagination.EXACT_COUNT_BELOW", 100)
    paginator = EstimatedCountPaginator(SyncRecord.objects.order_by("-id"), 100)
    assert paginator.count == estimate
    monkeypatch.setattr("clarity.pagination.EXACT_COUNT_BELOW", 10_000)
    assert EstimatedCountPaginator(SyncRecord.objects.order_by("-id"), 100).count == 300
