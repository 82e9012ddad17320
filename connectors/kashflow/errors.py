"""KashFlow's error names and body shapes turned into codes, kinds and advice."""

from __future__ import annotations

import re
from typing import Any

import requests

from connectors.base import WriteOutcome
from connectors.errors import ConnectorError, ErrorKind

# KashFlow's error names -> the kind a person acts on, and what to do about it.
# The sentence KashFlow sends comes first; this advice follows it.
ERROR_ADVICE: dict[str, tuple[ErrorKind, str]] = {
    "InvalidSessionToken": (
        ErrorKind.AUTH,
        "Signing in again did not help: check the connection's KashFlow login.",
    ),
    "InvalidCredentials": (
        ErrorKind.AUTH,
        "Update the KashFlow username and password on the connection.",
    ),
    "InvalidMemorableWord": (
        ErrorKind.AUTH,
        "Check the memorable word saved on the connection.",
    ),
    "InvalidTemporaryToken": (ErrorKind.TRANSIENT, "The sign-in will be tried again."),
    "AccountLocked": (
        ErrorKind.AUTH,
        "Unlock the user in KashFlow, then check the connection's password and memorable word.",
    ),
    "CustomerNotFound": (
        ErrorKind.DATA,
        "Create the customer in KashFlow first, or correct the customer code lookup.",
    ),
    "NameRequired": (ErrorKind.DATA, "Fill in the customer's name in the source record."),
    "CodeAlreadyExists": (ErrorKind.DATA, "Use a different account code for this customer."),
    "NumberAlreadyExists": (ErrorKind.DATA, "Use a different invoice number."),
    "NominalCodeNotFound": (
        ErrorKind.CONFIG,
        "Correct the nominal code lookup, or add the nominal code in KashFlow.",
    ),
    "ProductNotFound": (
        ErrorKind.DATA,
        "Add the product in KashFlow, or correct the product code lookup.",
    ),
    "ProductNameRequired": (
        ErrorKind.DATA,
        "A new KashFlow product needs a name: fill it in at the source, or let the flow "
        "that creates products run first (a price alone cannot create one), then retry.",
    ),
    "NominalCodeRequired": (
        ErrorKind.DATA,
        "A new KashFlow product needs a sales nominal code: map one to NominalCode "
        "(from the product family lookup), then retry.",
    ),
    "BankAccountNotFound": (
        ErrorKind.CONFIG,
        "Set a KashFlow bank account that exists on the connection or the mapping.",
    ),
    "InvalidPaymentMethod": (
        ErrorKind.CONFIG,
        "Set a KashFlow payment method number on the connection or the mapping.",
    ),
    "PaymentExceedsOutstanding": (
        ErrorKind.DATA,
        "Check whether the invoice was already paid, or correct the amount.",
    ),
    "TooManyItems": (ErrorKind.CONFIG, "Lower max_bulk_payments on the connection."),
    "CustomerCodeRequired": (
        ErrorKind.DATA,
        "Map a customer code into the record (KashFlow keys customers by code), then retry.",
    ),
    "CustomerHasTransactions": (
        ErrorKind.DATA,
        "KashFlow keeps customers that have invoices or payments. Leave it, or archive it "
        "in KashFlow.",
    ),
    "InvoiceNotFound": (
        ErrorKind.DATA,
        "Send the invoice to KashFlow first, or correct the invoice number, then retry.",
    ),
    "InvoiceHasPayments": (
        ErrorKind.DATA,
        "KashFlow does not change an invoice that has payments. Remove the payment in "
        "KashFlow first, or mark this record resolved.",
    ),
    "NameTooLong": (ErrorKind.DATA, "Shorten the name in the source record, then retry."),
    "LineItemsRequired": (
        ErrorKind.DATA,
        "The invoice has no lines. Check the source record, or the mapping of its lines.",
    ),
    "InvalidLineItem": (ErrorKind.DATA, "Correct the line in the source record, then retry."),
    "InvalidQuantity": (ErrorKind.DATA, "Correct the quantity in the source record."),
    "InvalidPrice": (ErrorKind.DATA, "Correct the price in the source record."),
    "InvalidAmount": (ErrorKind.DATA, "Correct the amount in the source record."),
    "InvalidDate": (
        ErrorKind.DATA,
        "Correct the date in the source record, or the mapping's date format.",
    ),
    "InvalidDiscountRate": (ErrorKind.DATA, "Correct the discount rate in the source record."),
    "InvalidNumber": (ErrorKind.DATA, "Correct the invoice number in the source record."),
    "InvalidPayment": (ErrorKind.DATA, "Correct the payment in the source record."),
    "ProductCodeRequired": (
        ErrorKind.DATA,
        "Map a product code into the record (KashFlow keys products by code), then retry.",
    ),
    "ProductCodeAlreadyExists": (
        ErrorKind.DATA,
        "Use a different product code, or link the record to the existing product.",
    ),
    "PaymentItemsRequired": (
        ErrorKind.CONFIG,
        "The payment call carried no payments. Check the payments flow's mapping.",
    ),
    "InvalidPaging": (
        ErrorKind.CONFIG,
        "Check page_size on the connection: it must be a whole number.",
    ),
    "InvalidSortField": (
        ErrorKind.CONFIG,
        "The connection asked KashFlow to sort by a field it does not have.",
    ),
    "InvalidRequest": (
        ErrorKind.CONFIG,
        "KashFlow could not read what was sent. Check the flow's mapping.",
    ),
}

ErrorFields = tuple[str, str, ErrorKind | None]


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


# The kind of each code KashFlow's error names become, for the conformance tests.
ERROR_KINDS: dict[str, ErrorKind] = {snake(name): kind for name, (kind, _) in ERROR_ADVICE.items()}


def error_fields(body: Any) -> ErrorFields | None:
    """(code, plain message, kind or None) from either body shape KashFlow may send.

    Documented: ``{"Error", "Message"}``. Tolerated [A]: ASP.NET's
    ``{"Message", "ModelState": {field: [messages]}}``.
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
    kind, advice = ERROR_ADVICE.get(error, (None, ""))
    if said and not said.endswith("."):
        said += "."
    message = " ".join(part for part in (said or f"KashFlow refused it ({error}).", advice) if part)
    return snake(error), message, kind


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
