"""Price and availability: the customer's SYSPRO price and free stock, with a short cache."""

from __future__ import annotations

from decimal import Decimal

from tests.portal.conftest import CUSTOMER_A, CUSTOMER_B, CUSTOMER_D, CUSTOMER_LIST

URL = "/portal/api/prices/"


def expected(portal, customer: str, stock_code: str) -> tuple[str, str, dict[str, str]]:
    """(price, price code that applied, free stock) straight from the sandbox's tables."""
    app = portal.server.app
    price_code = app.find("ArCustomer", Customer=customer)["PriceCode"]
    special = (
        app.find("InvPrice", StockCode=stock_code, PriceCode=price_code) if price_code else None
    )
    price = (
        special["SellingPrice"]
        if special
        else app.find("InvMaster", StockCode=stock_code)["SellingPrice"]
    )
    free = {
        row["Warehouse"]: str(int(row["QtyOnHand"]) - int(row["QtyAllocated"]))
        for row in app.table("InvWarehouse")
        if row["StockCode"] == stock_code
    }
    return price, price_code if special else "", free


def test_prices_follow_the_customers_price_code(portal):
    codes = ["BOLT-001", "PIPE-003", "PUMP-OUT"]
    for customer in (CUSTOMER_A, CUSTOMER_B, CUSTOMER_D, CUSTOMER_LIST):
        response = portal.api().post(
            URL, {"customer": customer, "stock_codes": codes}, format="json"
        )
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["customer"] == customer and body["on_hold"] is False
        assert [item["stock_code"] for item in body["items"]] == codes
        for item in body["items"]:
            price, price_code, free = expected(portal, customer, item["stock_code"])
            assert (item["price"], item["price_code"], item["free_stock"]) == (
                price,
                price_code,
                free,
            )
            assert Decimal(item["free_stock_total"]) == sum(Decimal(q) for q in free.values())


def test_a_discount_code_prices_below_list_and_falls_back_to_list_where_it_has_no_price(portal):
    api = portal.api()
    list_price = Decimal(portal.server.app.find("InvMaster", StockCode="BOLT-002")["SellingPrice"])
    b = api.get(URL, {"customer": CUSTOMER_B, "stock_codes": "BOLT-002"}).json()["items"][0]
    assert Decimal(b["price"]) == (list_price * Decimal("0.95")).quantize(Decimal("0.01"))
    assert b["price_code"] == "B"
    # Price code D is priced for HARD stock only; a PIPE is sold to D at list price.
    d = api.get(URL, {"customer": CUSTOMER_D, "stock_codes": "PIPE-001"}).json()["items"][0]
    assert d["price_code"] == ""
    assert d["price"] == portal.server.app.find("InvMaster", StockCode="PIPE-001")["SellingPrice"]
    assert (
        api.get(URL, {"customer": CUSTOMER_D, "stock_codes": "PUMP-OUT"}).json()["items"][0][
            "free_stock_total"
        ]
        == "0"
    )


def test_get_takes_comma_separated_or_repeated_codes_in_any_case(portal):
    api = portal.api()
    one = api.get(URL, {"customer": CUSTOMER_A, "stock_codes": "bolt-001, nut-002"})
    two = api.get(f"{URL}?customer={CUSTOMER_A}&stock_codes=BOLT-001&stock_codes=NUT-002")
    assert one.status_code == two.status_code == 200
    assert one.json() == two.json()
    assert [i["stock_code"] for i in one.json()["items"]] == ["BOLT-001", "NUT-002"]


def test_a_second_ask_within_the_cache_time_does_not_reach_syspro(portal):
    api = portal.api()
    query = {"customer": CUSTOMER_B, "stock_codes": "BOLT-001,NUT-001"}
    first = api.get(URL, query)
    assert first["X-Cache"] == "miss"
    calls = portal.control.stats()["requests"]
    second = api.get(URL, query)
    assert second["X-Cache"] == "hit"
    assert second.json() == first.json()  # priced_at included: the same answer
    assert portal.control.stats()["requests"] == calls
    # A new stock code is asked of SYSPRO; the cached one is not asked again.
    third = api.get(URL, {"customer": CUSTOMER_B, "stock_codes": "BOLT-001,GEAR-001"})
    assert third["X-Cache"] == "miss"
    assert third.json()["items"][0] == first.json()["items"][0]
    # Another customer's prices are their own.
    other = api.get(URL, {"customer": CUSTOMER_A, "stock_codes": "BOLT-001"})
    assert other["X-Cache"] == "miss"
    assert other.json()["items"][0]["price"] != first.json()["items"][0]["price"]


def test_unknown_stock_codes_are_400_and_named(portal):
    response = portal.api().get(URL, {"customer": CUSTOMER_A, "stock_codes": "BOLT-001,NOPE-1,ZZZ"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "stock_code_not_found"
    assert body["stock_codes"] == ["NOPE-1", "ZZZ"]
    assert "'NOPE-1'" in body["detail"] and "'ZZZ'" in body["detail"]


def test_an_unknown_customer_is_400_and_named(make_portal, db):
    shop = make_portal(all_customers=True)
    response = shop.api().get(URL, {"customer": "9999999", "stock_codes": "BOLT-001"})
    assert response.status_code == 400
    assert response.json()["code"] == "customer_not_found"
    assert "SYSPRO has no customer '9999999'" in response.json()["detail"]


def test_a_request_without_codes_is_400(portal):
    api = portal.api()
    assert api.get(URL, {"customer": CUSTOMER_A}).status_code == 400
    response = api.post(URL, {"customer": CUSTOMER_A, "stock_codes": ["X"] * 101}, format="json")
    assert response.status_code == 400
    assert "stock_codes" in response.json()


def test_syspro_failing_is_503_with_retry_after(portal):
    portal.control.faults(shares={"5xx": 1.0})
    response = portal.api().get(URL, {"customer": CUSTOMER_A, "stock_codes": "VALVE-001"})
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    assert response.json()["code"] == "server_error"
    portal.control.faults()
    assert (
        portal.api().get(URL, {"customer": CUSTOMER_A, "stock_codes": "VALVE-001"}).status_code
        == 200
    )
