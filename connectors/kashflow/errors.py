"""KashFlow's error names and body shapes turned into codes, kinds and advice."""

from __future__ import annotations

from typing import Any

import requests

from connectors.base import WriteOutcome
from connectors.errors import (
    ConnectorError,
    ErrorKind,
    ErrorRule,
    classify,
    rule,
    table_kinds,
    vendor_code,
)

# KashFlow's error names (its {"Error", "Message"} bodies; the names are the sandbox's [A]
# set, shared/systems/kashflow.md) -> code, kind and what to do. ``{said}`` is the sentence
# KashFlow sent; the advice follows it. A code is the name in snake case, except where that
# would mean another system's code: CustomerNotFound is the invoice's (or payment's)
# customer code that KashFlow does not have.
RULES: tuple[ErrorRule, ...] = (
    rule(
        "invalid_session_token",
        ErrorKind.AUTH,
        "{said} Signing in again did not help: check the connection's KashFlow login.",
        name="InvalidSessionToken",
    ),
    rule(
        "invalid_credentials",
        ErrorKind.AUTH,
        "{said} Update the KashFlow username and password on the connection.",
        name="InvalidCredentials",
    ),
    rule(
        "invalid_memorable_word",
        ErrorKind.AUTH,
        "{said} Check the memorable word saved on the connection.",
        name="InvalidMemorableWord",
    ),
    rule(
        "invalid_temporary_token",
        ErrorKind.TRANSIENT,
        "{said} The sign-in will be tried again.",
        name="InvalidTemporaryToken",
    ),
    rule(
        "account_locked",
        ErrorKind.AUTH,
        "{said} "
        "Unlock the user in KashFlow, then check the connection's password and memorable word.",
        name="AccountLocked",
    ),
    rule(
        "customer_code_not_found",
        ErrorKind.DATA,
        "{said} Create the customer in KashFlow first, or correct the customer code lookup.",
        name="CustomerNotFound",
    ),
    rule(
        "name_required",
        ErrorKind.DATA,
        "{said} Fill in the customer's name in the source record.",
        name="NameRequired",
    ),
    rule(
        "code_already_exists",
        ErrorKind.DATA,
        "{said} Use a different account code for this customer.",
        name="CodeAlreadyExists",
    ),
    rule(
        "number_already_exists",
        ErrorKind.DATA,
        "{said} Use a different invoice number.",
        name="NumberAlreadyExists",
    ),
    rule(
        "nominal_code_not_found",
        ErrorKind.CONFIG,
        "{said} Correct the nominal code lookup, or add the nominal code in KashFlow.",
        name="NominalCodeNotFound",
    ),
    rule(
        "product_not_found",
        ErrorKind.DATA,
        "{said} Add the product in KashFlow, or correct the product code lookup.",
        name="ProductNotFound",
    ),
    rule(
        "product_name_required",
        ErrorKind.DATA,
        "{said} "
        "A new KashFlow product needs a name: fill it in at the source, or let the flow that "
        "creates products run first (a price alone cannot create one), then retry.",
        name="ProductNameRequired",
    ),
    rule(
        "nominal_code_required",
        ErrorKind.DATA,
        "{said} "
        "A new KashFlow product needs a sales nominal code: map one to NominalCode (from the "
        "product family lookup), then retry.",
        name="NominalCodeRequired",
    ),
    rule(
        "bank_account_not_found",
        ErrorKind.CONFIG,
        "{said} Set a KashFlow bank account that exists on the connection or the mapping.",
        name="BankAccountNotFound",
    ),
    rule(
        "invalid_payment_method",
        ErrorKind.CONFIG,
        "{said} Set a KashFlow payment method number on the connection or the mapping.",
        name="InvalidPaymentMethod",
    ),
    rule(
        "payment_exceeds_outstanding",
        ErrorKind.DATA,
        "{said} Check whether the invoice was already paid, or correct the amount.",
        name="PaymentExceedsOutstanding",
    ),
    rule(
        "too_many_items",
        ErrorKind.CONFIG,
        "{said} Lower max_bulk_payments on the connection.",
        name="TooManyItems",
    ),
    rule(
        "customer_code_required",
        ErrorKind.DATA,
        "{said} Map a customer code into the record (KashFlow keys customers by code), then retry.",
        name="CustomerCodeRequired",
    ),
    rule(
        "customer_has_transactions",
        ErrorKind.DATA,
        "{said} "
        "KashFlow keeps customers that have invoices or payments. Leave it, or archive it in "
        "KashFlow.",
        name="CustomerHasTransactions",
    ),
    rule(
        "invoice_not_found",
        ErrorKind.DATA,
        "{said} Send the invoice to KashFlow first, or correct the invoice number, then retry.",
        name="InvoiceNotFound",
    ),
    rule(
        "invoice_has_payments",
        ErrorKind.DATA,
        "{said} "
        "KashFlow does not change an invoice that has payments. Remove the payment in "
        "KashFlow first, or mark this record resolved.",
        name="InvoiceHasPayments",
    ),
    rule(
        "name_too_long",
        ErrorKind.DATA,
        "{said} Shorten the name in the source record, then retry.",
        name="NameTooLong",
    ),
    rule(
        "line_items_required",
        ErrorKind.DATA,
        "{said} The invoice has no lines. Check the source record, or the mapping of its lines.",
        name="LineItemsRequired",
    ),
    rule(
        "invalid_line_item",
        ErrorKind.DATA,
        "{said} Correct the line in the source record, then retry.",
        name="InvalidLineItem",
    ),
    rule(
        "invalid_quantity",
        ErrorKind.DATA,
        "{said} Correct the quantity in the source record.",
        name="InvalidQuantity",
    ),
    rule(
        "invalid_price",
        ErrorKind.DATA,
        "{said} Correct the price in the source record.",
        name="InvalidPrice",
    ),
    rule(
        "invalid_amount",
        ErrorKind.DATA,
        "{said} Correct the amount in the source record.",
        name="InvalidAmount",
    ),
    rule(
        "invalid_date",
        ErrorKind.DATA,
        "{said} Correct the date in the source record, or the mapping's date format.",
        name="InvalidDate",
    ),
    rule(
        "invalid_discount_rate",
        ErrorKind.DATA,
        "{said} Correct the discount rate in the source record.",
        name="InvalidDiscountRate",
    ),
    rule(
        "invalid_number",
        ErrorKind.DATA,
        "{said} Correct the invoice number in the source record.",
        name="InvalidNumber",
    ),
    rule(
        "invalid_payment",
        ErrorKind.DATA,
        "{said} Correct the payment in the source record.",
        name="InvalidPayment",
    ),
    rule(
        "product_code_required",
        ErrorKind.DATA,
        "{said} Map a product code into the record (KashFlow keys products by code), then retry.",
        name="ProductCodeRequired",
    ),
    rule(
        "product_code_already_exists",
        ErrorKind.DATA,
        "{said} Use a different product code, or link the record to the existing product.",
        name="ProductCodeAlreadyExists",
    ),
    rule(
        "payment_items_required",
        ErrorKind.CONFIG,
        "{said} The payment call carried no payments. Check the payments flow's mapping.",
        name="PaymentItemsRequired",
    ),
    rule(
        "invalid_paging",
        ErrorKind.CONFIG,
        "{said} Check page_size on the connection: it must be a whole number.",
        name="InvalidPaging",
    ),
    rule(
        "invalid_sort_field",
        ErrorKind.CONFIG,
        "{said} The connection asked KashFlow to sort by a field it does not have.",
        name="InvalidSortField",
    ),
    rule(
        "invalid_request",
        ErrorKind.CONFIG,
        "{said} KashFlow could not read what was sent. Check the flow's mapping.",
        name="InvalidRequest",
    ),
)

ErrorFields = tuple[str, str, ErrorKind | None]

# Every rule, for the registry and the conformance tests, and the kind of each code.
ERROR_RULES = RULES
ERROR_KINDS: dict[str, ErrorKind] = table_kinds(ERROR_RULES)


def error_fields(body: Any) -> ErrorFields | None:
    """(code, plain message, kind or None) from either body shape KashFlow may send: the
    extractor that hands ``classify`` KashFlow's error name and sentence.

    Documented: ``{"Error", "Message"}``. Tolerated [A]: ASP.NET's
    ``{"Message", "ModelState": {field: [messages]}}``. A name the table lacks keeps its
    snake case as the code, and the kind the HTTP status gives (None here).
    """
    if not isinstance(body, dict):
        return None
    said = str(body.get("Message") or "").strip()
    if isinstance(body.get("ModelState"), dict):
        details = [
            str(text)
            for texts in body["ModelState"].values()
            for text in (texts if isinstance(texts, list) else [texts])
        ]
        return "validation", f"KashFlow rejected the record: {' '.join(details) or said}", None
    error = str(body.get("Error") or "")
    if not error:
        return None
    if said and not said.endswith("."):
        said += "."
    said = said or f"KashFlow refused it ({error})."
    found = classify(said, RULES, name=error, facts={"said": said})
    if found is None:
        return vendor_code(error), said, None
    return found.code, found.message, found.kind


def describe_error(
    response: requests.Response, body: Any
) -> tuple[str, str] | tuple[str, str, ErrorKind] | None:
    """KashFlow's error in words, with the kind its error name means (else the status's)."""
    fields = error_fields(body)
    if fields is None:
        return None
    code, message, kind = fields
    return (code, message) if kind is None else (code, message, kind)


def outcome_of(error: ConnectorError) -> WriteOutcome:
    """A failed outcome whose kind follows KashFlow's error name when it tells more than 400."""
    fields = error_fields(error.raw)
    kind = fields[2] if fields and fields[2] and not error.outcome_unknown else error.kind
    return WriteOutcome.failed(kind, error.code, error.message, raw=error.raw)
