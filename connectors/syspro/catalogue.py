"""What the SYSPRO connector reads and writes: tables, keys, columns, child rows, aliases."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from connectors.base import FieldSpec, Record

# What changes are polled by. SYSPRO keeps no change feed and no "last changed" date on
# its tables; every table carries SQL Server's ``TimeStamp`` rowversion, which each write
# moves to the next value of one counter for the whole company database [O: an EF Core
# scaffold of a SYSPRO company database maps ArCustomer/ArInvoice/... ``TimeStamp`` as
# ``IsRowVersion()``; integrators' SQL reads ``CAST(SorDetail.TimeStamp AS BIGINT)`` to
# find changed order lines]. That COMFND returns it as that number is [A]. A flow may name
# another column instead (a date such as ``DateLastSale`` [O, the same scaffold]).
ROWVERSION = "TimeStamp"

# SorDetail's line types [O: integrators' SQL on SorDetail/ArTrnDetail: LineType '1'
# stocked merchandise with the M columns; 4 freight and 5 miscellaneous charges with the
# N columns (NMscChargeValue, NComment); 6 comment lines; 7 non-stocked merchandise].
LINE_FREIGHT, LINE_MISC, LINE_COMMENT = "4", "5", "6"
# SORQRY's element for each line type it answers inside ``SalesOrderLine`` [O,
# wildland/syspro-ruby sorqry_parser.rb]; ``Merchandise`` holds stocked and non-stocked.
SORQRY_LINE_TYPES = {"merchandise": "1", "freight": "4", "misccharge": "5", "commentline": "6"}


def _fields(spec: str, **described: str) -> tuple[FieldSpec, ...]:
    """``"Name! CreditLimit:number"`` -> FieldSpecs; ``!`` marks what a create needs.

    ``described`` adds nested fields (lines, write shapes) with their description.
    """
    fields = []
    for word in [*spec.split(), *described]:
        name, _, kind = word.rstrip("!").partition(":")
        required = word.endswith("!")
        fields.append(FieldSpec(name, kind or "string", required, described.get(word, "")))
    return tuple(fields)


@dataclass(frozen=True)
class Child:
    """Detail rows read with their header (order lines, invoice lines, stock per warehouse).

    Their key is (``link``, ``line``): the header's key, then the line's own.
    ``other_columns`` are the line's fields as records carry them; ``wire_columns``
    are read besides and ``shape`` turns the row read into the record's line (order
    lines keep freight and charges in other columns than goods).
    """

    table: str
    link: str
    line: str
    other_columns: str
    wire_columns: str = ""
    shape: Callable[[Record], Record] | None = None

    @property
    def keys(self) -> tuple[str, str]:
        return self.link, self.line

    @property
    def fields(self) -> list[str]:
        return [self.link, self.line, *self.other_columns.split()]

    @property
    def columns(self) -> list[str]:
        """What COMFND reads: the fields, the wire columns and the rowversion."""
        return [*self.fields, *self.wire_columns.split(), ROWVERSION]

    @property
    def names(self) -> dict[str, str]:
        return {c.lower(): c for c in self.columns}

    def record(self, row: Record) -> Record:
        """A row as read, in the line shape records carry."""
        shaped = self.shape(row) if self.shape is not None else row
        return {c: shaped.get(c, "") for c in self.fields}


def _quantity(value: object) -> str:
    try:
        return str(value) if Decimal(str(value)) > 0 else "1"
    except InvalidOperation:
        return "1"


def order_line(row: Record) -> Record:
    """A SorDetail row (or a SORQRY line) as one line shape for every line type.

    Goods keep their M columns. Freight and miscellaneous charges hold their text in
    NComment, their value in NMscChargeValue, their class in NMscProductCls (one
    charge, unless NMscChargeQty says more); comment lines hold only NComment. So
    every line has a description, a quantity and a price where a mapping looks.
    """
    line = dict(row)
    line_type = str(row.get("LineType", ""))
    if line_type in (LINE_FREIGHT, LINE_MISC):
        line.update(
            MStockCode="",
            MStockDes=row.get("NComment", ""),
            MWarehouse="",
            MOrderQty=_quantity(row.get("NMscChargeQty", "")),
            MPrice=row.get("NMscChargeValue", "") or "0",
            MProductClass=row.get("NMscProductCls", ""),
        )
    elif line_type == LINE_COMMENT:
        line.update(
            MStockCode="",
            MStockDes=row.get("NComment", ""),
            MWarehouse="",
            MOrderQty="0",
            MPrice="0",
            MProductClass="",
        )
    return line


@dataclass(frozen=True)
class Group:
    """A document read as the rows of ``table`` that share the ``by`` columns (one GL journal).

    SYSPRO keeps journals as detail rows only; integrations want whole journals,
    so they balance on their own. Rows are read in key order and a document is
    handed over only once its last row has been read, so a page never cuts one.
    ``lines`` names the list of rows in the document.
    """

    table: str
    by: tuple[str, ...]
    lines: str
    header: tuple[str, ...] = ()  # line columns copied onto the document (first line's value)


@dataclass(frozen=True)
class Entity:
    table: str
    keys: tuple[str, ...]
    fields: tuple[FieldSpec, ...]
    change: str | None = ROWVERSION  # the column polled for changes; None: read by key
    query_object: str | None = None  # a Query business object that reads one by key
    query_options: tuple[str, ...] = ()  # its Option flags to set (SORQRY: every line type)
    child: Child | None = None
    reference: str | None = None  # the column find_by_reference searches
    group: Group | None = None  # a document made of several rows of another table

    @property
    def names(self) -> dict[str, str]:
        """Field names by lower case: output element names come back in any case."""
        return {f.name.lower(): f.name for f in self.fields}

    @property
    def columns(self) -> list[str]:
        """The table columns COMFND returns (object/array fields are write shapes or lines)."""
        return [f.name for f in self.fields if f.type not in ("object", "array")]

    def target_id(self, row: Record) -> str:
        return "/".join(str(row.get(k, "")) for k in self.keys)

    def order(self, change: str | None) -> tuple[str, ...]:
        """COMFND orders and pages by these: the change column, then the key."""
        return (change, *self.keys) if change else self.keys


ENTITIES: dict[str, Entity] = {
    e.table: e
    for e in (
        Entity(
            table="ArCustomer",
            keys=("Customer",),
            query_object="ARSQRY",
            reference="Customer",
            fields=_fields(
                "Customer! Name! ShortName Branch Area Salesperson Currency CreditLimit:number"
                " Telephone Email SoldToAddr1 SoldToAddr2 SoldPostalCode TaxStatus CustomerOnHold"
                " DateCustAdded:date"
            ),
        ),
        Entity(
            table="InvMaster",
            keys=("StockCode",),
            child=Child("InvWarehouse", "StockCode", "Warehouse", "QtyOnHand QtyAllocated"),
            fields=_fields(
                "StockCode Description ProductClass StockUom SellingPrice:number TaxCode",
                **{"InvWarehouse:array": "stock per warehouse: Warehouse, QtyOnHand, QtyAllocated"},
            ),
        ),
        Entity(
            table="SorMaster",
            keys=("SalesOrder",),
            query_object="SORQRY",
            # Without them SORQRY leaves the lines out [O: integrators send each flag,
            # wildland/syspro-ruby schemas/sorqry.xml.erb and a Go e.net client].
            query_options=(
                "IncludeStockedLines",
                "IncludeNonStockedLines",
                "IncludeFreightLines",
                "IncludeMiscLines",
                "IncludeCommentLines",
            ),
            child=Child(
                "SorDetail",
                "SalesOrder",
                "SalesOrderLine",
                "LineType MStockCode MStockDes MWarehouse MOrderQty MPrice MProductClass",
                wire_columns="NComment NMscChargeValue NMscChargeQty NMscProductCls",
                shape=order_line,
            ),
            reference="CustomerPoNumber",
            fields=_fields(
                "SalesOrder Customer CustomerPoNumber OrderDate:date OrderStatus Currency Warehouse"
                " ShipAddress1 ShipAddress2 ShipPostalCode",
                **{
                    "SorDetail:array": "order lines as read: LineType (1 stocked, 4 freight,"
                    " 5 misc charge, 6 comment, 7 non-stocked), MStockCode, MStockDes (a charge's"
                    " or comment's text), MWarehouse, MOrderQty, MPrice (a charge's value),"
                    " MProductClass",
                    "OrderHeader:object!": "to write: Customer, CustomerPoNumber (the reference),"
                    " OrderDate, ShipAddress1..5, ShipPostalCode",
                    "OrderDetails:object!": "to write: StockLine[StockCode, Warehouse, OrderQty,"
                    " Price, StockTaxCode], NonStockedLine[NStockCode, NStockDes, NOrderQty,"
                    " NPrice, NProductClass], FreightLine[FreightValue]",
                },
            ),
        ),
        Entity(
            table="ArInvoice",
            keys=("Invoice",),
            child=Child(
                "ArTrnDetail",
                "Invoice",
                "DetailLine",
                "StockCode Description ProductClass Warehouse QtyInvoiced UnitPrice NetSalesValue"
                " TaxValue",
            ),
            fields=_fields(
                "Invoice Customer DocumentType InvoiceDate:date DueDate:date Currency SalesOrder"
                " CustomerPoNumber CurrencyValue:number TaxValue:number InvoiceBal1:number"
                "",
                **{
                    "ArTrnDetail:array": "invoice lines: StockCode, Description, ProductClass,"
                    " Warehouse, QtyInvoiced, UnitPrice, NetSalesValue, TaxValue"
                },
            ),
        ),
        Entity(
            table="ArCshJnlDet",
            keys=("TrnYear", "TrnMonth", "Journal", "EntryNumber"),
            reference="Reference",
            fields=_fields(
                "TrnYear:integer TrnMonth:integer Journal:integer EntryNumber:integer Customer"
                " Invoice Reference Bank PaymentDate:date PaymentValue:number",
                **{
                    "Payment:object!": "to write: Customer, Bank, Reference (the reference),"
                    " PaymentDate, PaymentValue",
                    "Invoice:array": "to write, the invoices the payment is allocated to:"
                    " Invoice (SYSPRO's number) or SalesOrder (its invoices, oldest first),"
                    " PaymentValue; none leaves the payment unallocated on account",
                },
            ),
        ),
        Entity(
            table="GenJournalDetail",
            keys=("GlYear", "GlPeriod", "Journal", "EntryNumber"),
            change=None,  # only ever appended to: read in key order
            fields=_fields(
                "GlYear:integer GlPeriod:integer Journal:integer EntryNumber:integer GlCode"
                " EntryDate:date EntryValue:number Source Comment"
            ),
        ),
        Entity(
            table="GenJournal",
            keys=("JournalKey",),
            change=None,
            group=Group(
                "GenJournalDetail",
                ("GlYear", "GlPeriod", "Journal"),
                "GenJournalDetail",
                ("EntryDate", "Source"),
            ),
            fields=_fields(
                "JournalKey GlYear:integer GlPeriod:integer Journal:integer EntryDate:date Source"
                " LineCount:integer",
                **{
                    "GenJournalDetail:array": "the journal's entries, debits positive and credits"
                    " negative: EntryNumber, GlCode, EntryDate, EntryValue, Source, Comment"
                },
            ),
        ),
    )
}


# The flow-facing names the product uses beside SYSPRO's own table names.
ALIASES = {
    "customers": "ArCustomer",
    "stock_items": "InvMaster",
    "sales_orders": "SorMaster",
    "ar_invoices": "ArInvoice",
    "ar_payments": "ArCshJnlDet",
    "gl_journals": "GenJournalDetail",
    "gl_whole_journals": "GenJournal",
}


def grouped(rows: Sequence[Record], by: Sequence[str]) -> list[list[Record]]:
    """Rows (in key order) cut into runs sharing the ``by`` columns; always at least one."""
    documents: list[list[Record]] = [[]]
    for row in rows:
        current = documents[-1]
        if current and any(current[0][c] != row[c] for c in by):
            documents.append([])
        documents[-1].append(row)
    return documents


def group_document(group: Group, rows: Sequence[Record]) -> Record:
    first = rows[0]
    document: Record = {"JournalKey": "/".join(str(first[c]) for c in group.by)}
    document.update({c: first[c] for c in (*group.by, *group.header)})
    document["LineCount"] = len(rows)
    document[group.lines] = list(rows)
    return document
