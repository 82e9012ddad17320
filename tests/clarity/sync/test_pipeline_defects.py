"""Issue #11, "Nothing lost, nothing leaked": the sync pipeline's record handling.

Every test runs a real flow (PostgreSQL, the SYSPRO and Xero sandboxes over
loopback HTTP) and reads the outcome back from the ledger and the target.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone
from redis import Redis

from clarity.models import ErrorKind, Flow, RecordStatus, RunStatus, SyncRecord, SyncRun, Trigger
from clarity.services.ledger import ledger_record_edit_and_retry, ledger_records_retry_code
from clarity.services.runs import flow_run_enqueue
from clarity.services.sweeper import sweep
from clarity.sync import outcomes
from clarity.sync.keys import idempotency_key
from clarity.sync.pipeline import FlowContext, RunDeferred, flow_run_execute, ledger_first
from connectors.configs import connector_for
from connectors.models import Connection
from connectors.sandbox.control import SandboxControl
from connectors.sandbox.core import json_response
from mappings.models import ConditionalRule, Default, FieldMappingRow, Mapping, Split

pytestmark = pytest.mark.django_db(transaction=True)


def run(flow: Flow) -> SyncRun:
    """One run of the flow, executed here as a worker would."""
    queued = flow_run_enqueue(flow=flow, trigger=Trigger.MANUAL)
    return flow_run_execute(run_id=queued.pk)


# -- 1. a split delivers every record it produced ------------------------------------------


def an_order_with_lines(flow: Flow, lines: int = 2) -> dict[str, Any]:
    """A SYSPRO sales order with at least ``lines`` lines, read through the connector."""
    source = connector_for(flow.source_connection)
    try:
        for page in source.read_changes("sales_orders", None):
            for order in page.records:
                details = order.get("SorDetail") or []
                codes = {d["MStockCode"] for d in details}
                if len(details) >= lines and len(codes) == len(details):
                    return order
    finally:
        source.close()
    raise AssertionError("the SYSPRO sandbox has no order with several lines")


def orders_to_invoices(syspro_xero: dict[str, Any], *, order: str, header: str) -> Flow:
    """SYSPRO orders → Xero invoices, one invoice per order line (split by stock code).

    Every other order is skipped by a rule, so the test reads one order's outcome.
    """
    base: Flow = syspro_xero["flow"]
    mapping = Mapping.objects.create(
        name=f"orders → invoices, split ({header or 'no header'})",
        source_system="SYSPRO",
        source_entity="sales_orders",
        target_system="Xero",
        target_entity="Invoices",
    )
    rows = [
        (["Customer"], ["Contact.Name"], []),
        (["SalesOrder"], ["InvoiceNumber"], [{"name": "concat", "args": {"before": "SO-"}}]),
        (["SorDetail[].MStockCode"], ["LineItems[].Description"], []),
        (["SorDetail[].MOrderQty"], ["LineItems[].Quantity"], []),
        (["SorDetail[].MPrice"], ["LineItems[].UnitAmount"], []),
    ]
    for n, (sources, targets, transforms) in enumerate(rows):
        FieldMappingRow.objects.create(
            mapping=mapping, order=n, sources=sources, targets=targets, transforms=transforms
        )
    Default.objects.create(mapping=mapping, order=0, target="Type", value="ACCREC")
    ConditionalRule.objects.create(
        mapping=mapping, order=0, condition=f"SalesOrder != '{order}'", effect="skip"
    )
    Split.objects.create(mapping=mapping, lines="LineItems", key="Description",
                         header_field=header)  # fmt: skip
    return Flow.objects.create(
        pair=base.pair,
        name=f"Orders → Invoices ({header or 'no header'})",
        source_connection=base.source_connection,
        source_entity="sales_orders",
        target_connection=base.target_connection,
        target_entity="Invoices",
        mapping=mapping,
        source_version_field="LastChanged",
        target_reference_field="InvoiceNumber",
        business_key_field="SalesOrder",
        batch_size=50,
    )


def test_a_split_delivers_every_record_as_a_part_of_its_own(syspro_xero, superuser_client):
    order = an_order_with_lines(syspro_xero["flow"])
    flow = orders_to_invoices(syspro_xero, order=order["SalesOrder"], header="InvoiceNumber")
    codes = [line["MStockCode"] for line in order["SorDetail"]]

    finished = run(flow)

    assert finished.status == RunStatus.SUCCEEDED, finished.message
    source = SyncRecord.objects.get(flow=flow, business_key=order["SalesOrder"], part=0)
    assert source.status == RecordStatus.SPLIT
    assert f"into {len(codes)} records" in source.message
    parts = list(SyncRecord.objects.filter(parent=source).order_by("part"))
    assert [p.part for p in parts] == list(range(1, len(codes) + 1))
    assert {p.status for p in parts} == {RecordStatus.SUCCEEDED}
    assert [p.idempotency_key for p in parts] == [
        f"{source.idempotency_key}#{n}" for n in range(1, len(codes) + 1)
    ]
    assert len({p.target_id for p in parts}) == len(codes) and all(p.target_id for p in parts)
    assert finished.succeeded_count == len(codes)
    # Each produced invoice is in Xero, under its own number.
    xero = connector_for(flow.target_connection)
    found = xero.find_by_references("Invoices", codes)
    assert {found[code].target_id for code in codes} == {p.target_id for p in parts}
    # The ledger record page lists the parts with their outcomes and target ids.
    page = superuser_client.get(f"/admin/clarity/syncrecord/{source.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Parts:" in html
    for part in parts:
        assert part.target_id in html and part.idempotency_key in html
    part_page = superuser_client.get(f"/admin/clarity/syncrecord/{parts[1].pk}/change/")
    assert f"ledger record #{source.pk}" in part_page.content.decode()
    # … and so does the REST API, for another program.
    listed = superuser_client.get("/api/records/", {"flow": flow.pk}).json()["results"]
    api_parts = sorted((r["part"], r["parent"], r["target_id"]) for r in listed if r["part"])
    assert api_parts == [(p.part, source.pk, p.target_id) for p in parts]

    # Read again (a backfill): nothing is sent twice, every part stays as it was.
    Flow.objects.filter(pk=flow.pk).update(cursor="")
    again = run(flow)
    assert again.status == RunStatus.SUCCEEDED, again.message
    assert SyncRecord.objects.filter(flow=flow, parent=source).count() == len(codes)
    assert xero.find_by_references("Invoices", codes).keys() == set(codes)


def test_a_failed_part_fails_and_is_retried_alone(syspro_xero, superuser):
    order = an_order_with_lines(syspro_xero["flow"])
    flow = orders_to_invoices(syspro_xero, order=order["SalesOrder"], header="InvoiceNumber")
    clash = order["SorDetail"][1]["MStockCode"]
    xero = connector_for(flow.target_connection)
    xero.write_batch("Invoices", [{"Type": "ACCREC", "Contact": {"Name": "Someone Else"},
                                   "InvoiceNumber": clash}])  # fmt: skip

    run(flow)

    parts = list(SyncRecord.objects.filter(flow=flow, part__gt=0).order_by("part"))
    second = parts[1]
    assert second.status == RecordStatus.FAILED and second.error_kind == ErrorKind.DATA
    assert [p.status for i, p in enumerate(parts) if i != 1] == [RecordStatus.SUCCEEDED] * (
        len(parts) - 1
    )
    sent = {p.pk: p.target_id for p in parts}

    # A finance user corrects that one part's invoice number and retries it.
    fixed = {**second.transformed_payload, "InvoiceNumber": f"{clash}-B"}
    ledger_record_edit_and_retry(record=second, payload=fixed, user=superuser)
    run(flow)

    second.refresh_from_db()
    assert second.status == RecordStatus.SUCCEEDED and second.target_id
    assert xero.find_by_reference("Invoices", f"{clash}-B").target_id == second.target_id
    for part in SyncRecord.objects.filter(flow=flow, part__gt=0).exclude(pk=second.pk):
        assert part.target_id == sent[part.pk]  # the others were not sent again
    assert SyncRecord.objects.filter(flow=flow, part__gt=0).count() == len(parts)


def test_a_split_the_flow_cannot_tell_apart_is_refused_not_dropped(syspro_xero):
    order = an_order_with_lines(syspro_xero["flow"])
    # No header field: every part would carry the order's one InvoiceNumber.
    flow = orders_to_invoices(syspro_xero, order=order["SalesOrder"], header="")
    before = syspro_xero["xero"].stats().get("created", {}).get("Invoices", 0)

    finished = run(flow)

    source = SyncRecord.objects.get(flow=flow, business_key=order["SalesOrder"])
    assert source.status == RecordStatus.FAILED
    assert source.error_kind == ErrorKind.CONFIG and source.error_code == "split_undeliverable"
    assert "InvoiceNumber" in source.message and f"SO-{order['SalesOrder']}" in source.message
    assert not SyncRecord.objects.filter(flow=flow, part__gt=0).exists()
    assert syspro_xero["xero"].stats().get("created", {}).get("Invoices", 0) == before
    assert finished.status == RunStatus.PARTIAL


def test_a_split_whose_parts_the_target_would_merge_is_refused(syspro_xero):
    """No flow reference, but Xero matches invoices by InvoiceNumber: parts sharing one
    would overwrite each other there."""
    order = an_order_with_lines(syspro_xero["flow"])
    flow = orders_to_invoices(syspro_xero, order=order["SalesOrder"], header="")
    Flow.objects.filter(pk=flow.pk).update(target_reference_field="")
    flow.refresh_from_db()

    run(flow)

    source = SyncRecord.objects.get(flow=flow, business_key=order["SalesOrder"])
    assert source.status == RecordStatus.FAILED and source.error_code == "split_undeliverable"
    assert "Xero would take them for one record" in source.message
    assert not SyncRecord.objects.filter(flow=flow, part__gt=0).exists()


# -- 3. a trigger during a run causes one more pass ---------------------------------------


@pytest.mark.parametrize(
    "trigger", [Trigger.WEBHOOK, Trigger.API, Trigger.SCHEDULE, Trigger.MANUAL]
)
def test_a_trigger_while_the_flow_runs_queues_one_more_run(syspro_xero, trigger):
    flow = syspro_xero["flow"]
    running = SyncRun.objects.create(flow=flow, trigger=Trigger.SCHEDULE,
                                     status=RunStatus.RUNNING)  # fmt: skip

    follow_up = flow_run_enqueue(flow=flow, trigger=trigger)

    assert follow_up.pk != running.pk and follow_up.status == RunStatus.QUEUED
    # Triggers arriving before the follow-up starts all join it: one more pass, not one each.
    assert flow_run_enqueue(flow=flow, trigger=Trigger.WEBHOOK).pk == follow_up.pk
    assert flow_run_enqueue(flow=flow, trigger=Trigger.API).pk == follow_up.pk
    assert SyncRun.objects.filter(flow=flow, status=RunStatus.QUEUED).count() == 1


def test_a_change_made_during_a_run_is_read_by_the_run_after_it(syspro_xero):
    """The run in progress has read its pages; the trigger's follow-up reads the change."""
    flow = syspro_xero["flow"]
    first = flow_run_enqueue(flow=flow, trigger=Trigger.SCHEDULE)
    first = flow_run_execute(run_id=first.pk)  # it read everything there was
    SyncRun.objects.filter(pk=first.pk).update(status=RunStatus.RUNNING)  # … and still runs
    syspro = connector_for(flow.source_connection)
    customer = next(iter(syspro.read_changes("customers", None))).records[0]
    syspro.close()
    sandbox = syspro_xero["syspro_server"].app  # an edit in SYSPRO itself, meanwhile
    syspro_xero["syspro"].advance_clock(60)
    row = sandbox.find("ArCustomer", Customer=customer["Customer"])
    sandbox.touch(row, Name=f"{row['Name']} (renamed)")

    follow_up = flow_run_enqueue(flow=flow, trigger=Trigger.WEBHOOK)
    assert follow_up.pk != first.pk
    SyncRun.objects.filter(pk=first.pk).update(status=RunStatus.SUCCEEDED)
    flow_run_execute(run_id=follow_up.pk)

    latest = SyncRecord.objects.filter(flow=flow, source_id=customer["Customer"]).first()
    assert latest.run_id == follow_up.pk and latest.status == RecordStatus.SUCCEEDED
    assert latest.transformed_payload["Name"].endswith("(renamed)")


# -- 4. every retry honours the backoff and the attempt limit -----------------------------


def lost_write(flow: Flow, *, attempts: int) -> SyncRecord:
    """A row whose write's answer was lost: unknown, with a reference Xero has never seen."""
    payload = {"ContactNumber": "LOST-1", "Name": "Never Arrived Ltd"}
    return SyncRecord.objects.create(
        flow=flow,
        pair_id=flow.pair_id,
        source_id="LOST-1",
        source_version="v1",
        idempotency_key=idempotency_key(flow.pk, "LOST-1", "v1"),
        source_payload={"Customer": "LOST-1", "Name": "Never Arrived Ltd"},
        transformed_payload=payload,
        status=RecordStatus.UNKNOWN,
        attempts=attempts,
    )


def test_a_lost_write_not_found_waits_for_its_backoff(syspro_xero):
    flow = syspro_xero["flow"]
    row = lost_write(flow, attempts=1)

    run(flow)

    row.refresh_from_db()
    assert row.status == RecordStatus.FAILED and row.error_code == "not_delivered"
    assert row.next_retry_at is not None and row.next_retry_at > timezone.now()
    assert row.attempts == 1  # looked up, not sent again yet
    # The next run, before the backoff has passed, does not send it either.
    run(flow)
    row.refresh_from_db()
    assert row.status == RecordStatus.FAILED and row.attempts == 1


def test_a_lost_write_past_the_attempt_limit_waits_for_a_person(syspro_xero):
    flow = syspro_xero["flow"]
    row = lost_write(flow, attempts=outcomes.MAX_ATTEMPTS)

    run(flow)

    row.refresh_from_db()
    assert row.status == RecordStatus.FAILED and row.next_retry_at is None
    assert f"Gave up after {outcomes.MAX_ATTEMPTS} attempts" in row.message
    assert sweep()["retry_runs"] == 0  # nothing due: no run is started for it


# -- 2. a value PostgreSQL cannot store fails its record alone -----------------------------

BAD_NAMES = {
    "NUL-1": ("Null\x00 Byte Ltd", "NUL character"),
    "SUR-1": ("Broken \ud800 Ltd", "lone surrogate"),
}


def contacts_to_customers(syspro_xero: dict[str, Any]) -> Flow:
    """Xero contacts → SYSPRO customers: a JSON source, which can carry any character."""
    base: Flow = syspro_xero["flow"]
    mapping = Mapping.objects.create(
        name="Xero contacts → SYSPRO customers",
        source_system="Xero",
        source_entity="Contacts",
        target_system="SYSPRO",
        target_entity="customers",
    )
    for n, (source, target) in enumerate([("ContactNumber", "Customer"), ("Name", "Name")]):
        FieldMappingRow.objects.create(mapping=mapping, order=n, sources=[source],
                                       targets=[target])  # fmt: skip
    return Flow.objects.create(
        pair=base.pair,
        name="Contacts → Customers",
        source_connection=base.target_connection,
        source_entity="Contacts",
        target_connection=base.source_connection,
        target_entity="customers",
        mapping=mapping,
        source_version_field="UpdatedDateUTC",
        target_reference_field="Customer",
        business_key_field="ContactNumber",
        batch_size=50,
    )


def test_a_value_postgresql_cannot_store_fails_that_record_alone(syspro_xero):
    flow = contacts_to_customers(syspro_xero)
    xero = connector_for(flow.source_connection)
    good = [{"ContactNumber": f"GOOD-{n}", "Name": f"Good Customer {n}"} for n in range(3)]
    bad = [{"ContactNumber": number, "Name": f"Placeholder {number}"} for number in BAD_NAMES]
    assert all(o.ok for o in xero.write_batch("Contacts", good + bad))
    # Xero's API refuses NUL in a name, so the stored text is set under it: a source
    # can still hand over what PostgreSQL can't store (a lone surrogate, or any
    # other JSON source's NUL), and that is the case this test is about.
    for org in syspro_xero["xero_server"].app.orgs.values():
        for contact in org.records["Contacts"].values():
            if contact.get("ContactNumber") in BAD_NAMES:
                contact["Name"] = BAD_NAMES[contact["ContactNumber"]][0]

    finished = run(flow)

    assert finished.status == RunStatus.PARTIAL, finished.message
    read = SyncRecord.objects.filter(flow=flow).count()
    for number, (name, why) in BAD_NAMES.items():
        row = SyncRecord.objects.get(flow=flow, business_key=number)
        assert row.status == RecordStatus.FAILED and row.error_kind == ErrorKind.DATA
        assert row.error_code == "unstorable_value"
        assert "Name:" in row.message and why in row.message
        escaped = name.replace("\x00", "\\u0000").replace("\ud800", "\\ud800")
        assert row.source_payload["Name"] == escaped  # shown, escaped, in the ledger
    for record in good:
        row = SyncRecord.objects.get(flow=flow, business_key=record["ContactNumber"])
        assert row.status == RecordStatus.SUCCEEDED, row.message
    flow.refresh_from_db()
    assert flow.cursor  # the page's outcomes are stored, so the flow moved on

    # The next run is not stuck at that page: it goes on, and sends nothing twice.
    again = run(flow)
    assert again.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL), again.message
    assert "Unexpected error" not in again.message
    assert SyncRecord.objects.filter(flow=flow).count() == read


@pytest.mark.parametrize(
    ("record", "field", "why"),
    [
        ({"Name": "a\x00b"}, "Name", "NUL"),
        ({"Lines": [{"Note": "ok"}, {"Note": "\ud800"}]}, "Lines[1].Note", "lone surrogate"),
        ({"Amount": float("nan")}, "Amount", "nan is not a number"),
        ({"Amount": float("inf")}, "Amount", "inf is not a number"),
        ({"Big": 10**5000}, "Big", "digits, too long"),
        ({"Ex\x00tra": 1}, "Ex\\u0000tra (the field's name)", "NUL"),
        ({"Customer": "C" * 300}, "Customer (the record's id)", "300 characters"),
    ],
)
def test_each_kind_of_unstorable_value_fails_its_record_and_the_page_goes_on(
    syspro_xero, record, field, why
):
    flow = syspro_xero["flow"]
    ctx = FlowContext.build(SyncRun.objects.create(flow=flow, trigger=Trigger.MANUAL), "test")
    page = [
        {"Customer": "OK-1", "Name": "Fine"},
        {"Customer": "BAD-1", "Name": "x", **record},
        {"Customer": "OK-2", "Name": "Fine too"},
    ]

    fresh, _ = ledger_first(ctx, page)

    assert [r.source_id for r in fresh] == ["OK-1", "OK-2"]
    bad = SyncRecord.objects.get(flow=flow, status=RecordStatus.FAILED)
    assert bad.error_code == "unstorable_value"
    assert f"{field}:" in bad.message and why in bad.message
    assert ctx.tally.total == 3 and ctx.tally.failed == 1


def test_an_answer_or_payload_postgresql_cannot_store_never_breaks_a_batchs_save(syspro_xero):
    flow = syspro_xero["flow"]
    ctx = FlowContext.build(SyncRun.objects.create(flow=flow, trigger=Trigger.MANUAL), "test")
    rows, _ = ledger_first(ctx, [{"Customer": f"C-{n}", "Name": "Fine"} for n in range(3)])
    first, second, third = rows
    first.transformed_payload = {"Name": "a\x00b", "Amount": float("nan")}
    outcomes.mark_succeeded(first, target_id="T\x00-1", raw={"Echo": "\ud800", "x": float("inf")})
    outcomes.mark_failed(second, kind=ErrorKind.DATA, code="rejected",
                         message="Bad \x00 name", raw="\x00")  # fmt: skip
    outcomes.mark_succeeded(third, target_id="T-3", raw={"ok": True})

    outcomes.save(rows)

    stored = {r.source_id: r for r in SyncRecord.objects.filter(flow=flow)}
    assert stored["C-0"].status == RecordStatus.SUCCEEDED
    assert stored["C-0"].transformed_payload == {"Name": "a\\u0000b", "Amount": "nan"}
    assert stored["C-0"].target_response == {"Echo": "\\ud800", "x": "inf"}
    assert stored["C-0"].target_id == "T\\u0000-1"
    assert (
        stored["C-1"].message == "Bad \\u0000 name" and stored["C-1"].target_response == "\\u0000"
    )
    assert stored["C-2"].target_response == {"ok": True}


# -- 5. one oversized record fails alone -------------------------------------------------


def a_fat_customer(syspro_xero: dict[str, Any], size: int) -> str:
    """One SYSPRO customer whose short name (→ the contact's FirstName) is ``size`` bytes."""
    app = syspro_xero["syspro_server"].app
    customer = app.table("ArCustomer")[7]
    customer["ShortName"] = "x" * size
    return customer["Customer"]


def http_statuses(control) -> dict[str, int]:
    return control.stats().get("responses", {})


def test_a_batch_refused_as_too_large_is_split_until_only_the_big_record_fails(syspro_xero):
    flow = syspro_xero["flow"]
    fat = a_fat_customer(syspro_xero, 60_000)
    # Xero's cap is 10 MB; the sandbox's is lowered so a 60 KB record meets it.
    syspro_xero["xero_server"].app.max_body = 40_000

    finished = run(flow)

    big = SyncRecord.objects.get(flow=flow, source_id=fat)
    assert big.status == RecordStatus.FAILED and big.error_code == "too_large"
    assert big.error_kind == ErrorKind.DATA
    assert "This record is 59 KB" in big.message and "HTTP 413" in big.message
    assert http_statuses(syspro_xero["xero"]).get("413", 0) >= 2  # the batch, then halves
    # Every other record of its batch was delivered; only the duplicate-name pair fails.
    others = SyncRecord.objects.filter(flow=flow).exclude(pk=big.pk)
    assert not others.filter(error_code="too_large").exists()
    assert others.filter(status=RecordStatus.SUCCEEDED).count() == others.count() - 1
    assert finished.status == RunStatus.PARTIAL
    # "Retry every record failing with this error code" sends that one record, not a batch.
    queued, _ = ledger_records_retry_code(flow=flow, error_code="too_large", user=None)
    assert queued == 1


def test_a_record_over_the_targets_request_size_fails_before_it_is_sent(syspro_xero):
    flow = syspro_xero["flow"]
    fat = a_fat_customer(syspro_xero, 30_000)
    xero = Connection.objects.get(pk=flow.target_connection_id)
    xero.settings = {**xero.settings, "max_request_bytes": 20_000}
    xero.save()
    syspro_xero["xero_server"].app.max_body = 20_000

    finished = run(flow)

    assert finished.status == RunStatus.PARTIAL, finished.message

    big = SyncRecord.objects.get(flow=flow, source_id=fat)
    assert big.status == RecordStatus.FAILED and big.error_code == "too_large"
    assert "This record is 29 KB; Xero accepts at most 20 KB per request" in big.message
    assert big.target_response is None  # nothing was sent
    # The rest went in batches packed under the limit: Xero never refused one.
    assert http_statuses(syspro_xero["xero"]).get("413", 0) == 0
    delivered = SyncRecord.objects.filter(flow=flow, status=RecordStatus.SUCCEEDED).count()
    assert delivered == SyncRecord.objects.filter(flow=flow).count() - 2  # and the duplicate


def test_xero_declares_its_documented_request_size(syspro_xero):
    xero = connector_for(syspro_xero["flow"].target_connection)
    assert xero.max_request_bytes("Contacts") == 10 * 1024 * 1024


def customers_to_accounts(syspro_xero: dict[str, Any], sandbox, *, condition: str):
    """SYSPRO customers → Salesforce Accounts; records matching ``condition`` carry a field
    Account does not have, which Salesforce refuses for the whole Collections call (400)."""
    base: Flow = syspro_xero["flow"]
    server = sandbox("salesforce")
    salesforce = Connection.objects.create(
        name="Salesforce",
        system="salesforce",
        base_url=server.url,
        settings={
            "client_id": "3MVG9demo.clarity.connect.sandbox",
            "auth_flow": "client_credentials",
        },
        credentials={"client_secret": "demo-client-secret-0123456789"},
    )
    mapping = Mapping.objects.create(name="SYSPRO customers → Accounts", source_system="SYSPRO",
                                     source_entity="customers", target_system="Salesforce",
                                     target_entity="Account")  # fmt: skip
    for n, (source, target) in enumerate([("Customer", "ExternalID__c"), ("Name", "Name")]):
        FieldMappingRow.objects.create(mapping=mapping, order=n, sources=[source],
                                       targets=[target])  # fmt: skip
    ConditionalRule.objects.create(mapping=mapping, order=0, condition=condition,
                                   effect="set", target="NoSuchField__c", value="x")  # fmt: skip
    flow = Flow.objects.create(
        pair=base.pair,
        name="Customers → Accounts",
        source_connection=base.source_connection,
        source_entity="customers",
        target_connection=salesforce,
        target_entity="Account",
        mapping=mapping,
        source_version_field="LastChanged",
        target_reference_field="ExternalID__c",
        business_key_field="Customer",
        batch_size=200,
    )
    return flow, SandboxControl(server.url)


def test_a_batch_refused_whole_for_one_records_field_delivers_the_rest(syspro_xero, sandbox):
    flow, _ = customers_to_accounts(syspro_xero, sandbox, condition="Customer == '0000010'")

    finished = run(flow)

    bad = SyncRecord.objects.get(flow=flow, source_id="0000010")
    assert bad.status == RecordStatus.FAILED and bad.error_code == "invalid_field"
    assert "NoSuchField__c" in bad.message
    others = SyncRecord.objects.filter(flow=flow).exclude(pk=bad.pk)
    assert set(others.values_list("status", flat=True)) == {RecordStatus.SUCCEEDED}
    assert finished.status == RunStatus.PARTIAL


def test_a_refusal_of_every_half_fails_the_batch_without_a_call_per_record(syspro_xero, sandbox):
    """A fault of the flow (every record carries the field) costs three calls a batch, not 400."""
    flow, salesforce = customers_to_accounts(syspro_xero, sandbox, condition="Customer != ''")

    run(flow)

    rows = SyncRecord.objects.filter(flow=flow)
    assert set(rows.values_list("error_code", flat=True)) == {"invalid_field"}
    batches = -(-rows.count() // 200)
    # Three write calls a batch (the batch, then its halves), each refused at most twice
    # (the connector's look-up of unchanged records, then the write itself).
    assert http_statuses(salesforce).get("400", 0) <= 2 * 3 * batches


def test_a_halved_batch_interrupted_by_a_rate_limit_keeps_what_was_answered(syspro_xero):
    """The halves answered before a 429 keep their outcomes; only the rest waits, unsent,
    and the run that goes on doubles nothing."""
    flow = syspro_xero["flow"]
    a_fat_customer(syspro_xero, 60_000)
    app = syspro_xero["xero_server"].app
    app.max_body = 40_000
    refused = []

    def counted(handler):
        def write(request):
            response = handler(request)
            if response.status == 413:
                refused.append(request.path)
            elif refused and "429" not in refused:  # a half answered after the refusal…
                refused.append("429")
                app.faults.retry_after = 600
                app.faults.next.append("429")  # … then a long rate limit
            return response

        return write

    app._routes = [
        (method, regex, counted(h) if h == app.write_records else h)
        for method, regex, h in app._routes
    ]
    first = flow_run_enqueue(flow=flow, trigger=Trigger.MANUAL)
    with pytest.raises(RunDeferred):
        flow_run_execute(run_id=first.pk)

    # Every contact Xero created is a succeeded row: the half answered before the 429 kept
    # its outcomes instead of going back to pending, to be sent a second time.
    succeeded = SyncRecord.objects.filter(flow=flow, status=RecordStatus.SUCCEEDED).count()
    assert syspro_xero["xero"].stats()["created"]["Contacts"] == succeeded
    waiting = SyncRecord.objects.filter(flow=flow, status=RecordStatus.PENDING)
    assert waiting.filter(claimed_until__isnull=True).count() == waiting.count() > 0

    # The limit passes: the run goes on and every contact is in Xero once.
    app.faults.next.clear()
    Redis.from_url(settings.REDIS_URL).delete(
        *Redis.from_url(settings.REDIS_URL).keys("clarity:ratelimit:*") or ["none"]
    )
    flow_run_execute(run_id=first.pk)
    delivered = SyncRecord.objects.filter(flow=flow, status=RecordStatus.SUCCEEDED).count()
    created = syspro_xero["xero"].stats()["created"]["Contacts"]
    assert created == delivered


# -- 5. a write whose answer was lost is always settled by a later pass -------------------


def lost_answers(flow: Flow, count: int) -> dict[int, str]:
    """``count`` delivered rows turned unknown, as if each write's answer had been lost
    (the contacts are in Xero); returns their target ids by row id."""
    rows = list(
        SyncRecord.objects.filter(flow=flow, status=RecordStatus.SUCCEEDED).order_by("pk")[:count]
    )
    assert len(rows) == count
    SyncRecord.objects.filter(pk__in=[r.pk for r in rows]).update(
        status=RecordStatus.UNKNOWN, target_id="", target_response=None
    )
    return {r.pk: r.target_id for r in rows}


def failing_lookups(app, *, after: int) -> dict[str, Any]:
    """Xero answers the first ``after`` contact lookups, then 503 to every one while
    ``state["failing"]``; writes and the rest go through."""
    state = {"lookups": 0, "failing": True}

    def wrap(handler):
        def lookup(request):
            if "Contacts" in request.path and "where" in (request.query or {}):
                state["lookups"] += 1
                if state["failing"] and state["lookups"] > after:
                    return json_response({"error": "injected"}, 503)
            return handler(request)

        return lookup

    app._routes = [
        (method, regex, wrap(h) if method == "GET" and h == app.list_records else h)
        for method, regex, h in app._routes
    ]
    return state


def test_unknown_rows_whose_lookup_failed_are_settled_by_the_next_pass(syspro_xero):
    """A lookup failing part way keeps the answers already had, leaves the rest unknown
    and unclaimed, and the sweeper's next run settles them; nothing is sent again."""
    flow = syspro_xero["flow"]
    run(flow)
    Flow.objects.filter(pk=flow.pk).update(batch_size=50)  # one lookup per 50 rows
    created = syspro_xero["xero"].stats()["created"]["Contacts"]
    lost = lost_answers(flow, 120)
    state = failing_lookups(syspro_xero["xero_server"].app, after=1)

    assert sweep()["retry_runs"] == 1
    retry = SyncRun.objects.get(flow=flow, trigger=Trigger.RETRY, status=RunStatus.QUEUED)
    flow_run_execute(run_id=retry.pk)

    rows = SyncRecord.objects.filter(pk__in=lost)
    # The batch the first lookup answered is settled, not thrown away with the rest.
    assert rows.filter(status=RecordStatus.SUCCEEDED).count() == 50
    left = rows.filter(status=RecordStatus.UNKNOWN)
    assert left.count() == 70
    # … and the rest wait unclaimed, for the next pass, not for a dead run's claim.
    assert left.filter(claimed_until__isnull=True).count() == 70
    assert "checking failed too" in left.first().message

    state["failing"] = False
    assert sweep()["retry_runs"] == 1
    retry = SyncRun.objects.get(flow=flow, trigger=Trigger.RETRY, status=RunStatus.QUEUED)
    flow_run_execute(run_id=retry.pk)

    assert dict(rows.values_list("pk", "target_id")) == lost  # each found as the same contact
    assert set(rows.values_list("status", flat=True)) == {RecordStatus.SUCCEEDED}
    assert syspro_xero["xero"].stats()["created"]["Contacts"] == created  # nothing sent again


def test_a_lookup_held_back_by_a_rate_limit_defers_the_run_and_leaves_rows_unknown(syspro_xero):
    """A 429 (or an open breaker) on the lookup: the run waits as told, the rows stay unknown
    (never handed back as unsent), and the run that goes on settles them."""
    flow = syspro_xero["flow"]
    run(flow)
    created = syspro_xero["xero"].stats()["created"]["Contacts"]
    lost = lost_answers(flow, 30)
    app = syspro_xero["xero_server"].app
    app.faults.retry_after = 600
    app.faults.path_prefix = "/api.xro"
    app.faults.next.append("429")

    retry = flow_run_enqueue(flow=flow, trigger=Trigger.RETRY)
    with pytest.raises(RunDeferred):
        flow_run_execute(run_id=retry.pk)

    rows = SyncRecord.objects.filter(pk__in=lost)
    assert rows.filter(status=RecordStatus.UNKNOWN, claimed_until__isnull=True).count() == 30
    assert SyncRun.objects.get(pk=retry.pk).status == RunStatus.QUEUED

    app.faults.next.clear()
    redis = Redis.from_url(settings.REDIS_URL)
    redis.delete(*redis.keys("clarity:ratelimit:*") or ["none"])
    flow_run_execute(run_id=retry.pk)

    assert dict(rows.values_list("pk", "target_id")) == lost
    assert set(rows.values_list("status", flat=True)) == {RecordStatus.SUCCEEDED}
    assert syspro_xero["xero"].stats()["created"]["Contacts"] == created


def test_a_lost_write_whose_lookup_is_held_back_stays_unknown_not_resent(syspro_xero):
    """A write whose every try lost its answer, then a 429 on its lookup: the batch stays
    unknown (it may be in Xero) instead of going back to pending to be sent blind."""
    flow = syspro_xero["flow"]
    app = syspro_xero["xero_server"].app
    app.faults.retry_after = 600
    app.faults.path_prefix = "/api.xro"
    app.faults.next.extend(["reset_after"] * 4 + ["429"])  # the write's tries, its lookup

    first = flow_run_enqueue(flow=flow, trigger=Trigger.MANUAL)
    with pytest.raises(RunDeferred):
        flow_run_execute(run_id=first.pk)

    unknown = SyncRecord.objects.filter(flow=flow, status=RecordStatus.UNKNOWN)
    assert unknown.count() == 50  # the batch written (Xero's batch: 50 contacts)
    assert unknown.filter(claimed_until__isnull=True).count() == 50
    assert not SyncRecord.objects.filter(flow=flow, status=RecordStatus.SUCCEEDED).exists()

    app.faults.next.clear()
    redis = Redis.from_url(settings.REDIS_URL)
    redis.delete(*redis.keys("clarity:ratelimit:*") or ["none"])
    flow_run_execute(run_id=first.pk)

    succeeded = SyncRecord.objects.filter(flow=flow, status=RecordStatus.SUCCEEDED)
    assert not SyncRecord.objects.filter(flow=flow, status=RecordStatus.UNKNOWN).exists()
    assert syspro_xero["xero"].stats()["created"]["Contacts"] == succeeded.count() > 0
    assert succeeded.values("target_id").distinct().count() == succeeded.count()


# -- a mapping changed during a run is used from the run's next page ----------------------


def test_a_lookup_entry_deleted_mid_run_is_not_used_for_the_pages_after(syspro_xero, monkeypatch):
    """README: "Runs use it from their next record" — not only from the next run."""
    from clarity.sync import pipeline
    from mappings import services
    from mappings.engine import OnMissing
    from mappings.models import LookupEntry, LookupTable

    flow = syspro_xero["flow"]
    syspro = flow.source_connection
    syspro.settings = {**syspro.settings, "page_size": 20}  # small pages: the run reads several
    syspro.save()
    source = connector_for(flow.source_connection)
    try:
        pages = [[c["Customer"] for c in p.records] for p in source.read_changes("customers", None)]
        currency = {
            c["Customer"]: c.get("Currency") for p in source.read_changes("customers", None)
            for c in p.records
        }  # fmt: skip
    finally:
        source.close()
    assert len(pages) >= 2, "the SYSPRO sandbox serves customers in one page"
    first, later = set(pages[0]), {c for p in pages[1:] for c in p}
    shared = {currency[c] for c in first} & {currency[c] for c in later}
    assert shared, "no currency appears both on the first page and after it"
    gone = sorted(v for v in shared if v)[0]
    table = LookupTable.objects.create(name="Currencies", on_missing=OnMissing.FAIL.value)
    for value in {v for v in currency.values() if v}:
        LookupEntry.objects.create(table=table, key=value, value=value)
    row = FieldMappingRow.objects.get(mapping=flow.mapping, targets=["DefaultCurrency"])
    row.transforms = [{"name": "lookup", "args": {"table": "Currencies"}}]
    services.mapping_part_save(part=row)

    real, calls = pipeline.ledger_first, []

    def ledger_first(ctx, records, *versions):  # the second page read: delete the entry
        calls.append(len(records))
        if len(calls) == 2:
            services.lookup_entries_delete(entries=LookupEntry.objects.filter(key=gone))
        return real(ctx, records, *versions)

    monkeypatch.setattr(pipeline, "ledger_first", ledger_first)
    run(flow)

    assert len(calls) >= 2
    rows = {r.source_id: r for r in SyncRecord.objects.filter(flow=flow)}
    before = [rows[c] for c in first if currency[c] == gone]
    after = [rows[c] for c in later if currency[c] == gone]
    assert before and after
    assert {r.status for r in before} == {RecordStatus.SUCCEEDED}
    assert {r.status for r in after} == {RecordStatus.FAILED}, [r.message for r in after]
