"""Orders: written to SYSPRO (SORTOI) once per reference, with SYSPRO's reason when refused."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection as db_connection

from portal.models import OrderStatus, PortalOrder
from tests.portal.conftest import CUSTOMER_B, CUSTOMER_ON_HOLD

URL = "/portal/api/orders/"
POST = "/SYSPROWCFService/Rest/Transaction/Post"


def order(reference: str = "WEB-1001", customer: str = CUSTOMER_B, **extra: object) -> dict:
    lines = [
        {"stock_code": "BOLT-001", "quantity": "4"},
        {"stock_code": "nut-002", "quantity": 2.5, "warehouse": "RM"},
    ]
    return {"reference": reference, "customer": customer, "lines": lines, **extra}


def test_an_order_is_placed_at_the_customers_price(portal):
    response = portal.api().post(URL, order(), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "placed" and body["sales_order"]
    assert portal.created_orders() == 1
    app = portal.server.app
    header = app.find("SorMaster", SalesOrder=body["sales_order"])
    assert (header["Customer"], header["CustomerPoNumber"]) == (CUSTOMER_B, "WEB-1001")
    lines = [r for r in app.table("SorDetail") if r["SalesOrder"] == body["sales_order"]]
    assert [(r["MStockCode"], r["MWarehouse"], Decimal(r["MOrderQty"])) for r in lines] == [
        ("BOLT-001", "FG", 4),
        ("NUT-002", "RM", Decimal("2.5")),
    ]
    for line in lines:
        special = app.find("InvPrice", StockCode=line["MStockCode"], PriceCode="B")
        assert line["MPrice"] == special["SellingPrice"]
    stored = PortalOrder.objects.get(client=portal.client, reference="WEB-1001")
    assert (stored.status, stored.sales_order, stored.attempts) == (
        "placed",
        body["sales_order"],
        1,
    )
    again = portal.api().get(f"{URL}WEB-1001/")
    assert again.status_code == 200 and again.json()["sales_order"] == body["sales_order"]


def test_the_same_reference_twice_answers_the_same_order_and_posts_once(portal):
    first = portal.api().post(URL, order(), format="json")
    second = portal.api().post(URL, order(), format="json")
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["sales_order"] == first.json()["sales_order"]
    assert portal.created_orders() == 1
    assert PortalOrder.objects.filter(reference="WEB-1001").count() == 1


def test_the_same_reference_for_a_different_order_is_409(portal):
    placed = portal.api().post(URL, order(), format="json").json()
    changed = order()
    changed["lines"][0]["quantity"] = "5"
    response = portal.api().post(URL, changed, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "reference_reused"
    assert placed["sales_order"] in response.json()["detail"]
    assert portal.created_orders() == 1


@pytest.mark.django_db(transaction=True)
def test_two_requests_at_once_make_one_order(make_portal):
    portal = make_portal()
    portal.api().post(
        "/portal/api/prices/",
        {"customer": CUSTOMER_B, "stock_codes": ["BOLT-001", "NUT-002"]},
        format="json",
    )
    portal.control.faults(latency=0.3)  # both requests are in flight together
    barrier = threading.Barrier(2)
    answers: list = []

    def place() -> None:
        try:
            barrier.wait()
            answers.append(portal.api().post(URL, order(), format="json"))
        finally:
            db_connection.close()

    threads = [threading.Thread(target=place) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(a.status_code for a in answers) == [200, 201]
    assert len({a.json()["sales_order"] for a in answers}) == 1
    assert portal.created_orders() == 1
    assert PortalOrder.objects.get(reference="WEB-1001").attempts == 1


def test_an_unknown_customer_is_400_with_syspros_reason(make_portal, db):
    shop = make_portal(all_customers=True)
    response = shop.api().post(URL, order(customer="NOSUCH"), format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "customer_not_found"
    assert "SYSPRO has no customer 'NOSUCH'" in response.json()["detail"]
    assert shop.created_orders() == 0


def test_a_customer_syspro_refuses_is_422_in_plain_words(portal):
    response = portal.api().post(URL, order(customer=CUSTOMER_ON_HOLD), format="json")
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "customer_on_hold"
    assert f"Customer '{CUSTOMER_ON_HOLD}' is on hold in SYSPRO" in body["detail"]
    assert portal.created_orders() == 0
    stored = PortalOrder.objects.get(reference="WEB-1001")
    assert (stored.status, stored.error_code) == (OrderStatus.REJECTED, "customer_on_hold")


def test_a_bad_warehouse_is_422_naming_it(portal):
    bad = order()
    bad["lines"][1]["warehouse"] = "XX"
    response = portal.api().post(URL, bad, format="json")
    assert response.status_code == 422
    assert response.json()["code"] == "warehouse_not_found"
    assert "'XX'" in response.json()["detail"]


def test_an_unknown_stock_code_is_400_and_named(portal):
    bad = order()
    bad["lines"].append({"stock_code": "NOPE-9", "quantity": 1})
    response = portal.api().post(URL, bad, format="json")
    assert response.status_code == 400
    assert response.json()["stock_codes"] == ["NOPE-9"]
    assert portal.created_orders() == 0


def test_a_malformed_order_is_400(portal):
    api = portal.api()
    assert (
        api.post(
            URL, {"reference": "X", "customer": CUSTOMER_B, "lines": []}, format="json"
        ).status_code
        == 400
    )
    bad = order()
    bad["lines"][0]["quantity"] = "0"
    assert api.post(URL, bad, format="json").status_code == 400
    assert api.post(URL, order(reference="R" * 31), format="json").status_code == 400


def test_syspro_failing_is_503_and_a_retry_places_the_order_once(portal):
    portal.control.faults(shares={"5xx": 1.0})
    response = portal.api().post(URL, order(), format="json")
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    portal.control.faults()
    retried = portal.api().post(URL, order(), format="json")
    assert retried.status_code == 201
    assert portal.created_orders() == 1


def test_a_lost_answer_is_503_and_the_retry_finds_the_order_by_its_po_number(portal):
    portal.api().post(
        "/portal/api/prices/",
        {"customer": CUSTOMER_B, "stock_codes": ["BOLT-001", "NUT-002"]},
        format="json",
    )
    # SYSPRO posts the order, then the answer never arrives.
    portal.control.faults(next=["reset_after"], path_prefix=POST)
    lost = portal.api().post(URL, order(), format="json")
    assert lost.status_code == 503
    assert lost.json()["code"] == "outcome_unknown"
    assert PortalOrder.objects.get(reference="WEB-1001").status == OrderStatus.PENDING
    assert portal.created_orders() == 1
    retried = portal.api().post(URL, order(), format="json")
    assert retried.status_code == 201
    number = retried.json()["sales_order"]
    assert portal.server.app.find("SorMaster", SalesOrder=number)["CustomerPoNumber"] == "WEB-1001"
    assert portal.created_orders() == 1


def test_an_unknown_reference_is_404(portal):
    assert portal.api().get(f"{URL}NOPE/").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        b'{"reference": "W-1", "lines": ' + b"[" * 5_000 + b"]" * 5_000 + b"}",
        b'{"reference": "W-1", "lines": [{"stock_code": "BOLT-001", "quantity": NaN}]}',
        b'{"reference": "W-1", "lines": [{"stock_code": "BOLT-001", "quantity": 1e400}]}',
        b'{"reference": "W-1", "lines": [{"stock_code": "B", "quantity": ' + b"9" * 5_000 + b"}]}",
        b'{"reference": "W-\\u0000", "lines": []}',
    ],
)
def test_a_hostile_json_order_is_a_400_not_a_500(portal, body):
    response = portal.api().post(URL, body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert "JSON parse error" in response.json()["detail"]
    assert portal.created_orders() == 0
    assert not PortalOrder.objects.exists()
