"""Xero's answers turned into outcomes, codes and messages a finance user can act on.

Xero words validation failures for developers ("Account code '999' is not a
valid code for this document."). Each known message is matched by a pattern
and rewritten to say what is wrong, where (the line), and what to do; an
unknown message is passed on prefixed with what was rejected.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any

import requests

from connectors.base import Record, WriteOutcome
from connectors.errors import ErrorCode, ErrorKind
from connectors.xero.catalogue import ENTITIES, EntityInfo


class XeroErrorCode(StrEnum):
    NOT_CONNECTED = "xero_not_connected"
    NO_TENANT = "xero_no_tenant"
    SIGN_IN_REJECTED = "xero_sign_in_rejected"
    STATE_MISMATCH = "xero_state_mismatch"
    TOKEN_EXPIRED = "xero_token_expired"  # noqa: S105 (an error code)
    TENANT_NOT_CONNECTED = "xero_tenant_not_connected"
    MISSING_SCOPE = "xero_missing_scope"
    INSECURE_URL = "xero_insecure_url"
    INVALID_ACCOUNT_CODE = "xero_invalid_account_code"
    INVALID_TAX_TYPE = "xero_invalid_tax_type"
    INVALID_ITEM_CODE = "xero_invalid_item_code"
    DUPLICATE_INVOICE_NUMBER = "xero_duplicate_invoice_number"
    DUPLICATE_CONTACT_NAME = "xero_duplicate_contact_name"
    DUPLICATE_CODE = "xero_duplicate_code"
    CONTACT_MISSING = "xero_contact_missing"
    CONTACT_NOT_FOUND = "xero_contact_not_found"
    INVOICE_NOT_FOUND = "xero_invoice_not_found"
    INVOICE_NOT_AUTHORISED = "xero_invoice_not_authorised"
    OVERPAYMENT = "xero_overpayment"
    JOURNAL_UNBALANCED = "xero_journal_unbalanced"
    INVALID_EMAIL = "xero_invalid_email"
    BATCH_REJECTED = "xero_batch_rejected"
    VALIDATION = "xero_validation"
    INVALID_DATA = "xero_invalid_data"
    QUERY_INVALID = "xero_query_invalid"
    NO_DATA = "xero_no_data"
    NOT_FOUND = "xero_not_found"
    TOO_LARGE = "xero_too_large"
    NOT_IMPLEMENTED = "xero_not_implemented"


def write_outcome(info: EntityInfo, sent: Record, got: Record) -> WriteOutcome:
    errors = [e.get("Message", "") for e in got.get("ValidationErrors") or []]
    if errors or got.get("StatusAttributeString") == "ERROR":
        code, message = explain(info.singular, sent, errors)
        return WriteOutcome.failed(ErrorKind.DATA, code, message, raw=got)
    target_id = str(got[info.id_field])
    if sent.get(info.id_field):
        return WriteOutcome.updated(target_id, raw=got)
    return WriteOutcome.created(target_id, raw=got)


def rejected_batch_outcomes(
    entity: str, records: Sequence[Record], body: Any
) -> list[WriteOutcome]:
    """A 400 refuses the whole call: the records Xero complained about are data
    failures; the others were not saved only because of them and retry by themselves."""
    info = ENTITIES[entity]
    elements = body.get("Elements", []) if isinstance(body, dict) else []
    outcomes = []
    for record in records:
        echo = next((e for e in elements if _echoes(e, record)), None)
        if echo is None and len(records) == 1 and elements:
            echo = elements[0]
        if echo is not None:
            errors = [e.get("Message", "") for e in echo.get("ValidationErrors") or []]
            code, message = explain(info.singular, record, errors)
            outcomes.append(WriteOutcome.failed(ErrorKind.DATA, code, message, raw=echo))
        else:
            outcomes.append(
                WriteOutcome.failed(
                    ErrorKind.TRANSIENT,
                    XeroErrorCode.BATCH_REJECTED,
                    f"Xero refused the whole batch because another {info.singular} in it was "
                    "rejected; this one will be sent again by itself.",
                    raw=body,
                )
            )
    return outcomes


def _echoes(element: Any, record: Record) -> bool:
    return isinstance(element, dict) and all(
        element.get(k) == v for k, v in record.items() if not isinstance(v, dict | list)
    )


def _lines_with(record: Record, field: str, value: str) -> list[int]:
    lines = record.get("LineItems") or record.get("JournalLines") or []
    return [n for n, line in enumerate(lines, start=1) if str(line.get(field)) == value]


def _on_lines(record: Record, field: str, value: str) -> str:
    lines = _lines_with(record, field, value)
    if not lines:
        return ""
    return f" on line {lines[0]}" if len(lines) == 1 else f" on lines {', '.join(map(str, lines))}"


Explainer = Callable[[re.Match[str], str, Record], str]

_EXPLANATIONS: list[tuple[re.Pattern[str], XeroErrorCode, Explainer]] = [
    (
        re.compile(r"Account code '(?P<v>[^']*)' is not a valid code"),
        XeroErrorCode.INVALID_ACCOUNT_CODE,
        lambda m, what, r: (
            f"Xero rejected account code '{m['v']}'"
            f"{_on_lines(r, 'AccountCode', m['v'])}: it is not a valid account. "
            "Check the account code mapping or lookup."
        ),
    ),
    (
        re.compile(r"TaxType code '(?P<v>[^']*)' does not exist"),
        XeroErrorCode.INVALID_TAX_TYPE,
        lambda m, what, r: (
            f"Xero does not recognise tax rate '{m['v']}'"
            f"{_on_lines(r, 'TaxType', m['v'])}. Check the tax rate lookup."
        ),
    ),
    (
        re.compile(r"Item code '(?P<v>[^']*)' is not valid"),
        XeroErrorCode.INVALID_ITEM_CODE,
        lambda m, what, r: (
            f"Xero has no item with code '{m['v']}'"
            f"{_on_lines(r, 'ItemCode', m['v'])}. Create the item in Xero or fix the item lookup."
        ),
    ),
    (
        re.compile(r"Invoice # must be unique"),
        XeroErrorCode.DUPLICATE_INVOICE_NUMBER,
        lambda m, what, r: (
            f"Xero already has an invoice numbered '{r.get('InvoiceNumber')}'. "
            "If it is this same invoice, mark the record resolved; otherwise give it a new number."
        ),
    ),
    (
        re.compile(r"The contact name (?P<v>.+?) is already assigned"),
        XeroErrorCode.DUPLICATE_CONTACT_NAME,
        lambda m, what, r: (
            f"Xero already has a contact named '{m['v']}', and contact names "
            "must be unique. Link this record to that contact or change its name."
        ),
    ),
    (
        re.compile(r"(?i)(already exists|unique Code|number .* already assigned)"),
        XeroErrorCode.DUPLICATE_CODE,
        lambda m, what, r: (
            f"Xero already has a {what} with this code or number "
            f"('{r.get('Code') or r.get('ContactNumber') or ''}'). Change it or link to that one."
        ),
    ),
    (
        re.compile(r"must contain at least 1 of the following elements to identify the contact"),
        XeroErrorCode.CONTACT_MISSING,
        lambda m, what, r: (
            f"The {what} has no contact: Xero needs a contact name, number or id. "
            "Check the customer mapping."
        ),
    ),
    (
        re.compile(r"(?i)contact .*'(?P<v>[^']*)' does not exist"),
        XeroErrorCode.CONTACT_NOT_FOUND,
        lambda m, what, r: (
            f"The contact '{m['v']}' this {what} points to does not exist in "
            "Xero. Send the contact first or fix the customer lookup."
        ),
    ),
    (
        re.compile(r"(?i)invoice could not be found"),
        XeroErrorCode.INVOICE_NOT_FOUND,
        lambda m, what, r: (
            "The invoice this payment is for does not exist in Xero. "
            "Send the invoice first or fix the invoice reference."
        ),
    ),
    (
        re.compile(r"(?i)not of valid status for creating payment"),
        XeroErrorCode.INVOICE_NOT_AUTHORISED,
        lambda m, what, r: (
            "Xero only accepts payments against approved (AUTHORISED) invoices, "
            f"and invoice '{_invoice_ref(r)}' is not approved. Approve it in Xero, then retry."
        ),
    ),
    (
        re.compile(r"(?i)amount exceeds the amount outstanding"),
        XeroErrorCode.OVERPAYMENT,
        lambda m, what, r: (
            f"The payment of {r.get('Amount')} is more than is still owed on "
            f"invoice '{_invoice_ref(r)}'. Check the amount or whether it was already paid."
        ),
    ),
    (
        re.compile(
            r"total debits \((?P<d>[-\d.,]+)\) must equal total credits \((?P<c>[-\d.,]+)\)"
        ),
        XeroErrorCode.JOURNAL_UNBALANCED,
        lambda m, what, r: (
            f"The journal does not balance: debits total {m['d']} but credits "
            f"total {m['c'].lstrip('-')}. Make them equal before sending it again."
        ),
    ),
    (
        re.compile(r"(?i)email address must be valid"),
        XeroErrorCode.INVALID_EMAIL,
        lambda m, what, r: (
            f"Xero rejected the email address '{r.get('EmailAddress')}'. Correct it and retry."
        ),
    ),
]


def _invoice_ref(record: Record) -> str:
    invoice = record.get("Invoice") or {}
    return str(
        invoice.get("InvoiceNumber")
        or record.get("InvoiceNumber")
        or invoice.get("InvoiceID")
        or ""
    )


def explain(what: str, record: Record, messages: Sequence[str]) -> tuple[str, str]:
    """Xero's validation messages -> (code, what a finance user should do)."""
    code: str | None = None
    plain = []
    for message in messages:
        for pattern, pattern_code, explainer in _EXPLANATIONS:
            match = pattern.search(message)
            if match:
                code = code or pattern_code
                plain.append(explainer(match, what, record))
                break
        else:
            code = code or XeroErrorCode.VALIDATION
            plain.append(f"Xero rejected the {what}: {message}")
    if not plain:
        return XeroErrorCode.VALIDATION, f"Xero rejected the {what} without saying why."
    return code or XeroErrorCode.VALIDATION, " ".join(dict.fromkeys(plain))


# Xero's documented exception types (``Type`` of a 400 Error body) that are not the
# record's fault -> (code, kind, message). ValidationException is the record's: see explain.
_EXCEPTIONS: dict[str, tuple[XeroErrorCode, ErrorKind, str]] = {
    "QueryParseException": (
        XeroErrorCode.QUERY_INVALID,
        ErrorKind.CONFIG,
        "Xero could not read the filter the connection sent: {message}. Check the flow's "
        "filter settings.",
    ),
    "NoDataProcessedException": (
        XeroErrorCode.NO_DATA,
        ErrorKind.CONFIG,
        "Xero found no records in what was sent: {message}. Check the flow's target entity "
        "and mapping.",
    ),
    "PostDataInvalidException": (
        XeroErrorCode.INVALID_DATA,
        ErrorKind.DATA,
        "Xero could not read a value sent: {message}. Correct it at the source, or check the "
        "mapping's conversion for that field.",
    ),
}

# The kinds of the codes this table names, for the conformance tests.
ERROR_KINDS: dict[str, ErrorKind] = {code: kind for code, kind, _ in _EXCEPTIONS.values()}

# Statuses Xero documents, beside 400/401/403/429, in plain words -> (code, message).
_STATUSES: dict[int, tuple[str, str]] = {
    404: (
        XeroErrorCode.NOT_FOUND,
        "Xero has no such record (it may have been deleted or archived in Xero). Check it in "
        "Xero, or unlink the source record.",
    ),
    413: (
        XeroErrorCode.TOO_LARGE,
        "The record is larger than Xero takes in one request. Shorten it at the source (long "
        "descriptions, very many lines), then retry.",
    ),
    500: (ErrorCode.SERVER_ERROR, "Xero had an internal error. It will be tried again."),
    501: (
        XeroErrorCode.NOT_IMPLEMENTED,
        "Xero does not offer this for this kind of record. Check the flow's target entity.",
    ),
    503: (
        ErrorCode.SERVER_ERROR,
        "Xero is unavailable for the moment (usually a scheduled outage). It will be tried again.",
    ),
}


def describe_error(
    response: requests.Response, body: Any
) -> tuple[str, str] | tuple[str, str, ErrorKind] | None:
    """Whole-call errors in Xero's shapes (Problem for 401/403, Error for 400), with the
    kind where Xero's exception type says more than the status."""
    detail = str(body.get("Detail", "")) if isinstance(body, dict) else str(body)
    if response.status_code == 401:
        return (
            XeroErrorCode.TOKEN_EXPIRED,
            "Xero no longer accepts this connection's sign-in. Reconnect to Xero.",
        )
    if response.status_code == 403:
        if "AuthorizationUnsuccessful" in detail:
            return (
                XeroErrorCode.MISSING_SCOPE,
                "The Xero connection was not given permission for this kind of record. "
                "Reconnect to Xero and allow access to it.",
            )
        return (
            XeroErrorCode.TENANT_NOT_CONNECTED,
            "This Xero organisation is no longer connected to Clarity Connect. "
            "Reconnect to Xero and choose it.",
        )
    if isinstance(body, dict) and body.get("Type") == "ValidationException":
        messages = [
            error.get("Message", "")
            for element in body.get("Elements") or []
            for error in element.get("ValidationErrors") or []
        ]
        return explain("request", {}, messages or [body.get("Message", "")])
    kind_of = _EXCEPTIONS.get(str(body.get("Type"))) if isinstance(body, dict) else None
    if kind_of is not None:
        code, kind, template = kind_of
        said = str(body.get("Message") or detail).rstrip(".")
        return code, template.format(message=said), kind
    if response.status_code == 503 and "offline" in f"{detail} {response.text}".lower():
        return (
            ErrorCode.SERVER_ERROR,
            "This Xero organisation cannot be reached for the moment (Xero says it is "
            "offline). It will be tried again.",
        )
    return _STATUSES.get(response.status_code)
