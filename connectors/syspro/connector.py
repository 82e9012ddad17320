"""SYSPRO 8 connector: e.net business objects over the e.net Communications Service REST endpoint.

Why it looks the way it does:

* Every call is a GET with XML in the query string (``base_url`` ends in
  ``/SYSPROWCFService/Rest``). So a GET here can be a write: writes are sent
  ``idempotent=False`` so the shared client never repeats one on its own, and
  credentials and UserIds ride in query strings that ``connectors.http`` never logs.
* SYSPRO answers failures with HTTP 200: ``ERROR…`` text for the whole call,
  ``<ErrorDescription>`` inside the output for one record. The body may come
  bare, JSON-quoted or in ``<string>``, with element names in any case; all are read.
* A session (UserId GUID from ``Logon``) holds a licence seat and can vanish
  (idle expiry, service restart, another logon by the same operator). It lives
  in the ``TokenStore`` and is replaced under ``refresh_locked`` so workers
  sharing a connection log on once, not once each.
* SYSPRO has no change feed: reads poll COMFND by a last-changed column and
  the table key (keyset paging, never offsets), so the cursor only moves forward.
* SYSPRO has no idempotency key: before creating, each record's external
  reference (customer code, customer PO number, payment reference) is looked
  up and an existing record is reported instead of created again.

ConnectionConfig: ``base_url`` (the REST root, or just ``http(s)://host:port``);
settings ``company_id``, ``operator``, and optionally ``page_size`` (COMFND
``ReturnRows``, default 1000), ``max_url_length`` (default 16384, the e.net
service's IIS limit), ``allocation_action`` (SORTOI, default ``A``),
``posting_period`` (ARSTPY, default ``C``), ``batch_sizes`` ({entity: n}),
``timeout`` (read seconds), ``calls_per_minute`` / ``concurrent_calls`` /
``rate_limit_max_wait`` (the shared limiter; SYSPRO itself publishes no
limits); secrets ``operator_password`` and ``company_password``.
Entities are SYSPRO's table names; ``ALIASES`` maps the product's names
(``customers``, ``sales_orders``, ``ar_payments`` …) onto them.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus, urlsplit

import requests

from connectors.base import (
    ChangePage,
    ConnectionCheck,
    ConnectionConfig,
    Connector,
    EntitySchema,
    FieldSpec,
    FoundRecord,
    Record,
    Tokens,
    TokenStore,
    WriteOutcome,
)
from connectors.circuit import CircuitBreaker, circuit_breaker
from connectors.errors import ConnectorError, ErrorCode, ErrorKind
from connectors.http import HttpClient, not_the_api
from connectors.ratelimit import RateLimiter, RateLimits

if TYPE_CHECKING:
    from redis import Redis

SERVICE_PATH = "/SYSPROWCFService/Rest"
# The date-time column polled for changes; SYSPRO keeps no change feed [A].
CHANGE_COLUMN = "LastChanged"
DEFAULT_PAGE_SIZE = 1000
DEFAULT_MAX_URL_LENGTH = 16384
# e.net does not publish a batch cap; the URL length is the real bound and
# write_batch splits further to stay under it [A].
DEFAULT_BATCH_SIZE = 50


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


# -- what SYSPRO's words mean ---------------------------------------------------------

Rule = tuple[re.Pattern[str], ErrorKind, str, str]


def _rule(pattern: str, kind: ErrorKind, code: str, message: str) -> Rule:
    return re.compile(pattern, re.IGNORECASE), kind, code, message


# Item-level failures, first match wins; ``{v}`` is the value SYSPRO quoted and
# ``{text}`` its whole message. The wording SYSPRO uses is [A], so patterns are loose.
RECORD_RULES: tuple[Rule, ...] = (
    _rule(
        r"purchase order number '(?P<v>[^']*)' already exists",
        ErrorKind.DATA,
        "duplicate_po",
        "SYSPRO already has an order with customer PO number '{v}' for this customer. "
        "Check whether this order was entered by hand; give it its own PO number if not.",
    ),
    _rule(
        r"customer '(?P<v>[^']*)' (not found|not on file)",
        ErrorKind.DATA,
        "customer_not_found",
        "SYSPRO has no customer '{v}'. Add the customer in SYSPRO or correct the customer "
        "code lookup, then retry.",
    ),
    _rule(
        r"customer '(?P<v>[^']*)' is on hold",
        ErrorKind.DATA,
        "customer_on_hold",
        "Customer '{v}' is on hold in SYSPRO. Ask credit control to release it, then retry.",
    ),
    _rule(
        r"customer '(?P<v>[^']*)' already exists",
        ErrorKind.TRANSIENT,
        "duplicate_customer",
        "SYSPRO already has customer '{v}' (added since it was looked up). It will be sent "
        "again by itself, as an update.",
    ),
    _rule(
        r"stock code '(?P<v>[^']*)' not on file",
        ErrorKind.DATA,
        "stock_code_not_found",
        "SYSPRO has no stock code '{v}'. Correct the item mapping or add the stock code in "
        "SYSPRO, then retry.",
    ),
    _rule(
        r"warehouse '(?P<v>[^']*)' not found",
        ErrorKind.DATA,
        "warehouse_not_found",
        "Warehouse '{v}' is not set up for this stock code in SYSPRO. Correct the warehouse "
        "mapping or add the stock code to that warehouse, then retry.",
    ),
    _rule(
        r"insufficient stock",
        ErrorKind.DATA,
        "insufficient_stock",
        "Not enough stock to allocate the order ({text}). Receive stock, or allow back "
        "orders on this flow, then retry.",
    ),
    _rule(
        r"posting period (?P<v>\S+) is closed",
        ErrorKind.DATA,
        "period_closed",
        "The SYSPRO posting period {v} is closed. Use a date in an open period, or ask "
        "finance to reopen the period, then retry.",
    ),
    _rule(
        r"invoice '(?P<v>[^']*)' not found",
        ErrorKind.DATA,
        "invoice_not_found",
        "SYSPRO has no invoice '{v}' for this customer. Check the invoice number and "
        "customer, then retry.",
    ),
    _rule(
        r"exceeds? the (balance|payment)",
        ErrorKind.DATA,
        "overpayment",
        "The payment is more than is owed ({text}). Correct the amount, then retry.",
    ),
    _rule(
        r"bank '(?P<v>[^']*)' not on file",
        ErrorKind.CONFIG,
        "bank_not_found",
        "SYSPRO has no cash book bank '{v}'. Correct the bank lookup on this flow.",
    ),
    _rule(
        r"currency '(?P<v>[^']*)' not found",
        ErrorKind.DATA,
        "currency_not_found",
        "Currency '{v}' is not set up in SYSPRO. Correct the currency lookup or add the "
        "currency in SYSPRO, then retry.",
    ),
    _rule(
        r"(not found|not on file)",
        ErrorKind.DATA,
        "not_found",
        "SYSPRO could not find something the record refers to: {text}. Correct it, then retry.",
    ),
)
RECORD_DEFAULT = (
    ErrorKind.DATA,
    ErrorCode.VALIDATION.value,
    "SYSPRO rejected the record: {text}. Correct it, then retry.",
)

# Whole-call ``ERROR`` texts (exceptions): logon, licences, malformed input.
CALL_RULES: tuple[Rule, ...] = (
    _rule(
        r"not licensed",
        ErrorKind.AUTH,
        "not_licensed",
        "The SYSPRO operator is not licensed for this business object ({text}). Ask the "
        "SYSPRO administrator to grant the licence, or connect as another operator.",
    ),
    _rule(
        r"licen[cs]e limit|no licen[cs]es",
        ErrorKind.TRANSIENT,
        "no_licence_seat",
        "Every SYSPRO e.net licence is in use. It will be tried again.",
    ),
    _rule(
        r"already logged (in|on)|in use by another",
        ErrorKind.TRANSIENT,
        "operator_in_use",
        "The SYSPRO operator is signed in elsewhere and SYSPRO allows it one session. It "
        "will be tried again; if it lasts, give the connection an operator of its own.",
    ),
    _rule(
        r"invalid (operator|company password|password)"
        r"|\b(password|operator)\b.*\b(invalid|incorrect|expired|not found|does not exist"
        r"|locked|disabled)",
        ErrorKind.AUTH,
        "logon_failed",
        "SYSPRO refused the operator or a password. Correct them on the connection.",
    ),
    _rule(
        r"company '(?P<v>[^']*)' not found",
        ErrorKind.CONFIG,
        "company_not_found",
        "SYSPRO has no company '{v}'. Correct the company id on the connection.",
    ),
    _rule(
        r"business object '(?P<v>[^']*)' not found",
        ErrorKind.CONFIG,
        "object_not_found",
        "This SYSPRO does not have business object '{v}'. Check the SYSPRO version.",
    ),
)
CALL_DEFAULT = (ErrorKind.CONFIG, ErrorCode.BAD_REQUEST.value, "SYSPRO refused the request: {text}")
SESSION_GONE = re.compile(r"not logged on|session has expired|invalid (userid|session)", re.I)
# A query by key for a record that does not exist (not a missing table or object).
NOT_FOUND = re.compile(r"(customer|stock code|sales order) '[^']*' (not found|not on file)", re.I)


def classify(
    text: str, rules: Iterable[Rule], default: tuple[ErrorKind, str, str]
) -> tuple[ErrorKind, str, str]:
    """SYSPRO's message -> (kind, code, a message a finance user can act on)."""
    text = text.strip().removeprefix("ERROR").lstrip(":- ").strip()
    for pattern, kind, code, message in rules:
        match = pattern.search(text)
        if match:
            return kind, code, message.format(v=match.groupdict().get("v", ""), text=text)
    kind, code, message = default
    return kind, code, message.format(text=text)


# -- the wire format -------------------------------------------------------------------


# A logon answers a session GUID (hex, maybe braced or dashed); anything else is not e.net.
SESSION_ID = re.compile(r"\{?[0-9A-Fa-f-]{32,40}\}?")


def unwrap(body: str) -> str:
    """The payload of an e.net reply, whether bare, JSON-quoted or in ``<string>``."""
    text = body.strip().lstrip("\ufeff")
    if text.startswith('"'):
        text = str(json.loads(text)).strip()
    if re.match(r"<string[\s>]", text):
        text = (parse_xml(text).text or "").strip()
    return text


def parse_xml(text: str) -> ET.Element:
    """Parse SYSPRO output; element names are then matched ignoring case, which varies [P]."""
    try:
        # The configured SYSPRO server's answer; expat resolves no external entities.
        root = ET.fromstring(text)  # noqa: S314
    except ET.ParseError as exc:
        raise ConnectorError(
            ErrorKind.TRANSIENT,
            ErrorCode.SERVER_ERROR,
            "SYSPRO sent a reply that is not XML. It will be tried again.",
            raw=text[:4000],
        ) from exc
    return root


def to_xml(parent: ET.Element, name: str, value: Any) -> None:
    """A native record into elements: dicts nest, lists repeat, None is left out."""
    if value is None:
        return
    if isinstance(value, list | tuple):
        for item in value:
            to_xml(parent, name, item)
        return
    element = ET.SubElement(parent, name)
    if isinstance(value, Mapping):
        for key, item in value.items():
            to_xml(element, key, item)
    else:
        element.text = str(value)


def document(root: str, wrapper: str | None, items: Iterable[Mapping[str, Any]]) -> str:
    top = ET.Element(root)
    for item in items:
        if wrapper is None:
            for key, value in item.items():
                to_xml(top, key, value)
        else:
            to_xml(top, wrapper, dict(item))
    return ET.tostring(top, encoding="unicode")


def children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if child.tag.lower() == name.lower()]


def text_of(element: ET.Element, name: str) -> str:
    found = children(element, name)
    return (found[0].text or "").strip() if found else ""


def errors_of(element: ET.Element) -> list[str]:
    return [
        e.text.strip()
        for e in element.iter()
        if e.tag.lower() in ("errordescription", "errormessage", "error") and (e.text or "").strip()
    ]


def flat(element: ET.Element, names: Mapping[str, str]) -> Record:
    return {names.get(c.tag.lower(), c.tag): (c.text or "").strip() for c in element if not len(c)}


def row_of(element: ET.Element, entity: Entity) -> Record:
    """An output element as a record with the catalogue's field names (and its detail rows)."""
    record = flat(element, entity.names)
    if entity.child is not None:
        lines = children(element, entity.child.table)
        record[entity.child.table] = [flat(line, entity.child.names) for line in lines]
    return record


def comfnd(
    table: str,
    columns: Sequence[str],
    where: Sequence[Sequence[tuple[str, str, str]]],
    order: Sequence[str],
    rows: int,
) -> str:
    """COMFND input: ``where`` is an OR of AND-groups of (column, condition, value)."""
    query = ET.Element("Query")
    to_xml(query, "TableName", table)
    to_xml(query, "ReturnRows", rows)
    to_xml(query, "Columns", {"Column": list(columns)})
    clause = ET.SubElement(query, "Where")
    for group_index, group in enumerate(where):
        for term_index, (column, condition, value) in enumerate(group):
            expression = ET.SubElement(clause, "Expression")
            if group_index or term_index:
                to_xml(expression, "AndOr", "And" if term_index else "Or")
            if term_index == 0:
                to_xml(expression, "OpenBracket", "(")
            to_xml(expression, "Column", column)
            to_xml(expression, "Condition", condition)
            to_xml(expression, "Value", value)
            if term_index == len(group) - 1:
                to_xml(expression, "CloseBracket", ")")
    to_xml(query, "OrderBy", {"Column": list(order)})
    return ET.tostring(query, encoding="unicode")


def after(columns: Sequence[str], last: Sequence[str]) -> list[list[tuple[str, str, str]]]:
    """Keyset paging: rows ordered after ``last`` by ``columns``."""
    return [
        [(columns[j], "EQ", last[j]) for j in range(i)] + [(columns[i], "GT", last[i])]
        for i in range(len(columns))
    ]


@dataclass(frozen=True)
class Writer:
    """How one posting business object takes records in and answers per record."""

    business_object: str
    path: str  # Setup/Add or Transaction/Post
    root: str
    wrapper: str  # the element each record travels in
    result: str  # the output element per record
    reference: Callable[[Record], tuple[str, str]]  # (customer, external reference)
    target_id: Callable[[ET.Element, Record], str]
    parameters: Callable[[Mapping[str, Any]], dict[str, str]]
    shape: Callable[[Record], Record] = dict  # the record as the business object nests it
    update_path: str | None = None  # where an existing record goes instead (upsert)


def _payment(record: Record) -> Mapping[str, Any]:
    payment = record.get("Payment")
    return payment if isinstance(payment, Mapping) else {}


def _allocations(record: Record) -> list[Record]:
    """The invoices a payment is allocated to (``Invoice``: one, a list, or none)."""
    found = record.get("Invoice")
    items = found if isinstance(found, list) else [found] if found else []
    return [dict(item) for item in items if isinstance(item, Mapping)]


def _split(invoices: Sequence[Record], amount: Decimal) -> list[Record]:
    """``amount`` over ``invoices`` oldest first, each up to its balance; the rest on the last."""
    lines: list[Record] = []
    left = amount
    ordered = sorted(invoices, key=lambda i: str(i["Invoice"]))
    for position, invoice in enumerate(ordered):
        balance = Decimal(str(invoice.get("InvoiceBal1") or 0))
        share = left if position == len(ordered) - 1 else min(left, max(balance, Decimal(0)))
        if share > 0:
            lines.append({"Invoice": str(invoice["Invoice"]), "PaymentValue": f"{share:.2f}"})
        left -= share
    return lines


def _customer_item(record: Record) -> Record:
    """ARSSCS wants the code in ``Key``; columns SYSPRO maintains itself stay out."""
    code = str(record.get("Customer") or "").strip().upper()
    kept = {
        k: v for k, v in record.items() if k not in ("Customer", "LastChanged", "DateCustAdded")
    }
    return {"Key": {"Customer": code}, **kept}


def _header(record: Record) -> Mapping[str, Any]:
    header = record.get("OrderHeader")
    return header if isinstance(header, Mapping) else {}


WRITERS: dict[str, Writer] = {
    "ArCustomer": Writer(
        "ARSSCS",
        "Setup/Add",
        "SetupArCustomer",
        "Item",
        "Item",
        lambda r: ("", str(r.get("Customer") or "").strip().upper()),
        lambda out, record: str(record["Customer"]).strip().upper(),
        lambda settings: {"ValidateOnly": "N"},
        _customer_item,
        "Setup/Update",
    ),
    "SorMaster": Writer(
        "SORTOI",
        "Transaction/Post",
        "SalesOrders",
        "Orders",
        "Order",
        lambda r: (
            str(_header(r).get("Customer") or ""),
            str(_header(r).get("CustomerPoNumber") or ""),
        ),
        lambda out, record: text_of(out, "SalesOrder"),
        lambda settings: {
            "Process": "Import",
            "ValidateOnly": "N",
            "IgnoreWarnings": "W",
            "AllocationAction": str(settings.get("allocation_action", "A")),
            "AlwaysUsePriceEntered": "Y",
            "AllowDuplicateOrderNumbers": "N",  # the reference guards against doubles
            "ApplyIfEntireDocumentValid": "N",  # one bad order must not hold up the rest
        },
    ),
    "ArCshJnlDet": Writer(
        "ARSTPY",
        "Transaction/Post",
        "PostArPayment",
        "Item",
        "Item",
        lambda r: (str(_payment(r).get("Customer") or ""), str(_payment(r).get("Reference") or "")),
        lambda out, record: "/".join(
            text_of(out, c) for c in ("TrnYear", "TrnMonth", "Journal", "EntryNumber")
        ).strip("/"),
        lambda settings: {
            "PostingPeriod": str(settings.get("posting_period", "C")),
            "ValidateOnly": "N",
            "IgnoreWarnings": "N",
        },
    ),
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


def _grouped(rows: Sequence[Record], by: Sequence[str]) -> list[list[Record]]:
    """Rows (in key order) cut into runs sharing the ``by`` columns; always at least one."""
    documents: list[list[Record]] = [[]]
    for row in rows:
        current = documents[-1]
        if current and any(current[0][c] != row[c] for c in by):
            documents.append([])
        documents[-1].append(row)
    return documents


def _document(group: Group, rows: Sequence[Record]) -> Record:
    first = rows[0]
    document: Record = {"JournalKey": "/".join(str(first[c]) for c in group.by)}
    document.update({c: first[c] for c in (*group.by, *group.header)})
    document["LineCount"] = len(rows)
    document[group.lines] = list(rows)
    return document


def service_url(base_url: str) -> str:
    """The REST root, also when a connection holds only the server (``http://host:port``)."""
    base = base_url.rstrip("/")
    return base if SERVICE_PATH.lower() in base.lower() else base + SERVICE_PATH


def syspro_connector(
    config: ConnectionConfig, tokens: TokenStore, *, redis: Redis | None = None
) -> SysproConnector:
    """A connector whose calls share one Redis limiter per SYSPRO company, and one circuit
    breaker per connection, across workers."""
    limiter = None
    if redis is not None:
        host = urlsplit(service_url(config.base_url)).netloc
        limiter = RateLimiter(
            redis,
            f"syspro:{host}:{config.settings.get('company_id', '')}",
            rate_limits(config),
            max_wait=float(config.settings.get("rate_limit_max_wait", 5.0)),
        )
    breaker = circuit_breaker(
        redis, f"syspro:{config.connection_id}", label="SYSPRO", settings=config.settings
    )
    return SysproConnector(config, tokens, limiter, breaker=breaker)


def rate_limits(config: ConnectionConfig) -> RateLimits:
    """SYSPRO publishes no call limits; an operator may still cap calls (settings) [A]."""
    settings = config.settings
    return RateLimits(
        per_minute=settings.get("calls_per_minute"),
        concurrent=settings.get("concurrent_calls"),
    )


class SysproConnector(Connector):
    """One SYSPRO company reached as one e.net operator."""

    system = "syspro"

    def __init__(
        self,
        config: ConnectionConfig,
        tokens: TokenStore,
        limiter: RateLimiter | None = None,
        *,
        session: requests.Session | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        super().__init__(config, tokens, limiter, breaker)
        settings = config.settings
        self.page_size = int(settings.get("page_size", DEFAULT_PAGE_SIZE))
        self.max_url_length = int(settings.get("max_url_length", DEFAULT_MAX_URL_LENGTH))
        self.http = HttpClient(
            service_url(config.base_url),
            timeout=(5.0, float(settings.get("timeout", 60.0))),
            limiter=limiter,
            describe_error=describe_http_error,
            session=session,
            breaker=breaker,
        )

    # -- sessions -------------------------------------------------------------------

    def _logon(self) -> Tokens:
        settings, secrets = self.config.settings, self.config.secrets
        response = self.http.request(
            "GET",
            "Logon",
            params={
                "Operator": settings.get("operator", ""),
                "OperatorPassword": secrets.get("operator_password", ""),
                "CompanyId": settings.get("company_id", ""),
                "CompanyPassword": secrets.get("company_password", ""),
            },
            authenticated=False,
        )
        text = unwrap(response.text)
        if text.upper().startswith("ERROR") or not text:
            raise ConnectorError(*classify(text, CALL_RULES, CALL_DEFAULT), raw=text)
        if not SESSION_ID.fullmatch(text):
            raise not_the_api("SYSPRO e.net", response)  # a web page, not a session GUID
        return Tokens(
            access_token=text,
            extra={"operator": settings.get("operator"), "logged_on_at": time.time()},
        )

    def _user_id(self, stale: str | None = None) -> str:
        """The session to use: the stored one, or a new logon when it is missing or ``stale``.

        Under ``refresh_locked`` a worker that finds another already replaced
        the stale session uses that one: one logon per connection, not per worker.
        """
        current = self.tokens.load()
        if current is not None and current.access_token and current.access_token != stale:
            return current.access_token

        def refresh(latest: Tokens | None) -> Tokens:
            if latest is not None and latest.access_token and latest.access_token != stale:
                return latest
            return self._logon()

        return self.tokens.refresh_locked(refresh).access_token

    def close(self) -> None:
        with contextlib.suppress(ConnectorError):
            self.logoff()

    def logoff(self) -> None:
        """Give the licence seat back (sessions otherwise hold it until they idle out)."""
        current = self.tokens.load()
        if current is None or not current.access_token:
            return
        self.http.request("GET", "Logoff", params={"UserId": current.access_token})
        self.tokens.save(Tokens(access_token="", extra=current.extra))

    def _call(self, path: str, params: Mapping[str, str], *, write: bool = False) -> str:
        """One e.net call in the session, logging on again once if SYSPRO lost the session.

        A lost session means the business object never ran, so even a write is
        safe to send again.
        """
        stale: str | None = None
        for attempt in (1, 2):
            user_id = self._user_id(stale)
            response = self.http.request(
                "GET", path, params={"UserId": user_id, **params}, idempotent=not write
            )
            text = unwrap(response.text)
            if not text.upper().startswith("ERROR"):
                return text
            if SESSION_GONE.search(text):
                if attempt == 1:
                    stale = user_id
                    continue
                raise ConnectorError(
                    ErrorKind.TRANSIENT,
                    "session_lost",
                    "SYSPRO ended the session again straight after logon; another program may "
                    "be using the same operator. Give this connection an operator of its own.",
                    raw=text,
                )
            raise ConnectorError(*classify(text, CALL_RULES, CALL_DEFAULT), raw=text)
        raise AssertionError("unreachable")

    def _query(self, business_object: str, xml_in: str) -> ET.Element:
        text = self._call("Query/Query", {"BusinessObject": business_object, "XmlIn": xml_in})
        return parse_xml(text)

    def _find(
        self,
        table: str,
        columns: Sequence[str],
        where: Sequence[Sequence[tuple[str, str, str]]],
        order: Sequence[str],
        names: Mapping[str, str],
    ) -> list[Record]:
        root = self._query("COMFND", comfnd(table, columns, where, order, self.page_size))
        return [flat(row, names) for row in children(root, "Row")]

    def _find_all(
        self,
        table: str,
        columns: Sequence[str],
        where: Callable[[Sequence[str] | None], list[list[tuple[str, str, str]]]],
        order: Sequence[str],
        names: Mapping[str, str],
    ) -> Iterator[list[Record]]:
        """Pages of rows to the end; ``where(last)`` adds the keyset past the last row.

        The end is an empty page, not a short one: SYSPRO may cap ReturnRows
        below ``page_size`` and a short page would then look like the end.
        """
        last: Sequence[str] | None = None
        while True:
            clause = where(last)
            if last is not None and not clause:
                return
            rows = self._find(table, columns, clause, order, names)
            if not rows:
                return
            yield rows
            last = [rows[-1][c] for c in order]

    def _attach_children(self, entity: Entity, rows: list[Record]) -> None:
        child = entity.child
        if child is None or not rows:
            return
        parents = sorted({str(row[child.link]) for row in rows})
        lines: dict[str, list[Record]] = {p: [] for p in parents}
        for chunk in self._chunks_of(parents):

            def where(
                last: Sequence[str] | None, chunk: list[str] = chunk
            ) -> list[list[tuple[str, str, str]]]:
                if last is None:
                    return [[(child.link, "EQ", p)] for p in chunk]
                # The keyset past (last parent, last line) restricted to this chunk's parents.
                return [
                    [(child.link, "EQ", p)]
                    + ([(child.keys[1], "GT", last[1])] if p == last[0] else [])
                    for p in chunk
                    if p >= last[0]
                ]

            for page in self._find_all(child.table, child.columns, where, child.keys, child.names):
                for line in page:
                    lines.setdefault(str(line[child.link]), []).append(line)
        for row in rows:
            row[child.table] = lines.get(str(row[child.link]), [])

    def _chunks_of(self, values: Sequence[str], most: int | None = None) -> Iterator[list[str]]:
        """Values per OR'ed lookup so the URL stays under ``max_url_length``."""
        size = max(1, min((self.max_url_length - 1500) // 250, most or len(values) or 1))
        for start in range(0, len(values), size):
            yield list(values[start : start + size])

    # -- the interface --------------------------------------------------------------

    def entity(self, name: str) -> Entity:
        try:
            return ENTITIES[ALIASES.get(name, name)]
        except KeyError:
            raise ConnectorError(
                ErrorKind.CONFIG,
                "unknown_entity",
                f"SYSPRO has no entity '{name}' here. Choose one of: {', '.join(ENTITIES)}.",
            ) from None

    def entities(self) -> list[str]:
        return list(ENTITIES)

    def describe(self, entity: str) -> EntitySchema:
        spec = self.entity(entity)
        return EntitySchema(entity, spec.fields, "/".join(spec.keys), spec.reference)

    def max_batch_size(self, entity: str) -> int:
        spec = self.entity(entity)
        if spec.table not in WRITERS:
            return 0
        return int(self.config.settings.get("batch_sizes", {}).get(spec.table, DEFAULT_BATCH_SIZE))

    def cursor_at(self, entity: str, moment: datetime) -> str:
        """A cursor of only the change time: the next read starts at that second.

        Tables without a change column (GL history) are read by key alone, so a
        date cannot place their cursor; clearing it re-reads them instead.
        """
        spec = self.entity(entity)
        if spec.cursor[0] != CHANGE_COLUMN:
            raise ConnectorError(
                ErrorKind.CONFIG,
                "no_change_column",
                f"SYSPRO's {entity} has no change date to start from; "
                "read it again from the beginning instead.",
            )
        return json.dumps([super().cursor_at(entity, moment)])

    def read_changes(self, entity: str, cursor: str | None) -> Iterator[ChangePage]:
        """Rows changed since ``cursor`` in (last-changed, key) order, page by page.

        A cursor is the last row's ordering values. A new poll starts *at* the
        cursor's second, not after its row: a row saved later in that same
        second may sort before it by key and would otherwise never be read.
        The few rows read twice carry the same version, which the ledger skips.
        Tables that are only appended to (GL history) page strictly by key.
        """
        spec = self.entity(entity)
        if spec.group is not None:
            yield from self._read_documents(spec, spec.group, cursor)
            return
        start = json.loads(cursor) if cursor else None

        def where(last: Sequence[str] | None) -> list[list[tuple[str, str, str]]]:
            if last is not None:
                return after(spec.cursor, last)
            if start is None:
                return []
            if spec.cursor[0] == CHANGE_COLUMN:
                return [[(CHANGE_COLUMN, "GE", start[0])]]
            return after(spec.cursor, start)

        for rows in self._find_all(spec.table, spec.columns, where, spec.cursor, spec.names):
            self._attach_children(spec, rows)
            yield ChangePage(rows, json.dumps([rows[-1][c] for c in spec.cursor]))

    def _read_documents(
        self, spec: Entity, group: Group, cursor: str | None
    ) -> Iterator[ChangePage]:
        """Whole documents (journals) from their rows; the cursor is a document's last row.

        The rows of the document still being read when a page ends wait for the
        next page, so every page holds whole documents and a resumed read starts
        at the first row after the last document handed over.
        """
        rows_spec = ENTITIES[group.table]
        start = json.loads(cursor) if cursor else None

        def where(last: Sequence[str] | None) -> list[list[tuple[str, str, str]]]:
            if last is not None:
                return after(spec.cursor, last)
            return after(spec.cursor, start) if start is not None else []

        held: list[Record] = []
        for rows in self._find_all(
            rows_spec.table, rows_spec.columns, where, spec.cursor, rows_spec.names
        ):
            documents = _grouped(held + rows, group.by)
            held = documents.pop()
            if documents:
                yield ChangePage(
                    [_document(group, d) for d in documents],
                    json.dumps([documents[-1][-1][c] for c in spec.cursor]),
                )
        if held:
            yield ChangePage(
                [_document(group, held)], json.dumps([held[-1][c] for c in spec.cursor])
            )

    def read_one(self, entity: str, key: str) -> Record | None:
        spec = self.entity(entity)
        if spec.group is not None:
            values = key.split("/")
            if len(values) != len(spec.group.by):
                return None
            rows_spec = ENTITIES[spec.group.table]
            match = list(zip(spec.group.by, ["EQ"] * len(values), values, strict=True))

            def where(last: Sequence[str] | None) -> list[list[tuple[str, str, str]]]:
                if last is None:
                    return [match]
                return [match + terms for terms in after(spec.cursor, last)]

            lines: list[Record] = []
            for page in self._find_all(
                rows_spec.table, rows_spec.columns, where, spec.cursor, rows_spec.names
            ):
                lines.extend(page)
            return _document(spec.group, lines) if lines else None
        if spec.query_object is not None:
            xml_in = document("Query", None, [{"Key": {spec.keys[0]: key}}])
            try:
                return row_of(self._query(spec.query_object, xml_in), spec)
            except ConnectorError as exc:
                if isinstance(exc.raw, str) and NOT_FOUND.search(exc.raw):
                    return None
                raise
        values = key.split("/")
        if len(values) != len(spec.keys):
            return None
        rows = self._find(
            spec.table,
            spec.columns,
            [list(zip(spec.keys, ["EQ"] * len(values), values, strict=True))],
            spec.keys,
            spec.names,
        )
        self._attach_children(spec, rows[:1])
        return rows[0] if rows else None

    def find_by_reference(self, entity: str, reference: str) -> FoundRecord | None:
        spec = self.entity(entity)
        found = self._existing(spec, [reference])
        match = found.get(reference)
        if not match:
            return None
        self._attach_children(spec, match[:1])
        return FoundRecord(spec.target_id(match[0]), match[0])

    def _existing(self, spec: Entity, references: Sequence[str]) -> dict[str, list[Record]]:
        """Rows whose reference column holds one of ``references``, by reference."""
        if spec.reference is None:
            raise ConnectorError(
                ErrorKind.CONFIG,
                "no_reference",
                f"SYSPRO {spec.table} records have no external reference to look up.",
            )
        # One row per reference is the norm, so a page always holds a chunk's matches.
        found: dict[str, list[Record]] = {}
        for chunk in self._chunks_of(sorted(set(filter(None, references))), self.page_size // 2):
            clause = [[(spec.reference, "EQ", value)] for value in chunk]
            for row in self._find(spec.table, spec.columns, clause, spec.keys, spec.names):
                found.setdefault(str(row[spec.reference]), []).append(row)
        return found

    def customer_prices(self, customer: str, stock_codes: Sequence[str]) -> CustomerPrices:
        """The customer's selling price and free stock per warehouse for each stock code.

        SYSPRO prices a customer by its price code: the stock code's InvPrice row
        for that code, else the stock code's list price [A]. Reads go through
        COMFND so one call answers many stock codes: the customer, the stock
        codes with their warehouses, then their prices — a handful of calls
        whether a portal asks about one line or fifty.
        """
        columns = ["Customer", "Name", "PriceCode", "CustomerOnHold"]
        found = self._find(
            "ArCustomer",
            columns,
            [[("Customer", "EQ", customer)]],
            ["Customer"],
            {c.lower(): c for c in columns},
        )
        if not found:
            text = f"Customer '{customer}' not found"
            raise ConnectorError(*classify(text, RECORD_RULES, RECORD_DEFAULT), raw=text)
        row = found[0]
        price_code = str(row.get("PriceCode", ""))
        stock = ENTITIES["InvMaster"]
        codes = sorted(set(stock_codes))
        masters: list[Record] = []
        special: dict[str, Decimal] = {}
        for chunk in self._chunks_of(codes, self.page_size):
            masters.extend(
                self._find(
                    stock.table,
                    stock.columns,
                    [[("StockCode", "EQ", code)] for code in chunk],
                    stock.keys,
                    stock.names,
                )
            )
        # Two terms per stock code here, so half as many codes fit in one URL.
        half = max(1, (self.max_url_length - 1500) // 500)
        priced = [str(m["StockCode"]) for m in masters] if price_code else []
        for chunk in self._chunks_of(priced, min(half, self.page_size)):
            prices = self._find(
                "InvPrice",
                ["StockCode", "PriceCode", "SellingPrice"],
                [[("StockCode", "EQ", code), ("PriceCode", "EQ", price_code)] for code in chunk],
                ["StockCode", "PriceCode"],
                {"stockcode": "StockCode", "sellingprice": "SellingPrice"},
            )
            special.update({str(p["StockCode"]): Decimal(p["SellingPrice"]) for p in prices})
        self._attach_children(stock, masters)
        items = {
            str(m["StockCode"]): StockPrice(
                stock_code=str(m["StockCode"]),
                description=str(m.get("Description", "")),
                uom=str(m.get("StockUom", "")),
                price=special.get(str(m["StockCode"]), Decimal(m.get("SellingPrice") or 0)),
                price_code=price_code if str(m["StockCode"]) in special else "",
                free_stock={
                    str(w["Warehouse"]): Decimal(w["QtyOnHand"] or 0)
                    - Decimal(w["QtyAllocated"] or 0)
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

    def test_connection(self) -> ConnectionCheck:
        headroom = self.limiter.headroom() if self.limiter is not None else None
        try:
            profile = parse_xml(self._call("GetLogonProfile", {}))
            if not (text_of(profile, "OperatorCode") or text_of(profile, "CompanyId")):
                raise not_the_api("SYSPRO e.net")  # XML, but no logon profile
        except ConnectorError as exc:
            unreachable = exc.code in (ErrorCode.CONNECTION_FAILED, ErrorCode.TIMEOUT)
            return ConnectionCheck(not unreachable, None, headroom, exc.message, exc.kind)
        who = (
            f"{text_of(profile, 'OperatorCode')} on {text_of(profile, 'CompanyName')} "
            f"({text_of(profile, 'CompanyId')})"
        )
        return ConnectionCheck(True, who, headroom, "Connected to SYSPRO.")

    def write_batch(self, entity: str, records: Sequence[Record]) -> list[WriteOutcome]:
        """Post the batch; records already in SYSPRO (by reference) are not sent again.

        Customers are upserted (Add or Update by customer code). Orders and
        payments whose reference exists are reported created with the existing
        id, so a retry after a lost answer never doubles them.
        """
        spec = self.entity(entity)
        writer = WRITERS.get(spec.table)
        if writer is None:
            raise ConnectorError(
                ErrorKind.CONFIG, "read_only", f"SYSPRO {entity} records cannot be written here."
            )
        outcomes: list[WriteOutcome | None] = [None] * len(records)
        references = [writer.reference(record) for record in records]
        existing = self._existing(spec, [ref for _, ref in references])
        sends: dict[str, list[int]] = {}
        for index, (customer, reference) in enumerate(references):
            if not reference:
                outcomes[index] = WriteOutcome.failed(
                    ErrorKind.DATA,
                    "reference_missing",
                    f"The record has no {spec.reference}, so SYSPRO could not tell a retry from "
                    f"a new record. Map a value into {spec.reference}, then retry.",
                )
                continue
            match = [
                row
                for row in existing.get(reference, [])
                if not customer or str(row.get("Customer", "")) == customer
            ]
            if match and writer.update_path is None:
                outcomes[index] = WriteOutcome.created(
                    spec.target_id(match[0]),
                    raw={"already_in_syspro": match[0]},
                )
                continue
            path = writer.update_path if match and writer.update_path else writer.path
            sends.setdefault(path, []).append(index)
        if spec.table == "ArCshJnlDet":
            records = self._allocated(records, sends, outcomes)
        for path, indexes in sends.items():
            for chunk, too_large in self._batches(writer, path, records, indexes):
                for index in too_large:
                    outcomes[index] = WriteOutcome.failed(
                        ErrorKind.CONFIG,
                        "record_too_large",
                        "The record is too long to send to SYSPRO in one request "
                        f"(over {self.max_url_length} characters). Shorten its text fields or "
                        "raise the e.net service's URL limit and max_url_length.",
                    )
                if chunk:
                    self._post(writer, path, records, chunk, outcomes)
        return [o for o in outcomes if o is not None]

    def _allocated(
        self,
        records: Sequence[Record],
        sends: dict[str, list[int]],
        outcomes: list[WriteOutcome | None],
    ) -> list[Record]:
        """Payments allocated by sales order get SYSPRO's invoice numbers instead.

        ARSTPY allocates a payment to invoices, but the other system only knows
        the order it billed (Xero's ``SO-…`` invoice); SYSPRO keeps that order on
        its invoices (``ArInvoice.SalesOrder``). An order invoiced in parts has
        several: the payment goes to the oldest first, each up to its balance,
        and anything left over to the last, which ARSTPY refuses as an
        overpayment. An order with no invoice fails its payment here, unsent.
        """
        wanted = {
            index: _allocations(records[index]) for indexes in sends.values() for index in indexes
        }
        orders = {
            str(a["SalesOrder"]) for found in wanted.values() for a in found if "SalesOrder" in a
        }
        invoices: dict[str, list[Record]] = {}
        columns = ["Invoice", "Customer", "SalesOrder", "InvoiceBal1"]
        names = {c.lower(): c for c in columns}
        for chunk in self._chunks_of(sorted(orders)):
            clause = [[("SalesOrder", "EQ", order)] for order in chunk]
            for row in self._find("ArInvoice", columns, clause, ["Invoice"], names):
                invoices.setdefault(str(row["SalesOrder"]), []).append(row)
        resolved = list(records)
        for index, allocations in wanted.items():
            customer = str(_payment(records[index]).get("Customer") or "")
            lines: list[Record] = []
            for allocation in allocations:
                if "SalesOrder" not in allocation:
                    lines.append(allocation)
                    continue
                order = str(allocation["SalesOrder"])
                billed = [i for i in invoices.get(order, []) if str(i["Customer"]) == customer]
                if not billed:
                    outcomes[index] = WriteOutcome.failed(
                        ErrorKind.DATA,
                        "invoice_not_found",
                        f"SYSPRO has no invoice for sales order {order} of customer "
                        f"'{customer}', so the payment cannot be allocated to it. Invoice the "
                        "order in SYSPRO (or check it belongs to this customer), then retry.",
                    )
                    break
                value = allocation.get("PaymentValue") or 0
                try:
                    lines += _split(billed, Decimal(str(value)))
                except InvalidOperation:
                    outcomes[index] = WriteOutcome.failed(
                        ErrorKind.DATA,
                        "invalid_amount",
                        f"The amount to allocate to sales order {order} ('{value}') is not a "
                        "number. Correct the mapping of Invoice.PaymentValue, then retry.",
                    )
                    break
            if outcomes[index] is None:
                resolved[index] = {**records[index], "Invoice": lines}
        for path, indexes in sends.items():
            sends[path] = [i for i in indexes if outcomes[i] is None]
        return resolved

    def _parameters(self, writer: Writer) -> str:
        return document(writer.root, "Parameters", [writer.parameters(self.config.settings)])

    def _batches(
        self, writer: Writer, path: str, records: Sequence[Record], indexes: list[int]
    ) -> Iterator[tuple[list[int], list[int]]]:
        """(records to send in one call, records too long for any call), by URL length."""
        overhead = len(self.http.url(path)) + len(quote_plus(self._parameters(writer))) + 200
        overhead += len(quote_plus(document(writer.root, None, [])))
        chunk: list[int] = []
        used = overhead
        for index in indexes:
            size = len(quote_plus(document("x", writer.wrapper, [writer.shape(records[index])])))
            if overhead + size > self.max_url_length:
                yield [], [index]
                continue
            if chunk and used + size > self.max_url_length:
                yield chunk, []
                chunk, used = [], overhead
            chunk.append(index)
            used += size
        if chunk:
            yield chunk, []

    def _post(
        self,
        writer: Writer,
        path: str,
        records: Sequence[Record],
        chunk: list[int],
        outcomes: list[WriteOutcome | None],
    ) -> None:
        params = {
            "BusinessObject": writer.business_object,
            "XmlParameters": self._parameters(writer),
            "XmlIn": document(
                writer.root, writer.wrapper, [writer.shape(records[i]) for i in chunk]
            ),
        }
        root = parse_xml(self._call(path, params, write=True))
        results = children(root, writer.result)
        if len(results) != len(chunk):
            raise ConnectorError(
                ErrorKind.TRANSIENT,
                ErrorCode.OUTCOME_UNKNOWN,
                "SYSPRO's answer did not list every record sent; each will be looked up "
                "before it is sent again.",
                raw=ET.tostring(root, encoding="unicode"),
                outcome_unknown=True,
            )
        for index, result in zip(chunk, results, strict=True):
            outcomes[index] = self._outcome(writer, path, records[index], result)

    def _outcome(
        self, writer: Writer, path: str, record: Record, result: ET.Element
    ) -> WriteOutcome:
        raw = ET.tostring(result, encoding="unicode")
        errors = errors_of(result)
        if errors:
            kind, code, message = classify(errors[0], RECORD_RULES, RECORD_DEFAULT)
            if len(errors) > 1:
                message += " SYSPRO also said: " + "; ".join(errors[1:])
            return WriteOutcome.failed(kind, code, message, raw)
        target = writer.target_id(result, record)
        if not target:
            return WriteOutcome.failed(
                ErrorKind.DATA,
                "not_created",
                "SYSPRO did not create the record and gave no reason. Check it in SYSPRO, "
                "then retry.",
                raw,
            )
        if path == writer.update_path:
            return WriteOutcome.updated(target, raw)
        return WriteOutcome.created(target, raw)


def describe_http_error(
    response: requests.Response, body: Any
) -> tuple[str, str, ErrorKind] | None:
    """HTTP failures in front of e.net (IIS): only a too-long URL needs its own words, and
    it is the connection's set-up (IIS answers it 404.14 or 414), not a missing record."""
    if response.status_code in (404, 414) and "too long" in response.text.lower():
        return (
            "url_too_long",
            "The request was too long for the SYSPRO e.net service. Lower max_url_length on "
            "the connection to match the server's limit.",
            ErrorKind.CONFIG,
        )
    return None
