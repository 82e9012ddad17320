"""SYSPRO ↔ Xero use cases 1-4, end to end: the shipped template imported as a consultant
would, real RQ workers, Redis, PostgreSQL, and both sandboxes over loopback HTTP."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
from decimal import Decimal

import pytest

from clarity.models import RecordStatus, SyncRecord
from clarity.services.ledger import ledger_records_retry
from clarity.sync.dependencies import dependency_hint
from connectors.configs import connector_for
from connectors.sandbox.syspro.schema import order_line
from mappings.models import LookupEntry, LookupTable
from mappings.services import lookup_tables_touch

pytestmark = pytest.mark.django_db(transaction=True)

CUSTOMERS = "Customers → Contacts"
ITEMS = "Stock items → Items"
ORDERS = "Sales orders → Invoices"
PAYMENTS = "Payments → AR payments"
JOURNALS = "GL journals → Manual journals"

# The SYSPRO sandbox's awkward records (connectors/sandbox/syspro/).
DUPLICATE_NAME = "Harbour View Trading Ltd"
DUPLICATE_NAME_CUSTOMERS = ("0000150", "0000275")
UNMAPPED_ORDER, UNMAPPED_STOCK_CODE = "100027", "LEGACY-001"
ORPHAN_ORDER, MISSING_CUSTOMER = "100013", "0009999"


def add_lookup_entry(table_name: str, key: str, value: str) -> None:
    """What a consultant does in the admin: one more row in a shared lookup table."""
    table = LookupTable.objects.get(name=table_name)
    LookupEntry.objects.create(table=table, key=key, value=value)
    lookup_tables_touch(table_ids=[table.pk])


def retry(record: SyncRecord) -> None:
    queued, refused = ledger_records_retry(
        records=SyncRecord.objects.filter(pk=record.pk), user=None
    )
    assert (queued, refused) == (1, 0)


def invoice(usecase, number: str) -> dict:
    found = usecase.xero_get("/Invoices", InvoiceNumbers=number)["Invoices"]
    assert len(found) == 1, f"{number}: {len(found)} invoices in Xero"
    return found[0]


def test_customers_and_sales_orders_reach_xero_with_readable_failures(syspro_xero_usecase):
    usecase = syspro_xero_usecase()
    xero = usecase.xero_control

    # 1. Customers → contacts: the two SYSPRO branches sharing one name make one contact.
    usecase.run(CUSTOMERS)
    counts = usecase.statuses(CUSTOMERS)
    assert sum(counts.values()) == 320
    assert counts[RecordStatus.FAILED] == 1
    duplicate = SyncRecord.objects.get(flow=usecase.flow(CUSTOMERS), status=RecordStatus.FAILED)
    assert duplicate.business_key in DUPLICATE_NAME_CUSTOMERS
    assert duplicate.error_kind == "data"
    assert duplicate.error_code == "duplicate_contact_name"
    assert f"Xero already has a contact named '{DUPLICATE_NAME}'" in duplicate.message
    named = usecase.xero_get("/Contacts", where=f'Name=="{DUPLICATE_NAME}"')["Contacts"]
    assert len(named) == 1  # caught, not created twice
    assert usecase.created(xero, "Contacts") == counts[RecordStatus.SUCCEEDED]

    # 2. Sales orders → ACCREC invoices.
    usecase.run(ORDERS)
    orders = SyncRecord.objects.filter(flow=usecase.flow(ORDERS))
    assert orders.count() == 260
    failed = {r.business_key: r for r in orders.filter(status=RecordStatus.FAILED)}
    blocked_orders = {
        r.business_key for r in orders if r.source_payload["Customer"] == duplicate.business_key
    }
    assert blocked_orders
    assert set(failed) == {UNMAPPED_ORDER, ORPHAN_ORDER, *blocked_orders}

    # An unknown account code fails the record, naming the stock code.
    unmapped = failed[UNMAPPED_ORDER]
    assert unmapped.error_kind == "data"
    assert unmapped.error_code == "lookup_missing"
    assert UNMAPPED_STOCK_CODE in unmapped.message
    assert "SYSPRO stock code → Xero account code" in unmapped.message

    # An invoice whose customer is not in Xero says so, and points at the customer's record.
    orphan = failed[ORPHAN_ORDER]
    assert orphan.error_code == "contact_not_found"
    assert f"The contact '{MISSING_CUSTOMER}'" in orphan.message
    hint = dependency_hint(orphan)
    assert hint is not None and hint.record_id is None
    assert f"customer {MISSING_CUSTOMER} has not been read by flow '{CUSTOMERS}'" in hint.sentence
    blocked = failed[min(blocked_orders)]
    assert blocked.error_code == "contact_not_found"
    hint = dependency_hint(blocked)
    assert hint is not None and hint.record_id == duplicate.pk
    assert f"ledger record #{duplicate.pk}" in hint.sentence
    assert "already has a contact named" in hint.sentence  # the customer's own reason
    assert hint.url.endswith(f"/{duplicate.pk}/change/")

    # Shipped orders (8 to invoice, 9 complete) are AUTHORISED, the others DRAFT.
    succeeded = list(orders.filter(status=RecordStatus.SUCCEEDED))
    assert len(succeeded) == 260 - len(failed)
    assert usecase.created(xero, "Invoices") == len(succeeded)
    shipped = next(r for r in succeeded if r.source_payload["OrderStatus"] in ("8", "9"))
    open_order = next(r for r in succeeded if r.source_payload["OrderStatus"] not in ("8", "9"))
    assert invoice(usecase, f"SO-{shipped.business_key}")["Status"] == "AUTHORISED"
    assert invoice(usecase, f"SO-{open_order.business_key}")["Status"] == "DRAFT"

    # Lines: one Xero line per account code and tax type, amounts summed; tax by lookup.
    combined = next(
        r
        for r in succeeded
        if len(r.source_payload["SorDetail"])
        > len({_line_key(line) for line in r.source_payload["SorDetail"]})
    )
    sent = invoice(usecase, f"SO-{combined.business_key}")
    lines = combined.source_payload["SorDetail"]
    assert len(sent["LineItems"]) == len({_line_key(line) for line in lines})
    for item in sent["LineItems"]:
        expected = sum(
            Decimal(line["MOrderQty"]) * Decimal(line["MPrice"])
            for line in lines
            if _line_key(line) == (item["AccountCode"], item["TaxType"])
        )
        assert Decimal(str(item["LineAmount"])) == expected
    assert Decimal(str(sent["SubTotal"])) == sum(
        Decimal(line["MOrderQty"]) * Decimal(line["MPrice"]) for line in lines
    )
    electrical = next(
        r
        for r in succeeded
        if any(x["MProductClass"] == "ELEC" for x in r.source_payload["SorDetail"])
    )
    taxes = {i["TaxType"] for i in invoice(usecase, f"SO-{electrical.business_key}")["LineItems"]}
    assert "RROUTPUT" in taxes

    # The fix: the consultant adds the stock code to the lookup; the retry succeeds.
    add_lookup_entry("SYSPRO stock code → Xero account code", UNMAPPED_STOCK_CODE, "260")
    retry(unmapped)
    usecase.work()
    unmapped.refresh_from_db()
    assert unmapped.status == RecordStatus.SUCCEEDED, unmapped.message
    fixed = invoice(usecase, f"SO-{UNMAPPED_ORDER}")
    assert "260" in {i["AccountCode"] for i in fixed["LineItems"]}

    # Re-running creates nothing new.
    before = usecase.created(xero, "Invoices")
    usecase.run(ORDERS)
    assert usecase.created(xero, "Invoices") == before == len(succeeded) + 1


def item(usecase, code: str) -> dict:
    found = usecase.xero_get("/Items", where=f'Code=="{code}"')["Items"]
    assert len(found) == 1, f"{code}: {len(found)} items in Xero"
    return found[0]


def test_stock_items_become_tracked_xero_items_matched_on_code(syspro_xero_usecase):
    usecase = syspro_xero_usecase()
    xero = usecase.xero_control
    stock = {row["StockCode"]: row for row in usecase.syspro_app.tables["InvMaster"]}

    usecase.run(ITEMS)
    counts = usecase.statuses(ITEMS)
    assert counts == {RecordStatus.SUCCEEDED: len(stock) - 1, RecordStatus.FAILED: 1}
    assert usecase.created(xero, "Items") == len(stock) - 1  # one POST of up to 500

    # In Xero: the stock code's item, priced, with its sales account, tax and inventory accounts.
    bolt = item(usecase, "BOLT-001")
    assert bolt["Name"] == bolt["Description"] == stock["BOLT-001"]["Description"]
    assert Decimal(str(bolt["SalesDetails"]["UnitPrice"])) == Decimal(
        stock["BOLT-001"]["SellingPrice"]
    )
    assert (bolt["SalesDetails"]["AccountCode"], bolt["SalesDetails"]["TaxType"]) == (
        "200",
        "OUTPUT2",
    )
    assert bolt["IsTrackedAsInventory"] is True
    assert bolt["InventoryAssetAccountCode"] == "630"
    assert bolt["PurchaseDetails"] == {"COGSAccountCode": "310", "TaxType": "INPUT2"}
    assert item(usecase, "CABLE-001")["SalesDetails"]["TaxType"] == "RROUTPUT"  # ELEC class
    record = usecase.ledger(ITEMS, "BOLT-001")
    assert record.status == RecordStatus.SUCCEEDED and record.target_id == bolt["ItemID"]

    # A stock code with no sales account fails, naming it and the lookup to extend.
    legacy = usecase.ledger(ITEMS, UNMAPPED_STOCK_CODE)
    assert (legacy.status, legacy.error_kind, legacy.error_code) == (
        RecordStatus.FAILED,
        "data",
        "lookup_missing",
    )
    assert f"'{UNMAPPED_STOCK_CODE}'" in legacy.message
    assert "SYSPRO stock code → Xero account code" in legacy.message
    assert not usecase.xero_get("/Items", where=f'Code=="{UNMAPPED_STOCK_CODE}"')["Items"]
    add_lookup_entry("SYSPRO stock code → Xero account code", UNMAPPED_STOCK_CODE, "260")
    retry(legacy)
    usecase.work()
    legacy.refresh_from_db()
    assert legacy.status == RecordStatus.SUCCEEDED, legacy.message
    assert item(usecase, UNMAPPED_STOCK_CODE)["SalesDetails"]["AccountCode"] == "260"

    # Re-running sends nothing; a price change in SYSPRO updates the same item.
    created = usecase.created(xero, "Items")
    usecase.run(ITEMS)
    assert usecase.created(xero, "Items") == created == len(stock)
    assert usecase.statuses(ITEMS) == {RecordStatus.SUCCEEDED: len(stock)}  # none twice
    master = usecase.syspro_app.find("InvMaster", StockCode="BOLT-001")
    usecase.syspro_app.touch(master, SellingPrice="99.80")
    usecase.run(ITEMS)
    assert usecase.created(xero, "Items") == created
    repriced = item(usecase, "BOLT-001")
    assert repriced["ItemID"] == bolt["ItemID"]
    assert Decimal(str(repriced["SalesDetails"]["UnitPrice"])) == Decimal("99.80")


STOCK_ACCOUNT = {
    "BOLT": "200",
    "CABLE": "200",
    "FILTER": "260",
    "GEAR": "260",
    "MOTOR": "200",
    "NUT": "200",
    "PIPE": "200",
    "PUMP": "200",
    "SEAL": "260",
    "VALVE": "200",
}
TAX = {"ELEC": "RROUTPUT"}


def _line_key(line: dict) -> tuple[str, str]:
    family = line["MStockCode"].split("-")[0]
    return STOCK_ACCOUNT.get(family, "260"), TAX.get(line["MProductClass"], "OUTPUT2")


def test_xero_payments_reach_syspro_as_ar_payments_by_polling(syspro_xero_usecase):
    usecase = syspro_xero_usecase()
    usecase.run(CUSTOMERS)
    usecase.run(ORDERS)
    authorised = [
        r
        for r in SyncRecord.objects.filter(flow=usecase.flow(ORDERS), status=RecordStatus.SUCCEEDED)
        if r.source_payload["OrderStatus"] in ("8", "9")
    ][:3]
    # Customers pay three invoices in Xero: into the current account, the savings
    # account, and the credit card account, which the bank lookup does not know yet.
    xero = connector_for(usecase.xero)
    today = dt.date.today().isoformat()
    paid = xero.write_batch(
        "Payments",
        [
            {
                "Invoice": {"InvoiceNumber": f"SO-{order.business_key}"},
                "Account": {"Code": account},
                "Date": today,
                "Amount": invoice(usecase, f"SO-{order.business_key}")["AmountDue"],
                "Reference": f"BACS {order.business_key}",
            }
            for order, account in zip(authorised, ("090", "091", "092"), strict=True)
        ],
    )
    assert all(outcome.ok for outcome in paid), paid
    payment_ids = [outcome.target_id for outcome in paid]
    syspro = usecase.syspro_control
    before = usecase.created(syspro, "ArCshJnlDet")

    flow = usecase.flow(PAYMENTS)
    # Polled on a schedule, and also run by Xero's invoice webhooks (Xero sends none for
    # payments: a paid invoice's INVOICE UPDATE event is what announces a payment).
    assert flow.source_entity == "Payments" and flow.trigger_webhook and flow.trigger_schedule
    usecase.run(PAYMENTS)  # polling Xero: read_changes on Payments
    records = {
        r.source_id: r
        for r in SyncRecord.objects.filter(flow=usecase.flow(PAYMENTS), source_id__in=payment_ids)
    }
    posted, _, unmapped = (records[i] for i in payment_ids)
    # Xero answers dates as /Date(ms+0000)/; the mapping's XERO format reads them.
    assert posted.source_payload["Date"].startswith("/Date(")
    assert posted.transformed_payload["Payment"]["PaymentDate"] == today
    assert posted.status == records[payment_ids[1]].status == RecordStatus.SUCCEEDED
    assert usecase.created(syspro, "ArCshJnlDet") == before + 2
    # Payments on Xero's own invoices (not from SYSPRO orders) are skipped, saying why.
    others = SyncRecord.objects.filter(flow=usecase.flow(PAYMENTS)).exclude(
        source_id__in=payment_ids
    )
    assert others.exists()
    assert set(others.values_list("status", flat=True)) == {RecordStatus.SKIPPED}
    assert "SYSPRO sales order" in others.first().message

    # In SYSPRO: the payment on the customer's account, in the bank the lookup chose.
    syspro_connector = connector_for(usecase.syspro)
    found = syspro_connector.find_by_reference("ar_payments", payment_ids[0])
    assert found is not None
    assert found.record["Customer"] == authorised[0].source_payload["Customer"]
    assert found.record["Bank"] == "BARC01"
    assert Decimal(found.record["PaymentValue"]) == Decimal(
        str(invoice(usecase, f"SO-{authorised[0].business_key}")["Total"])
    )
    assert posted.business_key == f"SO-{authorised[0].business_key}"
    # Allocated to SYSPRO's invoice for the order, which it has now paid off.
    billed = usecase.syspro_app.find("ArInvoice", SalesOrder=authorised[0].business_key)
    assert found.record["Invoice"] == billed["Invoice"]
    assert billed["InvoiceBal1"] == "0.00"

    # The unknown payment method fails, naming the account and the lookup to extend.
    assert unmapped.status == RecordStatus.FAILED
    assert unmapped.error_code == "lookup_missing"
    assert "'092'" in unmapped.message and "Xero bank account → SYSPRO bank" in unmapped.message
    add_lookup_entry("Xero bank account → SYSPRO bank", "092", "HSBC02")
    retry(unmapped)
    usecase.work()
    unmapped.refresh_from_db()
    assert unmapped.status == RecordStatus.SUCCEEDED, unmapped.message
    assert usecase.created(syspro, "ArCshJnlDet") == before + 3

    # Polling again sends nothing twice.
    usecase.run(PAYMENTS)
    assert usecase.created(syspro, "ArCshJnlDet") == before + 3


def test_a_payment_syspro_cannot_allocate_fails_saying_why(syspro_xero_usecase):
    usecase = syspro_xero_usecase()
    usecase.run(CUSTOMERS)
    usecase.run(ORDERS)
    over, unbilled = [
        r
        for r in SyncRecord.objects.filter(flow=usecase.flow(ORDERS), status=RecordStatus.SUCCEEDED)
        if r.source_payload["OrderStatus"] in ("8", "9")
    ][:2]
    # A cheque for the first order was already banked in SYSPRO, so the Xero receipt is
    # more than SYSPRO says is owed; the second order's invoice was never raised in SYSPRO.
    usecase.syspro_app.find("ArInvoice", SalesOrder=over.business_key)["InvoiceBal1"] = "1.00"
    usecase.syspro_app.tables["ArInvoice"].remove(
        usecase.syspro_app.find("ArInvoice", SalesOrder=unbilled.business_key)
    )
    paid = connector_for(usecase.xero).write_batch(
        "Payments",
        [
            {
                "Invoice": {"InvoiceNumber": f"SO-{order.business_key}"},
                "Account": {"Code": "090"},
                "Date": dt.date.today().isoformat(),
                "Amount": invoice(usecase, f"SO-{order.business_key}")["AmountDue"],
            }
            for order in (over, unbilled)
        ],
    )
    assert all(outcome.ok for outcome in paid), paid
    before = usecase.created(usecase.syspro_control, "ArCshJnlDet")
    usecase.run(PAYMENTS)
    overpaid, unknown = (
        SyncRecord.objects.get(flow=usecase.flow(PAYMENTS), source_id=p.target_id) for p in paid
    )
    assert (overpaid.status, overpaid.error_code) == (RecordStatus.FAILED, "overpayment")
    assert "The payment is more than is owed" in overpaid.message
    assert "balance 1.00" in overpaid.message
    assert (unknown.status, unknown.error_code) == (RecordStatus.FAILED, "invoice_not_found")
    assert f"no invoice for sales order {unbilled.business_key}" in unknown.message
    assert usecase.created(usecase.syspro_control, "ArCshJnlDet") == before  # nothing posted


GL_ENTRIES = 20_400  # the SYSPRO sandbox's history: 24 periods x 85 journals x 10 entries
# Xero's real per-tenant limits (60 a minute, 5 at once, 5,000 a day) with time scaled
# 20x down: a "minute" lasts 3 s. The sandbox enforces them; the connector's shared
# limiter must keep under them without a single 429.
TIME_SCALE = 0.05
XERO_LIMITS = {"minute": 60, "concurrent": 5, "day": 5000}


@pytest.mark.slow
def test_gl_history_becomes_balanced_manual_journals_within_the_rate_limit(
    syspro_xero_usecase,
):
    usecase = syspro_xero_usecase(
        xero_options={"time_scale": TIME_SCALE, "limits": XERO_LIMITS},
        xero_settings={
            "rate_limits": {"per_minute": 60, "per_day": 5000, "concurrent": 5},
            "rate_limit_time_scale": TIME_SCALE,
            "rate_limit_max_wait": 10,
        },
    )
    flow = usecase.flow(JOURNALS)
    # Ten journals (100 lines) a request: more calls than one minute allows, so the limit binds.
    type(flow).objects.filter(pk=flow.pk).update(batch_size=10)
    xero = usecase.xero_control
    started = time.monotonic()
    run = usecase.run(JOURNALS)
    elapsed = time.monotonic() - started

    journals = GL_ENTRIES // 10
    assert run.total_count == journals
    assert run.succeeded_count == journals, usecase.statuses(JOURNALS)
    assert usecase.created(xero, "ManualJournals") == journals
    stats = xero.stats()
    assert stats["rate_limited"] == 0  # respected before it was hit
    calls = -(-journals // 10)
    minimum = (calls // XERO_LIMITS["minute"]) * 60 * TIME_SCALE
    assert elapsed >= minimum * 0.9, f"{calls} calls in {elapsed:.1f}s: faster than the limit"

    # In Xero: every entry, every journal balanced, the whole history netting to zero.
    lines = 0
    total = Decimal(0)
    for page in (1, 2, 3):
        body = usecase.xero_get("/ManualJournals", page=page, pageSize=1000)
        for journal in body["ManualJournals"]:
            amounts = [Decimal(str(line["LineAmount"])) for line in journal["JournalLines"]]
            assert sum(amounts) == 0, journal["Narration"]
            assert journal["Status"] == "POSTED"
            lines += len(amounts)
            total += sum(a for a in amounts if a > 0)
    assert lines == GL_ENTRIES
    sample = SyncRecord.objects.filter(flow=flow).order_by("pk").first()
    assert sample.business_key == "2024/1/1"
    debits = sum(
        Decimal(e["EntryValue"])
        for e in sample.source_payload["GenJournalDetail"]
        if Decimal(e["EntryValue"]) > 0
    )
    assert debits > 0 and total > debits

    # A re-run sends nothing again: history does not change, the ledger skips it.
    usecase.run(JOURNALS)
    assert usecase.created(xero, "ManualJournals") == journals


def test_an_invoice_webhook_brings_its_payment_to_syspro(syspro_xero_usecase, client):
    usecase = syspro_xero_usecase()
    usecase.run(CUSTOMERS)
    usecase.run(ORDERS)
    order = next(
        r
        for r in SyncRecord.objects.filter(flow=usecase.flow(ORDERS), status=RecordStatus.SUCCEEDED)
        if r.source_payload["OrderStatus"] in ("8", "9")
    )
    number = f"SO-{order.business_key}"
    paid_invoice = invoice(usecase, number)
    [paid] = connector_for(usecase.xero).write_batch(
        "Payments",
        [
            {
                "Invoice": {"InvoiceNumber": number},
                "Account": {"Code": "090"},
                "Date": dt.date.today().isoformat(),
                "Amount": paid_invoice["AmountDue"],
            }
        ],
    )
    assert paid.ok
    before = usecase.created(usecase.syspro_control, "ArCshJnlDet")

    # Xero announces the payment with its invoice's UPDATE event, signed with the app's key.
    key = "usecase-webhook-key"
    usecase.xero.refresh_from_db()
    usecase.xero.credentials = {**usecase.xero.credentials, "webhook_key": key}
    usecase.xero.save(update_fields=["credentials"])
    body = json.dumps(
        {
            "events": [
                {
                    "resourceUrl": f"{usecase.xero.base_url}/api.xro/2.0/Invoices/"
                    + paid_invoice["InvoiceID"],
                    "resourceId": paid_invoice["InvoiceID"],
                    "eventDateUtc": dt.datetime.now(dt.UTC).isoformat(),
                    "eventType": "UPDATE",
                    "eventCategory": "INVOICE",
                    "tenantId": usecase.xero.token_extra["tenant_id"],
                    "tenantType": "ORGANISATION",
                }
            ],
            "firstEventSequence": 1,
            "lastEventSequence": 1,
            "entropy": "USECASEENTROPY",
        }
    ).encode()
    signature = base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()
    response = client.post(
        "/webhooks/xero",
        body,
        content_type="application/json",
        headers={"x-xero-signature": signature},
    )
    assert response.status_code == 200
    usecase.work()

    record = SyncRecord.objects.get(flow=usecase.flow(PAYMENTS), source_id=paid.target_id)
    assert record.status == RecordStatus.SUCCEEDED, record.message
    assert record.run.trigger == "webhook"
    # Just that invoice's payments were read (a targeted run), not every payment since.
    assert (record.run.target_ids, record.run.target_field) == (
        [paid_invoice["InvoiceID"]],
        "Invoice.InvoiceID",
    )
    assert record.run.total_count == 1
    assert usecase.created(usecase.syspro_control, "ArCshJnlDet") == before + 1


def test_an_order_with_freight_charge_and_comment_lines_becomes_one_invoice(syspro_xero_usecase):
    """SYSPRO's non-stock line types, as SORTOI writes them: freight and miscellaneous charges
    post to the accounts of the non-stock line type lookup, non-stocked items to sales,
    comment lines are left out; stocked lines still post by stock code."""
    usecase = syspro_xero_usecase()
    usecase.run(CUSTOMERS)
    customer = "0000007"
    assert usecase.ledger(CUSTOMERS, customer).status == RecordStatus.SUCCEEDED

    # The order is written through SORTOI, which emulates stock, non-stocked and freight
    # lines; it takes no miscellaneous charge or comment lines, so those two are added the
    # way SYSPRO keeps them: line types 5 and 6 on the order's SorDetail, their text in
    # NComment and a charge's value in NMscChargeValue.
    syspro = connector_for(usecase.syspro)
    (written,) = syspro.write_batch(
        "sales_orders",
        [
            {
                "OrderHeader": {
                    "Customer": customer,
                    "CustomerPoNumber": "PO-NON-STOCK-1",
                    "OrderDate": "2026-11-30",
                },
                "OrderDetails": {
                    "StockLine": [
                        {"StockCode": "BOLT-001", "Warehouse": "FG", "OrderQty": "1"},
                    ],
                    "NonStockedLine": [
                        {
                            "NStockCode": "INSTALL",
                            "NStockDes": "Installation on site",
                            "NOrderQty": "2",
                            "NPrice": "40.00",
                            "NProductClass": "",
                        }
                    ],
                    "FreightLine": {"FreightValue": "12.50"},
                },
            }
        ],
    )
    assert written.target_id, written.message
    number = written.target_id
    app = usecase.syspro_app
    details = app.table("SorDetail")
    lines = [d for d in details if d["SalesOrder"] == number]
    assert [d["LineType"] for d in lines] == ["1", "7", "4"]
    # freight: no stock code, its value in the charge columns
    assert (lines[2]["MStockCode"], lines[2]["NMscChargeValue"]) == ("", "12.50")
    for line_type, description, value in (
        ("5", "Pallet charge", "15.00"),
        ("6", "Deliver to goods in, door 3", "0"),
    ):
        details.append(
            app.touch(
                order_line(
                    SalesOrder=number,
                    SalesOrderLine=str(len(lines) + 1),
                    LineType=line_type,
                    NComment=description,
                    NMscChargeValue=value,
                )
            )
        )
        lines.append(details[-1])

    usecase.run(ORDERS)
    record = usecase.ledger(ORDERS, number)
    assert record.status == RecordStatus.SUCCEEDED, record.message
    assert [line["LineType"] for line in record.source_payload["SorDetail"]] == [
        "1",
        "7",
        "4",
        "5",
        "6",
    ]
    sent = invoice(usecase, f"SO-{number}")
    got = sorted(
        (item["AccountCode"], item["Description"], Decimal(str(item["LineAmount"])))
        for item in sent["LineItems"]
    )
    goods = Decimal(lines[0]["MOrderQty"]) * Decimal(lines[0]["MPrice"])
    assert got == [
        ("200", f"Goods on SYSPRO sales order {number}", goods),  # by stock code BOLT-001
        ("200", "Non-stocked items", Decimal("80.00")),
        ("260", "Freight", Decimal("12.50")),
        ("260", "Miscellaneous charges", Decimal("15.00")),
    ]  # and no line for the comment
    assert Decimal(str(sent["SubTotal"])) == goods + Decimal("107.50")
