"""What SYSPRO's words mean: record and call rules, classify, HTTP errors in front of e.net."""

from __future__ import annotations

import re
from typing import Any

import requests

from connectors.errors import ErrorCode, ErrorKind, ErrorRule, classify, rule, table_kinds

__all__ = [
    "CALL_DEFAULT",
    "CALL_RULES",
    "ERROR_KINDS",
    "ERROR_RULES",
    "HTTP_RULES",
    "NOT_FOUND",
    "RECORD_DEFAULT",
    "RECORD_RULES",
    "SESSION_GONE",
    "classify",
    "describe_http_error",
    "enet_text",
]

# Item-level failures, first match wins; ``{v}`` is the value SYSPRO quoted and
# ``{text}`` its whole message. The wording SYSPRO uses is [A], so patterns are loose.
RECORD_RULES: tuple[ErrorRule, ...] = (
    rule(
        "duplicate_po",
        ErrorKind.DATA,
        "SYSPRO already has an order with customer PO number '{v}' for this customer. "
        "Check whether this order was entered by hand; give it its own PO number if not.",
        pattern=r"purchase order number '(?P<v>[^']*)' already exists",
    ),
    rule(
        "customer_not_found",
        ErrorKind.DATA,
        "SYSPRO has no customer '{v}'. Add the customer in SYSPRO or correct the customer "
        "code lookup, then retry.",
        pattern=r"customer '(?P<v>[^']*)' (not found|not on file)",
    ),
    rule(
        "customer_on_hold",
        ErrorKind.DATA,
        "Customer '{v}' is on hold in SYSPRO. Ask credit control to release it, then retry.",
        pattern=r"customer '(?P<v>[^']*)' is on hold",
    ),
    rule(
        "duplicate_customer",
        ErrorKind.TRANSIENT,
        "SYSPRO already has customer '{v}' (added since it was looked up). It will be sent "
        "again by itself, as an update.",
        pattern=r"customer '(?P<v>[^']*)' already exists",
    ),
    rule(
        "stock_code_not_found",
        ErrorKind.DATA,
        "SYSPRO has no stock code '{v}'. Correct the item mapping or add the stock code in "
        "SYSPRO, then retry.",
        pattern=r"stock code '(?P<v>[^']*)' not on file",
    ),
    rule(
        "warehouse_not_found",
        ErrorKind.DATA,
        "Warehouse '{v}' is not set up for this stock code in SYSPRO. Correct the warehouse "
        "mapping or add the stock code to that warehouse, then retry.",
        pattern=r"warehouse '(?P<v>[^']*)' not found",
    ),
    rule(
        "insufficient_stock",
        ErrorKind.DATA,
        "Not enough stock to allocate the order ({text}). Receive stock, or allow back "
        "orders on this flow, then retry.",
        pattern=r"insufficient stock",
    ),
    rule(
        "period_closed",
        ErrorKind.DATA,
        "The SYSPRO posting period {v} is closed. Use a date in an open period, or ask "
        "finance to reopen the period, then retry.",
        pattern=r"posting period (?P<v>\S+) is closed",
    ),
    rule(
        "invoice_not_found",
        ErrorKind.DATA,
        "SYSPRO has no invoice '{v}' for this customer. Check the invoice number and "
        "customer, then retry.",
        pattern=r"invoice '(?P<v>[^']*)' not found",
    ),
    rule(
        "overpayment",
        ErrorKind.DATA,
        "The payment is more than is owed ({text}). Correct the amount, then retry.",
        pattern=r"exceeds? the (balance|payment)",
    ),
    rule(
        "bank_not_found",
        ErrorKind.CONFIG,
        "SYSPRO has no cash book bank '{v}'. Correct the bank lookup on this flow.",
        pattern=r"bank '(?P<v>[^']*)' not on file",
    ),
    rule(
        "currency_not_found",
        ErrorKind.DATA,
        "Currency '{v}' is not set up in SYSPRO. Correct the currency lookup or add the "
        "currency in SYSPRO, then retry.",
        pattern=r"currency '(?P<v>[^']*)' not found",
    ),
    rule(
        "not_found",
        ErrorKind.DATA,
        "SYSPRO could not find something the record refers to: {text}. Correct it, then retry.",
        pattern=r"(not found|not on file)",
    ),
)
RECORD_DEFAULT = rule(
    ErrorCode.VALIDATION,
    ErrorKind.DATA,
    "SYSPRO rejected the record: {text}. Correct it, then retry.",
)

# Whole-call ``ERROR`` texts (exceptions): logon, licences, malformed input.
CALL_RULES: tuple[ErrorRule, ...] = (
    rule(
        "not_licensed",
        ErrorKind.AUTH,
        "The SYSPRO operator is not licensed for this business object ({text}). Ask the "
        "SYSPRO administrator to grant the licence, or connect as another operator.",
        pattern=r"not licensed",
    ),
    rule(
        "no_licence_seat",
        ErrorKind.TRANSIENT,
        "Every SYSPRO e.net licence is in use. It will be tried again.",
        pattern=r"licen[cs]e limit|no licen[cs]es",
    ),
    rule(
        "operator_in_use",
        ErrorKind.TRANSIENT,
        "The SYSPRO operator is signed in elsewhere and SYSPRO allows it one session. It "
        "will be tried again; if it lasts, give the connection an operator of its own.",
        pattern=r"already logged (in|on)|in use by another",
    ),
    rule(
        "logon_failed",
        ErrorKind.AUTH,
        "SYSPRO refused the operator or a password. Correct them on the connection.",
        pattern=r"invalid (operator|company password|password)"
        r"|\b(password|operator)\b.*\b(invalid|incorrect|expired|not found|does not exist"
        r"|locked|disabled)",
    ),
    rule(
        "company_not_found",
        ErrorKind.CONFIG,
        "SYSPRO has no company '{v}'. Correct the company id on the connection.",
        pattern=r"company '(?P<v>[^']*)' not found",
    ),
    rule(
        "object_not_found",
        ErrorKind.CONFIG,
        "This SYSPRO does not have business object '{v}'. Check the SYSPRO version.",
        pattern=r"business object '(?P<v>[^']*)' not found",
    ),
)
CALL_DEFAULT = rule(ErrorCode.BAD_REQUEST, ErrorKind.CONFIG, "SYSPRO refused the request: {text}")
SESSION_GONE = re.compile(r"not logged on|session has expired|invalid (userid|session)", re.I)
# A query by key for a record that does not exist (not a missing table or object).
# A key may itself hold an apostrophe (a doorbell's caller sends any text): match to the last.
NOT_FOUND = re.compile(r"(customer|stock code|sales order) '.*' (not found|not on file)", re.I)


def enet_text(text: str) -> str:
    """e.net's error text without the ``ERROR`` it starts a whole-call failure with: what
    the rules match and the messages quote."""
    return text.strip().removeprefix("ERROR").lstrip(":- ").strip()


# HTTP failures in front of e.net (IIS): only a too-long URL needs its own words, and it
# is the connection's set-up (IIS answers it 404.14 or 414), not a missing record.
HTTP_RULES: tuple[ErrorRule, ...] = (
    rule(
        "url_too_long",
        ErrorKind.CONFIG,
        "The request was too long for the SYSPRO e.net service. Lower max_url_length on "
        "the connection to match the server's limit.",
        statuses=(404, 414),
        pattern="too long",
    ),
)
# Every rule, for the registry and the conformance tests, and the kind of each code.
ERROR_RULES: tuple[ErrorRule, ...] = (
    *RECORD_RULES,
    *CALL_RULES,
    *HTTP_RULES,
    RECORD_DEFAULT,
    CALL_DEFAULT,
)
ERROR_KINDS: dict[str, ErrorKind] = table_kinds(ERROR_RULES)


def describe_http_error(
    response: requests.Response, body: Any
) -> tuple[str, str, ErrorKind] | None:
    """An HTTP failure's code, words and kind where the table knows it (else the status's)."""
    found = classify(response.text, HTTP_RULES, status=response.status_code)
    return (found.code, found.message, found.kind) if found else None
