"""Portal-only pricing: a customer's selling prices and free stock, read through COMFND."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from connectors.base import Record
from connectors.errors import ConnectorError
from connectors.syspro.catalogue import ENTITIES
from connectors.syspro.errors import RECORD_DEFAULT, RECORD_RULES, classify, enet_text

if TYPE_CHECKING:
    from connectors.syspro.connector import SysproConnector


@dataclass(frozen=True)
class StockPrice:
    """One stock code as a customer would buy it: their price and the free stock."""

    stock_code: str
    description: str
    uom: str
    price: Decimal
    price_code: str  # the InvPrice code that priced it; "" when the list price applied
    free_stock: dict[str, Decimal]  # warehouse -> on hand less allocated


@dataclass(frozen=True)
class CustomerPrices:
    """A customer's prices for the stock codes asked about; ``unknown`` are not on file."""

    customer: str
    name: str
    price_code: str
    on_hold: bool
    items: dict[str, StockPrice]
    unknown: list[str]


def customer_prices(
    syspro: SysproConnector, customer: str, stock_codes: Sequence[str]
) -> CustomerPrices:
    """The customer's selling price and free stock per warehouse for each stock code.

    SYSPRO prices a customer by its price code: the stock code's InvPrice row
    for that code, else the stock code's list price [A]. Reads go through
    COMFND so one call answers many stock codes: the customer, the stock
    codes with their warehouses, then their prices — a handful of calls
    whether a portal asks about one line or fifty.
    """
    columns = ["Customer", "Name", "PriceCode", "CustomerOnHold"]
    found = syspro.find_rows(
        "ArCustomer",
        columns,
        [[("Customer", "EQ", customer)]],
        ["Customer"],
        {c.lower(): c for c in columns},
    )
    if not found:
        text = f"Customer '{customer}' not found"
        raise ConnectorError(*classify(enet_text(text), RECORD_RULES, RECORD_DEFAULT), raw=text)
    row = found[0]
    price_code = str(row.get("PriceCode", ""))
    stock = ENTITIES["InvMaster"]
    codes = sorted(set(stock_codes))
    masters: list[Record] = []
    special: dict[str, Decimal] = {}
    for chunk in syspro.chunks_of(codes, syspro.page_size):
        masters.extend(
            syspro.find_rows(
                stock.table,
                stock.columns,
                [[("StockCode", "EQ", code)] for code in chunk],
                stock.keys,
                stock.names,
            )
        )
    # Two terms per stock code here, so half as many codes fit in one URL.
    half = max(1, (syspro.max_url_length - 1500) // 500)
    priced = [str(m["StockCode"]) for m in masters] if price_code else []
    for chunk in syspro.chunks_of(priced, min(half, syspro.page_size)):
        prices = syspro.find_rows(
            "InvPrice",
            ["StockCode", "PriceCode", "SellingPrice"],
            [[("StockCode", "EQ", code), ("PriceCode", "EQ", price_code)] for code in chunk],
            ["StockCode", "PriceCode"],
            {"stockcode": "StockCode", "sellingprice": "SellingPrice"},
        )
        special.update({str(p["StockCode"]): Decimal(p["SellingPrice"]) for p in prices})
    syspro.attach_children(stock, masters)
    items = {
        str(m["StockCode"]): StockPrice(
            stock_code=str(m["StockCode"]),
            description=str(m.get("Description", "")),
            uom=str(m.get("StockUom", "")),
            price=special.get(str(m["StockCode"]), Decimal(m.get("SellingPrice") or 0)),
            price_code=price_code if str(m["StockCode"]) in special else "",
            free_stock={
                str(w["Warehouse"]): Decimal(w["QtyOnHand"] or 0) - Decimal(w["QtyAllocated"] or 0)
                for w in m.get("InvWarehouse", [])
            },
        )
        for m in masters
    }
    return CustomerPrices(
        customer=str(row["Customer"]),
        name=str(row.get("Name", "")),
        price_code=price_code,
        on_hold=str(row.get("CustomerOnHold", "")).upper() == "Y",
        items=items,
        unknown=[code for code in codes if code not in items],
    )
