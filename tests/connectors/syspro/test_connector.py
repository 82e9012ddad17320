"""The SYSPRO connector reading what real SYSPRO answers: order lines where SORQRY puts
them, each line type told apart, and changes found by rowversion (issue #13)."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal

import pytest

from connectors.base import ConnectionConfig, InMemoryTokenStore
from connectors.errors import ConnectorError, ErrorKind
from connectors.sandbox.core import SandboxServer
from connectors.sandbox.syspro import app as sandbox
from connectors.sandbox.syspro import seed
from connectors.sandbox.syspro.schema import order_line
from connectors.syspro import SysproConnector

Start = Callable[..., SandboxServer]


def connect(server: SandboxServer, **settings: object) -> SysproConnector:
    config = ConnectionConfig(
        system="syspro",
        connection_id="syspro-k",
        base_url=server.url,
        settings={"company_id": "EDU1", "operator": "ADMIN", **settings},
        secrets={"operator_password": "demo", "company_password": "demo"},
    )
    return SysproConnector(config, InMemoryTokenStore())


@pytest.fixture
def server(start_sandbox: Start) -> SandboxServer:
    return start_sandbox("syspro")


@pytest.fixture
def app(server: SandboxServer) -> sandbox.SysproSandbox:
    assert isinstance(server.app, sandbox.SysproSandbox)
    return server.app


def add_charges(app: sandbox.SysproSandbox, number: str) -> None:
    """Freight, a miscellaneous charge and a comment on an order, as SorDetail keeps them."""
    lines = [d for d in app.table("SorDetail") if d["SalesOrder"] == number]
    for offset, (line_type, text, value) in enumerate(
        (("4", "Carriage", "9.00"), ("5", "Pallet charge", "15.00"), ("6", "Door 3", "0")), 1
    ):
        app.table("SorDetail").append(
            app.touch(
                order_line(
                    SalesOrder=number,
                    SalesOrderLine=str(len(lines) + offset),
                    LineType=line_type,
                    NComment=text,
                    NMscChargeValue=value,
                )
            )
        )


def test_an_order_read_by_key_has_every_line_told_apart_by_type(server, app) -> None:
    """SORQRY puts lines under SalesOrderLine, not as SorDetail rows: read by key, an order
    has its goods, freight, charge and comment lines, each in the one line shape."""
    add_charges(app, "100005")
    syspro = connect(server)
    order = syspro.read_one("sales_orders", "100005")
    assert order is not None
    lines = order["SorDetail"]
    goods = [d for d in app.table("SorDetail") if d["SalesOrder"] == "100005"][:-3]
    assert [line["LineType"] for line in lines] == ["1"] * len(goods) + ["4", "5", "6"]
    assert lines[0]["MStockCode"] == goods[0]["MStockCode"]
    freight, charge, comment = lines[-3:]
    assert (freight["MStockDes"], Decimal(freight["MPrice"]), freight["MOrderQty"]) == (
        "Carriage",
        Decimal("9.00"),
        "1",
    )
    assert (charge["MStockDes"], Decimal(charge["MPrice"])) == ("Pallet charge", Decimal(15))
    assert (comment["MStockDes"], Decimal(comment["MPrice"])) == ("Door 3", Decimal(0))
    assert all(line["SalesOrder"] == "100005" for line in lines)


def test_a_polled_order_and_the_same_order_read_by_key_are_one_record(server, app) -> None:
    """COMFND's SorDetail rows and SORQRY's typed lines come out in one shape."""
    add_charges(app, "100005")
    syspro = connect(server, page_size=100)
    polled = {r["SalesOrder"]: r for p in syspro.read_changes("SorMaster", None) for r in p.records}
    assert len(polled) == seed.ORDER_COUNT  # each order once on a first read
    assert syspro.read_one("SorMaster", "100005") == polled["100005"]
    assert "TimeStamp" not in polled["100005"]  # read to page by, not content


def test_a_line_changed_alone_brings_its_order_back(server, app) -> None:
    """An order line is a row of its own with its own rowversion: a poll finds the order
    whose line changed although the order's own row did not."""
    syspro = connect(server, page_size=100)
    pages = list(syspro.read_changes("SorMaster", None))
    cursor = pages[-1].cursor
    assert [r for p in syspro.read_changes("SorMaster", cursor) for r in p.records][:-1] == []
    line = next(d for d in app.table("SorDetail") if d["SalesOrder"] == "100042")
    app.touch(line, MOrderQty="77")
    changed = [r for p in syspro.read_changes("SorMaster", cursor) for r in p.records]
    order = next(r for r in changed if r["SalesOrder"] == "100042")
    assert order["SorDetail"][0]["MOrderQty"] == "77"
    last = [p.cursor for p in syspro.read_changes("SorMaster", cursor)][-1]
    again = [r["SalesOrder"] for p in syspro.read_changes("SorMaster", last) for r in p.records]
    assert "100042" not in again[:-1]  # handed over once; only the cursor's own row repeats


def test_a_customer_change_is_found_by_rowversion(server, app) -> None:
    syspro = connect(server)
    cursor = list(syspro.read_changes("customers", None))[-1].cursor
    app.touch(app.find("ArCustomer", Customer="0000009") or {}, Name="Renamed Ltd")
    changed = [r for p in syspro.read_changes("customers", cursor) for r in p.records]
    assert changed[-1]["Name"] == "Renamed Ltd" and len(changed) == 2  # the cursor's row too


def test_a_cursor_kept_from_the_last_changed_days_reads_everything_again(server) -> None:
    """Cursors stored before SYSPRO was polled by rowversion cannot place a read."""
    syspro = connect(server)
    rows = [r for p in syspro.read_changes("customers", '["2025-03-01T08:00:00", "0000001"]')
            for r in p.records]  # fmt: skip
    assert len(rows) == seed.CUSTOMER_COUNT


def test_a_flow_may_poll_by_a_date_column_it_names(server, app) -> None:
    syspro = connect(server)
    newest = max(r["DateCustAdded"] for r in app.table("ArCustomer"))
    cursor = json.dumps([newest, "0000000"])
    rows = [r for p in syspro.read_changes_by("customers", "DateCustAdded", cursor)
            for r in p.records]  # fmt: skip
    assert rows and {r["DateCustAdded"] for r in rows} == {newest}
    with pytest.raises(ConnectorError) as caught:
        list(syspro.read_changes_by("customers", "Name; DROP", None))
    assert caught.value.kind is ErrorKind.CONFIG


def test_read_all_reads_every_record_in_key_order(server, app) -> None:
    syspro = connect(server, page_size=100)
    pages = list(syspro.read_all("customers"))
    assert len(pages) == 4 and all(page.cursor is None for page in pages)
    codes = [r["Customer"] for page in pages for r in page.records]
    assert codes == sorted(r["Customer"] for r in app.table("ArCustomer"))
    first = syspro.read_one("customers", codes[0])
    assert pages[0].records[0] == first
    orders = [r for page in syspro.read_all("sales_orders") for r in page.records]
    assert len(orders) == seed.ORDER_COUNT and all(o["SorDetail"] for o in orders)
