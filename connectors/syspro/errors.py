"""What SYSPRO's words mean: record and call rules, classify, HTTP errors in front of e.net."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import requests

from connectors.errors import ErrorCode, ErrorKind

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
# The kind of each code the rules give, for the conformance tests.
ERROR_KINDS: dict[str, ErrorKind] = {
    code: kind for _, kind, code, _ in (*RECORD_RULES, *CALL_RULES)
} | {code: kind for kind, code, _ in (RECORD_DEFAULT, CALL_DEFAULT)}
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
