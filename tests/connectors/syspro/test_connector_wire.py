"""Contract tests: the SYSPRO connector against its sandbox over real HTTP on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from redis import Redis

from connectors.base import ConnectionConfig, InMemoryTokenStore, WriteStatus
from connectors.errors import ConnectorError, ErrorKind, RateLimitedError
from connectors.http import RetryPolicy
from connectors.ratelimit import RateLimiter
from connectors.sandbox.control import SandboxControl
from connectors.sandbox.core import SandboxServer
from connectors.sandbox.syspro import app as sandbox
from connectors.sandbox.syspro import seed
from connectors.syspro import SysproConnector, syspro_connector

Start = Callable[..., SandboxServer]


def connect(
    server: SandboxServer,
    store: InMemoryTokenStore | None = None,
    limiter: RateLimiter | None = None,
    secrets: dict[str, str] | None = None,
    **settings: Any,
) -> SysproConnector:
    config = ConnectionConfig(
        system="syspro",
        connection_id="syspro-test",
        base_url=server.url + sandbox.ROOT,
        settings={"company_id": "EDU1", "operator": "ADMIN", **settings},
        secrets=secrets or {"operator_password": "demo", "company_password": "demo"},
    )
    connector = SysproConnector(config, store or InMemoryTokenStore(), limiter)
    connector.http.retry = RetryPolicy(backoff_base=0.01, backoff_max=0.05)
    return connector


def app_of(server: SandboxServer) -> sandbox.SysproSandbox:
    app = server.app
    assert isinstance(app, sandbox.SysproSandbox)
    return app


@pytest.fixture
def server(start_sandbox: Start) -> SandboxServer:
    return start_sandbox("syspro")


@pytest.fixture
def syspro(server: SandboxServer) -> SysproConnector:
    return connect(server)


def order(customer: str, po: str | None, *lines: dict[str, Any]) -> dict[str, Any]:
    header = {"Customer": customer, "CustomerPoNumber": po, "OrderDate": "2026-11-02"}
    stock = list(lines) or [{"StockCode": "BOLT-001", "Warehouse": "FG", "OrderQty": 2}]
    return {"OrderHeader": header, "OrderDetails": {"StockLine": stock}}


def payment(customer: str, reference: str, value: str, *, when: str | None = None) -> dict:
    return {
        "Payment": {
            "Customer": customer,
            "Bank": "BARC01",
            "Reference": reference,
            "PaymentDate": when or date.today().isoformat(),
            "PaymentValue": value,
        }
    }


# -- connection and sessions ----------------------------------------------------------


def test_connection_names_the_operator_and_company(syspro: SysproConnector) -> None:
    check = syspro.test_connection()
    assert check.reachable and check.kind is None
    assert check.connected_as == "ADMIN on Clarity Demo Engineering Ltd (EDU1)"


def test_connection_with_a_wrong_password_is_an_auth_failure(server: SandboxServer) -> None:
    check = connect(server, secrets={"operator_password": "nope"}).test_connection()
    assert check.reachable and check.kind is ErrorKind.AUTH
    assert "operator or a password" in check.message


def test_connection_to_nothing_is_unreachable() -> None:
    dead = ConnectionConfig("syspro", "x", "http://127.0.0.1:9/SYSPROWCFService/Rest")
    connector = SysproConnector(dead, InMemoryTokenStore())
    connector.http.retry = RetryPolicy(attempts=1)
    check = connector.test_connection()
    assert not check.reachable and check.kind is ErrorKind.TRANSIENT


def test_headroom_comes_from_the_shared_limiter(server: SandboxServer, redis_client: Redis) -> None:
    config = ConnectionConfig(
        "syspro",
        "limited",
        server.url,  # the server alone, as a connection form may hold it
        settings={"company_id": "EDU1", "operator": "ADMIN", "calls_per_minute": 3,
                  "rate_limit_max_wait": 0},
        secrets={"operator_password": "demo", "company_password": "demo"},
    )  # fmt: skip
    syspro = syspro_connector(config, InMemoryTokenStore(), redis=redis_client)
    first = syspro.test_connection()  # Logon + GetLogonProfile
    assert first.reachable and first.headroom and first.headroom.minute_remaining == 3
    second = syspro.test_connection()  # GetLogonProfile in the same session
    assert second.headroom and second.headroom.minute_remaining == 1
    with pytest.raises(RateLimitedError):
        syspro.read_one("customers", "0000002")


def test_a_lost_session_is_replaced_by_one_new_logon(server: SandboxServer) -> None:
    store = InMemoryTokenStore()
    syspro = connect(server, store)
    assert syspro.read_one("ArCustomer", "0000001")
    first = store.load()
    SandboxControl(server.url).advance_clock(3600)  # idle past session_idle_seconds
    assert syspro.read_one("ArCustomer", "0000002")
    assert store.load() != first and store.saves == 2


def test_workers_sharing_a_connection_log_on_again_only_once(server: SandboxServer) -> None:
    store = InMemoryTokenStore()
    connect(server, store).read_one("ArCustomer", "0000001")
    app_of(server).expire_sessions()
    errors: list[Exception] = []

    def work() -> None:
        try:
            connect(server, store).read_one("ArCustomer", "0000003")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert store.saves == 2
    assert len(app_of(server).sessions) == 1


def test_a_second_logon_ending_the_first_is_survived(start_sandbox: Start) -> None:
    server = start_sandbox("syspro", single_session_per_operator=True)
    one, two = connect(server), connect(server)
    for _ in range(3):
        assert one.read_one("ArCustomer", "0000001")
        assert two.read_one("ArCustomer", "0000001")


def test_no_free_licence_seat_is_transient_and_logoff_frees_it(start_sandbox: Start) -> None:
    server = start_sandbox("syspro", max_sessions=1)
    holder = connect(server)
    holder.read_one("ArCustomer", "0000001")
    with pytest.raises(ConnectorError) as caught:
        connect(server).read_one("ArCustomer", "0000001")
    assert (caught.value.kind, caught.value.code) == (ErrorKind.TRANSIENT, "no_licence_seat")
    holder.logoff()
    assert connect(server).read_one("ArCustomer", "0000001")


def test_an_unlicensed_operator_gets_an_auth_error(server: SandboxServer) -> None:
    viewer = connect(
        server,
        operator="VIEWER",
        secrets={"operator_password": "viewer", "company_password": "demo"},
    )
    with pytest.raises(ConnectorError) as caught:
        viewer.read_one("ArCustomer", "0000001")
    assert (caught.value.kind, caught.value.code) == (ErrorKind.AUTH, "not_licensed")
    assert viewer.read_one("GenJournalDetail", "2024/1/1/1")  # COMFND is licensed


# -- reads ---------------------------------------------------------------------------


def test_customers_page_to_the_end_and_the_cursor_moves_forward(server: SandboxServer) -> None:
    syspro = connect(server, page_size=50)
    pages = list(syspro.read_changes("ArCustomer", None))
    codes = [row["Customer"] for page in pages for row in page.records]
    assert len(pages) == 7 and len(codes) == seed.CUSTOMER_COUNT == len(set(codes))
    cursor = pages[-1].cursor
    version, code = json.loads(cursor or "")  # the last row's rowversion and key
    rows = {r["Customer"]: r for r in app_of(server).tables["ArCustomer"]}
    newest = max(rows.values(), key=lambda r: int(r["TimeStamp"]))
    assert (version, code) == (newest["TimeStamp"], newest["Customer"])
    again = [r for p in syspro.read_changes("ArCustomer", cursor) for r in p.records]
    assert [r["Customer"] for r in again] == [code]  # from the cursor's row, no earlier
    assert "TimeStamp" not in again[0]  # read to page by, not part of the record
    outcome = syspro.write_batch("ArCustomer", [{"Customer": "0000007", "Telephone": "0113 1"}])
    assert outcome[0].status is WriteStatus.UPDATED
    changed = [r for p in syspro.read_changes("ArCustomer", cursor) for r in p.records]
    assert [r["Customer"] for r in changed] == [r["Customer"] for r in again] + ["0000007"]


def test_orders_and_invoices_come_with_their_lines(server: SandboxServer) -> None:
    syspro = connect(server, page_size=100)
    orders = {r["SalesOrder"]: r for p in syspro.read_changes("SorMaster", None) for r in p.records}
    assert len(orders) == seed.ORDER_COUNT
    assert all(order["SorDetail"] for order in orders.values())
    assert orders[seed.ORPHAN_ORDER]["Customer"] == seed.MISSING_CUSTOMER
    unmapped = orders[seed.UNMAPPED_ORDER]["SorDetail"]
    assert {"MStockCode": "LEGACY-001", "MProductClass": "OBS"}.items() <= unmapped[-1].items()
    invoices = [r for p in syspro.read_changes("ArInvoice", None) for r in p.records]
    assert len(invoices) == seed.INVOICE_COUNT
    lines = sum(len(i["ArTrnDetail"]) for i in invoices)
    assert lines == len(app_of(server).tables["ArTrnDetail"])


def test_the_whole_gl_history_reads_in_pages(start_sandbox: Start) -> None:
    server = start_sandbox("syspro", max_return_rows=5000)
    syspro = connect(server, page_size=5000)
    pages = list(syspro.read_changes("GenJournalDetail", None))
    rows = [r for p in pages for r in p.records]
    assert len(rows) == 20_400 and len(pages) == 5
    keys = {(r["GlYear"], r["GlPeriod"], r["Journal"], r["EntryNumber"]) for r in rows}
    assert len(keys) == len(rows)
    assert list(syspro.read_changes("GenJournalDetail", pages[-1].cursor)) == []


def test_a_server_capping_rows_below_page_size_loses_nothing(start_sandbox: Start) -> None:
    server = start_sandbox("syspro", max_return_rows=100)
    rows = [r for p in connect(server).read_changes("ArCustomer", None) for r in p.records]
    assert len(rows) == seed.CUSTOMER_COUNT


def test_read_one_matches_the_polled_shape(syspro: SysproConnector) -> None:
    polled = {r["SalesOrder"]: r for p in syspro.read_changes("SorMaster", None) for r in p.records}
    assert syspro.read_one("SorMaster", "100005") == polled["100005"]
    customer = syspro.read_one("ArCustomer", "0000150")
    assert customer and customer["Name"] == seed.DUPLICATE_NAME
    assert syspro.read_one("ArCustomer", seed.MISSING_CUSTOMER) is None
    stock = syspro.read_one("InvMaster", "PUMP-OUT")
    assert stock and {w["QtyOnHand"] for w in stock["InvWarehouse"]} == {"0"}
    assert syspro.read_one("GenJournalDetail", "2025/3/4/2")["GlPeriod"] == "3"
    assert syspro.read_one("GenJournalDetail", "2025/3/4/99") is None


def test_the_catalogue_lists_fields_and_types(syspro: SysproConnector) -> None:
    assert set(syspro.entities()) >= {"ArCustomer", "SorMaster", "ArCshJnlDet", "GenJournalDetail"}
    schema = syspro.describe("customers")  # the product's name for ArCustomer
    types = {f.name: f.type for f in schema.fields}
    assert types["CreditLimit"] == "number" and types["DateCustAdded"] == "date"
    assert schema.key_field == "Customer" and schema.reference_field == "Customer"
    assert syspro.max_batch_size("SorMaster") == 50 and syspro.max_batch_size("ArInvoice") == 0
    with pytest.raises(ConnectorError) as caught:
        syspro.describe("Widgets")
    assert caught.value.kind is ErrorKind.CONFIG


# -- writes --------------------------------------------------------------------------


def test_customers_are_added_or_updated_by_code(server: SandboxServer) -> None:
    syspro = connect(server)
    outcomes = syspro.write_batch(
        "ArCustomer",
        [
            {"Customer": "NEW0001", "Name": "Wharfedale Pumps Ltd", "Currency": "GBP"},
            {"Customer": "0000002", "CreditLimit": "25000.00"},
            {"Customer": "NEW0002", "Name": "Bad Currency Ltd", "Currency": "XYZ"},
            {"Customer": "NEW0003"},
        ],
    )
    assert [o.status for o in outcomes] == [
        WriteStatus.CREATED,
        WriteStatus.UPDATED,
        WriteStatus.FAILED,
        WriteStatus.FAILED,
    ]
    assert outcomes[0].target_id == "NEW0001" and outcomes[1].target_id == "0000002"
    assert (outcomes[2].kind, outcomes[2].code) == (ErrorKind.DATA, "currency_not_found")
    assert "Currency 'XYZ' is not set up in SYSPRO" in (outcomes[2].message or "")
    assert "ErrorDescription" in outcomes[2].raw
    assert (outcomes[3].kind, outcomes[3].code) == (ErrorKind.DATA, "validation")
    assert "Customer name is required" in (outcomes[3].message or "")
    stats = SandboxControl(server.url).stats()
    assert stats["created"] == {"ArCustomer": 1} and stats["updated"] == {"ArCustomer": 1}
    assert syspro.read_one("ArCustomer", "0000002")["CreditLimit"] == "25000.00"


def test_orders_are_created_once_and_failures_say_why(server: SandboxServer) -> None:
    syspro = connect(server, allocation_action="F")
    batch = [
        order("0000001", "CC-1001"),
        order(seed.MISSING_CUSTOMER, "CC-1002"),
        order("0000001", "CC-1003", {"StockCode": "NOPE-1", "Warehouse": "FG", "OrderQty": 1}),
        order("0000001", "CC-1004", {"StockCode": "PUMP-OUT", "Warehouse": "FG", "OrderQty": 3}),
        order("0000001", None),
        order("0000001", "CC-1005", {"StockCode": "BOLT-002", "Warehouse": "ZZ", "OrderQty": 1}),
        order("0000037", "CC-1006"),  # every 37th demo customer is on hold
    ]
    outcomes = syspro.write_batch("SorMaster", batch)
    created = outcomes[0]
    assert created.status is WriteStatus.CREATED and created.target_id
    failures = [(o.kind, o.code) for o in outcomes[1:]]
    assert failures == [
        (ErrorKind.DATA, "customer_not_found"),
        (ErrorKind.DATA, "stock_code_not_found"),
        (ErrorKind.DATA, "insufficient_stock"),
        (ErrorKind.DATA, "reference_missing"),
        (ErrorKind.DATA, "warehouse_not_found"),
        (ErrorKind.DATA, "customer_on_hold"),
    ]
    assert outcomes[1].message == (
        "SYSPRO has no customer '0009999'. Add the customer in SYSPRO or correct the customer "
        "code lookup, then retry."
    )
    assert "0 available, 3 ordered" in (outcomes[3].message or "")

    again = syspro.write_batch("SorMaster", batch[:1])  # a retry after a lost answer
    assert again[0].status is WriteStatus.CREATED and again[0].target_id == created.target_id
    assert SandboxControl(server.url).stats()["created"] == {"SorMaster": 1}
    found = syspro.find_by_reference("SorMaster", "CC-1001")
    assert found and found.target_id == created.target_id
    assert found.record["SorDetail"][0]["MStockCode"] == "BOLT-001"
    assert syspro.find_by_reference("SorMaster", "CC-404") is None


def test_payments_post_once_and_closed_periods_are_explained(server: SandboxServer) -> None:
    syspro = connect(server)
    invoice = next(i for i in app_of(server).tables["ArInvoice"] if i["InvoiceBal1"] != "0.00")
    customer, number = invoice["Customer"], invoice["Invoice"]
    applied = payment(customer, "XERO-PAY-1", "10.00")
    applied["Invoice"] = [{"Invoice": number, "PaymentValue": "10.00"}]
    bad_bank = payment(customer, "XERO-PAY-3", "5.00")
    bad_bank["Payment"]["Bank"] = "NOBANK"
    outcomes = syspro.write_batch(
        "ArCshJnlDet",
        [applied, payment(customer, "XERO-PAY-2", "5.00", when="2025-03-14"), bad_bank],
    )
    assert outcomes[0].status is WriteStatus.CREATED
    year, month, _journal, entry = (outcomes[0].target_id or "").split("/")
    assert (year, month, entry) == (str(date.today().year), str(date.today().month), "1")
    assert (outcomes[1].kind, outcomes[1].code) == (ErrorKind.DATA, "period_closed")
    assert "posting period 2025/03 is closed" in (outcomes[1].message or "")
    assert (outcomes[2].kind, outcomes[2].code) == (ErrorKind.CONFIG, "bank_not_found")
    replay = syspro.write_batch("ArCshJnlDet", [applied])
    assert replay[0].target_id == outcomes[0].target_id
    assert SandboxControl(server.url).stats()["created"] == {"ArCshJnlDet": 1}
    found = syspro.find_by_reference("ArCshJnlDet", "XERO-PAY-1")
    assert found and found.record["Invoice"] == number and found.record["PaymentValue"] == "10.00"


def test_payments_allocated_by_sales_order_reduce_that_invoice(server: SandboxServer) -> None:
    syspro = connect(server)
    tables = app_of(server).tables
    shipped = {o["SalesOrder"]: o for o in tables["SorMaster"] if o["OrderStatus"] in ("8", "9")}
    invoice = next(i for i in tables["ArInvoice"] if i["SalesOrder"] in shipped)
    order, customer, balance = invoice["SalesOrder"], invoice["Customer"], invoice["InvoiceBal1"]
    assert shipped[order]["Customer"] == customer  # SYSPRO invoiced the order to its customer

    def by_order(reference: str, value: str, order: str = order) -> dict[str, Any]:
        paid = payment(customer, reference, value)
        paid["Invoice"] = {"SalesOrder": order, "PaymentValue": value}
        return paid

    too_much = f"{float(balance) + 1:.2f}"
    outcomes = syspro.write_batch(
        "ArCshJnlDet",
        [
            by_order("ALLOC-1", "10.00"),
            by_order("ALLOC-2", too_much),
            by_order("ALLOC-3", "5.00", "999999"),
        ],
    )
    assert outcomes[0].status is WriteStatus.CREATED, outcomes[0].message
    found = syspro.find_by_reference("ArCshJnlDet", "ALLOC-1")
    assert found and found.record["Invoice"] == invoice["Invoice"]
    left = float(balance) - 10
    assert (
        float(app_of(server).find("ArInvoice", Invoice=invoice["Invoice"])["InvoiceBal1"]) == left
    )
    assert (outcomes[1].kind, outcomes[1].code) == (ErrorKind.DATA, "overpayment")
    assert "more than is owed" in (outcomes[1].message or "")
    assert (outcomes[2].kind, outcomes[2].code) == (ErrorKind.DATA, "invoice_not_found")
    assert "no invoice for sales order 999999" in (outcomes[2].message or "")
    assert SandboxControl(server.url).stats()["created"] == {"ArCshJnlDet": 1}


def test_batches_split_to_fit_the_url_limit(start_sandbox: Start) -> None:
    server = start_sandbox("syspro", max_url_length=6000)
    syspro = connect(server, max_url_length=6000)
    batch = [order(f"{n:07d}", f"SPLIT-{n}") for n in range(1, 31)]
    batch.append(order("0000001", "HUGE", *[{"StockCode": "BOLT-001", "OrderQty": 1}] * 200))
    outcomes = syspro.write_batch("SorMaster", batch)
    assert all(o.status is WriteStatus.CREATED for o in outcomes[:30])
    assert (outcomes[30].kind, outcomes[30].code) == (ErrorKind.DATA, "too_large")
    assert SandboxControl(server.url).stats()["created"] == {"SorMaster": 30}


def test_a_server_url_limit_lower_than_configured_is_a_config_error(start_sandbox: Start) -> None:
    server = start_sandbox("syspro", max_url_length=2000)
    syspro = connect(server)
    with pytest.raises(ConnectorError) as caught:
        syspro.write_batch("SorMaster", [order(f"{n:07d}", f"LONG-{n}") for n in range(1, 20)])
    assert (caught.value.kind, caught.value.code) == (ErrorKind.CONFIG, "url_too_long")


@pytest.mark.parametrize(
    "options", [{"body_style": "json"}, {"body_style": "string"}, {"lowercase_output": True}]
)
def test_every_reply_style_reads_the_same(start_sandbox: Start, options: dict) -> None:
    server = start_sandbox("syspro", **options)
    syspro = connect(server, page_size=200)
    customer = syspro.read_one("ArCustomer", "0000150")
    assert customer and customer["Name"] == seed.DUPLICATE_NAME
    rows = [r for p in syspro.read_changes("SorMaster", None) for r in p.records]
    assert len(rows) == seed.ORDER_COUNT and rows[0]["SorDetail"][0]["MStockCode"]
    outcomes = syspro.write_batch("SorMaster", [order("0000001", "STYLE-1"), order("X", "S-2")])
    assert outcomes[0].status is WriteStatus.CREATED and outcomes[1].code == "customer_not_found"


# -- faults --------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["5xx", "reset", "429"])
def test_reads_ride_out_transient_faults(server: SandboxServer, fault: str) -> None:
    syspro = connect(server)
    syspro.read_one("ArCustomer", "0000001")
    SandboxControl(server.url).faults(next=[fault, fault], retry_after=0)
    assert syspro.read_one("ArCustomer", "0000004")


@pytest.mark.parametrize("fault", ["5xx", "reset"])
def test_a_write_that_may_have_landed_is_not_repeated(server: SandboxServer, fault: str) -> None:
    syspro = connect(server)
    syspro.read_one("ArCustomer", "0000001")  # log on first; the fault hits the post
    control = SandboxControl(server.url)
    control.faults(next=[fault], path_prefix=sandbox.ROOT + "/Transaction")
    with pytest.raises(ConnectorError) as caught:
        syspro.write_batch("SorMaster", [order("0000001", "FAULT-1")])
    assert caught.value.outcome_unknown and caught.value.kind is ErrorKind.TRANSIENT
    retried = syspro.write_batch("SorMaster", [order("0000001", "FAULT-1")])
    assert retried[0].status is WriteStatus.CREATED
    assert control.stats()["created"] == {"SorMaster": 1}


def test_a_long_retry_after_is_handed_back_to_the_job(server: SandboxServer) -> None:
    syspro = connect(server)
    SandboxControl(server.url).faults(next=["429"] * 4, retry_after=120)
    with pytest.raises(RateLimitedError) as caught:
        syspro.read_one("ArCustomer", "0000001")
    assert caught.value.retry_after == 120


def test_close_gives_the_licence_seat_back(start_sandbox: Start) -> None:
    """The sync core closes connectors after a run: SYSPRO's seat is logged off, not idling."""
    server = start_sandbox("syspro", max_sessions=1)
    first = connect(server)
    first.read_one("ArCustomer", "0000001")
    first.close()
    assert connect(server).read_one("ArCustomer", "0000001")  # the only seat was free again
