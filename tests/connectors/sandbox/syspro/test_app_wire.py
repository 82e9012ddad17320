"""The SYSPRO sandbox's wire shapes, over plain HTTP, against ../shared/systems/syspro.md and
the integrators' code it cites (SYSPRO has no official Python client to judge it).

Each test names the evidence it holds the sandbox to: [O] integrators' public code
(wildland/syspro-ruby's SORQRY/COMFND/COMBRW parsers and XmlIn templates, a Go
e.net client's SORQRY fixture, SQL on SorDetail), [A] where the sandbox chose.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest
import requests

from connectors.sandbox.core import SandboxServer
from connectors.sandbox.syspro import app as sandbox
from connectors.sandbox.syspro import seed
from connectors.sandbox.syspro.schema import order_line

Start = Callable[..., SandboxServer]
LOGON = {"Operator": "ADMIN", "OperatorPassword": "demo", "CompanyId": "EDU1"}
ALL_LINES = (
    "<Option><IncludeStockedLines>Y</IncludeStockedLines>"
    "<IncludeNonStockedLines>Y</IncludeNonStockedLines>"
    "<IncludeFreightLines>Y</IncludeFreightLines><IncludeMiscLines>Y</IncludeMiscLines>"
    "<IncludeCommentLines>Y</IncludeCommentLines></Option>"
)


@pytest.fixture
def server(start_sandbox: Start) -> SandboxServer:
    return start_sandbox("syspro")


@pytest.fixture
def app(server: SandboxServer) -> sandbox.SysproSandbox:
    assert isinstance(server.app, sandbox.SysproSandbox)
    return server.app


def get(server: SandboxServer, path: str, **params: str) -> requests.Response:
    return requests.get(f"{server.url}{sandbox.ROOT}/{path}", params=params, timeout=10)


def logon(server: SandboxServer) -> str:
    return get(server, "Logon", **LOGON, CompanyPassword="demo").text.strip()


def query(server: SandboxServer, path: str, business_object: str, xml_in: str) -> ET.Element:
    user_id = logon(server)
    text = get(server, path, UserId=user_id, BusinessObject=business_object, XmlIn=xml_in).text
    assert not text.startswith("ERROR"), text
    return ET.fromstring(text)  # noqa: S314 - the sandbox's own answer


def test_logon_answers_a_guid_and_a_bad_password_error_text_with_http_200(server) -> None:
    """[O] syspro.md: the UserId GUID as the body; failures are 200 with text starting ERROR."""
    assert uuid.UUID(logon(server))
    refused = get(server, "Logon", **LOGON, CompanyPassword="wrong")
    assert refused.status_code == 200 and refused.text.startswith("ERROR")


def test_every_call_is_a_get(server) -> None:
    """[O] syspro.md: every e.net REST call is a GET with its arguments in the query string."""
    response = requests.post(f"{server.url}{sandbox.ROOT}/Logon", data=LOGON, timeout=10)
    assert response.status_code == 405


def test_sorqry_answers_the_header_at_the_root_and_lines_by_type(server, app) -> None:
    """[O] SORQRY's output is ``<SorDetail>`` with the header's columns at its root and the
    lines inside ``SalesOrderLine`` as Merchandise / Freight / MiscCharge / CommentLine."""
    number = "100005"
    details = app.table("SorDetail")
    details += [
        app.touch(order_line(SalesOrder=number, SalesOrderLine="8", LineType="4",
                             NComment="Carriage", NMscChargeValue="9.00")),
        app.touch(order_line(SalesOrder=number, SalesOrderLine="9", LineType="5",
                             NComment="Pallet", NMscChargeValue="15.00")),
        app.touch(order_line(SalesOrder=number, SalesOrderLine="10", LineType="6",
                             NComment="Door 3")),
    ]  # fmt: skip
    xml_in = f"<Query><Key><SalesOrder>{number}</SalesOrder></Key>{ALL_LINES}</Query>"
    root = query(server, "Query/Query", "SORQRY", xml_in)
    assert root.tag == "SorDetail" and root.findtext("SalesOrder") == number
    assert root.find("SorDetail") is None  # no SQL-style detail rows
    lines = root.find("SalesOrderLine")
    assert lines is not None
    tags = [line.tag for line in lines]
    assert tags[-3:] == ["Freight", "MiscCharge", "CommentLine"]
    assert set(tags[:-3]) == {"Merchandise"}
    goods = lines.find("Merchandise")
    assert goods is not None and goods.findtext("MStockCode") and goods.findtext("MPrice")
    freight, charge, comment = list(lines)[-3:]
    assert (freight.findtext("LineType"), freight.findtext("NMscChargeValue")) == ("4", "9.00")
    assert (charge.findtext("NComment"), charge.findtext("NMscChargeValue")) == ("Pallet", "15.00")
    assert comment.findtext("NComment") == "Door 3" and comment.find("MPrice") is None


def test_sorqry_leaves_out_the_line_types_not_asked_for(server) -> None:
    """[O] integrators ask for each line type in ``Option``; without the flags, no lines [A]."""
    key = "<Key><SalesOrder>100005</SalesOrder></Key>"
    bare = query(server, "Query/Query", "SORQRY", f"<Query>{key}</Query>")
    assert bare.findtext("SalesOrder") == "100005" and not list(bare.find("SalesOrderLine"))
    only_freight = query(
        server,
        "Query/Query",
        "SORQRY",
        f"<Query>{key}<Option><IncludeFreightLines>Y</IncludeFreightLines></Option></Query>",
    )
    assert not list(only_freight.find("SalesOrderLine"))  # the seeded order has only goods


def test_comfnd_counts_rows_in_header_details(server) -> None:
    """[O] COMFND's answer has ``HeaderDetails`` and ``RowsReturned`` beside its ``Row``s."""
    root = query(
        server,
        "Query/Query",
        "COMFND",
        "<Query><TableName>ArCustomer</TableName><ReturnRows>3</ReturnRows><Columns>"
        "<Column>Customer</Column><Column>TimeStamp</Column></Columns>"
        "<OrderBy><Column>TimeStamp</Column></OrderBy></Query>",
    )
    assert root.findtext("HeaderDetails/RowsReturned") == "3"
    assert root.findtext("HeaderDetails/TableName") == "ArCustomer"
    versions = [int(row.findtext("TimeStamp") or "") for row in root.findall("Row")]
    assert versions == sorted(versions) and len(set(versions)) == 3


def test_combrw_answers_values_with_data_types_a_title_and_the_next_key(server) -> None:
    """[O] COMBRW takes ``BrowseDetails/Column/ColumnName``; each row's column holds ``Value``
    and ``DataType``; ``Title`` and ``NextPrevKey`` page it (NextKey/PrevKey inside: A)."""
    xml_in = (
        "<Browse><BrowseName>ArCustomer</BrowseName><StartAtKey>0000010</StartAtKey>"
        "<ReturnRows>5</ReturnRows><BrowseDetails><TableName>ArCustomer</TableName>"
        "<Title>Customers</Title><Column><ColumnName>Customer</ColumnName></Column>"
        "<Column><ColumnName>CreditLimit</ColumnName></Column></BrowseDetails></Browse>"
    )
    root = query(server, "Query/Browse", "COMBRW", xml_in)
    assert root.findtext("Title") == "Customers"
    rows = root.findall("Row")
    assert [r.findtext("Customer/Value") for r in rows] == [f"{n:07d}" for n in range(10, 15)]
    assert rows[0].findtext("Customer/DataType") and rows[0].find("Name") is None
    assert root.findtext("NextPrevKey/NextKey") == "0000015"
    last = query(server, "Query/Browse", "COMBRW", xml_in.replace("0000010", "0000318"))
    assert len(last.findall("Row")) == 3 and not last.findtext("NextPrevKey/NextKey")


def test_no_table_carries_an_invented_last_changed_column(app) -> None:
    """[O] SYSPRO tables carry the SQL ``TimeStamp`` rowversion, not a LastChanged date."""
    for name, rows in app.tables.items():
        assert all("LastChanged" not in row for row in rows[:5]), name
    versions = [int(r["TimeStamp"]) for t in app.tables.values() for r in t if "TimeStamp" in r]
    assert len(versions) == len(set(versions))  # one counter for the whole company


def test_every_write_moves_the_rowversion_on(server, app) -> None:
    """A customer update takes the next rowversion, above every other in the company."""
    before = app.rowversion
    user_id = logon(server)
    get(
        server,
        "Setup/Update",
        UserId=user_id,
        BusinessObject="ARSSCS",
        XmlParameters="<SetupArCustomer><Parameters/></SetupArCustomer>",
        XmlIn="<SetupArCustomer><Item><Key><Customer>0000007</Customer></Key>"
        "<Telephone>0113 2</Telephone></Item></SetupArCustomer>",
    )
    customer = app.find("ArCustomer", Customer="0000007")
    assert customer is not None and int(customer["TimeStamp"]) == before + 1


def test_sortoi_keeps_freight_in_the_charge_columns(server, app) -> None:
    """[O] SorDetail keeps freight (line type 4) in NMscChargeValue/NComment, not MPrice."""
    user_id = logon(server)
    text = get(
        server,
        "Transaction/Post",
        UserId=user_id,
        BusinessObject="SORTOI",
        XmlParameters="<SalesOrders><Parameters/></SalesOrders>",
        XmlIn="<SalesOrders><Orders><OrderHeader><Customer>0000001</Customer>"
        "<CustomerPoNumber>WIRE-F1</CustomerPoNumber></OrderHeader><OrderDetails>"
        "<StockLine><StockCode>BOLT-001</StockCode><OrderQty>1</OrderQty></StockLine>"
        "<FreightLine><FreightValue>7.50</FreightValue></FreightLine>"
        "</OrderDetails></Orders></SalesOrders>",
    ).text
    number = ET.fromstring(text).findtext("Order/SalesOrder")  # noqa: S314
    assert number
    freight = [d for d in app.table("SorDetail") if d["SalesOrder"] == number][-1]
    assert (freight["LineType"], freight["NMscChargeValue"], freight["MPrice"]) == (
        "4",
        "7.50",
        "0",
    )
    assert len(app.table("SorMaster")) > seed.ORDER_COUNT
