"""Reconciliation against both sandboxes over HTTP: a SYSPRO→Xero invoices flow whose two
sides were made to disagree in each way finance meets (clarity/sync/reconciliation.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from clarity.models import (
    FindingKind,
    ReconciliationRun,
    ReconciliationStatus,
    ReconciliationTrigger,
    SyncRecord,
)
from clarity.sync.reconciliation import Amount, period_of, reconciliation_execute
from tests.clarity.reconciliation import reconciled_pair

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("expression", "record", "amount"),
    [
        ("SubTotal", {"SubTotal": 12.5}, Decimal("12.5")),
        ("SorDetail[].MOrderQty*SorDetail[].MPrice",
         {"SorDetail": [{"MOrderQty": "2", "MPrice": "1.25"}, {"MOrderQty": 3, "MPrice": 2.5},
                        {"MOrderQty": "", "MPrice": "9"}]},  # a comment line: no quantity
         Decimal("10.00")),
        ("Lines[].Amount", {"Lines": "not a list"}, Decimal(0)),
        ("Total", {"Total": "n/a"}, Decimal(0)),
    ],
)  # fmt: skip
def test_an_amount_sums_lines_and_multiplies_fields(expression, record, amount):
    assert Amount.parse(expression).of(record) == amount


def test_a_period_is_the_day_or_month_of_any_date_the_systems_write():
    assert period_of("/Date(1775692800000+0000)/", "month") == "2026-04"  # Xero
    assert period_of("2026-04-09", "day") == "2026-04-09"
    assert period_of("2026-04-09T23:30:00-02:00", "day") == "2026-04-09"  # its own day
    assert period_of("", "month") == "(no date)"


def reconcile(pair) -> ReconciliationRun:
    run = ReconciliationRun.objects.create(pair=pair, trigger=ReconciliationTrigger.ON_DEMAND)
    return reconciliation_execute(run_id=run.pk)


def test_a_clean_pair_agrees_and_nothing_is_written(sandbox):
    setup = reconciled_pair(sandbox)
    before = setup.writes()
    run = reconcile(setup.pair)
    assert run.status == ReconciliationStatus.AGREED, [f.message for f in run.findings.all()]
    assert (run.source_records, run.target_records, run.twins_compared) == (6, 6, 6)
    assert run.findings_count == 0
    assert setup.writes() == before  # read-only on both systems


def test_each_kind_of_disagreement_is_found_with_its_records(sandbox):
    setup = reconciled_pair(sandbox)
    numbers = setup.order_numbers()
    ledger = {r.business_key: r for r in SyncRecord.objects.filter(flow=setup.orders)}
    # 1. An invoice edited by hand in Xero: its reference and its total.
    edited = numbers[0]
    invoice = setup.xero_invoice(f"SO-{edited}")
    total = Decimal(str(invoice["SubTotal"])) + 10
    setup.xero_edit(invoice["InvoiceID"], Reference="changed in Xero", SubTotal=float(total))
    # 2. A SYSPRO order whose invoice was deleted in Xero: missing in the target.
    gone = numbers[1]
    gone_invoice = setup.xero_invoice(f"SO-{gone}")
    org = next(o for o in setup.xero.orgs.values() if gone_invoice["InvoiceID"] in
               o.records["Invoices"])  # fmt: skip
    del org.records["Invoices"][gone_invoice["InvoiceID"]]
    # 3. A SYSPRO order removed after it was sent: its invoice is missing in the source.
    removed = numbers[2]
    removed_invoice = setup.xero_invoice(f"SO-{removed}")
    setup.syspro.tables["SorMaster"] = [
        r for r in setup.syspro.table("SorMaster") if r["SalesOrder"] != removed
    ]
    setup.syspro._indexes.clear()
    before = setup.writes()

    run = reconcile(setup.pair)

    assert run.status == ReconciliationStatus.MISMATCHED
    assert setup.writes() == before
    findings = list(run.findings.all())
    by_kind: dict[str, list] = {}
    for finding in findings:
        by_kind.setdefault(finding.kind, []).append(finding)

    [drift] = by_kind[FindingKind.DRIFT]
    assert drift.business_key == edited and drift.target_id == invoice["InvoiceID"]
    assert drift.record_id == ledger[edited].pk
    assert [d["field"] for d in drift.field_diff] == ["Reference"]
    assert drift.field_diff[0]["target"] == "changed in Xero"

    [missing_target] = by_kind[FindingKind.MISSING_IN_TARGET]
    assert (missing_target.source_id, missing_target.record_id) == (gone, ledger[gone].pk)
    assert missing_target.target_id == gone_invoice["InvoiceID"]
    assert "no longer has" in missing_target.message

    [missing_source] = by_kind[FindingKind.MISSING_IN_SOURCE]
    assert missing_source.target_id == removed_invoice["InvoiceID"]
    assert (missing_source.source_id, missing_source.record_id) == (removed, ledger[removed].pk)

    # Per month: the edited total, and the two missing invoices, each in its own month.
    totals = {f.period: f for f in by_kind[FindingKind.TOTAL_MISMATCH]}
    edited_month = ledger[edited].source_payload["OrderDate"][:7]
    assert edited_month in totals
    counts = {
        f.period: (f.source_value, f.target_value) for f in by_kind[FindingKind.COUNT_MISMATCH]
    }
    gone_month = ledger[gone].source_payload["OrderDate"][:7]
    removed_month = ledger[removed].source_payload["OrderDate"][:7]
    assert gone_month in counts and removed_month in counts
    if gone_month != removed_month:
        assert int(counts[gone_month][0]) == int(counts[gone_month][1]) + 1
        assert int(counts[removed_month][0]) + 1 == int(counts[removed_month][1])
    assert run.findings_count == len(findings)


def test_a_target_record_nobody_sent_is_missing_in_the_source(sandbox):
    """Matched by reference where the ledger has no link: an invoice entered in Xero by hand
    with an order's number is that order's twin; one with a number no order has is not."""
    setup = reconciled_pair(sandbox, orders=3)
    numbers = setup.order_numbers()
    SyncRecord.objects.filter(flow=setup.orders, business_key=numbers[0]).delete()
    stray = setup.xero_invoice(f"SO-{numbers[1]}")
    setup.xero_edit(stray["InvoiceID"], InvoiceNumber="HAND-001")

    run = reconcile(setup.pair)

    kinds = sorted((f.kind, f.source_id or f.target_id) for f in run.findings.exclude(
        kind__in=[FindingKind.COUNT_MISMATCH, FindingKind.TOTAL_MISMATCH]))  # fmt: skip
    assert kinds == [
        (FindingKind.DRIFT, numbers[1]),  # linked by the ledger: its number was changed
    ], kinds


def test_target_records_out_of_the_flows_scope_are_not_its_twins(sandbox):
    """Xero keeps bills (ACCPAY) among its Invoices: with the scope Type=ACCREC a bill is
    not reported as a sales invoice missing in SYSPRO."""
    setup = reconciled_pair(sandbox, orders=2)
    org = next(iter(setup.xero.orgs.values()))
    contact = next(iter(org.records["Contacts"].values()))
    bill = org.save("Invoices", {
        "Type": "ACCPAY", "Contact": {"ContactID": contact["ContactID"]}, "Date": "2026-03-02",
        "LineItems": [{"Description": "Paper", "Quantity": 1, "UnitAmount": 9,
                       "AccountCode": "400"}],
    }, update=False).record  # fmt: skip

    unscoped = reconcile(setup.pair)
    assert [(f.kind, f.target_id) for f in unscoped.findings.exclude(
        kind__in=[FindingKind.COUNT_MISMATCH, FindingKind.TOTAL_MISMATCH])] == [
        (FindingKind.MISSING_IN_SOURCE, bill["InvoiceID"])]  # fmt: skip

    setup.setting.target_scope = "Type=ACCREC"
    setup.setting.save()
    scoped = reconcile(setup.pair)
    assert scoped.status == ReconciliationStatus.AGREED, [f.message for f in scoped.findings.all()]
    assert scoped.target_records == 2
