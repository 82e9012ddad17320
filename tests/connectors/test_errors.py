"""Each system's table of error codes, checked code by code against what the system
documents (see /work/shared/systems and the vendors' pages), kind and code.

Answers go over real HTTP: a small sandbox answers whatever status and body a case
names, and the connector's own HTTP client and error hook classify it, as they
would the real system's answer. (Salesforce's table: salesforce/test_errors.py.)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from connectors.errors import ConnectorError, ErrorCode, ErrorKind
from connectors.http import ErrorDescriber, HttpClient, RetryPolicy, classify_status
from connectors.kashflow.errors import describe_error as kashflow_describe
from connectors.sandbox.core import Request, Response, SandboxApp, SandboxServer
from connectors.syspro.errors import (
    CALL_DEFAULT,
    CALL_RULES,
    RECORD_DEFAULT,
    RECORD_RULES,
    classify,
)
from connectors.syspro.errors import describe_http_error as syspro_describe
from connectors.xero.errors import XeroErrorCode
from connectors.xero.errors import describe_error as xero_describe

DATA, CONFIG = ErrorKind.DATA, ErrorKind.CONFIG
AUTH, TRANSIENT = ErrorKind.AUTH, ErrorKind.TRANSIENT


class AnswerSandbox(SandboxApp):
    """Answers ``GET /answer`` with the status and body (JSON, or text) its query names."""

    name = "answer"

    def __init__(self) -> None:
        super().__init__()
        self.route("GET", "/answer", self.answer)
        self.route("POST", "/answer", self.answer)

    def answer(self, request: Request) -> Response:
        body = json.loads(request.arg("body") or "null")
        text = body if isinstance(body, str) else json.dumps(body)
        kind = "text/plain" if isinstance(body, str) else "application/json"
        return Response(int(request.arg("status") or 500), text.encode(), {"Content-Type": kind})


@pytest.fixture
def answered(
    start_sandbox: Callable[..., SandboxServer],
) -> Callable[[ErrorDescriber, int, Any], ConnectorError]:
    server = start_sandbox(AnswerSandbox())

    def ask(
        describe: ErrorDescriber, status: int, body: Any, method: str = "GET"
    ) -> ConnectorError:
        client = HttpClient(
            server.url, describe_error=describe, retry=RetryPolicy(attempts=1), sleep=lambda s: None
        )
        with pytest.raises(ConnectorError) as failed:
            client.request(method, "/answer", params={"status": status, "body": json.dumps(body)})
        return failed.value

    return ask


# -- HTTP statuses every system shares ------------------------------------------------------

STATUSES = [
    (400, DATA, ErrorCode.VALIDATION),
    (401, AUTH, ErrorCode.UNAUTHORIZED),
    (403, AUTH, ErrorCode.FORBIDDEN),
    (404, DATA, ErrorCode.NOT_FOUND),
    (405, CONFIG, ErrorCode.BAD_REQUEST),
    (409, DATA, ErrorCode.VALIDATION),
    (412, CONFIG, ErrorCode.BAD_REQUEST),
    (413, DATA, ErrorCode.TOO_LARGE),
    (415, CONFIG, ErrorCode.BAD_REQUEST),
    (422, DATA, ErrorCode.VALIDATION),
    (429, TRANSIENT, ErrorCode.RATE_LIMITED),
    (500, TRANSIENT, ErrorCode.SERVER_ERROR),
    (501, CONFIG, ErrorCode.BAD_REQUEST),  # not implemented: trying again cannot help
    (502, TRANSIENT, ErrorCode.SERVER_ERROR),
    (503, TRANSIENT, ErrorCode.SERVER_ERROR),
    (504, TRANSIENT, ErrorCode.SERVER_ERROR),
]


@pytest.mark.parametrize(("status", "kind", "code"), STATUSES)
def test_each_status_has_its_kind(status: int, kind: ErrorKind, code: ErrorCode) -> None:
    assert classify_status(status) == (kind, code)


# -- Xero: developer.xero.com "HTTP response codes" and the Error body's exception Type -----

XERO = [
    (
        400,
        {
            "ErrorNumber": 10,
            "Type": "ValidationException",
            "Message": "A validation exception occurred",
            "Elements": [{"ValidationErrors": [{"Message": "Account code '999' is not a valid "
                                                           "code for this document."}]}],
        },
        DATA,
        XeroErrorCode.INVALID_ACCOUNT_CODE,
    ),
    (400, {"ErrorNumber": 14, "Type": "PostDataInvalidException",
           "Message": "The string '2026-13-45' is not a valid date"}, DATA,
     XeroErrorCode.INVALID_DATA),
    (400, {"ErrorNumber": 16, "Type": "QueryParseException",
           "Message": "No property or field 'Nmae' exists"}, CONFIG, XeroErrorCode.QUERY_INVALID),
    (400, {"ErrorNumber": 17, "Type": "NoDataProcessedException",
           "Message": "No data has been processed for this endpoint."}, CONFIG,
     XeroErrorCode.NO_DATA),
    (401, {"Title": "Unauthorized", "Status": 401, "Detail": "TokenExpired: token expired"},
     AUTH, XeroErrorCode.TOKEN_EXPIRED),
    (403, {"Title": "Forbidden", "Status": 403, "Detail": "AuthenticationUnsuccessful"}, AUTH,
     XeroErrorCode.TENANT_NOT_CONNECTED),
    (403, {"Title": "Forbidden", "Status": 403, "Detail": "AuthorizationUnsuccessful"}, AUTH,
     XeroErrorCode.MISSING_SCOPE),
    (404, "The resource you're looking for cannot be found", DATA, XeroErrorCode.NOT_FOUND),
    (413, "A single resource exceeds the 3.5MB size limit", DATA, XeroErrorCode.TOO_LARGE),
    (500, {"Type": "InternalServerException"}, TRANSIENT, ErrorCode.SERVER_ERROR),
    (501, {"Type": "NotImplementedException"}, CONFIG, XeroErrorCode.NOT_IMPLEMENTED),
    (503, "The Xero API is currently offline for maintenance", TRANSIENT,
     ErrorCode.SERVER_ERROR),
    (503, {"Type": "OrganisationOfflineException",
           "Message": "The organisation is offline"}, TRANSIENT, ErrorCode.SERVER_ERROR),
]  # fmt: skip


@pytest.mark.parametrize(("status", "body", "kind", "code"), XERO)
def test_xero_answers(answered, status: int, body: Any, kind: ErrorKind, code: str) -> None:
    error = answered(xero_describe, status, body)
    assert (error.kind, error.code) == (kind, code)
    assert error.message and "{" not in error.message


def test_a_501_to_a_write_is_config_and_known_not_to_have_landed(answered) -> None:
    """Not implemented is no outage: not retried, not "maybe saved", not a breaker failure."""
    error = answered(xero_describe, 501, {"Type": "NotImplementedException"}, "POST")
    assert (error.kind, error.code) == (CONFIG, XeroErrorCode.NOT_IMPLEMENTED)
    assert not error.outcome_unknown


def test_xero_says_where_the_organisation_is_offline(answered) -> None:
    error = answered(xero_describe, 503, {"Type": "OrganisationOfflineException"})
    assert "offline" in error.message and "tried again" in error.message


# -- KashFlow: its {"Error", "Message"} names (the sandbox's [A] set) ------------------------

KASHFLOW = [
    (401, "InvalidSessionToken", AUTH),
    (401, "InvalidCredentials", AUTH),
    (401, "InvalidMemorableWord", AUTH),
    (401, "AccountLocked", AUTH),
    (401, "InvalidTemporaryToken", TRANSIENT),
    (404, "CustomerNotFound", DATA),
    (404, "InvoiceNotFound", DATA),
    (404, "ProductNotFound", DATA),
    (400, "NameRequired", DATA),
    (400, "NameTooLong", DATA),
    (400, "CustomerCodeRequired", DATA),
    (400, "CustomerHasTransactions", DATA),
    (400, "CodeAlreadyExists", DATA),
    (400, "NumberAlreadyExists", DATA),
    (400, "InvoiceHasPayments", DATA),
    (400, "LineItemsRequired", DATA),
    (400, "InvalidLineItem", DATA),
    (400, "InvalidQuantity", DATA),
    (400, "InvalidPrice", DATA),
    (400, "InvalidAmount", DATA),
    (400, "InvalidDate", DATA),
    (400, "InvalidDiscountRate", DATA),
    (400, "InvalidNumber", DATA),
    (400, "InvalidPayment", DATA),
    (400, "PaymentExceedsOutstanding", DATA),
    (400, "ProductCodeRequired", DATA),
    (400, "ProductCodeAlreadyExists", DATA),
    (400, "ProductNameRequired", DATA),
    (400, "NominalCodeRequired", DATA),
    (400, "NominalCodeNotFound", CONFIG),
    (400, "BankAccountNotFound", CONFIG),
    (400, "InvalidPaymentMethod", CONFIG),
    (400, "TooManyItems", CONFIG),
    (400, "PaymentItemsRequired", CONFIG),
    (400, "InvalidPaging", CONFIG),
    (400, "InvalidSortField", CONFIG),
    (400, "InvalidRequest", CONFIG),
]


@pytest.mark.parametrize(("status", "name", "kind"), KASHFLOW)
def test_kashflow_answers(answered, status: int, name: str, kind: ErrorKind) -> None:
    error = answered(kashflow_describe, status, {"Error": name, "Message": "KashFlow said no."})
    code = "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
    # SYSPRO's customer_not_found is its own; KashFlow's names the customer code it lacks.
    code = {"customer_not_found": "customer_code_not_found"}.get(code, code)
    assert (error.kind, error.code) == (kind, code)
    assert error.message.startswith("KashFlow said no.") and len(error.message) > 30


def test_a_kashflow_5xx_stays_transient_whatever_its_body_says(answered) -> None:
    error = answered(kashflow_describe, 503, {"Error": "InvalidRequest", "Message": "Busy."})
    assert error.kind is TRANSIENT


# -- SYSPRO: e.net exceptions (ERROR… texts) and business-object item errors -----------------

SYSPRO_CALLS = [
    ("ERROR: Invalid operator 'ADMIN' or password", AUTH, "logon_failed"),
    ("ERROR: Invalid company password", AUTH, "logon_failed"),
    ("ERROR: Operator 'ADMIN' is locked", AUTH, "logon_failed"),
    ("ERROR: The operator code is invalid", AUTH, "logon_failed"),
    ("ERROR: Operator password has expired", AUTH, "logon_failed"),
    ("ERROR: Operator 'ADMIN' is already logged in", TRANSIENT, "operator_in_use"),
    ("ERROR: Company 'EDU9' not found", CONFIG, "company_not_found"),
    ("ERROR: e.net license limit reached: no licences are available", TRANSIENT,
     "no_licence_seat"),
    ("ERROR: Operator 'ADMIN' is not licensed for business object 'SORTOI'", AUTH,
     "not_licensed"),
    ("ERROR: Business object 'SORTOX' not found", CONFIG, "object_not_found"),
    ("ERROR: Business object 'ARSPAY' does not support Query/Browse", CONFIG, "bad_request"),
]  # fmt: skip

SYSPRO_RECORDS = [
    ("Customer purchase order number 'PO-1' already exists", DATA, "duplicate_po"),
    ("Customer 'ZZZ001' not found", DATA, "customer_not_found"),
    ("Customer 'BK0001' is on hold", DATA, "customer_on_hold"),
    ("Customer 'BK0001' already exists", TRANSIENT, "duplicate_customer"),
    ("Stock code 'X-1' not on file", DATA, "stock_code_not_found"),
    ("Warehouse 'W9' not found for stock code 'A100'", DATA, "warehouse_not_found"),
    ("Insufficient stock to allocate 5 of 'A100'", DATA, "insufficient_stock"),
    ("Posting period 2026/03 is closed", DATA, "period_closed"),
    ("Invoice '100077' not found for customer 'BK0001'", DATA, "invoice_not_found"),
    ("Payment exceeds the balance of invoice '100077'", DATA, "overpayment"),
    ("Bank 'ZZ' not on file", CONFIG, "bank_not_found"),
    ("Currency 'XYZ' not found", DATA, "currency_not_found"),
    ("Geographic area 'Q' not on file", DATA, "not_found"),
    ("Ship date before order date", DATA, "validation"),
]


@pytest.mark.parametrize("status", [404, 414])
def test_a_url_too_long_for_syspro_is_config_not_a_missing_record(answered, status: int) -> None:
    """IIS in front of e.net answers a too-long query string 404.14 (or 414)."""
    text = "HTTP Error 404.14 - Not Found: The request URL is too long."
    error = answered(syspro_describe, status, text)
    assert (error.kind, error.code) == (CONFIG, "url_too_long")


@pytest.mark.parametrize(("text", "kind", "code"), SYSPRO_CALLS)
def test_syspro_exceptions(text: str, kind: ErrorKind, code: str) -> None:
    got_kind, got_code, message = classify(text, CALL_RULES, CALL_DEFAULT)
    assert (got_kind, got_code) == (kind, code)
    assert "{" not in message and not message.startswith("ERROR")


@pytest.mark.parametrize(("text", "kind", "code"), SYSPRO_RECORDS)
def test_syspro_record_errors(text: str, kind: ErrorKind, code: str) -> None:
    got_kind, got_code, message = classify(text, RECORD_RULES, RECORD_DEFAULT)
    assert (got_kind, got_code) == (kind, code)
    assert "{" not in message
