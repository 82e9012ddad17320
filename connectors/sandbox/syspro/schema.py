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
    "MPrice", "NMscChargeValue", "NMscChargeQty", "DetailLine", "QtyInvoiced", "UnitPrice",
    "NetSalesValue", "TaxValue", "CurrencyValue", "InvoiceBal1", "TrnYear", "TrnMonth", "Journal",
    "EntryNumber", "PaymentValue", "GlYear", "GlPeriod", "EntryValue", "TimeStamp",
))
# fmt: on

# SYSPRO keeps no "last changed" date on its tables. What it has is SQL Server's
# ``TimeStamp`` column, a rowversion every write to a row moves to the next value of one
# counter shared by the whole company database: [O] an EF Core scaffold of a SYSPRO
# company database maps ``TimeStamp`` as ``IsRowVersion()`` on ArCustomer, ArInvoice,
# ArMultAddress, SalSalesperson and the other tables (public code, "SysproCompanyAContext");
# [O] integrators' SQL reads ``CAST(SorDetail.TimeStamp AS BIGINT)`` to spot changed order
# lines (public code, a SugarCRM sync of SysproCompany100). That COMFND returns it, and as
# that number, is [A]. GL history (GenJournalDetail) is only appended to and read by key.
ROWVERSION = "TimeStamp"

# SorDetail's columns. One row per order line whatever its type; which columns hold the
# line depends on LineType [O: SorDetail in the EF scaffold above; integrators' SQL
# selecting LineType '1' with MStockCode/MPrice and LineType '5' with NChargeCode,
# NComment, NMscChargeValue, NMscProductCls; SQL filtering ``LineType in (4,5)`` for
# freight and miscellaneous charges, and ArTrnDetail ``LineType = 5`` for misc charges]:
# 1 stocked and 7 non-stocked merchandise use the M columns; 4 freight and 5 misc charge
# the N columns (value in NMscChargeValue, text in NComment); 6 comment only NComment.
# fmt: off
ORDER_LINE_COLUMNS = (
    "SalesOrder", "SalesOrderLine", "LineType", "MStockCode", "MStockDes", "MWarehouse",
    "MOrderQty", "MPrice", "MProductClass", "NChargeCode", "NComment", "NMscChargeValue",
    "NMscChargeQty", "NMscProductCls",
)
# fmt: on
LINE_STOCKED, LINE_FREIGHT, LINE_MISC, LINE_COMMENT, LINE_NON_STOCKED = "1", "4", "5", "6", "7"


def order_line(**values: str) -> Row:
    """A SorDetail row: the columns its line type does not use are blank (numbers zero)."""
    row = {c: "0" if c in NUMERIC_COLUMNS else "" for c in ORDER_LINE_COLUMNS}
    row.update(values)
    return row


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
