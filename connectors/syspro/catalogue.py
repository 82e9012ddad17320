"""What the SYSPRO connector reads and writes: tables, keys, columns, child rows, aliases."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from connectors.base import FieldSpec, Record

# The date-time column polled for changes; SYSPRO keeps no change feed [A].
CHANGE_COLUMN = "LastChanged"


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
    """

    table: str
    link: str
    line: str
    other_columns: str

    @property
    def keys(self) -> tuple[str, str]:
        return self.link, self.line

    @property
    def columns(self) -> list[str]:
        return [self.link, self.line, *self.other_columns.split()]

    @property
    def names(self) -> dict[str, str]:
        return {c.lower(): c for c in self.columns}


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
    cursor: tuple[str, ...]  # COMFND orders and pages by these columns
    fields: tuple[FieldSpec, ...]
    query_object: str | None = None  # a Query business object that reads one by key
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


ENTITIES: dict[str, Entity] = {
    e.table: e
    for e in (
        Entity(
            table="ArCustomer",
            keys=("Customer",),
            cursor=("LastChanged", "Customer"),
            query_object="ARSQRY",
            reference="Customer",
            fields=_fields(
                "Customer! Name! ShortName Branch Area Salesperson Currency CreditLimit:number"
                " Telephone Email SoldToAddr1 SoldToAddr2 SoldPostalCode TaxStatus CustomerOnHold"
                " DateCustAdded:date LastChanged:datetime"
            ),
        ),
        Entity(
            table="InvMaster",
            keys=("StockCode",),
            cursor=("LastChanged", "StockCode"),
            child=Child("InvWarehouse", "StockCode", "Warehouse", "QtyOnHand QtyAllocated"),
            fields=_fields(
                "StockCode Description ProductClass StockUom SellingPrice:number TaxCode"
                " LastChanged:datetime",
                **{"InvWarehouse:array": "stock per warehouse: Warehouse, QtyOnHand, QtyAllocated"},
            ),
        ),
        Entity(
            table="SorMaster",
            keys=("SalesOrder",),
            cursor=("LastChanged", "SalesOrder"),
            query_object="SORQRY",
            child=Child(
                "SorDetail",
                "SalesOrder",
                "SalesOrderLine",
                "LineType MStockCode MStockDes MWarehouse MOrderQty MPrice MProductClass",
            ),
            reference="CustomerPoNumber",
            fields=_fields(
                "SalesOrder Customer CustomerPoNumber OrderDate:date OrderStatus Currency Warehouse"
                " ShipAddress1 ShipAddress2 ShipPostalCode LastChanged:datetime",
                **{
                    "SorDetail:array": "order lines as read: LineType, MStockCode, MStockDes,"
                    " MWarehouse, MOrderQty, MPrice, MProductClass",
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
            cursor=("LastChanged", "Invoice"),
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
                " LastChanged:datetime",
                **{
                    "ArTrnDetail:array": "invoice lines: StockCode, Description, ProductClass,"
                    " Warehouse, QtyInvoiced, UnitPrice, NetSalesValue, TaxValue"
                },
            ),
        ),
        Entity(
            table="ArCshJnlDet",
            keys=("TrnYear", "TrnMonth", "Journal", "EntryNumber"),
            cursor=("LastChanged", "TrnYear", "TrnMonth", "Journal", "EntryNumber"),
            reference="Reference",
            fields=_fields(
                "TrnYear:integer TrnMonth:integer Journal:integer EntryNumber:integer Customer"
                " Invoice Reference Bank PaymentDate:date PaymentValue:number LastChanged:datetime",
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
            cursor=("GlYear", "GlPeriod", "Journal", "EntryNumber"),
            fields=_fields(
                "GlYear:integer GlPeriod:integer Journal:integer EntryNumber:integer GlCode"
                " EntryDate:date EntryValue:number Source Comment"
            ),
        ),
        Entity(
            table="GenJournal",
            keys=("JournalKey",),
            cursor=("GlYear", "GlPeriod", "Journal", "EntryNumber"),
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
