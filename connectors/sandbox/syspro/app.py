"""SYSPRO 8 e.net Communications Service (REST) emulator.

Every call is a GET under ``/SYSPROWCFService/Rest`` with its arguments in the
query string and XML in and out, as the real WCF endpoint does: ``Logon``
returns a session UserId GUID (operator ``ADMIN``/``demo``, company
``EDU1``/``demo``; ``VIEWER``/``viewer`` holds no AR/IN/SO licence),
``Query/{Query,Browse,Fetch}``, ``Setup/{Add,Update,Delete}`` and
``Transaction/Post`` run business objects in that session,
``GetLogonProfile`` says who it is and ``Logoff`` ends it. Exceptions (bad
logon, licence, unknown key, expired session) are HTTP 200 with text starting
``ERROR``; item failures are
``<ErrorDescription>`` elements inside the output XML. Unknown input elements
are silently ignored, as SYSPRO does.

Business objects: ARSQRY, INVQRY, SORQRY (query by key); COMFND, COMFCH,
COMBRW (generic find/fetch/browse over ArCustomer, InvMaster, InvWarehouse,
InvPrice, SorMaster, SorDetail, ArInvoice, ArTrnDetail, ArCshJnlDet, GenJournalDetail);
ARSSCS (customer setup); SORTOI (sales order import); ARSTPY (AR payments).

Behaviour the vendor does not document, and so configurable via ``options``:

* ``body_style`` ``"bare"`` | ``"json"`` | ``"string"`` — the body comes back
  bare, as a JSON-quoted string, or wrapped in ``<string>`` [O];
* ``lowercase_output`` — output element names in lower case [P, Flowgear];
* ``single_session_per_operator`` — a second logon ends the first [O];
* ``max_sessions`` — e.net licence seats; a logon past them fails [P];
* ``session_idle_seconds`` — sessions idle longer are gone (default 1200) [A];
* ``max_url_length`` — longer requests get IIS's 414 (default 16384) [S];
* ``max_return_rows`` — COMFND/COMBRW cap on ``ReturnRows`` (default 1000) [A];
* ``open_period_from`` — ISO date; ARSTPY refuses earlier payment dates as a
  closed period (default: first day of last month) [A];
* ``calls_per_minute`` — SYSPRO publishes no rate limit; a gateway in front
  may, so a limit with 429 + ``Retry-After`` can be switched on [A];
* ``operators`` — ``{name: {"password": …, "modules": [...]}}`` [A];
* ``customers`` — how many customers the seed holds (default 320; more for
  load and chaos tests, their names kept unique) and ``duplicate_names``
  (default true) — false leaves out the two branches that share one name;
* every ``ERROR`` wording and every output element name not in the doc [A].

SYSPRO keeps no change feed: tables carry a ``LastChanged`` column (the
sandbox's stand-in for the date columns integrators poll through COMFND) [A],
updated on every add, update and post.

Seed (``seed`` option, deterministic): 320 customers (each with a price code,
or none for list price), 222 stock codes in three warehouses with their
InvPrice rows per price code, 260 sales orders, 420 AR invoices, 80 AR
payments and 20,400 GL journal entries; among them the records that fail
downstream the way real ones do — see the constants below the imports.
Every shipped order (status 8 or 9; not the orphan or the unmapped one) has its
unpaid invoice (``ArInvoice.SalesOrder``) billing its lines to its customer, VAT
by the stock's tax code (A 20%, B 5% for electrical goods) [A]; prices are
multiples of 0.20, so the VAT is whole pence per line and the total is the same
however another system groups the lines.
ARSTPY allocates a payment to the ``Invoice`` elements beside it (reducing
``InvoiceBal1``; more than the balance, or an invoice not the customer's, fails)
and posts any rest unallocated.
"""

from __future__ import annotations

import functools
import heapq
import json
import operator
import random
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from connectors.sandbox.core import (
    RateRule,
    Request,
    Response,
    SandboxApp,
    text_response,
    xml_response,
)

Row = dict[str, str]

ROOT = "/SYSPROWCFService/Rest"

# The licence (module) each business object needs; an operator must hold it.
BO_MODULE = {
    "ARSQRY": "AR",
    "ARSSCS": "AR",
    "ARSTPY": "AR",
    "INVQRY": "IN",
    "SORQRY": "SO",
    "SORTOI": "SO",
    "COMFND": "COM",
    "COMFCH": "COM",
    "COMBRW": "COM",
}

# Table -> key columns: the tables COMFND, COMFCH and COMBRW can read.
TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "ArCustomer": ("Customer",),
    "InvMaster": ("StockCode",),
    "InvWarehouse": ("StockCode", "Warehouse"),
    "InvPrice": ("StockCode", "PriceCode"),
    "SorMaster": ("SalesOrder",),
    "SorDetail": ("SalesOrder", "SalesOrderLine"),
    "ArInvoice": ("Invoice",),
    "ArTrnDetail": ("Invoice", "DetailLine"),
    "ArCshJnlDet": ("TrnYear", "TrnMonth", "Journal", "EntryNumber"),
    "GenJournalDetail": ("GlYear", "GlPeriod", "Journal", "EntryNumber"),
}
# Columns COMFND compares as numbers; every other column compares as text.
# fmt: off
NUMERIC_COLUMNS = frozenset((
    "CreditLimit", "SellingPrice", "QtyOnHand", "QtyAllocated", "SalesOrderLine", "MOrderQty",
    "MPrice", "DetailLine", "QtyInvoiced", "UnitPrice", "NetSalesValue", "TaxValue",
    "CurrencyValue", "InvoiceBal1", "TrnYear", "TrnMonth", "Journal", "EntryNumber",
    "PaymentValue", "GlYear", "GlPeriod", "EntryValue",
))
# fmt: on

WAREHOUSES = ("FG", "RM", "E")
CURRENCIES = ("GBP", "EUR", "USD")
BANKS = ("BARC01", "HSBC02")
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
# Customer price codes and the discount off the list price each one's InvPrice rows carry [A];
# code D is priced only for HARD stock, so other stock falls back to the list price.
PRICE_CODES = {"A": Decimal(0), "B": Decimal(5), "C": Decimal(10), "D": Decimal(15)}
PRICE_CODE_D_CLASS = "HARD"
# Product classes a downstream account-code lookup maps; UNMAPPED_PRODUCT_CLASS is not among them.
# fmt: off
PRODUCT_CLASSES = dict(zip(STOCK_FAMILIES, (
    "HARD", "HARD", "FLOW", "FLOW", "FLOW", "SPAR", "SPAR", "ELEC", "ELEC", "SPAR",
), strict=True))
# fmt: on
# SYSPRO tax codes on stock and the VAT rate (%) each stands for [A]: electrical goods
# carry the reduced rate.
TAX_RATES = {"A": Decimal(20), "B": Decimal(5)}
REDUCED_RATE_CLASS = "ELEC"
# Order statuses of shipped orders, which SYSPRO has invoiced: 8 to invoice, 9 complete.
SHIPPED_STATUSES = ("8", "9")
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


class BoError(Exception):
    """A failure SYSPRO reports for the whole call: HTTP 200 and text starting ``ERROR``."""


# ARSSCS fields an Add or Update may set, with their maximum lengths [A].
CUSTOMER_FIELDS = {
    "Name": 50,
    "ShortName": 20,
    "Branch": 10,
    "Area": 10,
    "Salesperson": 20,
    "Currency": 3,
    "CreditLimit": 20,
    "Telephone": 20,
    "Email": 255,
    "SoldToAddr1": 40,
    "SoldToAddr2": 40,
    "SoldPostalCode": 10,
    "TaxStatus": 1,
    "CustomerOnHold": 1,
}
ORDER_HEADER_FIELDS = (
    "Customer",
    "CustomerPoNumber",
    "OrderDate",
    "ShipAddress1",
    "ShipAddress2",
    "ShipPostalCode",
)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def _money(value: Decimal | float) -> str:
    return str(Decimal(value).quantize(Decimal("0.01")))


def _tax_code(product_class: str) -> str:
    return "B" if product_class == REDUCED_RATE_CLASS else "A"


def seed_tables(
    seed: int, customers: int = CUSTOMER_COUNT, duplicate_names: bool = True
) -> dict[str, list[Row]]:
    """A deterministic demo company holding the awkward records real ledgers hold.

    ``customers`` beyond the 320 of the demo get names made unique by their
    number; ``duplicate_names=False`` leaves out the two branches sharing a name.
    """
    rng = random.Random(seed)
    tables: dict[str, list[Row]] = {name: [] for name in TABLE_KEYS}
    base = datetime(2025, 1, 6, 8, 0, 0)

    def stamp(days: int) -> str:
        return _iso(base + timedelta(days=days, minutes=rng.randrange(600)))

    names = [f"{a} {b} {c}" for a in _NAME_A for b in _NAME_B for c in _NAME_C]
    rng.shuffle(names)
    names = [n for n in names if n != DUPLICATE_NAME]
    for n in range(1, customers + 1):
        code = f"{n:07d}"
        name = names[n] if n < len(names) else f"{names[n % len(names)][:38]} {n}"
        if duplicate_names and code in DUPLICATE_NAME_CUSTOMERS:
            name = DUPLICATE_NAME
        currency = rng.choice(("GBP", "GBP", "GBP", "EUR", "USD"))
        tables["ArCustomer"].append(
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
                "LastChanged": stamp(rng.randrange(0, 300)),
            }
        )

    stock: list[tuple[str, str, str]] = []
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
                "SellingPrice": _money(prices[code]),
                "TaxCode": _tax_code(product_class),
                "LastChanged": stamp(rng.randrange(0, 300)),
            }
        )
        for price_code, discount in PRICE_CODES.items():
            if price_code == "D" and product_class != PRICE_CODE_D_CLASS:
                continue
            tables["InvPrice"].append(
                {
                    "StockCode": code,
                    "PriceCode": price_code,
                    "SellingPrice": _money(prices[code] * (100 - discount) / 100),
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

    customers = tables["ArCustomer"]
    sellable = [s for s in stock if s[0] not in (UNMAPPED_STOCK_CODE, OUT_OF_STOCK_CODE)]

    def lines_for(with_unmapped: bool) -> list[tuple[str, str, str, int]]:
        picks = rng.sample(sellable, rng.randrange(1, 5))
        if with_unmapped:
            picks.append(stock[-2])  # UNMAPPED_STOCK_CODE
        return [(code, desc, cls, rng.randrange(1, 20)) for code, desc, cls in picks]

    for n in range(ORDER_COUNT):
        number = str(100001 + n)
        customer = rng.choice(customers)
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
                "LastChanged": when,
            }
        )
        for line, (stock_code, desc, cls, qty) in enumerate(lines_for(number == UNMAPPED_ORDER), 1):
            tables["SorDetail"].append(
                {
                    "SalesOrder": number,
                    "SalesOrderLine": str(line),
                    "LineType": "1",
                    "MStockCode": stock_code,
                    "MStockDes": desc,
                    "MWarehouse": "FG",
                    "MOrderQty": str(qty),
                    "MPrice": _money(prices[stock_code]),
                    "MProductClass": cls,
                }
            )

    shipped = {
        o["SalesOrder"]: o for o in tables["SorMaster"] if o["OrderStatus"] in SHIPPED_STATUSES
    }
    for n in range(INVOICE_COUNT):
        number = str(200001 + n)
        customer = rng.choice(customers)
        code = MISSING_CUSTOMER if number == ORPHAN_INVOICE else customer["Customer"]
        if n < len(DUPLICATE_NAME_CUSTOMERS):
            code = DUPLICATE_NAME_CUSTOMERS[n]
        when = stamp(rng.randrange(0, 300))
        total = Decimal(0)
        tax_total = Decimal(0)
        invoice_lines = lines_for(number == UNMAPPED_INVOICE)
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
                for d in tables["SorDetail"]
                if d["SalesOrder"] == order["SalesOrder"]
            ]
        for line, (stock_code, desc, cls, qty) in enumerate(invoice_lines, 1):
            net = prices[stock_code] * qty
            tax = (net * TAX_RATES[_tax_code(cls)] / 100).quantize(Decimal("0.01"))
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
                    "UnitPrice": _money(prices[stock_code]),
                    "NetSalesValue": _money(net),
                    "TaxValue": _money(tax),
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
                "CurrencyValue": _money(gross),
                "TaxValue": _money(tax_total),
                "InvoiceBal1": _money(gross - paid),
                "LastChanged": when,
            }
        )

    open_invoices = [i for i in tables["ArInvoice"] if i["Customer"] != MISSING_CUSTOMER]
    for n in range(PAYMENT_COUNT):
        invoice = open_invoices[n * 3]
        when = stamp(rng.randrange(0, 300))
        tables["ArCshJnlDet"].append(
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
                "LastChanged": when,
            }
        )

    journals = tables["GenJournalDetail"]
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
                            "EntryValue": _money(sign * value),
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
    return tables


@functools.cache
def _seed(seed: int, customers: int, duplicate_names: bool) -> dict[str, list[Row]]:
    return seed_tables(seed, customers, duplicate_names)


def _parse(xml: str | None, what: str) -> ET.Element:
    if not xml:
        raise BoError(f"{what} is required")
    try:
        # Test input on loopback; expat resolves no external entities.
        return ET.fromstring(xml)  # noqa: S314
    except ET.ParseError as exc:
        raise BoError(f"{what} is not well formed XML: {exc}") from exc


def _get(element: ET.Element | None, path: str, default: str = "") -> str:
    if element is None:
        return default
    found = element.find(path)
    return default if found is None or found.text is None else found.text.strip()


def _flag(parameters: ET.Element | None, name: str, default: str = "N") -> bool:
    value = _get(parameters, name, default).upper() or default
    if value not in ("Y", "N"):
        raise BoError(f"Parameter '{name}' must be Y or N, not '{value}'")
    return value == "Y"


def _decimal(value: str, what: str) -> Decimal:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{what} '{value}' is not numeric") from None
    if not number.is_finite():
        raise ValueError(f"{what} '{value}' is not numeric")
    return number


def _date(value: str, what: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{what} '{value}' is not a valid date (YYYY-MM-DD)") from None


def _add(parent: ET.Element, tag: str, text: object = None) -> ET.Element:
    child = ET.SubElement(parent, tag)
    if text is not None:
        child.text = str(text)
    return child


def _row_element(
    parent: ET.Element, tag: str, row: Mapping[str, str], columns: Iterable[str] | None = None
) -> ET.Element:
    element = _add(parent, tag)
    for column in columns or row:
        _add(element, column, row.get(column, ""))
    return element


def _status(root: ET.Element, processed: int, invalid: int) -> None:
    status = _add(root, "StatusOfItems")
    _add(status, "ItemsProcessed", processed)
    _add(status, "ItemsInvalid", invalid)


_CONDITIONS: dict[str, Callable[[Any, Any], bool]] = {
    "EQ": lambda a, b: a == b,
    "NE": lambda a, b: a != b,
    "LT": lambda a, b: a < b,
    "LE": lambda a, b: a <= b,
    "GT": lambda a, b: a > b,
    "GE": lambda a, b: a >= b,
}


def _typed(column: str, value: str) -> Any:
    if column in NUMERIC_COLUMNS:
        try:
            return Decimal(value or "0")
        except InvalidOperation:
            raise BoError(f"Value '{value}' is not numeric for column '{column}'") from None
    return value


Predicate = Callable[[Row], bool]


def _compile_where(table: str, where: ET.Element | None, columns: set[str]) -> Predicate:
    """COMFND's bracketed ``Expression`` list as one predicate (AND binds tighter than OR)."""
    tokens: list[Any] = []
    for expression in [] if where is None else where.findall("Expression"):
        if tokens:
            tokens.append(_get(expression, "AndOr", "And").upper())
        tokens.extend("(" * _get(expression, "OpenBracket").count("("))
        column = _get(expression, "Column")
        if column not in columns:
            raise BoError(f"Column '{column}' not found in table '{table}'")
        condition = _get(expression, "Condition", "EQ").upper()
        tokens.append(_predicate(column, condition, _get(expression, "Value")))
        tokens.extend(")" * _get(expression, "CloseBracket").count(")"))
    if not tokens:
        return lambda row: True
    position = 0

    def take() -> Any:
        nonlocal position
        position += 1
        return tokens[position - 1] if position <= len(tokens) else None

    def peek() -> Any:
        return tokens[position] if position < len(tokens) else None

    def atom() -> Predicate:
        part = take()
        if part == "(":
            inner = disjunction()
            if take() != ")":
                raise BoError("Unbalanced brackets in the Where clause")
            return inner
        if not callable(part):
            raise BoError("Malformed Where clause")
        return part

    def conjunction() -> Predicate:
        parts = [atom()]
        while peek() == "AND":
            take()
            parts.append(atom())
        return parts[0] if len(parts) == 1 else _all_of(parts)

    def disjunction() -> Predicate:
        parts = [conjunction()]
        while peek() == "OR":
            take()
            parts.append(conjunction())
        if len(parts) == 1:
            return parts[0]
        columns = {p.column for p in parts if isinstance(p, _Equals)}
        if len(columns) == 1 and all(isinstance(p, _Equals) for p in parts):
            # "key = a OR key = b OR …" (a lookup of many keys) as one set test.
            return _In(columns.pop(), frozenset(p.value for p in parts if isinstance(p, _Equals)))
        return _any_of(parts)

    predicate = disjunction()
    if position != len(tokens):
        raise BoError("Malformed Where clause")
    return predicate


def _all_of(parts: list[Predicate]) -> Predicate:
    # Loops, not all()/any() over a generator: a page of 50,000 customers tests each.
    def test(row: Row) -> bool:
        for part in parts:  # noqa: SIM110 - see above
            if not part(row):
                return False
        return True

    return test


def _any_of(parts: list[Predicate]) -> Predicate:
    def test(row: Row) -> bool:
        for part in parts:  # noqa: SIM110 - see above
            if part(row):
                return True
        return False

    return test


def _predicate(column: str, condition: str, value: str) -> Predicate:
    if condition == "LIKE":
        pattern = re.compile(re.escape(value).replace("%", ".*") + "$", re.IGNORECASE)
        return lambda row: bool(pattern.match(row.get(column, "")))
    compare = _CONDITIONS.get(condition)
    if compare is None:
        raise BoError(f"Condition '{condition}' is not supported")
    wanted = _typed(column, value)
    if condition == "EQ":
        return _Equals(column, wanted)
    return lambda row: compare(_typed(column, row.get(column, "")), wanted)


@dataclass(frozen=True)
class _Equals:
    column: str
    value: Any

    def __call__(self, row: Row) -> bool:
        return _typed(self.column, row.get(self.column, "")) == self.value


@dataclass(frozen=True)
class _In:
    column: str
    values: frozenset[Any]

    def __call__(self, row: Row) -> bool:
        return _typed(self.column, row.get(self.column, "")) in self.values


@dataclass
class Session:
    operator: str
    last_used: float


class SysproSandbox(SandboxApp):
    """The e.net REST endpoint of one SYSPRO company, with its demo data."""

    name = "syspro"

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        if self.options.get("calls_per_minute"):
            per_minute = int(self.options["calls_per_minute"])
            self.rate_rules.append(RateRule("calls_per_minute", per_minute, 60.0, lambda r: "all"))
        for route in ("Logon", "Logoff", "GetLogonProfile"):
            self.route("GET", f"{ROOT}/{route}", getattr(self, f"_{route.lower()}"))
        self.route("GET", ROOT + "/{cls}/{method}", self._business_object)

    # -- state --------------------------------------------------------------------

    def reset_state(self) -> None:
        options = self.options
        self.company_id = str(options.get("company_id", "EDU1"))
        self.company_password = str(options.get("company_password", "demo"))
        self.operators: dict[str, dict[str, Any]] = options.get("operators") or {
            "ADMIN": {"password": "demo", "modules": ["AR", "IN", "SO", "COM"]},
            "VIEWER": {"password": "viewer", "modules": ["COM"]},
        }
        self.body_style = str(options.get("body_style", "bare"))
        self.lowercase_output = bool(options.get("lowercase_output", False))
        self.single_session = bool(options.get("single_session_per_operator", False))
        self.max_sessions = options.get("max_sessions")
        self.idle_seconds = float(options.get("session_idle_seconds", 1200))
        self.max_url_length = int(options.get("max_url_length", 16384))
        self.max_return_rows = int(options.get("max_return_rows", 1000))
        first_of_month = date.today().replace(day=1)
        last_month = (first_of_month - timedelta(days=1)).replace(day=1)
        self.open_from = date.fromisoformat(str(options.get("open_period_from", last_month)))
        self.sessions: dict[str, Session] = {}
        seeded = _seed(
            int(options.get("seed", 8)),
            int(options.get("customers", CUSTOMER_COUNT)),
            bool(options.get("duplicate_names", True)),
        )
        # GL history is never written, so the cached rows are shared, not copied.
        self.tables = {
            name: rows if name == "GenJournalDetail" else [dict(r) for r in rows]
            for name, rows in seeded.items()
        }
        self.next_order = 100001 + len(self.tables["SorMaster"])

    def table(self, name: str) -> list[Row]:
        return self.tables[name]

    def find(self, name: str, **key: str) -> Row | None:
        return next(
            (r for r in self.tables[name] if all(r.get(k) == v for k, v in key.items())), None
        )

    def changed_now(self) -> str:
        return _iso(datetime.fromtimestamp(self.now()))

    # -- transport ----------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        query = urlencode([(k, v) for k, vs in request.query.items() for v in vs])
        if len(request.path) + 1 + len(query) > self.max_url_length:
            return text_response("HTTP Error 414. The request URL is too long.", 414)
        return super().handle(request)

    def reply(self, body: str | ET.Element) -> Response:
        if isinstance(body, ET.Element):
            if self.lowercase_output:
                for element in body.iter():
                    element.tag = element.tag.lower()
            body = ET.tostring(body, encoding="unicode")
        if self.body_style == "json":
            return Response(200, json.dumps(body).encode(), {"Content-Type": "application/json"})
        if self.body_style == "string":
            wrapped = ET.Element(
                "string", xmlns="http://schemas.microsoft.com/2003/10/Serialization/"
            )
            wrapped.text = body
            return xml_response(wrapped)
        return xml_response(body) if body.startswith("<") else text_response(body)

    def rate_limited_response(self, request: Request, rule: str, retry_after: int) -> Response:
        return text_response("Too many requests", 429, {"Retry-After": str(retry_after)})

    def server_error_response(self, request: Request, status: int) -> Response:
        return text_response("The server encountered an error processing the request.", status)

    # -- utilities ---------------------------------------------------------------

    def _logon(self, request: Request) -> Response:
        operator = (request.arg("Operator") or "").upper()
        profile = self.operators.get(operator)
        if profile is None or request.arg("OperatorPassword", "") != profile["password"]:
            return self.reply(f"ERROR: Invalid operator '{operator}' or password")
        if (request.arg("CompanyId") or "").upper() != self.company_id:
            return self.reply(f"ERROR: Company '{request.arg('CompanyId')}' not found")
        if request.arg("CompanyPassword", "") != self.company_password:
            return self.reply("ERROR: Invalid company password")
        self._expire_idle()
        if self.single_session:
            for user_id in [u for u, s in self.sessions.items() if s.operator == operator]:
                del self.sessions[user_id]
        if self.max_sessions is not None and len(self.sessions) >= int(self.max_sessions):
            return self.reply("ERROR: e.net license limit reached: no licences are available")
        user_id = uuid.uuid4().hex.upper()
        self.sessions[user_id] = Session(operator, self.now())
        return self.reply(user_id + "  ")  # SYSPRO pads the UserId with spaces [O]

    def _logoff(self, request: Request) -> Response:
        self.sessions.pop((request.arg("UserId") or "").strip(), None)
        return self.reply("0")

    def _getlogonprofile(self, request: Request) -> Response:
        try:
            session = self._session(request)
        except BoError as exc:
            return self.reply(f"ERROR: {exc}")
        root = ET.Element("Profile")
        _add(root, "CompanyId", self.company_id)
        _add(root, "CompanyName", "Clarity Demo Engineering Ltd")
        _add(root, "OperatorCode", session.operator)
        _add(root, "SystemLanguage", "05")
        _add(root, "CompanyDate", date.fromtimestamp(self.now()).isoformat())
        return self.reply(root)

    def _expire_idle(self) -> None:
        cutoff = self.now() - self.idle_seconds
        for user_id in [u for u, s in self.sessions.items() if s.last_used < cutoff]:
            del self.sessions[user_id]

    def _session(self, request: Request) -> Session:
        self._expire_idle()
        user_id = (request.arg("UserId") or "").strip()
        session = self.sessions.get(user_id)
        if session is None:
            raise BoError(f"UserId '{user_id}' is not logged on or the session has expired")
        session.last_used = self.now()
        return session

    def expire_sessions(self) -> None:
        """End every session, as an e.net service restart does."""
        with self.lock:
            self.sessions.clear()

    # -- business objects -------------------------------------------------------

    def _business_object(self, request: Request) -> Response:
        cls, method = request.params["cls"].title(), request.params["method"].title()
        handlers = self._handlers()
        try:
            session = self._session(request)
            name = (request.arg("BusinessObject") or "").upper()
            if name not in BO_MODULE:
                raise BoError(f"Business object '{name}' not found")
            if BO_MODULE[name] not in self.operators[session.operator]["modules"]:
                raise BoError(
                    f"Operator '{session.operator}' is not licensed for business object '{name}'"
                )
            handler = handlers.get((cls, method, name))
            if handler is None:
                raise BoError(f"Business object '{name}' does not support {cls}/{method}")
            return self.reply(handler(request))
        except BoError as exc:
            return self.reply(f"ERROR: {exc}")

    def _handlers(self) -> dict[tuple[str, str, str], Callable[[Request], ET.Element]]:
        return {
            ("Query", "Query", "ARSQRY"): self._arsqry,
            ("Query", "Query", "INVQRY"): self._invqry,
            ("Query", "Query", "SORQRY"): self._sorqry,
            ("Query", "Query", "COMFND"): self._comfnd,
            ("Query", "Fetch", "COMFCH"): self._comfch,
            ("Query", "Browse", "COMBRW"): self._combrw,
            ("Setup", "Add", "ARSSCS"): lambda r: self._arsscs(r, "Add"),
            ("Setup", "Update", "ARSSCS"): lambda r: self._arsscs(r, "Update"),
            ("Setup", "Delete", "ARSSCS"): lambda r: self._arsscs(r, "Delete"),
            ("Transaction", "Post", "SORTOI"): self._sortoi,
            ("Transaction", "Post", "ARSTPY"): self._arstpy,
        }

    # -- queries ------------------------------------------------------------------

    def _key(self, request: Request, column: str) -> str:
        return _get(_parse(request.arg("XmlIn"), "XmlIn"), f"Key/{column}")

    def _arsqry(self, request: Request) -> ET.Element:
        code = self._key(request, "Customer")
        customer = self.find("ArCustomer", Customer=code)
        if customer is None:
            raise BoError(f"Customer '{code}' not found")
        return self._copy("ArCustomer", customer)

    def _copy(self, tag: str, row: Row, children: Iterable[tuple[str, Row]] = ()) -> ET.Element:
        root = ET.Element(tag)
        for column, value in row.items():
            _add(root, column, value)
        for child_tag, child in children:
            _row_element(root, child_tag, child)
        return root

    def _invqry(self, request: Request) -> ET.Element:
        code = self._key(request, "StockCode")
        item = self.find("InvMaster", StockCode=code)
        if item is None:
            raise BoError(f"Stock code '{code}' not on file")
        stock = [r for r in self.table("InvWarehouse") if r["StockCode"] == code]
        root = self._copy("InvQuery", item, (("InvWarehouse", r) for r in stock))
        for element, row in zip(root.findall("InvWarehouse"), stock, strict=True):
            _add(element, "QtyAvailable", int(row["QtyOnHand"]) - int(row["QtyAllocated"]))
        return root

    def _sorqry(self, request: Request) -> ET.Element:
        number = self._key(request, "SalesOrder")
        order = self.find("SorMaster", SalesOrder=number)
        if order is None:
            raise BoError(f"Sales order '{number}' not found")
        lines = [r for r in self.table("SorDetail") if r["SalesOrder"] == number]
        return self._copy("SorQuery", order, (("SorDetail", r) for r in lines))

    def _table_name(self, query: ET.Element, tag: str = "TableName") -> str:
        table = _get(query, tag)
        if table not in TABLE_KEYS:
            raise BoError(f"Table '{table}' not found")
        return table

    def _columns(self, query: ET.Element, table: str) -> list[str]:
        available = list(self.table(table)[0]) if self.table(table) else list(TABLE_KEYS[table])
        wanted = [c.text.strip() for c in query.findall("Columns/Column") if c.text]
        unknown = [c for c in wanted if c not in available]
        if unknown:
            raise BoError(f"Column '{unknown[0]}' not found in table '{table}'")
        return wanted or available

    def _return_rows(self, query: ET.Element) -> int:
        text = _get(query, "ReturnRows", "100")
        if not text.isdigit() or int(text) < 1:
            raise BoError(f"ReturnRows '{text}' must be a positive number")
        return min(int(text), self.max_return_rows)

    def _comfnd(self, request: Request) -> ET.Element:
        query = _parse(request.arg("XmlIn"), "XmlIn")
        table = self._table_name(query)
        columns = self._columns(query, table)
        rows = self.table(table)
        known = set(rows[0]) if rows else set(TABLE_KEYS[table])
        matches = _compile_where(table, query.find("Where"), known)
        order = [c.text.strip() for c in query.findall("OrderBy/Column") if c.text] or list(
            TABLE_KEYS[table]
        )
        if any(c not in known for c in order):
            raise BoError(f"OrderBy column not found in table '{table}'")
        limit = self._return_rows(query)
        # The first `limit` in order, as sorted(...)[:limit] but without sorting them all:
        # paging through 50,000 customers sorted every remaining row for every page.
        # Text columns compare as they are: no conversion per row and column.
        key: Callable[[Row], Any] = (
            (lambda r: [_typed(c, r[c]) for c in order])
            if NUMERIC_COLUMNS.intersection(order)
            else operator.itemgetter(*order)
        )
        found = heapq.nsmallest(limit, (r for r in rows if matches(r)), key=key)
        root = ET.Element("ComFnd")
        _add(root, "TableName", table)
        _add(root, "ReturnedRows", min(limit, len(found)))
        for row in found[:limit]:
            _row_element(root, "Row", row, columns)
        return root

    def _comfch(self, request: Request) -> ET.Element:
        query = _parse(request.arg("XmlIn"), "XmlIn")
        table = self._table_name(query)
        columns = self._columns(query, table)
        keys = TABLE_KEYS[table]
        wanted = (
            {k: _get(query, f"Key/{k}") for k in keys}
            if len(keys) > 1
            else {keys[0]: _get(query, "Key")}
        )
        row = self.find(table, **wanted)
        if row is None:
            raise BoError(
                f"Record with key '{'/'.join(wanted.values())}' not found in table '{table}'"
            )
        root = ET.Element("ComFch")
        _row_element(root, "Row", row, columns)
        return root

    def _combrw(self, request: Request) -> ET.Element:
        query = _parse(request.arg("XmlIn"), "XmlIn")
        table = self._table_name(query, "BrowseName")
        keys = TABLE_KEYS[table]
        if len(keys) > 1:
            raise BoError(f"Browse on '{table}' is not supported")
        columns = self._columns(query, table)
        start = _get(query, "StartAtKey")
        rows = sorted(self.table(table), key=lambda r: _typed(keys[0], r[keys[0]]))
        after = [
            r for r in rows if not start or _typed(keys[0], r[keys[0]]) > _typed(keys[0], start)
        ]
        limit = self._return_rows(query)
        root = ET.Element("Browse")
        for row in after[:limit]:
            _row_element(root, "Row", row, columns)
        _add(root, "NextPrevKey", after[limit - 1][keys[0]] if len(after) > limit else "")
        return root

    # -- setup: customers ---------------------------------------------------------

    def _arsscs(self, request: Request, method: str) -> ET.Element:
        parameters = _parse(request.arg("XmlParameters"), "XmlParameters")
        document = _parse(request.arg("XmlIn"), "XmlIn")
        for element, what in ((parameters, "XmlParameters"), (document, "XmlIn")):
            if element.tag != "SetupArCustomer":
                raise BoError(f"{what} must have root element SetupArCustomer, not {element.tag}")
        validate_only = _flag(parameters.find("Parameters"), "ValidateOnly")
        root = ET.Element("SetupArCustomer")
        processed = invalid = 0
        for item in document.findall("Item"):
            code = _get(item, "Key/Customer").upper()
            result = _add(root, "Item")
            _add(_add(result, "Key"), "Customer", code)
            try:
                values = self._customer_values(item, code, method)
            except ValueError as exc:
                invalid += 1
                _add(result, "ErrorDescription", exc)
                continue
            processed += 1
            if not validate_only:
                self._apply_customer(code, method, values)
        _status(root, processed, invalid)
        return root

    def _customer_values(self, item: ET.Element, code: str, method: str) -> Row:
        if not code:
            raise ValueError("Customer code is required")
        if len(code) > 15:
            raise ValueError(f"Customer code '{code}' is longer than 15 characters")
        existing = self.find("ArCustomer", Customer=code)
        if method == "Add" and existing is not None:
            raise ValueError(f"Customer '{code}' already exists")
        if method != "Add" and existing is None:
            raise ValueError(f"Customer '{code}' not found")
        if method == "Delete":
            for table in ("SorMaster", "ArInvoice"):
                if self.find(table, Customer=code):
                    raise ValueError(f"Customer '{code}' has transactions and cannot be deleted")
            return {}
        values = {f: _get(item, f) for f in CUSTOMER_FIELDS if item.find(f) is not None}
        if method == "Add" and not values.get("Name"):
            raise ValueError(f"Customer name is required for customer '{code}'")
        for name, value in values.items():
            if len(value) > CUSTOMER_FIELDS[name]:
                raise ValueError(
                    f"{name} '{value}' is longer than {CUSTOMER_FIELDS[name]} characters"
                )
        if "Currency" in values and values["Currency"] not in CURRENCIES:
            raise ValueError(f"Currency '{values['Currency']}' not found")
        if "CreditLimit" in values and _decimal(values["CreditLimit"] or "0", "Credit limit") < 0:
            raise ValueError("Credit limit may not be negative")
        if values.get("Email") and "@" not in values["Email"]:
            raise ValueError(f"Email '{values['Email']}' is not a valid email address")
        for name, allowed in (("TaxStatus", "NE"), ("CustomerOnHold", "YN")):
            if name in values and values[name] not in allowed:
                raise ValueError(f"{name} '{values[name]}' must be one of {', '.join(allowed)}")
        return values

    def _apply_customer(self, code: str, method: str, values: Row) -> None:
        customers = self.table("ArCustomer")
        if method == "Delete":
            customers[:] = [c for c in customers if c["Customer"] != code]
            return
        stamp = self.changed_now()
        if method == "Add":
            row = {"Customer": code, **dict.fromkeys(CUSTOMER_FIELDS, ""), "Currency": "GBP"}
            row.update(
                TaxStatus="N", CustomerOnHold="N", CreditLimit="0.00", DateCustAdded=stamp[:10]
            )
            customers.append(row)
            self.count("created", "ArCustomer")
        else:
            row = self.find("ArCustomer", Customer=code) or {}
            self.count("updated", "ArCustomer")
        row.update(values, LastChanged=stamp)

    # -- transaction: sales order import ------------------------------------------

    def _sortoi(self, request: Request) -> ET.Element:
        parameters = _parse(request.arg("XmlParameters"), "XmlParameters")
        document = _parse(request.arg("XmlIn"), "XmlIn")
        for element, what in ((parameters, "XmlParameters"), (document, "XmlIn")):
            if element.tag != "SalesOrders":
                raise BoError(f"{what} must have root element SalesOrders, not {element.tag}")
        options = parameters.find("Parameters")
        process = _get(options, "Process", "Import")
        if process != "Import":
            raise BoError(f"Process '{process}' is not valid: use Import")
        allocation = _get(options, "AllocationAction", "A").upper()
        if allocation not in ("A", "B", "F"):
            raise BoError(f"AllocationAction '{allocation}' must be A, B or F")
        flags = {
            name: _flag(options, name)
            for name in (
                "ValidateOnly",
                "AllowZeroPrice",
                "AllowDuplicateOrderNumbers",
                "ApplyIfEntireDocumentValid",
            )
        }
        plans: list[tuple[ET.Element, list[str], Row, list[Row]]] = []
        taken: dict[tuple[str, str], int] = {}
        new_pos: set[tuple[str, str]] = set()
        for order in document.findall("Orders"):
            header, lines, errors = self._plan_order(order, allocation, flags, taken, new_pos)
            plans.append((order, errors, header, lines))
        apply = not flags["ValidateOnly"] and not (
            flags["ApplyIfEntireDocumentValid"] and any(errors for _, errors, _, _ in plans)
        )
        root = ET.Element("SalesOrders")
        for _, errors, header, lines in plans:
            result = _add(root, "Order")
            _add(result, "CustomerPoNumber", header["CustomerPoNumber"])
            number = self._create_order(header, lines) if apply and not errors else ""
            _add(result, "SalesOrder", number)
            _add(result, "OrderActionType", "A")
            for error in errors:
                _add(result, "ErrorDescription", error)
        invalid = sum(1 for _, errors, _, _ in plans if errors)
        _status(root, len(plans) - invalid, invalid)
        return root

    def _plan_order(
        self,
        order: ET.Element,
        allocation: str,
        flags: Mapping[str, bool],
        taken: dict[tuple[str, str], int],
        new_pos: set[tuple[str, str]],
    ) -> tuple[Row, list[Row], list[str]]:
        head = order.find("OrderHeader")
        header = {f: _get(head, f) for f in ORDER_HEADER_FIELDS}
        errors: list[str] = []
        customer = (
            self.find("ArCustomer", Customer=header["Customer"]) if header["Customer"] else None
        )
        if not header["Customer"]:
            errors.append("Customer is required")
        elif customer is None:
            errors.append(f"Customer '{header['Customer']}' not found")
        elif customer["CustomerOnHold"] == "Y":
            errors.append(f"Customer '{header['Customer']}' is on hold")
        po = (header["Customer"], header["CustomerPoNumber"])
        if po[1] and not flags["AllowDuplicateOrderNumbers"]:
            existing = self.find("SorMaster", Customer=po[0], CustomerPoNumber=po[1])
            if existing is not None or po in new_pos:
                where = f" on sales order {existing['SalesOrder']}" if existing else ""
                errors.append(f"Customer purchase order number '{po[1]}' already exists{where}")
            new_pos.add(po)
        try:
            header["OrderDate"] = (
                _date(header["OrderDate"], "Order date").isoformat()
                if header["OrderDate"]
                else date.fromtimestamp(self.now()).isoformat()
            )
        except ValueError as exc:
            errors.append(str(exc))
        header["Currency"] = customer["Currency"] if customer else ""
        lines: list[Row] = []
        details = order.find("OrderDetails")
        for line in [] if details is None else list(details):
            try:
                planned = self._plan_line(line, allocation, flags, taken)
            except ValueError as exc:
                errors.append(str(exc))
                continue
            if planned is not None:
                lines.append(planned)
        if not lines and not errors:
            errors.append("The order has no lines")
        return header, lines, errors

    def _plan_line(
        self,
        line: ET.Element,
        allocation: str,
        flags: Mapping[str, bool],
        taken: dict[tuple[str, str], int],
    ) -> Row | None:
        if line.tag == "StockLine":
            code, warehouse = _get(line, "StockCode"), _get(line, "Warehouse", "FG")
            item = self.find("InvMaster", StockCode=code)
            if item is None:
                raise ValueError(f"Stock code '{code}' not on file")
            stock = self.find("InvWarehouse", StockCode=code, Warehouse=warehouse)
            if stock is None:
                raise ValueError(f"Warehouse '{warehouse}' not found for stock code '{code}'")
            quantity = _decimal(_get(line, "OrderQty"), f"Order quantity for stock code '{code}'")
            if quantity <= 0:
                raise ValueError(
                    f"Order quantity for stock code '{code}' must be greater than zero"
                )
            price = _decimal(
                _get(line, "Price", item["SellingPrice"]) or item["SellingPrice"], "Price"
            )
            if price == 0 and not flags["AllowZeroPrice"]:
                raise ValueError(f"Zero price is not allowed for stock code '{code}'")
            free = (
                int(stock["QtyOnHand"])
                - int(stock["QtyAllocated"])
                - taken.get((code, warehouse), 0)
            )
            if allocation == "F" and quantity > free:
                raise ValueError(
                    f"Insufficient stock for stock code '{code}' in warehouse '{warehouse}': "
                    f"{max(free, 0)} available, {quantity} ordered"
                )
            allocate = 0 if allocation == "B" else int(min(quantity, max(free, 0)))
            taken[(code, warehouse)] = taken.get((code, warehouse), 0) + allocate
            return {
                "LineType": "1",
                "MStockCode": code,
                "MStockDes": item["Description"],
                "MWarehouse": warehouse,
                "MOrderQty": str(quantity),
                "MPrice": _money(price),
                "MProductClass": item["ProductClass"],
                "Allocate": str(allocate),
            }
        if line.tag == "NonStockedLine":
            code = _get(line, "NStockCode")
            if not code:
                raise ValueError("Non-stocked line needs a stock code (NStockCode)")
            quantity = _decimal(_get(line, "NOrderQty"), f"Order quantity for '{code}'")
            if quantity <= 0:
                raise ValueError(f"Order quantity for '{code}' must be greater than zero")
            return {
                "LineType": "7",
                "MStockCode": code,
                "MStockDes": _get(line, "NStockDes"),
                "MWarehouse": "",
                "MOrderQty": str(quantity),
                "MPrice": _money(_decimal(_get(line, "NPrice", "0"), "Price")),
                "MProductClass": _get(line, "NProductClass"),
            }
        if line.tag == "FreightLine":
            value = _decimal(_get(line, "FreightValue"), "Freight value")
            return {
                "LineType": "4",
                "MStockCode": "",
                "MStockDes": "Freight",
                "MWarehouse": "",
                "MOrderQty": "1",
                "MPrice": _money(value),
                "MProductClass": "",
            }
        return None  # unknown elements are ignored, as SYSPRO does

    def _create_order(self, header: Row, lines: list[Row]) -> str:
        number = str(self.next_order)
        self.next_order += 1
        stamp = self.changed_now()
        self.table("SorMaster").append(
            {
                "SalesOrder": number,
                **{f: header[f] for f in ORDER_HEADER_FIELDS},
                "OrderStatus": "1",
                "Currency": header["Currency"],
                "Warehouse": "FG",
                "LastChanged": stamp,
            }
        )
        for position, line in enumerate(lines, 1):
            allocate = int(line.pop("Allocate", "0"))
            if allocate:
                stock = (
                    self.find(
                        "InvWarehouse", StockCode=line["MStockCode"], Warehouse=line["MWarehouse"]
                    )
                    or {}
                )
                stock["QtyAllocated"] = str(int(stock["QtyAllocated"]) + allocate)
            self.table("SorDetail").append(
                {"SalesOrder": number, "SalesOrderLine": str(position), **line}
            )
        self.count("created", "SorMaster")
        return number

    # -- transaction: AR payments -------------------------------------------------

    def _arstpy(self, request: Request) -> ET.Element:
        parameters = _parse(request.arg("XmlParameters"), "XmlParameters")
        document = _parse(request.arg("XmlIn"), "XmlIn")
        for element, what in ((parameters, "XmlParameters"), (document, "XmlIn")):
            if element.tag != "PostArPayment":
                raise BoError(f"{what} must have root element PostArPayment, not {element.tag}")
        options = parameters.find("Parameters")
        period = _get(options, "PostingPeriod", "C").upper()
        if period not in ("C", "P"):
            raise BoError(f"PostingPeriod '{period}' must be C (current) or P (previous)")
        validate_only = _flag(options, "ValidateOnly")
        root = ET.Element("PostArPayment")
        processed = invalid = 0
        applied: dict[str, Decimal] = {}
        for item in document.findall("Item"):
            payment = item.find("Payment")
            result = _add(root, "Item")
            key = _add(result, "Key")
            _add(key, "Customer", _get(payment, "Customer"))
            _add(key, "Reference", _get(payment, "Reference"))
            try:
                entries = self._plan_payment(item, applied)
            except ValueError as exc:
                invalid += 1
                _add(result, "ErrorDescription", exc)
                continue
            processed += 1
            if not validate_only:
                for column, value in self._post_payment(entries).items():
                    _add(result, column, value)
        _status(root, processed, invalid)
        return root

    def _plan_payment(self, item: ET.Element, applied: dict[str, Decimal]) -> list[Row]:
        payment = item.find("Payment")
        if payment is None:
            raise ValueError("Payment details are missing")
        code, bank, reference = (_get(payment, f) for f in ("Customer", "Bank", "Reference"))
        if self.find("ArCustomer", Customer=code) is None:
            raise ValueError(f"Customer '{code}' not found")
        if bank not in BANKS:
            raise ValueError(f"Bank '{bank}' not on file")
        if not reference:
            raise ValueError("Payment reference is required")
        when = _date(_get(payment, "PaymentDate"), "Payment date")
        if when < self.open_from:
            raise ValueError(
                f"Posting period {when.year}/{when.month:02d} is closed for Accounts Receivable"
            )
        value = _decimal(_get(payment, "PaymentValue"), "Payment value")
        if value <= 0:
            raise ValueError("Payment value must be greater than zero")
        base = {
            "Customer": code,
            "Reference": reference,
            "Bank": bank,
            "PaymentDate": when.isoformat(),
        }
        entries: list[Row] = []
        remaining = value
        for invoice in item.findall("Invoice"):
            number = _get(invoice, "Invoice")
            amount = _decimal(_get(invoice, "PaymentValue"), f"Amount paid on invoice '{number}'")
            row = self.find("ArInvoice", Invoice=number, Customer=code)
            if row is None:
                raise ValueError(f"Invoice '{number}' not found for customer '{code}'")
            balance = Decimal(row["InvoiceBal1"]) - applied.get(number, Decimal(0))
            if amount > balance:
                raise ValueError(
                    f"Amount {amount} exceeds the balance {balance} of invoice '{number}'"
                )
            remaining -= amount
            entries.append({**base, "Invoice": number, "PaymentValue": _money(amount)})
        if remaining < 0:
            raise ValueError("The amounts applied to invoices exceed the payment value")
        if remaining > 0 or not entries:
            entries.append({**base, "Invoice": "", "PaymentValue": _money(remaining)})
        for entry in entries:
            if entry["Invoice"]:
                applied[entry["Invoice"]] = applied.get(entry["Invoice"], Decimal(0)) + Decimal(
                    entry["PaymentValue"]
                )
        return entries

    def _post_payment(self, entries: list[Row]) -> Row:
        today = date.fromtimestamp(self.now())
        journal_rows = self.table("ArCshJnlDet")
        year, month = str(today.year), str(today.month)
        journal = 1 + max(
            (
                int(r["Journal"])
                for r in journal_rows
                if r["TrnYear"] == year and r["TrnMonth"] == month
            ),
            default=0,
        )
        stamp = self.changed_now()
        for number, entry in enumerate(entries, 1):
            if entry["Invoice"]:
                invoice = self.find("ArInvoice", Invoice=entry["Invoice"]) or {}
                invoice["InvoiceBal1"] = _money(
                    Decimal(invoice["InvoiceBal1"]) - Decimal(entry["PaymentValue"])
                )
                invoice["LastChanged"] = stamp
            journal_rows.append(
                {
                    "TrnYear": year,
                    "TrnMonth": month,
                    "Journal": str(journal),
                    "EntryNumber": str(number),
                    **entry,
                    "LastChanged": stamp,
                }
            )
        self.count("created", "ArCshJnlDet")
        return {"TrnYear": year, "TrnMonth": month, "Journal": str(journal), "EntryNumber": "1"}


def create_app(options: Mapping[str, Any]) -> SysproSandbox:
    """The registry's entry point."""
    return SysproSandbox(options)
