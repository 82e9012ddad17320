"""The SYSPRO sandbox on the wire: what a client that is not our connector would see."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from decimal import Decimal

import pytest
import requests

from connectors.sandbox.core import SandboxServer
from connectors.sandbox.syspro import app as sandbox
from connectors.sandbox.syspro import seed

Start = Callable[..., SandboxServer]
LOGON = {
    "Operator": "ADMIN",
    "OperatorPassword": "demo",
    "CompanyId": "EDU1",
    "CompanyPassword": "demo",
}
SORTOI_PARAMETERS = "<SalesOrders><Parameters>{}</Parameters></SalesOrders>"


class Client:
    """Bare e.net calls: GET, query-string arguments, the body as text."""

    def __init__(self, server: SandboxServer) -> None:
        self.root = server.url + sandbox.ROOT
        self.user_id = self.get("Logon", **LOGON).strip()

    def get(self, path: str, **params: str) -> str:
        response = requests.get(f"{self.root}/{path}", params=params, timeout=10)
        assert response.status_code == 200, response.text
        return response.text

    def call(self, path: str, business_object: str, xml_in: str, parameters: str = "") -> str:
        params = {"UserId": self.user_id, "BusinessObject": business_object, "XmlIn": xml_in}
        if parameters:
            params["XmlParameters"] = parameters
        return self.get(path, **params)


@pytest.fixture
def server(start_sandbox: Start) -> SandboxServer:
    return start_sandbox("syspro")


@pytest.fixture
def client(server: SandboxServer) -> Client:
    return Client(server)


def orders_xml(*orders: str) -> str:
    return "<SalesOrders>" + "".join(f"<Orders>{o}</Orders>" for o in orders) + "</SalesOrders>"


def stock_order(customer: str, po: str, code: str = "BOLT-001", qty: int = 1) -> str:
    return (
        f"<OrderHeader><Customer>{customer}</Customer><CustomerPoNumber>{po}</CustomerPoNumber>"
        f"</OrderHeader><OrderDetails><StockLine><StockCode>{code}</StockCode>"
        f"<Warehouse>FG</Warehouse><OrderQty>{qty}</OrderQty></StockLine></OrderDetails>"
    )


def test_exceptions_are_http_200_with_error_text(server: SandboxServer) -> None:
    response = requests.get(
        f"{server.url}{sandbox.ROOT}/Logon", params={**LOGON, "OperatorPassword": "x"}, timeout=5
    )
    assert response.status_code == 200 and response.text.startswith("ERROR")
    client = Client(server)
    assert client.call(
        "Query/Query", "ARSQRY", "<Query><Key><Customer>0009999</Customer></Key></Query>"
    ).startswith("ERROR: Customer '0009999' not found")
    assert client.call("Query/Query", "NOPE01", "<Query/>").startswith("ERROR")
    assert client.call("Query/Query", "SORTOI", "<Query/>").startswith("ERROR")
    assert requests.post(client.root + "/Logon", timeout=5).status_code == 405


def test_logoff_ends_the_session(client: Client) -> None:
    client.get("Logoff", UserId=client.user_id)
    text = client.call(
        "Query/Query", "ARSQRY", "<Query><Key><Customer>0000001</Customer></Key></Query>"
    )
    assert text.startswith("ERROR") and "not logged on" in text


def test_comfnd_fetch_and_browse(client: Client) -> None:
    found = client.call(
        "Query/Query",
        "COMFND",
        "<Query><TableName>ArCustomer</TableName><ReturnRows>5</ReturnRows><Columns>"
        "<Column>Customer</Column><Column>Name</Column></Columns><Where><Expression>"
        "<OpenBracket>(</OpenBracket><Column>Name</Column><Condition>LIKE</Condition>"
        f"<Value>{seed.DUPLICATE_NAME}</Value><CloseBracket>)</CloseBracket></Expression>"
        "</Where><OrderBy><Column>Customer</Column></OrderBy></Query>",
    )
    for code in seed.DUPLICATE_NAME_CUSTOMERS:
        assert f"<Customer>{code}</Customer>" in found
    assert "<RowsReturned>2</RowsReturned>" in found and "<Email>" not in found
    fetched = client.call(
        "Query/Fetch",
        "COMFCH",
        "<Fetch><TableName>InvMaster</TableName><Key>LEGACY-001</Key></Fetch>",
    )
    assert f"<ProductClass>{seed.UNMAPPED_PRODUCT_CLASS}</ProductClass>" in fetched
    browsed = client.call(
        "Query/Browse",
        "COMBRW",
        "<Browse><BrowseName>ArCustomer</BrowseName><StartAtKey>0000318"
        "</StartAtKey><ReturnRows>5</ReturnRows></Browse>",
    )
    assert browsed.count("<Row>") == 3 and "<NextKey />" in browsed  # from 0000318 on
    bad = client.call("Query/Query", "COMFND", "<Query><TableName>Nope</TableName></Query>")
    assert bad.startswith("ERROR: Table 'Nope' not found")


def test_sortoi_validate_only_and_all_or_nothing(server: SandboxServer, client: Client) -> None:
    good, bad = stock_order("0000001", "V-1"), stock_order("0000001", "V-2", code="NOPE")
    checked = client.call(
        "Transaction/Post",
        "SORTOI",
        orders_xml(good),
        SORTOI_PARAMETERS.format("<ValidateOnly>Y</ValidateOnly>"),
    )
    assert "<SalesOrder />" in checked and "ErrorDescription" not in checked
    whole = client.call(
        "Transaction/Post",
        "SORTOI",
        orders_xml(good, bad),
        SORTOI_PARAMETERS.format("<ApplyIfEntireDocumentValid>Y</ApplyIfEntireDocumentValid>"),
    )
    assert whole.count("<SalesOrder />") == 2 and "Stock code 'NOPE' not on file" in whole
    assert server.app.stats["created"]["SorMaster"] == 0
    bad_parameter = client.call(
        "Transaction/Post",
        "SORTOI",
        orders_xml(good),
        SORTOI_PARAMETERS.format("<AllocationAction>Q</AllocationAction>"),
    )
    assert bad_parameter.startswith("ERROR: AllocationAction 'Q'")


def test_sortoi_ignores_unknown_elements_and_guards_po_numbers(client: Client) -> None:
    order = stock_order("0000001", "DUP-1").replace(
        "<OrderDetails>", "<Colour>red</Colour><OrderDetails>"
    )
    first = client.call(
        "Transaction/Post", "SORTOI", orders_xml(order), SORTOI_PARAMETERS.format("")
    )
    assert "<SalesOrder>100261</SalesOrder>" in first
    again = client.call(
        "Transaction/Post", "SORTOI", orders_xml(order), SORTOI_PARAMETERS.format("")
    )
    assert "already exists on sales order 100261" in again
    allowed = client.call(
        "Transaction/Post",
        "SORTOI",
        orders_xml(order),
        SORTOI_PARAMETERS.format("<AllowDuplicateOrderNumbers>Y</AllowDuplicateOrderNumbers>"),
    )
    assert "<SalesOrder>100262</SalesOrder>" in allowed


def test_arsscs_delete_refuses_customers_with_transactions(client: Client) -> None:
    parameters = "<SetupArCustomer><Parameters /></SetupArCustomer>"
    item = "<SetupArCustomer><Item><Key><Customer>{}</Customer></Key>{}</Item></SetupArCustomer>"
    client.call("Setup/Add", "ARSSCS", item.format("GONE1", "<Name>Gone Ltd</Name>"), parameters)
    deleted = client.call("Setup/Delete", "ARSSCS", item.format("GONE1", ""), parameters)
    assert "<ItemsInvalid>0</ItemsInvalid>" in deleted
    kept = client.call("Setup/Delete", "ARSSCS", item.format("0000150", ""), parameters)
    assert "has transactions and cannot be deleted" in kept


def test_transport_quirks_are_configurable(start_sandbox: Start) -> None:
    quoted = Client(start_sandbox("syspro", body_style="json"))
    assert quoted.get("Logon", **LOGON).startswith('"')
    wrapped = Client(start_sandbox("syspro", body_style="string", lowercase_output=True))
    wrapped.user_id = re.sub(r"<[^>]+>", "", wrapped.user_id).strip()
    text = wrapped.call(
        "Query/Query", "SORQRY", "<Query><Key><SalesOrder>100001</SalesOrder></Key></Query>"
    )
    assert text.startswith("<string") and "&lt;salesorder&gt;100001" in text
    short = start_sandbox("syspro", max_url_length=500)
    response = requests.get(f"{short.url}{sandbox.ROOT}/Logon", params={"x": "y" * 600}, timeout=5)
    assert response.status_code == 414


def test_a_gateway_rate_limit_answers_429_with_retry_after(start_sandbox: Start) -> None:
    server = start_sandbox("syspro", calls_per_minute=2)
    root = server.url + sandbox.ROOT
    statuses = [requests.get(f"{root}/Logon", params=LOGON, timeout=5) for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert int(statuses[-1].headers["Retry-After"]) >= 1


def test_seed_holds_the_records_that_fail_downstream(server: SandboxServer) -> None:
    tables = server.app.tables
    names = Counter(c["Name"] for c in tables["ArCustomer"])
    assert [n for n, count in names.items() if count > 1] == [seed.DUPLICATE_NAME]
    customers = {c["Customer"] for c in tables["ArCustomer"]}
    orphans = {o["SalesOrder"] for o in tables["SorMaster"] if o["Customer"] not in customers}
    assert orphans == {seed.ORPHAN_ORDER}
    unpaid = {i["Invoice"] for i in tables["ArInvoice"] if i["Customer"] not in customers}
    assert unpaid == {seed.ORPHAN_INVOICE}
    legacy = {
        line["Invoice"] for line in tables["ArTrnDetail"] if line["StockCode"] == "LEGACY-001"
    }
    assert legacy == {seed.UNMAPPED_INVOICE}
    journals: dict[tuple[str, ...], Decimal] = {}
    for entry in tables["GenJournalDetail"]:
        key = (entry["GlYear"], entry["GlPeriod"], entry["Journal"])
        journals[key] = journals.get(key, Decimal(0)) + Decimal(entry["EntryValue"])
    assert len(tables["GenJournalDetail"]) >= 20_000
    assert set(journals.values()) == {Decimal(0)}  # every journal balances
