"""KashFlow REST API v2 emulator, served under ``/v2`` like ``api.kashflow.com/v2``.

What it copies from the documented API ([P]/[S] in ``systems/kashflow.md``):

* the two-step logon: ``POST /v2/sessiontoken`` with ``UserName``/``Password``
  answers a ``TemporaryToken`` and three memorable-word positions (1-based);
  ``PUT /v2/sessiontoken`` with the requested characters (case-insensitive)
  answers the ``SessionToken``; ``DELETE`` logs out;
* ``Authorization: KfToken <SessionToken>``, 60 minutes idle expiry, 401
  ``{"Error": "InvalidSessionToken", ...}`` for invalid and expired tokens alike and
  for any other scheme (``Bearer``: a token "in wrong format"), which leaves the
  session as it was; ``AccountLocked`` after repeated failed logons;
* ``POST /v2/products`` creating a product keyed by a unique ``Code``, with ``Name``,
  ``Description``, ``Price``, ``VATRate`` and the parent ``NominalCode``, and
  ``GET /v2/products`` listing them [P, kashflow.com/developers/rest-api/api-products,
  mirrored at chriscarlton.info/index-1843.html: "Get, Post … creates product"];
* customers keyed by ``Code`` (unique), invoices keyed by ``Number`` (auto-numbered,
  a supplied unique ``Number`` is kept), server-computed Net/VAT/Gross, payments
  moving ``TotalPaidAmount`` and ``LastPaymentDate``, ``/invoices/bulk/payments``;
* lists as ``{"Data": [...], "MetaData": {"NextPageUrl": ...}}`` with ``page``,
  ``perpage``, ``sortby``, ``order``; summaries carry null ``LineItems``,
  ``PaymentLines`` and ``Currency``, the single record carries everything.

Assumptions ([O]/[A]), each switchable through ``options``:

* ``temp_token_seconds`` (300): the temporary token's life ("x minutes" in the docs);
* ``session_idle_seconds`` (3600) and ``lock_after`` (5 failed logons);
* ``max_perpage`` (100): a larger ``perpage`` is cut to it;
* ``max_bulk_payments`` (100): more items are refused with ``TooManyItems``;
* ``line_item_names``: ``"rest"`` (``Quantity, Description, Rate, VATRate,
  VATAmount, NominalCode, ProductCode``) or ``"soap"`` (``Rate, VatRate,
  VatAmount, ChargeType, ProductID``); either spelling is accepted on input;
* ``error_style``: ``"kashflow"`` answers 400 ``{"Error", "Message"}``;
  ``"aspnet"`` answers ``{"Message", "ModelState": {field: [messages]}}``;
* ``invoice_last_updated`` (True): invoices carry ``LastUpdatedDate``, which the
  docs list for customers only; payments touch it too;
* ``rate_limit_per_minute`` (0 = off): KashFlow documents no limit and no
  headers, so when on, a session over the limit gets a bare 429 with
  ``Retry-After`` (rule name ``minute``, also settable via ``/_sandbox/limits``);
* customer detail collections ``Contacts``, ``Addresses``, ``PaymentTerms``,
  ``Currency``; ``GET``/``PUT /v2/products/{Code}`` (the products page documents only
  the list's Get and Post; the single-record routes follow ``/customers/{Code}``, which
  is documented with GET/PUT [A]); a product needing a name and an existing nominal
  code (the docs list both fields, not that they are required [A]); the active flag
  named ``IsActive`` (the docs' list calls it ``InUse`` [A]); ``/v2/nominalcodes``,
  ``/v2/bankaccounts``;
  ``/v2/invoices/{Number}/payments``; the bulk-payment answer
  ``{"Data": [{"ObjectNumber", "Id", "Success", "Error", "Message"}]}``;
  validation codes such as ``CustomerNotFound`` and ``CodeAlreadyExists``.

Demo login: ``demo`` / ``demo`` with memorable word ``clarity``. Seeded demo data
that fails the way real data does: invoice 1399 names customer ``GHO01``,
which does not exist; customer ``NON01`` has no ``Name``; customers ``HOL01``
and ``HOL02`` are both "Holloway Joinery Ltd".
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from connectors.sandbox.core import HttpError, RateRule, Request, Response, json_response
from connectors.sandbox.kashflow.auth import KashFlowAuth
from connectors.sandbox.kashflow.schema import (
    CENT,
    CUSTOMER_SUMMARY_FIELDS,
    INVOICE_DETAIL_ONLY,
    LINE_NAMES_SOAP,
    PAYMENT_METHODS,
    TIME_FORMAT,
    Record,
    json_response_body,
    money,
    new_customer,
    new_invoice,
    stamp_at,
)
from connectors.sandbox.kashflow.seed import BANK_ACCOUNTS, NOMINAL_CODES, PRODUCTS, seed_company

DEFAULTS: dict[str, Any] = {
    "username": "demo",
    "password": "demo",
    "memorable_word": "clarity",
    "company_name": "Clarity Demo Trading Ltd",
    "temp_token_seconds": 300,
    "session_idle_seconds": 3600,
    "lock_after": 5,
    "max_perpage": 100,
    "max_bulk_payments": 100,
    "line_item_names": "rest",
    "error_style": "kashflow",
    "invoice_last_updated": True,
    "rate_limit_per_minute": 0,
    "customers": 300,
    "invoices": 400,
}


class KashFlowSandbox(KashFlowAuth):
    name = "kashflow"

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.settings = {**DEFAULTS, **(options or {})}
        super().__init__(options)
        rule = RateRule(
            "minute",
            int(self.settings["rate_limit_per_minute"]),
            60,
            lambda request: self._limit_scope(request, rule),
        )
        self.rate_rules = [rule]
        self.route("POST", "/v2/sessiontoken", self.logon_start)
        self.route("PUT", "/v2/sessiontoken", self.logon_finish)
        self.route("DELETE", "/v2/sessiontoken", self.authed(self.logout))
        self.route("GET", "/v2/customers", self.authed(self.list_customers))
        self.route("POST", "/v2/customers", self.authed(self.create_customer))
        self.route("GET", "/v2/customers/{code}", self.authed(self.get_customer))
        self.route("PUT", "/v2/customers/{code}", self.authed(self.update_customer))
        self.route("DELETE", "/v2/customers/{code}", self.authed(self.delete_customer))
        self.route("POST", "/v2/invoices/bulk/payments", self.authed(self.bulk_payments))
        self.route("GET", "/v2/invoices", self.authed(self.list_invoices))
        self.route("POST", "/v2/invoices", self.authed(self.create_invoice))
        self.route("GET", "/v2/invoices/{number}", self.authed(self.get_invoice))
        self.route("PUT", "/v2/invoices/{number}", self.authed(self.update_invoice))
        self.route("DELETE", "/v2/invoices/{number}", self.authed(self.delete_invoice))
        self.route("GET", "/v2/invoices/{number}/payments", self.authed(self.list_payments))
        self.route("POST", "/v2/invoices/{number}/payments", self.authed(self.add_payment))
        self.route("GET", "/v2/products", self.authed(self.list_products))
        self.route("GET", "/v2/products/{code}", self.authed(self.get_product))
        self.route("POST", "/v2/products", self.authed(self.create_product))
        self.route("PUT", "/v2/products/{code}", self.authed(self.update_product))
        self.route("GET", "/v2/nominalcodes", self.authed(self.list_nominals))
        self.route("GET", "/v2/bankaccounts", self.authed(self.list_bank_accounts))

    # -- state and seed -------------------------------------------------------

    def reset_state(self) -> None:
        self.temp_tokens: dict[str, tuple[list[int], float]] = {}
        self.sessions: dict[str, float] = {}
        self.failed_logons = 0
        self.locked = False
        self.customers: dict[str, Record] = {}
        self.invoices: dict[int, Record] = {}
        self.products = {
            code: {
                "Code": code,
                "Name": name,
                "Description": name,
                "Price": price,
                "VATRate": 20.0,
                "NominalCode": nominal,
                "IsActive": True,
            }
            for code, name, price, nominal in PRODUCTS
        }
        self.nominals = {code: {"Code": code, "Name": n, "Type": t} for code, n, t in NOMINAL_CODES}
        self.next_payment_id = 1
        seed_company(self, random.Random(self.options.get("seed", 1)))

    # -- errors and limits -------------------------------------------------

    def fail(self, status: int, error: str, message: str, field: str = "") -> HttpError:
        """An error in the configured body style ([A]: KashFlow does not document them)."""
        if self.settings["error_style"] == "aspnet" and status == 400:
            body: Record = {"Message": "The request is invalid.", "ModelState": {}}
            body["ModelState"][field or error] = [message]
            return HttpError(json_response(body, status))
        return HttpError(json_response({"Error": error, "Message": message}, status))

    def _limit_scope(self, request: Request, rule: RateRule) -> str | None:
        if self.limit(rule) <= 0 or not request.path.startswith("/v2/"):
            return None
        return request.header("Authorization") or "anonymous"

    # -- lists ----------------------------------------------------------------

    def page(self, request: Request, records: list[Record], default_sort: str) -> Response:
        """The ``Data``/``MetaData.NextPageUrl`` envelope shared by every list."""
        try:
            page = max(int(request.arg("page") or 1), 1)
            perpage = min(max(int(request.arg("perpage") or 20), 1), self.settings["max_perpage"])
        except ValueError as exc:
            raise self.fail(400, "InvalidPaging", "page and perpage must be numbers.") from exc
        sortby = request.arg("sortby") or default_sort
        if records and sortby not in records[0]:
            raise self.fail(400, "InvalidSortField", f"Cannot sort by '{sortby}'.", "sortby")
        descending = (request.arg("order") or "Asc").lower() == "desc"
        records = sorted(records, key=lambda r: (r[sortby] is None, r[sortby]), reverse=descending)
        start = (page - 1) * perpage
        next_url = None
        if start + perpage < len(records):
            query = {k: v[0] for k, v in request.query.items()}
            query.update(page=str(page + 1), perpage=str(perpage))
            next_url = f"{request.base_url}{request.path}?{urlencode(query)}"
        return json_response(
            {
                "Data": records[start : start + perpage],
                "MetaData": {"NextPageUrl": next_url, "TotalRecords": len(records)},
            }
        )

    # -- customers ------------------------------------------------------------

    def customer_or_404(self, code: str) -> Record:
        customer = self.customers.get(code.upper())
        if customer is None:
            raise self.fail(404, "CustomerNotFound", f"Customer '{code}' was not found.")
        return customer

    def list_customers(self, request: Request) -> Response:
        totals = self._totals_by_customer()
        summaries = [
            {k: c[k] for k in CUSTOMER_SUMMARY_FIELDS} | totals.get(c["Code"], {})
            for c in self.customers.values()
        ]
        return self.page(request, summaries, "Code")

    def get_customer(self, request: Request) -> Response:
        customer = self.customer_or_404(request.params["code"])
        return json_response(customer | self._totals_by_customer().get(customer["Code"], {}))

    def _totals_by_customer(self) -> dict[str, Record]:
        """Invoiced and paid amounts, which KashFlow derives from the customer's invoices."""
        totals: dict[str, Record] = {}
        for invoice in self.invoices.values():
            sums = totals.setdefault(
                invoice["CustomerCode"],
                {"TotalPaidAmount": 0.0, "InvoicedNetAmount": 0.0, "InvoicedVATAmount": 0.0},
            )
            sums["TotalPaidAmount"] = round(sums["TotalPaidAmount"] + invoice["TotalPaidAmount"], 2)
            sums["InvoicedNetAmount"] = round(sums["InvoicedNetAmount"] + invoice["NetAmount"], 2)
            sums["InvoicedVATAmount"] = round(sums["InvoicedVATAmount"] + invoice["VATAmount"], 2)
        return totals

    def create_customer(self, request: Request) -> Response:
        body = self._object(request)
        code = str(body.get("Code") or "").strip().upper() or self._new_code(body.get("Name"))
        if code in self.customers:
            raise self.fail(
                400, "CodeAlreadyExists", f"A customer with code '{code}' already exists.", "Code"
            )
        customer = self._customer_fields(new_customer(code, self.now()), body)
        self.customers[code] = customer
        self.count("created", "customers")
        return json_response(customer, 201)

    def update_customer(self, request: Request) -> Response:
        customer = self.customer_or_404(request.params["code"])
        merged = self._customer_fields(dict(customer), self._object(request))
        merged["Code"], merged["LastUpdatedDate"] = customer["Code"], stamp_at(self.now())
        customer.update(merged)
        self.count("updated", "customers")
        return json_response(customer)

    def delete_customer(self, request: Request) -> Response:
        code = self.customer_or_404(request.params["code"])["Code"]
        if any(i["CustomerCode"] == code for i in self.invoices.values()):
            raise self.fail(400, "CustomerHasTransactions", f"Customer '{code}' has invoices.")
        del self.customers[code]
        return json_response({})

    def _customer_fields(self, customer: Record, body: Record) -> Record:
        editable = set(CUSTOMER_SUMMARY_FIELDS) - {
            "Code",
            "CreatedDate",
            "LastUpdatedDate",
            "TotalPaidAmount",
            "InvoicedNetAmount",
            "InvoicedVATAmount",
        }
        editable |= {"Contacts", "Addresses", "DeliveryAddresses", "PaymentTerms", "Currency"}
        customer.update({k: v for k, v in body.items() if k in editable})
        if not str(customer.get("Name") or "").strip():
            raise self.fail(400, "NameRequired", "Customer name is required.", "Name")
        if len(customer["Name"]) > 100:
            raise self.fail(400, "NameTooLong", "Customer name exceeds 100 characters.", "Name")
        try:
            discount = float(customer.get("DiscountRate") or 0)
        except (TypeError, ValueError):
            discount = -1
        if not 0 <= discount <= 100:
            raise self.fail(
                400, "InvalidDiscountRate", "Discount rate must be between 0 and 100.", "Discount"
            )
        customer["DisplayName"] = customer.get("DisplayName") or customer["Name"]
        return customer

    def _new_code(self, name: Any) -> str:
        letters = "".join(ch for ch in str(name or "") if ch.isalpha()).upper()[:3] or "CUS"
        n = 1
        while f"{letters}{n:02d}" in self.customers:
            n += 1
        return f"{letters}{n:02d}"

    # -- invoices -------------------------------------------------------------

    def invoice_or_404(self, number: str) -> Record:
        invoice = self.invoices.get(int(number)) if number.isdigit() else None
        if invoice is None:
            raise self.fail(404, "InvoiceNotFound", f"Invoice '{number}' was not found.")
        return invoice

    def list_invoices(self, request: Request) -> Response:
        summaries = [
            {k: (None if k in INVOICE_DETAIL_ONLY else v) for k, v in self._shown(i).items()}
            for i in self.invoices.values()
        ]
        return self.page(request, summaries, "Number")

    def get_invoice(self, request: Request) -> Response:
        return json_response(self._shown(self.invoice_or_404(request.params["number"])))

    def create_invoice(self, request: Request) -> Response:
        body = self._object(request)
        number = body.get("Number") or max(self.invoices, default=0) + 1
        if isinstance(number, str) and number.isdigit():
            number = int(number)
        if not isinstance(number, int) or number < 1:
            raise self.fail(400, "InvalidNumber", "Invoice number must be a positive whole number.")
        if number in self.invoices:
            raise self.fail(
                400, "NumberAlreadyExists", f"Invoice number {number} is already used.", "Number"
            )
        invoice = self._invoice_fields(new_invoice(number, self.now()), body)
        self.invoices[number] = invoice
        self.count("created", "invoices")
        return json_response(self._shown(invoice), 201)

    def update_invoice(self, request: Request) -> Response:
        invoice = self.invoice_or_404(request.params["number"])
        merged = self._invoice_fields(dict(invoice), self._object(request))
        merged["Number"], merged["LastUpdatedDate"] = invoice["Number"], stamp_at(self.now())
        invoice.update(merged)
        self.count("updated", "invoices")
        return json_response(self._shown(invoice))

    def delete_invoice(self, request: Request) -> Response:
        invoice = self.invoice_or_404(request.params["number"])
        if invoice["PaymentLines"]:
            raise self.fail(400, "InvoiceHasPayments", "Delete the invoice's payments first.")
        del self.invoices[invoice["Number"]]
        return json_response({})

    def _invoice_fields(self, invoice: Record, body: Record) -> Record:
        for key in ("CustomerCode", "CustomerReference", "IssuedDate", "DueDate", "VATNumber"):
            if key in body:
                invoice[key] = body[key]
        code = str(invoice.get("CustomerCode") or "").upper()
        if not code:
            raise self.fail(400, "CustomerCodeRequired", "Customer code is required.")
        customer = self.customers.get(code)
        if customer is None:
            raise self.fail(
                400, "CustomerNotFound", f"Customer '{code}' was not found.", "CustomerCode"
            )
        invoice["CustomerCode"], invoice["CustomerName"] = code, customer["Name"]
        for key in ("IssuedDate", "DueDate"):
            try:
                datetime.fromisoformat(str(invoice[key]))
            except ValueError as exc:
                raise self.fail(400, "InvalidDate", f"{key} is not a valid date.", key) from exc
        if isinstance(body.get("Currency"), dict):
            invoice["Currency"] = {**invoice["Currency"], **body["Currency"]}
        if "LineItems" in body:
            invoice["LineItems"] = [self._line(n, line) for n, line in enumerate(body["LineItems"])]
        if not invoice["LineItems"]:
            raise self.fail(400, "LineItemsRequired", "An invoice needs at least one line item.")
        self._totals(invoice)
        return invoice

    def _line(self, index: int, raw: Any) -> Record:
        if not isinstance(raw, dict):
            raise self.fail(400, "InvalidLineItem", f"Line {index + 1} is not an object.")
        line = {rest: raw[soap] for rest, soap in LINE_NAMES_SOAP.items() if soap in raw}
        line.update({k: v for k, v in raw.items() if k not in LINE_NAMES_SOAP.values()})
        product = self.products.get(str(line.get("ProductCode") or ""))
        if line.get("ProductCode") and product is None:
            raise self.fail(
                400,
                "ProductNotFound",
                f"Line {index + 1}: product '{line['ProductCode']}' was not found.",
            )
        if product:
            line.setdefault("Description", product["Description"])
            line.setdefault("Rate", product["Price"])
            line.setdefault("NominalCode", product["NominalCode"])
        try:
            quantity, rate = money(line.get("Quantity", 1)), money(line.get("Rate"))
            vat_rate = Decimal(str(line.get("VATRate", 20)))
        except (InvalidOperation, TypeError, ValueError) as exc:
            raise self.fail(
                400, "InvalidLineItem", f"Line {index + 1}: quantity, rate or VAT is not a number."
            ) from exc
        if quantity <= 0:
            raise self.fail(400, "InvalidQuantity", f"Line {index + 1}: quantity must be above 0.")
        nominal = line.get("NominalCode") or 4000
        if int(nominal) not in self.nominals:
            raise self.fail(
                400, "NominalCodeNotFound", f"Line {index + 1}: nominal code {nominal} not found."
            )
        net = (quantity * rate).quantize(CENT, ROUND_HALF_UP)
        vat = (net * max(vat_rate, Decimal(0)) / 100).quantize(CENT, ROUND_HALF_UP)
        return {
            "Quantity": float(quantity),
            "Description": str(line.get("Description") or ""),
            "Rate": float(rate),
            "VATRate": float(vat_rate),
            "VATAmount": float(vat),
            "NominalCode": int(nominal),
            "ProductCode": line.get("ProductCode"),
            "Sort": index + 1,
        }

    def _totals(self, invoice: Record) -> None:
        net = sum(
            (money(li["Quantity"]) * money(li["Rate"]) for li in invoice["LineItems"]), Decimal(0)
        )
        vat = sum((money(li["VATAmount"]) for li in invoice["LineItems"]), Decimal(0))
        paid = sum((money(p["Amount"]) for p in invoice["PaymentLines"]), Decimal(0))
        gross = net.quantize(CENT) + vat
        rate = Decimal(str(invoice["Currency"].get("ExchangeRate") or 1))
        invoice.update(
            NetAmount=float(net.quantize(CENT)),
            VATAmount=float(vat),
            GrossAmount=float(gross),
            TotalPaidAmount=float(paid),
            HomeCurrencyGrossAmount=float((gross / rate).quantize(CENT, ROUND_HALF_UP)),
            LastPaymentDate=max((p["Date"] for p in invoice["PaymentLines"]), default=None),
        )

    def _shown(self, invoice: Record) -> Record:
        """The invoice as the API words it: line names per ``line_item_names``."""
        shown = dict(invoice)
        if not self.settings["invoice_last_updated"]:
            shown.pop("LastUpdatedDate", None)
        if self.settings["line_item_names"] == "soap":
            shown["LineItems"] = [
                {LINE_NAMES_SOAP.get(k, k): v for k, v in line.items()}
                for line in invoice["LineItems"]
            ]
        return shown

    # -- payments -------------------------------------------------------------

    def list_payments(self, request: Request) -> Response:
        return json_response(self.invoice_or_404(request.params["number"])["PaymentLines"])

    def add_payment(self, request: Request) -> Response:
        body = self._object(request)
        invoice = self.invoice_or_404(request.params["number"])
        payment = self._pay(invoice, body, body.get("Date"), body)
        self.count("created", "payments")
        return json_response(payment, 201)

    def bulk_payments(self, request: Request) -> Response:
        body = self._object(request)
        items = body.get("PaymentItems")
        if not isinstance(items, list) or not items:
            raise self.fail(400, "PaymentItemsRequired", "PaymentItems must list the payments.")
        if len(items) > int(self.settings["max_bulk_payments"]):
            raise self.fail(
                400,
                "TooManyItems",
                f"At most {self.settings['max_bulk_payments']} payments can be sent at once.",
            )
        results = []
        for item in items:
            number = str((item or {}).get("ObjectNumber", ""))
            try:
                invoice = self.invoice_or_404(number)
                payment = self._pay(invoice, body, item.get("PaidDate") or body.get("Date"), item)
            except HttpError as exc:
                failure = json_response_body(exc.response)
                results.append({"ObjectNumber": number, "Id": None, "Success": False, **failure})
                continue
            self.count("created", "payments")
            results.append({"ObjectNumber": number, "Id": payment["Id"], "Success": True})
        return json_response({"Data": results})

    def _pay(self, invoice: Record, batch: Record, date: Any, item: Record) -> Record:
        if not any(a["Id"] == batch.get("AccountId") for a in BANK_ACCOUNTS):
            raise self.fail(
                400, "BankAccountNotFound", f"Bank account {batch.get('AccountId')} was not found."
            )
        if batch.get("Method") not in PAYMENT_METHODS:
            raise self.fail(400, "InvalidPaymentMethod", f"Unknown method {batch.get('Method')}.")
        try:
            amount = money(item.get("Amount"))
            paid_on = datetime.fromisoformat(str(date))
        except (InvalidOperation, TypeError, ValueError) as exc:
            raise self.fail(400, "InvalidPayment", "Payment amount or date is not valid.") from exc
        outstanding = money(invoice["GrossAmount"]) - money(invoice["TotalPaidAmount"])
        if amount <= 0:
            raise self.fail(400, "InvalidAmount", "Payment amount must be above zero.")
        if amount > outstanding:
            raise self.fail(
                400,
                "PaymentExceedsOutstanding",
                f"Payment of {amount} exceeds the {outstanding} outstanding on invoice "
                f"{invoice['Number']}.",
            )
        payment = {
            "Id": self.next_payment_id,
            "Date": paid_on.strftime(TIME_FORMAT),
            "Amount": float(amount),
            "Method": batch["Method"],
            "AccountId": batch["AccountId"],
            "Comment": batch.get("Comment") or "",
            "Reconciled": bool(batch.get("Reconciled")),
        }
        self.next_payment_id += 1
        invoice["PaymentLines"].append(payment)
        invoice["LastUpdatedDate"] = stamp_at(self.now())
        self._totals(invoice)
        return payment

    # -- reference data -------------------------------------------------------

    def list_products(self, request: Request) -> Response:
        return self.page(request, list(self.products.values()), "Code")

    def get_product(self, request: Request) -> Response:
        product = self.products.get(request.params["code"])
        if product is None:
            raise self.fail(404, "ProductNotFound", "Product was not found.")
        return json_response(product)

    def create_product(self, request: Request) -> Response:
        body = self._object(request)
        code = str(body.get("Code") or "").strip()
        if not code:
            raise self.fail(400, "ProductCodeRequired", "Product code is required.", "Code")
        if code in self.products:
            raise self.fail(
                400, "ProductCodeAlreadyExists", f"A product with code '{code}' exists.", "Code"
            )
        new = {"Code": code, "Name": "", "Description": "", "Price": 0.0, "VATRate": 20.0}
        product = self._product_fields({**new, "NominalCode": None, "IsActive": True}, body)
        self.products[code] = product
        self.count("created", "products")
        return json_response(product, 201)

    def update_product(self, request: Request) -> Response:
        product = self.products.get(request.params["code"])
        if product is None:
            raise self.fail(404, "ProductNotFound", "Product was not found.")
        product.update(self._product_fields(dict(product), self._object(request)))
        self.count("updated", "products")
        return json_response(product)

    def _product_fields(self, product: Record, body: Record) -> Record:
        """Editable product fields, checked as KashFlow's product screen checks them [A]."""
        editable = ("Name", "Description", "Price", "VATRate", "NominalCode", "IsActive")
        product.update({k: v for k, v in body.items() if k in editable})
        if not str(product.get("Name") or "").strip():
            raise self.fail(400, "ProductNameRequired", "Product name is required.", "Name")
        nominal = product.get("NominalCode")
        if nominal in (None, ""):
            raise self.fail(
                400, "NominalCodeRequired", "A sales nominal code is required.", "NominalCode"
            )
        try:
            product["NominalCode"] = int(nominal)
            product["Price"] = float(money(product.get("Price") or 0))
            product["VATRate"] = float(product.get("VATRate") or 0)
        except (TypeError, ValueError, InvalidOperation) as exc:
            raise self.fail(400, "InvalidNumber", f"Not a number: {exc}.") from exc
        if product["NominalCode"] not in self.nominals:
            raise self.fail(
                400,
                "NominalCodeNotFound",
                f"Nominal code '{nominal}' was not found.",
                "NominalCode",
            )
        if product["Price"] < 0:
            raise self.fail(400, "InvalidPrice", "Price cannot be negative.", "Price")
        return product

    def list_nominals(self, request: Request) -> Response:
        return self.page(request, list(self.nominals.values()), "Code")

    def list_bank_accounts(self, request: Request) -> Response:
        return json_response(BANK_ACCOUNTS)

    def _object(self, request: Request) -> Record:
        body = request.json()
        if not isinstance(body, dict):
            raise self.fail(400, "InvalidRequest", "The request body must be a JSON object.")
        return body


def create_app(options: Mapping[str, Any]) -> KashFlowSandbox:
    return KashFlowSandbox(options)
