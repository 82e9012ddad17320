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

SYSPRO keeps no change feed and no "last changed" date. Every table but GL
history carries SQL Server's ``TimeStamp`` rowversion [O] (see ``schema.ROWVERSION``),
one counter for the company that every add, update and post moves on; COMFND
returns and compares it as a number [A]. Tests change a row the way SYSPRO
would with ``touch``.

SORQRY answers the way integrators' parsers read it [O, wildland/syspro-ruby
``sorqry_parser.rb``; a Go e.net client's SORQRY fixture with root ``SorDetail``]:
the order's header columns at the root of ``<SorDetail>``, its lines inside
``<SalesOrderLine>``, one element per line type — ``Merchandise`` (stocked and
non-stocked, M columns), ``Freight`` and ``MiscCharge`` (N columns: ``NComment``,
``NMscChargeValue``), ``CommentLine`` (``NComment``) — and only the line types the
query's ``Option`` asks for (``IncludeStockedLines``… as that client sends them;
N when absent [A]). Each line carries its ``Line`` number and ``LineType`` [A].
COMFND answers ``<HeaderDetails>`` with ``RowsReturned`` then its ``<Row>``s [O,
wildland/syspro-ruby ``comfnd_parser.rb``]; COMBRW takes ``BrowseDetails/Column/
ColumnName`` and answers a ``Title``, ``<Row>``s whose columns each hold a ``Value``
and ``DataType``, and ``NextPrevKey`` [O, ``combrw_parser.rb`` and
``schemas/combrw.xml.erb``; the inner ``NextKey``/``PrevKey`` and data type codes
are A].

Seed (``seed`` option, deterministic): 320 customers (each with a price code,
or none for list price), 222 stock codes in three warehouses with their
InvPrice rows per price code, 260 sales orders, 420 AR invoices, 80 AR
payments and 20,400 GL journal entries; among them the records that fail
downstream the way real ones do — see ``seed``.
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

import bisect
import heapq
import json
import operator
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from connectors.sandbox.core import RateRule, Request, Response, text_response, xml_response
from connectors.sandbox.syspro.auth import Session, SysproAuth
from connectors.sandbox.syspro.query import (
    ColumnIn,
    add_element,
    add_status,
    compile_where,
    flag,
    parse_date,
    parse_decimal,
    parse_xml,
    row_element,
    rows_text,
    text_of,
    typed,
)
from connectors.sandbox.syspro.schema import (
    BANKS,
    BO_MODULE,
    CURRENCIES,
    CUSTOMER_FIELDS,
    LINE_COMMENT,
    LINE_FREIGHT,
    LINE_MISC,
    LINE_NON_STOCKED,
    LINE_STOCKED,
    NUMERIC_COLUMNS,
    ORDER_HEADER_FIELDS,
    ROWVERSION,
    TABLE_KEYS,
    BoError,
    Row,
    money,
    order_line,
)
from connectors.sandbox.syspro.seed import CUSTOMER_COUNT, ORDER_COUNT, cached_tables

ROOT = "/SYSPROWCFService/Rest"

# SORQRY's Option flags and the line types each lets into the answer [O, the SORQRY
# XmlIn integrators send: wildland/syspro-ruby ``schemas/sorqry.xml.erb``].
SORQRY_LINE_OPTIONS = (
    ((LINE_STOCKED,), "IncludeStockedLines"),
    ((LINE_NON_STOCKED,), "IncludeNonStockedLines"),
    ((LINE_FREIGHT,), "IncludeFreightLines"),
    ((LINE_MISC,), "IncludeMiscLines"),
    ((LINE_COMMENT,), "IncludeCommentLines"),
)
_MERCHANDISE = ("MStockCode", "MStockDes", "MWarehouse", "MOrderQty", "MPrice", "MProductClass")
_CHARGE = ("NChargeCode", "NComment", "NMscChargeValue", "NMscChargeQty", "NMscProductCls")
# Line type -> the element SORQRY answers it in and its columns [O: ``Merchandise``,
# ``Freight``, ``MiscCharge``, ``CommentLine`` in wildland/syspro-ruby ``sorqry_parser.rb``;
# the columns as SorDetail names them, A for the N columns inside Freight/MiscCharge].
SORQRY_LINES = {
    LINE_STOCKED: ("Merchandise", _MERCHANDISE),
    LINE_NON_STOCKED: ("Merchandise", _MERCHANDISE),
    LINE_FREIGHT: ("Freight", _CHARGE),
    LINE_MISC: ("MiscCharge", _CHARGE),
    LINE_COMMENT: ("CommentLine", ("NComment",)),
}


class SysproSandbox(SysproAuth):
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
        self._indexes: dict[str, tuple[tuple[int, int, int], list[str], list[Row]]] = {}
        self._column_indexes: dict[
            tuple[str, str], tuple[tuple[int, int, int], dict[Any, list[Row]]]
        ] = {}
        self.deletions = 0
        seeded = cached_tables(
            int(options.get("seed", 8)),
            int(options.get("customers", CUSTOMER_COUNT)),
            bool(options.get("duplicate_names", True)),
            int(options.get("orders", ORDER_COUNT)),
        )
        # GL history is never written, so the cached rows are shared, not copied.
        self.tables = {
            name: rows if name == "GenJournalDetail" else [dict(r) for r in rows]
            for name, rows in seeded.items()
        }
        self.next_order = 100001 + len(self.tables["SorMaster"])
        self.rowversion = max(
            (int(r[ROWVERSION]) for rows in self.tables.values() for r in rows if ROWVERSION in r),
            default=0,
        )

    def table(self, name: str) -> list[Row]:
        return self.tables[name]

    def find(self, name: str, **key: str) -> Row | None:
        keys = TABLE_KEYS[name]
        if list(key) == list(keys) and len(keys) == 1 and keys[0] not in NUMERIC_COLUMNS:
            index, ordered = self._index(name)
            at = bisect.bisect_left(index, key[keys[0]])
            return ordered[at] if at < len(index) and index[at] == key[keys[0]] else None
        return next(
            (r for r in self.tables[name] if all(r.get(k) == v for k, v in key.items())), None
        )

    def _column_index(self, name: str, column: str) -> dict[Any, list[Row]]:
        """A table's rows by one key column's (typed) value; rebuilt like ``_index``."""
        rows = self.tables[name]
        state = (id(rows), len(rows), self.deletions)
        cached = self._column_indexes.get((name, column))
        if cached is None or cached[0] != state:
            index: dict[Any, list[Row]] = {}
            for row in rows:
                index.setdefault(typed(column, row.get(column, "")), []).append(row)
            cached = (state, index)
            self._column_indexes[(name, column)] = cached
        return cached[1]

    def _index(self, name: str) -> tuple[list[str], list[Row]]:
        """A single-key table's rows sorted by key, as SQL's clustered key keeps them.

        Rebuilt when rows are added or deleted; a key never changes in place (SYSPRO
        does not rename a customer code or an order number through e.net).
        """
        rows = self.tables[name]
        state = (id(rows), len(rows), self.deletions)
        cached = self._indexes.get(name)
        if cached is None or cached[0] != state:
            key = TABLE_KEYS[name][0]
            ordered = sorted(rows, key=operator.itemgetter(key))
            cached = (state, [r[key] for r in ordered], ordered)
            self._indexes[name] = cached
        return cached[1], cached[2]

    def next_rowversion(self) -> str:
        """The next value of the company's rowversion counter, as a write takes it."""
        self.rowversion += 1
        return str(self.rowversion)

    def touch(self, row: Row, **values: str) -> Row:
        """Change ``row`` the way a SYSPRO program would: its ``TimeStamp`` moves on."""
        row.update(values)
        row[ROWVERSION] = self.next_rowversion()
        return row

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

    def _handlers(self) -> dict[tuple[str, str, str], Callable[[Request], ET.Element | str]]:
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
        return text_of(parse_xml(request.arg("XmlIn"), "XmlIn"), f"Key/{column}")

    def _arsqry(self, request: Request) -> ET.Element:
        code = self._key(request, "Customer")
        customer = self.find("ArCustomer", Customer=code)
        if customer is None:
            raise BoError(f"Customer '{code}' not found")
        return self._copy("ArCustomer", customer)

    def _copy(self, tag: str, row: Row, children: Iterable[tuple[str, Row]] = ()) -> ET.Element:
        root = ET.Element(tag)
        for column, value in row.items():
            add_element(root, column, value)
        for child_tag, child in children:
            row_element(root, child_tag, child)
        return root

    def _invqry(self, request: Request) -> ET.Element:
        code = self._key(request, "StockCode")
        item = self.find("InvMaster", StockCode=code)
        if item is None:
            raise BoError(f"Stock code '{code}' not on file")
        stock = [r for r in self.table("InvWarehouse") if r["StockCode"] == code]
        root = self._copy("InvQuery", item, (("InvWarehouse", r) for r in stock))
        for element, row in zip(root.findall("InvWarehouse"), stock, strict=True):
            add_element(element, "QtyAvailable", int(row["QtyOnHand"]) - int(row["QtyAllocated"]))
        return root

    def _sorqry(self, request: Request) -> ET.Element:
        query = parse_xml(request.arg("XmlIn"), "XmlIn")
        number = text_of(query, "Key/SalesOrder")
        order = self.find("SorMaster", SalesOrder=number)
        if order is None:
            raise BoError(f"Sales order '{number}' not found")
        option = query.find("Option")
        wanted = {
            line_type
            for line_types, name in SORQRY_LINE_OPTIONS
            if flag(option, name)
            for line_type in line_types
        }
        root = ET.Element("SorDetail")
        for column, value in order.items():
            if column != ROWVERSION:  # a query answers the order, not the table row [A]
                add_element(root, column, value)
        lines = add_element(root, "SalesOrderLine")
        for row in self.table("SorDetail"):
            if row["SalesOrder"] == number and row["LineType"] in wanted:
                tag, columns = SORQRY_LINES[row["LineType"]]
                line = add_element(lines, tag)
                add_element(line, "Line", row["SalesOrderLine"])
                add_element(line, "LineType", row["LineType"])
                for column in columns:
                    add_element(line, column, row[column])
        return root

    def _table_name(self, query: ET.Element, tag: str = "TableName") -> str:
        table = text_of(query, tag)
        if table not in TABLE_KEYS:
            raise BoError(f"Table '{table}' not found")
        return table

    def _columns(
        self, query: ET.Element | None, table: str, path: str = "Columns/Column"
    ) -> list[str]:
        """The columns asked for at ``path`` (every column when none is named)."""
        available = list(self.table(table)[0]) if self.table(table) else list(TABLE_KEYS[table])
        named = [] if query is None else query.findall(path)
        wanted = [c.text.strip() for c in named if c.text]
        unknown = [c for c in wanted if c not in available]
        if unknown:
            raise BoError(f"Column '{unknown[0]}' not found in table '{table}'")
        return wanted or available

    def _return_rows(self, query: ET.Element) -> int:
        text = text_of(query, "ReturnRows", "100")
        if not text.isdigit() or int(text) < 1:
            raise BoError(f"ReturnRows '{text}' must be a positive number")
        return min(int(text), self.max_return_rows)

    def _comfnd(self, request: Request) -> str:
        query = parse_xml(request.arg("XmlIn"), "XmlIn")
        table = self._table_name(query)
        columns = self._columns(query, table)
        rows = self.table(table)
        known = set(rows[0]) if rows else set(TABLE_KEYS[table])
        where = query.find("Where")
        matches = compile_where(table, where, known)
        order = [c.text.strip() for c in query.findall("OrderBy/Column") if c.text] or list(
            TABLE_KEYS[table]
        )
        if any(c not in known for c in order):
            raise BoError(f"OrderBy column not found in table '{table}'")
        limit = self._return_rows(query)
        found = self._keyset_page(table, where, order, limit)
        if found is None:
            # The first `limit` in order, as sorted(...)[:limit] but without sorting them
            # all: paging through 50,000 customers sorted every remaining row for every
            # page. Text columns compare as they are: no conversion per row and column.
            key: Callable[[Row], Any] = (
                (lambda r: [typed(c, r[c]) for c in order])
                if NUMERIC_COLUMNS.intersection(order)
                else operator.itemgetter(*order)
            )
            candidates = rows
            if isinstance(matches, ColumnIn) and matches.column in TABLE_KEYS[table]:
                # "link = a OR link = b …" (an order's lines by their order) from an index on
                # the key column, as SQL's key serves it, not a scan of every line per call.
                by_value = self._column_index(table, matches.column)
                candidates = [r for v in matches.values for r in by_value.get(v, ())]
            found = heapq.nsmallest(limit, (r for r in candidates if matches(r)), key=key)
        # Written out directly: an ElementTree of 1,000 rows took longer to build and
        # serialise than the rest of the call (a SQL Server answers in milliseconds).
        tag = str.lower if self.lowercase_output else str
        header = (
            f"<{tag('HeaderDetails')}><{tag('TableName')}>{table}</{tag('TableName')}>"
            f"<{tag('RowsReturned')}>{len(found)}</{tag('RowsReturned')}></{tag('HeaderDetails')}>"
        )
        return f"<{tag('ComFnd')}>{header}{rows_text(found, columns, tag)}</{tag('ComFnd')}>"

    def _keyset_page(
        self, table: str, where: ET.Element | None, order: list[str], limit: int
    ) -> list[Row] | None:
        """A keyset page (``key GT last``, ordered by the key) from a sorted index, as the
        table's clustered key serves it in SQL; None for any other query."""
        keys = TABLE_KEYS[table]
        expressions = [] if where is None else where.findall("Expression")
        if len(keys) > 1 or order != list(keys) or keys[0] in NUMERIC_COLUMNS:
            return None
        if len(expressions) > 1 or (
            expressions
            and (
                text_of(expressions[0], "Column") != keys[0]
                or text_of(expressions[0], "Condition", "EQ").upper() != "GT"
            )
        ):
            return None
        index, ordered = self._index(table)
        start = bisect.bisect_right(index, text_of(expressions[0], "Value")) if expressions else 0
        return ordered[start : start + limit]

    def _comfch(self, request: Request) -> ET.Element:
        query = parse_xml(request.arg("XmlIn"), "XmlIn")
        table = self._table_name(query)
        columns = self._columns(query, table)
        keys = TABLE_KEYS[table]
        wanted = (
            {k: text_of(query, f"Key/{k}") for k in keys}
            if len(keys) > 1
            else {keys[0]: text_of(query, "Key")}
        )
        row = self.find(table, **wanted)
        if row is None:
            raise BoError(
                f"Record with key '{'/'.join(wanted.values())}' not found in table '{table}'"
            )
        root = ET.Element("ComFch")
        row_element(root, "Row", row, columns)
        return root

    def _combrw(self, request: Request) -> ET.Element:
        """One page of a table in key order, from ``StartAtKey`` (GE, or GT if asked) [A]."""
        query = parse_xml(request.arg("XmlIn"), "XmlIn")
        table = self._table_name(query, "BrowseName")
        keys = TABLE_KEYS[table]
        if len(keys) > 1:
            raise BoError(f"Browse on '{table}' is not supported")
        details = query.find("BrowseDetails")
        columns = self._columns(details, table, "Column/ColumnName")
        start = text_of(query, "StartAtKey")
        condition = text_of(query, "StartCondition", "GE").upper() or "GE"
        if condition not in ("GE", "GT"):
            raise BoError(f"StartCondition '{condition}' must be GE or GT")
        key = keys[0]
        passes = operator.ge if condition == "GE" else operator.gt
        begin = typed(key, start) if start else None
        rows = [r for r in self.table(table) if begin is None or passes(typed(key, r[key]), begin)]
        limit = self._return_rows(query)
        page = heapq.nsmallest(limit + 1, rows, key=lambda r: typed(key, r[key]))
        root = ET.Element("Browse")
        add_element(root, "Title", text_of(details, "Title") or table)
        header = add_element(root, "HeaderDetails")
        add_element(header, "TableName", table)
        for row in page[:limit]:
            element = add_element(root, "Row")
            for column in columns:
                cell = add_element(element, column)
                add_element(cell, "Value", row.get(column, ""))
                add_element(cell, "DataType", "N" if column in NUMERIC_COLUMNS else "A")
        keys_element = add_element(root, "NextPrevKey")
        add_element(keys_element, "NextKey", page[limit][key] if len(page) > limit else "")
        add_element(keys_element, "PrevKey", start)
        return root

    # -- setup: customers ---------------------------------------------------------

    def _arsscs(self, request: Request, method: str) -> ET.Element:
        parameters = parse_xml(request.arg("XmlParameters"), "XmlParameters")
        document = parse_xml(request.arg("XmlIn"), "XmlIn")
        for element, what in ((parameters, "XmlParameters"), (document, "XmlIn")):
            if element.tag != "SetupArCustomer":
                raise BoError(f"{what} must have root element SetupArCustomer, not {element.tag}")
        validate_only = flag(parameters.find("Parameters"), "ValidateOnly")
        root = ET.Element("SetupArCustomer")
        processed = invalid = 0
        for item in document.findall("Item"):
            code = text_of(item, "Key/Customer").upper()
            result = add_element(root, "Item")
            add_element(add_element(result, "Key"), "Customer", code)
            try:
                values = self._customer_values(item, code, method)
            except ValueError as exc:
                invalid += 1
                add_element(result, "ErrorDescription", exc)
                continue
            processed += 1
            if not validate_only:
                self._apply_customer(code, method, values)
        add_status(root, processed, invalid)
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
        values = {f: text_of(item, f) for f in CUSTOMER_FIELDS if item.find(f) is not None}
        if method == "Add" and not values.get("Name"):
            raise ValueError(f"Customer name is required for customer '{code}'")
        for name, value in values.items():
            if len(value) > CUSTOMER_FIELDS[name]:
                raise ValueError(
                    f"{name} '{value}' is longer than {CUSTOMER_FIELDS[name]} characters"
                )
        if "Currency" in values and values["Currency"] not in CURRENCIES:
            raise ValueError(f"Currency '{values['Currency']}' not found")
        if (
            "CreditLimit" in values
            and parse_decimal(values["CreditLimit"] or "0", "Credit limit") < 0
        ):
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
            self.deletions += 1
            return
        if method == "Add":
            row = {"Customer": code, **dict.fromkeys(CUSTOMER_FIELDS, ""), "Currency": "GBP"}
            row.update(
                TaxStatus="N",
                CustomerOnHold="N",
                CreditLimit="0.00",
                DateCustAdded=date.fromtimestamp(self.now()).isoformat(),
            )
            customers.append(row)
            self.count("created", "ArCustomer")
        else:
            row = self.find("ArCustomer", Customer=code) or {}
            self.count("updated", "ArCustomer")
        self.touch(row, **values)

    # -- transaction: sales order import ------------------------------------------

    def _sortoi(self, request: Request) -> ET.Element:
        parameters = parse_xml(request.arg("XmlParameters"), "XmlParameters")
        document = parse_xml(request.arg("XmlIn"), "XmlIn")
        for element, what in ((parameters, "XmlParameters"), (document, "XmlIn")):
            if element.tag != "SalesOrders":
                raise BoError(f"{what} must have root element SalesOrders, not {element.tag}")
        options = parameters.find("Parameters")
        process = text_of(options, "Process", "Import")
        if process != "Import":
            raise BoError(f"Process '{process}' is not valid: use Import")
        allocation = text_of(options, "AllocationAction", "A").upper()
        if allocation not in ("A", "B", "F"):
            raise BoError(f"AllocationAction '{allocation}' must be A, B or F")
        flags = {
            name: flag(options, name)
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
            result = add_element(root, "Order")
            add_element(result, "CustomerPoNumber", header["CustomerPoNumber"])
            number = self._create_order(header, lines) if apply and not errors else ""
            add_element(result, "SalesOrder", number)
            add_element(result, "OrderActionType", "A")
            for error in errors:
                add_element(result, "ErrorDescription", error)
        invalid = sum(1 for _, errors, _, _ in plans if errors)
        add_status(root, len(plans) - invalid, invalid)
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
        header = {f: text_of(head, f) for f in ORDER_HEADER_FIELDS}
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
                parse_date(header["OrderDate"], "Order date").isoformat()
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
            code, warehouse = text_of(line, "StockCode"), text_of(line, "Warehouse", "FG")
            item = self.find("InvMaster", StockCode=code)
            if item is None:
                raise ValueError(f"Stock code '{code}' not on file")
            stock = self.find("InvWarehouse", StockCode=code, Warehouse=warehouse)
            if stock is None:
                raise ValueError(f"Warehouse '{warehouse}' not found for stock code '{code}'")
            quantity = parse_decimal(
                text_of(line, "OrderQty"), f"Order quantity for stock code '{code}'"
            )
            if quantity <= 0:
                raise ValueError(
                    f"Order quantity for stock code '{code}' must be greater than zero"
                )
            price = parse_decimal(
                text_of(line, "Price", item["SellingPrice"]) or item["SellingPrice"], "Price"
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
            allocate = 0 if allocation == "B" else int(min(quantity, Decimal(max(free, 0))))
            taken[(code, warehouse)] = taken.get((code, warehouse), 0) + allocate
            return {
                "LineType": LINE_STOCKED,
                "MStockCode": code,
                "MStockDes": item["Description"],
                "MWarehouse": warehouse,
                "MOrderQty": str(quantity),
                "MPrice": money(price),
                "MProductClass": item["ProductClass"],
                "Allocate": str(allocate),
            }
        if line.tag == "NonStockedLine":
            code = text_of(line, "NStockCode")
            if not code:
                raise ValueError("Non-stocked line needs a stock code (NStockCode)")
            quantity = parse_decimal(text_of(line, "NOrderQty"), f"Order quantity for '{code}'")
            if quantity <= 0:
                raise ValueError(f"Order quantity for '{code}' must be greater than zero")
            return {
                "LineType": LINE_NON_STOCKED,
                "MStockCode": code,
                "MStockDes": text_of(line, "NStockDes"),
                "MOrderQty": str(quantity),
                "MPrice": money(parse_decimal(text_of(line, "NPrice", "0"), "Price")),
                "MProductClass": text_of(line, "NProductClass"),
            }
        if line.tag == "FreightLine":
            # Kept in the N columns, as SorDetail keeps freight [O, see schema].
            value = parse_decimal(text_of(line, "FreightValue"), "Freight value")
            return {
                "LineType": LINE_FREIGHT,
                "NComment": "Freight",
                "NMscChargeValue": money(value),
                "NMscChargeQty": "1",
            }
        return None  # unknown elements are ignored, as SYSPRO does

    def _create_order(self, header: Row, lines: list[Row]) -> str:
        number = str(self.next_order)
        self.next_order += 1
        self.table("SorMaster").append(
            self.touch(
                {
                    "SalesOrder": number,
                    **{f: header[f] for f in ORDER_HEADER_FIELDS},
                    "OrderStatus": "1",
                    "Currency": header["Currency"],
                    "Warehouse": "FG",
                }
            )
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
                self.touch(stock, QtyAllocated=str(int(stock["QtyAllocated"]) + allocate))
            self.table("SorDetail").append(
                self.touch(order_line(SalesOrder=number, SalesOrderLine=str(position), **line))
            )
        self.count("created", "SorMaster")
        return number

    # -- transaction: AR payments -------------------------------------------------

    def _arstpy(self, request: Request) -> ET.Element:
        parameters = parse_xml(request.arg("XmlParameters"), "XmlParameters")
        document = parse_xml(request.arg("XmlIn"), "XmlIn")
        for element, what in ((parameters, "XmlParameters"), (document, "XmlIn")):
            if element.tag != "PostArPayment":
                raise BoError(f"{what} must have root element PostArPayment, not {element.tag}")
        options = parameters.find("Parameters")
        period = text_of(options, "PostingPeriod", "C").upper()
        if period not in ("C", "P"):
            raise BoError(f"PostingPeriod '{period}' must be C (current) or P (previous)")
        validate_only = flag(options, "ValidateOnly")
        root = ET.Element("PostArPayment")
        processed = invalid = 0
        applied: dict[str, Decimal] = {}
        for item in document.findall("Item"):
            payment = item.find("Payment")
            result = add_element(root, "Item")
            key = add_element(result, "Key")
            add_element(key, "Customer", text_of(payment, "Customer"))
            add_element(key, "Reference", text_of(payment, "Reference"))
            try:
                entries = self._plan_payment(item, applied)
            except ValueError as exc:
                invalid += 1
                add_element(result, "ErrorDescription", exc)
                continue
            processed += 1
            if not validate_only:
                for column, value in self._post_payment(entries).items():
                    add_element(result, column, value)
        add_status(root, processed, invalid)
        return root

    def _plan_payment(self, item: ET.Element, applied: dict[str, Decimal]) -> list[Row]:
        payment = item.find("Payment")
        if payment is None:
            raise ValueError("Payment details are missing")
        code, bank, reference = (text_of(payment, f) for f in ("Customer", "Bank", "Reference"))
        if self.find("ArCustomer", Customer=code) is None:
            raise ValueError(f"Customer '{code}' not found")
        if bank not in BANKS:
            raise ValueError(f"Bank '{bank}' not on file")
        if not reference:
            raise ValueError("Payment reference is required")
        when = parse_date(text_of(payment, "PaymentDate"), "Payment date")
        if when < self.open_from:
            raise ValueError(
                f"Posting period {when.year}/{when.month:02d} is closed for Accounts Receivable"
            )
        value = parse_decimal(text_of(payment, "PaymentValue"), "Payment value")
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
            number = text_of(invoice, "Invoice")
            amount = parse_decimal(
                text_of(invoice, "PaymentValue"), f"Amount paid on invoice '{number}'"
            )
            row = self.find("ArInvoice", Invoice=number, Customer=code)
            if row is None:
                raise ValueError(f"Invoice '{number}' not found for customer '{code}'")
            balance = Decimal(row["InvoiceBal1"]) - applied.get(number, Decimal(0))
            if amount > balance:
                raise ValueError(
                    f"Amount {amount} exceeds the balance {balance} of invoice '{number}'"
                )
            remaining -= amount
            entries.append({**base, "Invoice": number, "PaymentValue": money(amount)})
        if remaining < 0:
            raise ValueError("The amounts applied to invoices exceed the payment value")
        if remaining > 0 or not entries:
            entries.append({**base, "Invoice": "", "PaymentValue": money(remaining)})
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
        for number, entry in enumerate(entries, 1):
            if entry["Invoice"]:
                invoice = self.find("ArInvoice", Invoice=entry["Invoice"]) or {}
                balance = Decimal(invoice["InvoiceBal1"]) - Decimal(entry["PaymentValue"])
                self.touch(invoice, InvoiceBal1=money(balance))
            journal_rows.append(
                self.touch(
                    {
                        "TrnYear": year,
                        "TrnMonth": month,
                        "Journal": str(journal),
                        "EntryNumber": str(number),
                        **entry,
                    }
                )
            )
        self.count("created", "ArCshJnlDet")
        return {"TrnYear": year, "TrnMonth": month, "Journal": str(journal), "EntryNumber": "1"}


def create_app(options: Mapping[str, Any]) -> SysproSandbox:
    """The registry's entry point."""
    return SysproSandbox(options)
