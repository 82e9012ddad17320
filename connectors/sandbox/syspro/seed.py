"""The SYSPRO sandbox's demo company: what it holds (the counts, the stock families,
the names) and the awkward records that fail downstream the way real ones do, built
table by table from one seeded random generator.

The builders draw from the one generator in a fixed order (customers, stock, orders,
invoices, payments, GL journals), so a seed always gives the same company.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal

from connectors.sandbox.syspro.schema import (
    BANKS,
    PRICE_CODES,
    ROWVERSION,
    SHIPPED_STATUSES,
    TABLE_KEYS,
    TAX_RATES,
    WAREHOUSES,
    Row,
    iso,
    money,
    order_line,
    tax_code,
)

CUSTOMER_COUNT = 320
# fmt: off
STOCK_FAMILIES = (
    "BOLT", "NUT", "PIPE", "VALVE", "PUMP", "SEAL", "GEAR", "MOTOR", "CABLE", "FILTER",
)
# fmt: on
STOCK_PER_FAMILY = 22
ORDER_COUNT = 260
INVOICE_COUNT = 420
PAYMENT_COUNT = 80
GL_PERIODS = 24  # two years of twelve periods
GL_JOURNALS_PER_PERIOD = 85
GL_ENTRIES_PER_JOURNAL = 10  # 24 x 85 x 10 = 20,400 journal entries

# The demo company's deliberately awkward records, failing downstream as real ones do:
# an order and an invoice for a customer no longer on file (customer_not_found);
MISSING_CUSTOMER = "0009999"
ORPHAN_ORDER = "100013"
ORPHAN_INVOICE = "200021"
# two customers (branches) with one name: a duplicate contact name in Xero;
DUPLICATE_NAME = "Harbour View Trading Ltd"
DUPLICATE_NAME_CUSTOMERS = ("0000150", "0000275")
# a stock code whose product class no account-code lookup maps, on one order and invoice;
UNMAPPED_STOCK_CODE = "LEGACY-001"
UNMAPPED_PRODUCT_CLASS = "OBS"
UNMAPPED_ORDER = "100027"
UNMAPPED_INVOICE = "200042"
# a stock code with nothing in any warehouse (insufficient stock on import).
OUT_OF_STOCK_CODE = "PUMP-OUT"
# Code D of PRICE_CODES is priced only for this class of stock.
PRICE_CODE_D_CLASS = "HARD"
# Product classes a downstream account-code lookup maps; UNMAPPED_PRODUCT_CLASS is not among them.
# fmt: off
PRODUCT_CLASSES = dict(zip(STOCK_FAMILIES, (
    "HARD", "HARD", "FLOW", "FLOW", "FLOW", "SPAR", "SPAR", "ELEC", "ELEC", "SPAR",
), strict=True))
# fmt: on
GL_ACCOUNTS = tuple(
    f"{a}-{b}" for a in ("10", "20", "40", "50") for b in ("1000", "1100", "2000", "3100", "4000")
)

# fmt: off
_NAME_A = (
    "Acme", "Northern", "Blue", "Summit", "Harbour", "Oak", "Pioneer", "Crown", "Delta",
    "Granite", "Meridian", "Castle", "Riverside", "Beacon", "Falcon", "Kestrel",
)
_NAME_B = (
    "Engineering", "Supplies", "Fabrication", "Hydraulics", "Controls", "Plant", "Tools",
    "Motors", "Fluid Power", "Automation",
)
# fmt: on
_NAME_C = ("Ltd", "plc", "& Sons", "Group", "Services")
_STREETS = ("High Street", "Mill Lane", "Station Road", "Church Street", "Dock Road", "Park Way")
_TOWNS = ("Leeds", "Sheffield", "Hull", "Bristol", "Derby", "Stoke", "Preston", "Swindon")
_BASE = datetime(2025, 1, 6, 8, 0, 0)

# (stock code, description, product class)
Stock = tuple[str, str, str]
# (stock code, description, product class, quantity)
Line = tuple[str, str, str, int]
Stamp = Callable[[int], str]
# When a seeded row was last written; turned into its rowversion once every table is built.
CHANGED = "_changed"
# Detail rows take their header's moment: (detail table, header table, link column).
_DETAILS = (
    ("InvWarehouse", "InvMaster", "StockCode"),
    ("SorDetail", "SorMaster", "SalesOrder"),
    ("ArTrnDetail", "ArInvoice", "Invoice"),
)


def seed_tables(
    seed: int,
    customers: int = CUSTOMER_COUNT,
    duplicate_names: bool = True,
    orders: int = ORDER_COUNT,
) -> dict[str, list[Row]]:
    """A deterministic demo company holding the awkward records real ledgers hold.

    ``customers`` beyond the 320 of the demo get names made unique by their
    number; ``duplicate_names=False`` leaves out the two branches sharing a name;
    ``orders`` sales orders instead of the demo's 260 (a benchmark's volume).
    """
    rng = random.Random(seed)
    tables: dict[str, list[Row]] = {name: [] for name in TABLE_KEYS}

    def stamp(days: int) -> str:
        return iso(_BASE + timedelta(days=days, minutes=rng.randrange(600)))

    tables["ArCustomer"] = _customers(rng, stamp, customers, duplicate_names)
    stock, prices = _stock(rng, stamp, tables)
    _orders(rng, stamp, tables, stock, prices, orders)
    _invoices(rng, stamp, tables, stock, prices)
    tables["ArCshJnlDet"] = _payments(rng, stamp, tables["ArInvoice"])
    tables["GenJournalDetail"] = _journals(rng)
    _rowversions(tables)
    return tables


def _rowversions(tables: dict[str, list[Row]]) -> None:
    """Every row but GL history gets its ``TimeStamp``: one counter for the whole company,
    numbered in the order the rows were last written, as SQL Server's rowversion is."""
    for detail, header, link in _DETAILS:
        moments = {row[link]: row[CHANGED] for row in tables[header]}
        for row in tables[detail]:
            row[CHANGED] = moments[row[link]]
    written = [
        (row[CHANGED], table, position, row)
        for table, rows in enumerate(tables.values())
        for position, row in enumerate(rows)
        if CHANGED in row
    ]
    written.sort(key=lambda item: item[:3])
    for version, (*_, row) in enumerate(written, 1):
        del row[CHANGED]
        row[ROWVERSION] = str(version)


@functools.cache
def cached_tables(
    seed: int, customers: int, duplicate_names: bool, orders: int = ORDER_COUNT
) -> dict[str, list[Row]]:
    return seed_tables(seed, customers, duplicate_names, orders)


def _customers(rng: random.Random, stamp: Stamp, count: int, duplicate_names: bool) -> list[Row]:
    names = [f"{a} {b} {c}" for a in _NAME_A for b in _NAME_B for c in _NAME_C]
    rng.shuffle(names)
    names = [n for n in names if n != DUPLICATE_NAME]
    rows: list[Row] = []
    for n in range(1, count + 1):
        code = f"{n:07d}"
        name = names[n] if n < len(names) else f"{names[n % len(names)][:38]} {n}"
        if duplicate_names and code in DUPLICATE_NAME_CUSTOMERS:
            name = DUPLICATE_NAME
        currency = rng.choice(("GBP", "GBP", "GBP", "EUR", "USD"))
        rows.append(
            {
                "Customer": code,
                "Name": name,
                "ShortName": name[:20].upper(),
                "Branch": rng.choice(("NO", "SO", "EX")),
                "Area": rng.choice(("N", "S", "E", "W")),
                "Salesperson": rng.choice(("JB", "KM", "TS")),
                "Currency": currency,
                "CreditLimit": f"{rng.randrange(10, 500) * 100}.00",
                "Telephone": f"01{rng.randrange(100, 999)} {rng.randrange(100000, 999999)}",
                "Email": f"accounts{n}@{name.split()[0].lower()}.example.com",
                "SoldToAddr1": f"{rng.randrange(1, 300)} {rng.choice(_STREETS)}",
                "SoldToAddr2": rng.choice(_TOWNS),
                "SoldPostalCode": f"LS{rng.randrange(1, 30)} {rng.randrange(1, 9)}AB",
                "TaxStatus": "N" if currency == "GBP" else "E",
                # Every fifth customer has no price code and buys at list price.
                "PriceCode": ("", *PRICE_CODES)[n % 5],
                "CustomerOnHold": "Y" if n % 37 == 0 else "N",
                "DateCustAdded": stamp(-rng.randrange(30, 900))[:10],
                CHANGED: stamp(rng.randrange(0, 300)),
            }
        )
    return rows


def _stock(
    rng: random.Random, stamp: Stamp, tables: dict[str, list[Row]]
) -> tuple[list[Stock], dict[str, Decimal]]:
    """InvMaster, InvPrice and InvWarehouse; the stock (the unmapped and the
    out-of-stock code last) and its list prices."""
    stock: list[Stock] = []
    for family in STOCK_FAMILIES:
        for n in range(1, STOCK_PER_FAMILY + 1):
            stock.append(
                (f"{family}-{n:03d}", f"{family.title()} type {n}", PRODUCT_CLASSES[family])
            )
    stock.append((UNMAPPED_STOCK_CODE, "Discontinued coupling (legacy)", UNMAPPED_PRODUCT_CLASS))
    stock.append((OUT_OF_STOCK_CODE, "Pump, out of stock everywhere", "FLOW"))
    prices: dict[str, Decimal] = {}
    for code, description, product_class in stock:
        # Whole multiples of 0.20, so VAT at 20% or 5% is whole pence on every line and an
        # invoice's total is the same however a downstream system groups its lines.
        prices[code] = Decimal(rng.randrange(150, 90000) // 20 * 20) / 100
        tables["InvMaster"].append(
            {
                "StockCode": code,
                "Description": description,
                "ProductClass": product_class,
                "StockUom": "EA",
                "SellingPrice": money(prices[code]),
                "TaxCode": tax_code(product_class),
                CHANGED: stamp(rng.randrange(0, 300)),
            }
        )
        for price_code, discount in PRICE_CODES.items():
            if price_code == "D" and product_class != PRICE_CODE_D_CLASS:
                continue
            tables["InvPrice"].append(
                {
                    "StockCode": code,
                    "PriceCode": price_code,
                    "SellingPrice": money(prices[code] * (100 - discount) / 100),
                }
            )
        for warehouse in WAREHOUSES:
            on_hand = 0 if code == OUT_OF_STOCK_CODE else rng.randrange(0, 500)
            tables["InvWarehouse"].append(
                {
                    "StockCode": code,
                    "Warehouse": warehouse,
                    "QtyOnHand": str(on_hand),
                    "QtyAllocated": str(min(on_hand, rng.randrange(0, 40))),
                }
            )
    return stock, prices


def _lines(rng: random.Random, stock: list[Stock], with_unmapped: bool) -> list[Line]:
    """One to four sellable lines, and the unmapped stock code when asked."""
    sellable = [s for s in stock if s[0] not in (UNMAPPED_STOCK_CODE, OUT_OF_STOCK_CODE)]
    picks = rng.sample(sellable, rng.randrange(1, 5))
    if with_unmapped:
        picks.append(stock[-2])  # UNMAPPED_STOCK_CODE
    return [(code, desc, cls, rng.randrange(1, 20)) for code, desc, cls in picks]


def _orders(
    rng: random.Random,
    stamp: Stamp,
    tables: dict[str, list[Row]],
    stock: list[Stock],
    prices: dict[str, Decimal],
    count: int = ORDER_COUNT,
) -> None:
    """SorMaster and SorDetail: the orphan order, the unmapped one, and the first
    orders for the two customers sharing a name."""
    for n in range(count):
        number = str(100001 + n)
        customer = rng.choice(tables["ArCustomer"])
        code = MISSING_CUSTOMER if number == ORPHAN_ORDER else customer["Customer"]
        if n < len(DUPLICATE_NAME_CUSTOMERS):
            code = DUPLICATE_NAME_CUSTOMERS[n]
        when = stamp(rng.randrange(0, 300))
        tables["SorMaster"].append(
            {
                "SalesOrder": number,
                "Customer": code,
                "CustomerPoNumber": f"PO-{rng.randrange(10000, 99999)}-{n}",
                "OrderDate": when[:10],
                "OrderStatus": rng.choice(("1", "2", "3", "4", "8", "9")),
                "Currency": customer["Currency"],
                "Warehouse": "FG",
                "ShipAddress1": customer["SoldToAddr1"],
                "ShipAddress2": customer["SoldToAddr2"],
                "ShipPostalCode": customer["SoldPostalCode"],
                CHANGED: when,
            }
        )
        lines = _lines(rng, stock, number == UNMAPPED_ORDER)
        for line, (stock_code, desc, cls, qty) in enumerate(lines, 1):
            tables["SorDetail"].append(
                order_line(
                    SalesOrder=number,
                    SalesOrderLine=str(line),
                    LineType="1",
                    MStockCode=stock_code,
                    MStockDes=desc,
                    MWarehouse="FG",
                    MOrderQty=str(qty),
                    MPrice=money(prices[stock_code]),
                    MProductClass=cls,
                )
            )


def _invoices(
    rng: random.Random,
    stamp: Stamp,
    tables: dict[str, list[Row]],
    stock: list[Stock],
    prices: dict[str, Decimal],
) -> None:
    """ArInvoice and ArTrnDetail: every shipped order's unpaid invoice billing its lines,
    other invoices paid or not, the orphan invoice and the unmapped one."""
    shipped = {
        o["SalesOrder"]: o for o in tables["SorMaster"] if o["OrderStatus"] in SHIPPED_STATUSES
    }
    order_lines: dict[str, list[Row]] = {}
    for d in tables["SorDetail"]:
        order_lines.setdefault(d["SalesOrder"], []).append(d)
    for n in range(INVOICE_COUNT):
        number = str(200001 + n)
        customer = rng.choice(tables["ArCustomer"])
        code = MISSING_CUSTOMER if number == ORPHAN_INVOICE else customer["Customer"]
        if n < len(DUPLICATE_NAME_CUSTOMERS):
            code = DUPLICATE_NAME_CUSTOMERS[n]
        when = stamp(rng.randrange(0, 300))
        total = Decimal(0)
        tax_total = Decimal(0)
        invoice_lines = _lines(rng, stock, number == UNMAPPED_INVOICE)
        # A shipped order's invoice bills that order: its customer, currency and lines.
        order = shipped.get(str(100001 + n)) if n < ORDER_COUNT else None
        if number in (ORPHAN_INVOICE, UNMAPPED_INVOICE) or (
            order is not None and order["SalesOrder"] in (ORPHAN_ORDER, UNMAPPED_ORDER)
        ):
            order = None  # the awkward records stay one of each
        if order is not None:
            code = order["Customer"]
            invoice_lines = [
                (d["MStockCode"], d["MStockDes"], d["MProductClass"], int(d["MOrderQty"]))
                for d in order_lines[order["SalesOrder"]]
            ]
        for line, (stock_code, desc, cls, qty) in enumerate(invoice_lines, 1):
            net = prices[stock_code] * qty
            tax = (net * TAX_RATES[tax_code(cls)] / 100).quantize(Decimal("0.01"))
            total += net
            tax_total += tax
            tables["ArTrnDetail"].append(
                {
                    "Invoice": number,
                    "DetailLine": str(line),
                    "StockCode": stock_code,
                    "Description": desc,
                    "ProductClass": cls,
                    "Warehouse": "FG",
                    "QtyInvoiced": str(qty),
                    "UnitPrice": money(prices[stock_code]),
                    "NetSalesValue": money(net),
                    "TaxValue": money(tax),
                }
            )
        gross = total + tax_total
        paid = rng.choice((Decimal(0), Decimal(0), gross))
        if order is not None:
            paid = Decimal(0)  # shipped lately: the customer has not paid yet
        tables["ArInvoice"].append(
            {
                "Invoice": number,
                "Customer": code,
                "DocumentType": "I",
                "InvoiceDate": when[:10],
                "DueDate": (datetime.fromisoformat(when) + timedelta(days=30)).date().isoformat(),
                "Currency": order["Currency"] if order else customer["Currency"],
                "SalesOrder": str(100001 + n) if n < ORDER_COUNT else "",
                "CustomerPoNumber": f"PO-INV-{n}",
                "CurrencyValue": money(gross),
                "TaxValue": money(tax_total),
                "InvoiceBal1": money(gross - paid),
                CHANGED: when,
            }
        )


def _payments(rng: random.Random, stamp: Stamp, invoices: list[Row]) -> list[Row]:
    """ArCshJnlDet: payments of every third invoice of a customer on file."""
    open_invoices = [i for i in invoices if i["Customer"] != MISSING_CUSTOMER]
    rows: list[Row] = []
    for n in range(PAYMENT_COUNT):
        invoice = open_invoices[n * 3]
        when = stamp(rng.randrange(0, 300))
        rows.append(
            {
                "TrnYear": when[:4],
                "TrnMonth": str(int(when[5:7])),
                "Journal": str(1 + n // 10),
                "EntryNumber": str(1 + n % 10),
                "Customer": invoice["Customer"],
                "Invoice": invoice["Invoice"],
                "Reference": f"CHQ{700000 + n}",
                "Bank": rng.choice(BANKS),
                "PaymentDate": when[:10],
                "PaymentValue": invoice["CurrencyValue"],
                CHANGED: when,
            }
        )
    return rows


def _journals(rng: random.Random) -> list[Row]:
    """GenJournalDetail: two years of balanced GL journals, in key order."""
    journals: list[Row] = []
    for period in range(GL_PERIODS):
        year, month = 2024 + period // 12, 1 + period % 12
        for journal in range(1, GL_JOURNALS_PER_PERIOD + 1):
            day = date(year, month, 1 + journal % 28).isoformat()
            source = rng.choice(("GJ", "AR", "SO", "IC", "AP"))
            half = GL_ENTRIES_PER_JOURNAL // 2
            for entry in range(half):
                value = Decimal(rng.randrange(100, 5_000_000)) / 100
                for sign, offset in ((1, 0), (-1, half)):
                    journals.append(
                        {
                            "GlYear": str(year),
                            "GlPeriod": str(month),
                            "Journal": str(journal),
                            "EntryNumber": str(entry + offset + 1),
                            "GlCode": rng.choice(GL_ACCOUNTS),
                            "EntryDate": day,
                            "EntryValue": money(sign * value),
                            "Source": source,
                            "Comment": f"{source} journal {journal} line {entry + offset + 1}",
                        }
                    )
    journals.sort(
        key=lambda r: (
            int(r["GlYear"]),
            int(r["GlPeriod"]),
            int(r["Journal"]),
            int(r["EntryNumber"]),
        )
    )
    return journals
