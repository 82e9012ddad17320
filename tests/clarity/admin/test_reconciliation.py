"""Reconciliation in the admin, through Django's test client as finance and consultants use
it: a run's counts per kind and drill-down, the findings' export, "Acknowledge with a note",
"Reconcile now" (on the runs page and on the pair's page) and the settings form
(clarity/admin/reconciliation.py, clarity/admin/pairs.py)."""

from __future__ import annotations

import io

import openpyxl
import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from clarity.models import (
    AuditEvent,
    FindingKind,
    ReconciliationFinding,
    ReconciliationRun,
    ReconciliationSetting,
    ReconciliationStatus,
    ReconciliationTrigger,
)
from tests.factories import FlowFactory, RecordFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def run():
    flow = FlowFactory(source_entity="sales_orders", target_entity="Invoices")
    record = RecordFactory(flow=flow, pair=flow.pair, source_id="100001", business_key="100001",
                           target_id="inv-1")  # fmt: skip
    now = timezone.now()
    run = ReconciliationRun.objects.create(
        pair=flow.pair, trigger=ReconciliationTrigger.NIGHTLY,
        status=ReconciliationStatus.MISMATCHED, started_at=now, finished_at=now, findings_count=3,
    )  # fmt: skip
    ReconciliationFinding.objects.create(
        run=run, flow=flow, kind=FindingKind.DRIFT, source_id="100001", business_key="100001",
        target_id="inv-1", record=record, message="Xero Invoices inv-1 differs",
        field_diff=[{"field": "Reference", "source": "PO-7", "target": "=HYPERLINK(1)"}],
    )  # fmt: skip
    ReconciliationFinding.objects.create(
        run=run, flow=flow, kind=FindingKind.MISSING_IN_TARGET, source_id="100002",
        message="SYSPRO sales_orders 100002 has no twin in Xero Invoices.",
    )  # fmt: skip
    ReconciliationFinding.objects.create(
        run=run, flow=flow, kind=FindingKind.TOTAL_MISMATCH, period="2026-03",
        source_value="1200.00", target_value="1210.00", message="2026-03: totals differ",
    )  # fmt: skip
    return run


def test_a_run_shows_its_findings_per_kind_each_a_link_to_them(finance_client, run):
    page = finance_client.get(reverse("admin:clarity_reconciliationrun_change", args=[run.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Fields differ (drift): 1" in text and "Missing in the target: 1" in text
    drill = reverse("admin:clarity_reconciliationfinding_changelist")
    assert f"{drill}?run__id__exact={run.pk}&amp;kind__exact=drift" in text

    listing = finance_client.get(drill, {"run__id__exact": run.pk, "kind__exact": "drift"})
    assert listing.status_code == 200
    body = listing.content.decode()
    assert "100001" in body and "100002" not in body
    finding = run.findings.get(kind=FindingKind.DRIFT)
    detail = finance_client.get(
        reverse("admin:clarity_reconciliationfinding_change", args=[finding.pk])
    ).content.decode()
    record_url = reverse("admin:clarity_syncrecord_change", args=[finding.record_id])
    assert record_url in detail and "Reference" in detail and "PO-7" in detail


def test_the_findings_export_to_xlsx_as_filtered_formula_safe(finance_client, run):
    url = reverse("admin:clarity_reconciliationfinding_export", args=["xlsx"])
    response = finance_client.get(url, {"run__id__exact": run.pk, "kind__exact": "drift"})
    assert response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    rows = list(book.active.iter_rows(values_only=True))
    assert rows[0][:3] == ("Run", "Flow", "Kind")
    assert len(rows) == 2
    assert rows[1][2] == "Fields differ (drift)" and rows[1][5] == "100001"
    assert rows[1][9].startswith("Reference: 'PO-7'")  # the diff, as text: never a formula
    assert rows[1][10] == run.findings.get(kind=FindingKind.DRIFT).record_id


def test_finance_acknowledges_with_a_note_and_an_empty_note_is_refused(
    finance_client, finance, run
):
    listing = reverse("admin:clarity_reconciliationfinding_changelist")
    chosen = [str(pk) for pk in run.findings.values_list("pk", flat=True)[:2]]
    ask = finance_client.post(listing, {"action": "acknowledge", "_selected_action": chosen})
    assert ask.status_code == 200 and "Acknowledge 2 findings" in ask.content.decode()
    empty = finance_client.post(
        listing, {"action": "acknowledge", "_selected_action": chosen, "note": " "}
    )
    assert empty.status_code == 200  # the form again, with the note required
    assert not run.findings.filter(acknowledged_at__isnull=False).exists()
    done = finance_client.post(
        listing,
        {
            "action": "acknowledge",
            "_selected_action": chosen,
            "note": "Credit note raised in Xero.",
        },
        follow=True,
    )
    assert "2 finding(s) acknowledged" in done.content.decode()
    acknowledged = run.findings.filter(acknowledged_at__isnull=False)
    assert acknowledged.count() == 2
    assert {f.acknowledged_note for f in acknowledged} == {"Credit note raised in Xero."}
    assert {f.acknowledged_by for f in acknowledged} == {finance}
    assert AuditEvent.objects.filter(action="reconciliation_acknowledge", user=finance).exists()
    unacked = finance_client.get(listing, {"acknowledged": "no"}).content.decode()
    assert "2026-03" in unacked and "100002" not in unacked


def test_reconcile_now_queues_one_run_of_the_pair(finance_client, run):
    pair = run.pair
    page = finance_client.post(
        reverse("admin:clarity_reconciliationrun_add"), {"pair": pair.pk}, follow=True
    )
    queued = ReconciliationRun.objects.filter(pair=pair, status=ReconciliationStatus.QUEUED)
    assert queued.count() == 1
    assert f"Reconciliation #{queued.get().pk}" in page.content.decode()
    finance_client.post(reverse("admin:clarity_reconciliationrun_add"), {"pair": pair.pk})
    assert queued.count() == 1  # the one already queued, not a second


def test_reconcile_now_from_the_pair_page_queues_one_run_and_shows_it(operator_client, run):
    pair = run.pair
    page = operator_client.get(reverse("admin:clarity_integrationpair_change", args=[pair.pk]))
    action = reverse("admin:clarity_integrationpair_reconcile", args=[pair.pk])
    assert action in page.content.decode() and "Reconcile now" in page.content.decode()

    response = operator_client.post(action, follow=True)
    queued = ReconciliationRun.objects.filter(pair=pair, status=ReconciliationStatus.QUEUED)
    assert queued.count() == 1
    [(landed, _)] = response.redirect_chain
    assert landed == reverse("admin:clarity_reconciliationrun_change", args=[queued.get().pk])
    assert f"Reconciliation #{queued.get().pk} of {pair} is queued" in response.content.decode()
    operator_client.post(action)
    assert queued.count() == 1  # the one already queued, not a second
    assert AuditEvent.objects.filter(action="reconciliation_start").count() == 1


def test_reconcile_now_is_neither_offered_nor_done_without_the_permission(run):
    viewer = UserFactory()
    viewer.user_permissions.add(Permission.objects.get(codename="view_integrationpair"))
    client = Client()
    client.force_login(viewer)
    pair = run.pair
    page = client.get(reverse("admin:clarity_integrationpair_change", args=[pair.pk]))
    assert page.status_code == 200 and "Reconcile now" not in page.content.decode()
    refused = client.post(reverse("admin:clarity_integrationpair_reconcile", args=[pair.pk]))
    assert refused.status_code == 403
    assert not ReconciliationRun.objects.filter(pair=pair, status=ReconciliationStatus.QUEUED)


def test_a_setting_with_a_field_the_source_lacks_is_refused_on_the_form(consultant_client):
    flow = FlowFactory(source_entity="sales_orders", target_entity="Invoices")
    add = reverse("admin:clarity_reconciliationsetting_add")
    page = consultant_client.post(add, {
        "flow": flow.pk, "enabled": "on", "period": "month",
        "source_date_field": "OrderDat", "target_date_field": "Date",
    })  # fmt: skip
    assert page.status_code == 200
    assert "has no field &#x27;OrderDat&#x27;" in page.content.decode()
    assert not ReconciliationSetting.objects.exists()
    saved = consultant_client.post(add, {
        "flow": flow.pk, "enabled": "on", "period": "day",
        "source_date_field": "OrderDate", "target_date_field": "Date",
    })  # fmt: skip
    assert saved.status_code == 302
    assert ReconciliationSetting.objects.get(flow=flow).period == "day"
    assert AuditEvent.objects.filter(action="reconciliation_setting_save", flow=flow).exists()
