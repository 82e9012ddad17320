"""The SYSPRO company's tables: their key and numeric columns, the licence each
business object needs, the fields ARSSCS and SORTOI accept, price codes, tax codes
and the whole-call failure (``BoError``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

Row = dict[str, str]


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
# Customer price codes and the discount off the list price each one's InvPrice rows carry [A];
# code D is priced only for HARD stock, so other stock falls back to the list price.
PRICE_CODES = {"A": Decimal(0), "B": Decimal(5), "C": Decimal(10), "D": Decimal(15)}
# SYSPRO tax codes on stock and the VAT rate (%) each stands for [A]: electrical goods
# carry the reduced rate.
TAX_RATES = {"A": Decimal(20), "B": Decimal(5)}
REDUCED_RATE_CLASS = "ELEC"
# Order statuses of shipped orders, which SYSPRO has invoiced: 8 to invoice, 9 complete.
SHIPPED_STATUSES = ("8", "9")


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


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def money(value: Decimal | float) -> str:
    return str(Decimal(value).quantize(Decimal("0.01")))


def tax_code(product_class: str) -> str:
    return "B" if product_class == REDUCED_RATE_CLASS else "A"
