"""Xero's answers turned into outcomes, codes and messages a finance user can act on.

Xero words validation failures for developers ("Account code '999' is not a
valid code for this document."). Each known message is matched by a pattern
and rewritten to say what is wrong, where (the line), and what to do; an
unknown message is passed on prefixed with what was rejected.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import requests

from connectors.base import Record, WriteOutcome
from connectors.errors import ErrorCode, ErrorKind, ErrorRule, classify, rule, table_kinds
from connectors.xero.catalogue import ENTITIES, EntityInfo


class XeroErrorCode(StrEnum):
    """Xero's codes, spelt like every system's (connectors.errors): no ``xero_`` prefix."""

    NOT_CONNECTED = "not_connected"
    NO_TENANT = "no_tenant"
    SIGN_IN_REJECTED = "sign_in_rejected"
    STATE_MISMATCH = "state_mismatch"
    TOKEN_EXPIRED = "token_expired"  # noqa: S105 (an error code)
    TENANT_NOT_CONNECTED = "tenant_not_connected"
    MISSING_SCOPE = "missing_scope"
    INSECURE_URL = "insecure_url"
    INVALID_ACCOUNT_CODE = "invalid_account_code"
    INVALID_TAX_TYPE = "invalid_tax_type"
    INVALID_ITEM_CODE = "invalid_item_code"
    DUPLICATE_INVOICE_NUMBER = "duplicate_invoice_number"
    DUPLICATE_CONTACT_NAME = "duplicate_contact_name"
    DUPLICATE_CODE = "duplicate_code"
    CONTACT_MISSING = "contact_missing"
    CONTACT_NOT_FOUND = "contact_not_found"
    INVOICE_NOT_FOUND = "invoice_not_found"
    INVOICE_NOT_AUTHORISED = "invoice_not_authorised"
    OVERPAYMENT = "overpayment"
    JOURNAL_UNBALANCED = "journal_unbalanced"
    INVALID_EMAIL = "invalid_email"
    BATCH_REJECTED = "batch_rejected"
    VALIDATION = "validation"
    INVALID_DATA = "invalid_data"
    QUERY_INVALID = "query_invalid"
    NO_DATA = "no_data"
    NOT_FOUND = "not_found"
    TOO_LARGE = "too_large"
    NOT_IMPLEMENTED = "not_implemented"
    IDENTITY_UNAVAILABLE = "identity_unavailable"


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


# Xero's validation messages [P] (developer.xero.com, "Validation errors"; wording [O] in
# xero-python's and integrators' fixtures), first match wins. ``v`` is the value Xero
# quoted; the facts are the record (``record``) and what it is (``what``). Messages that
# name the lines holding the value are functions of those facts.
VALIDATION_RULES: tuple[ErrorRule, ...] = (
    rule(
        XeroErrorCode.INVALID_ACCOUNT_CODE,
        ErrorKind.DATA,
        lambda f: (
            f"Xero rejected account code '{f['v']}'"
            f"{_on_lines(f['record'], 'AccountCode', f['v'])}: it is not a valid account. "
            "Check the account code mapping or lookup."
        ),
        pattern=r"Account code '(?P<v>[^']*)' is not a valid code",
    ),
    rule(
        XeroErrorCode.INVALID_TAX_TYPE,
        ErrorKind.DATA,
        lambda f: (
            f"Xero does not recognise tax rate '{f['v']}'"
            f"{_on_lines(f['record'], 'TaxType', f['v'])}. Check the tax rate lookup."
        ),
        pattern=r"TaxType code '(?P<v>[^']*)' does not exist",
    ),
    rule(
        XeroErrorCode.INVALID_ITEM_CODE,
        ErrorKind.DATA,
        lambda f: (
            f"Xero has no item with code '{f['v']}'"
            f"{_on_lines(f['record'], 'ItemCode', f['v'])}. Create the item in Xero or fix the "
            "item lookup."
        ),
        pattern=r"Item code '(?P<v>[^']*)' is not valid",
    ),
    rule(
        XeroErrorCode.DUPLICATE_INVOICE_NUMBER,
        ErrorKind.DATA,
        "Xero already has an invoice numbered '{invoice_number}'. If it is this same invoice, "
        "mark the record resolved; otherwise give it a new number.",
        pattern=r"Invoice # must be unique",
    ),
    rule(
        XeroErrorCode.DUPLICATE_CONTACT_NAME,
        ErrorKind.DATA,
        "Xero already has a contact named '{v}', and contact names must be unique. Link this "
        "record to that contact or change its name.",
        pattern=r"The contact name (?P<v>.+?) is already assigned",
    ),
    rule(
        XeroErrorCode.DUPLICATE_CODE,
        ErrorKind.DATA,
        "Xero already has a {what} with this code or number ('{code_or_number}'). Change it or "
        "link to that one.",
        pattern=r"(already exists|unique Code|number .* already assigned)",
    ),
    rule(
        XeroErrorCode.CONTACT_MISSING,
        ErrorKind.DATA,
        "The {what} has no contact: Xero needs a contact name, number or id. Check the "
        "customer mapping.",
        pattern=r"must contain at least 1 of the following elements to identify the contact",
    ),
    rule(
        XeroErrorCode.CONTACT_NOT_FOUND,
        ErrorKind.DATA,
        "The contact '{v}' this {what} points to does not exist in Xero. Send the contact "
        "first or fix the customer lookup.",
        pattern=r"contact .*'(?P<v>[^']*)' does not exist",
    ),
    rule(
        XeroErrorCode.INVOICE_NOT_FOUND,
        ErrorKind.DATA,
        "The invoice this payment is for does not exist in Xero. Send the invoice first or "
        "fix the invoice reference.",
        pattern=r"invoice could not be found",
    ),
    rule(
        XeroErrorCode.INVOICE_NOT_AUTHORISED,
        ErrorKind.DATA,
        "Xero only accepts payments against approved (AUTHORISED) invoices, and invoice "
        "'{invoice_ref}' is not approved. Approve it in Xero, then retry.",
        pattern=r"not of valid status for creating payment",
    ),
    rule(
        XeroErrorCode.OVERPAYMENT,
        ErrorKind.DATA,
        "The payment of {amount} is more than is still owed on invoice '{invoice_ref}'. Check "
        "the amount or whether it was already paid.",
        pattern=r"amount exceeds the amount outstanding",
    ),
    rule(
        XeroErrorCode.JOURNAL_UNBALANCED,
        ErrorKind.DATA,
        lambda f: (
            f"The journal does not balance: debits total {f['d']} but credits total "
            f"{f['c'].lstrip('-')}. Make them equal before sending it again."
        ),
        pattern=r"total debits \((?P<d>[-\d.,]+)\) must equal total credits \((?P<c>[-\d.,]+)\)",
    ),
    rule(
        XeroErrorCode.INVALID_EMAIL,
        ErrorKind.DATA,
        "Xero rejected the email address '{email}'. Correct it and retry.",
        pattern=r"email address must be valid",
    ),
)
VALIDATION_DEFAULT = rule(
    XeroErrorCode.VALIDATION, ErrorKind.DATA, "Xero rejected the {what}: {text}"
)


def _facts(what: str, record: Record) -> dict[str, Any]:
    """What the validation messages name beside Xero's words: the extractor's part."""
    return {
        "what": what,
        "record": record,
        "invoice_number": record.get("InvoiceNumber"),
        "code_or_number": record.get("Code") or record.get("ContactNumber") or "",
        "invoice_ref": _invoice_ref(record),
        "amount": record.get("Amount"),
        "email": record.get("EmailAddress"),
    }


def _invoice_ref(record: Record) -> str:
    invoice = record.get("Invoice") or {}
    return str(
        invoice.get("InvoiceNumber")
        or record.get("InvoiceNumber")
        or invoice.get("InvoiceID")
        or ""
    )


def explain(what: str, record: Record, messages: Sequence[str]) -> tuple[str, str]:
    """Xero's validation messages -> (code, what a finance user should do): the first
    message's code, every message's advice."""
    found = [
        classify(message, VALIDATION_RULES, VALIDATION_DEFAULT, facts=_facts(what, record))
        for message in messages
    ]
    if not found:
        return XeroErrorCode.VALIDATION, f"Xero rejected the {what} without saying why."
    return found[0].code, " ".join(dict.fromkeys(f.message for f in found))


# Whole-call errors [P] (developer.xero.com, "HTTP response codes"): 401/403 come as a
# Problem (``Detail``), a 400 as an Error whose exception ``Type`` says whose fault it is
# (ValidationException is the record's: see explain), other statuses in plain words.
# First match wins; ``message`` is what Xero said.
CALL_RULES: tuple[ErrorRule, ...] = (
    rule(
        XeroErrorCode.TOKEN_EXPIRED,
        ErrorKind.AUTH,
        "Xero no longer accepts this connection's sign-in. Reconnect to Xero.",
        statuses=(401,),
    ),
    rule(
        XeroErrorCode.MISSING_SCOPE,
        ErrorKind.AUTH,
        "The Xero connection was not given permission for this kind of record. Reconnect to "
        "Xero and allow access to it.",
        statuses=(403,),
        pattern="AuthorizationUnsuccessful",
    ),
    rule(
        XeroErrorCode.TENANT_NOT_CONNECTED,
        ErrorKind.AUTH,
        "This Xero organisation is no longer connected to Clarity Connect. Reconnect to Xero "
        "and choose it.",
        statuses=(403,),
    ),
    rule(
        XeroErrorCode.QUERY_INVALID,
        ErrorKind.CONFIG,
        "Xero could not read the filter the connection sent: {message}. Check the flow's "
        "filter settings.",
        name="QueryParseException",
    ),
    rule(
        XeroErrorCode.NO_DATA,
        ErrorKind.CONFIG,
        "Xero found no records in what was sent: {message}. Check the flow's target entity "
        "and mapping.",
        name="NoDataProcessedException",
    ),
    rule(
        XeroErrorCode.INVALID_DATA,
        ErrorKind.DATA,
        "Xero could not read a value sent: {message}. Correct it at the source, or check the "
        "mapping's conversion for that field.",
        name="PostDataInvalidException",
    ),
    rule(
        ErrorCode.SERVER_ERROR,
        ErrorKind.TRANSIENT,
        "This Xero organisation cannot be reached for the moment (Xero says it is offline). "
        "It will be tried again.",
        statuses=(503,),
        pattern="offline",
    ),
    rule(
        XeroErrorCode.NOT_FOUND,
        ErrorKind.DATA,
        "Xero has no such record (it may have been deleted or archived in Xero). Check it in "
        "Xero, or unlink the source record.",
        statuses=(404,),
    ),
    rule(
        XeroErrorCode.TOO_LARGE,
        ErrorKind.DATA,
        "The record is larger than Xero takes in one request. Shorten it at the source (long "
        "descriptions, very many lines), then retry.",
        statuses=(413,),
    ),
    rule(
        ErrorCode.SERVER_ERROR,
        ErrorKind.TRANSIENT,
        "Xero had an internal error. It will be tried again.",
        statuses=(500,),
    ),
    rule(
        XeroErrorCode.NOT_IMPLEMENTED,
        ErrorKind.CONFIG,
        "Xero does not offer this for this kind of record. Check the flow's target entity.",
        statuses=(501,),
    ),
    rule(
        ErrorCode.SERVER_ERROR,
        ErrorKind.TRANSIENT,
        "Xero is unavailable for the moment (usually a scheduled outage). It will be tried again.",
        statuses=(503,),
    ),
)

# Every rule, for the registry and the conformance tests, and the kind of each code.
ERROR_RULES: tuple[ErrorRule, ...] = (*VALIDATION_RULES, VALIDATION_DEFAULT, *CALL_RULES)
ERROR_KINDS: dict[str, ErrorKind] = table_kinds(ERROR_RULES)


def describe_error(
    response: requests.Response, body: Any
) -> tuple[str, str] | tuple[str, str, ErrorKind] | None:
    """Whole-call errors in Xero's shapes (Problem for 401/403, Error for 400): the
    extractor reads the exception type, Detail and Message and hands them to classify."""
    if isinstance(body, dict) and body.get("Type") == "ValidationException":
        messages = [
            error.get("Message", "")
            for element in body.get("Elements") or []
            for error in element.get("ValidationErrors") or []
        ]
        return explain("request", {}, messages or [body.get("Message", "")])
    detail = str(body.get("Detail", "")) if isinstance(body, dict) else str(body)
    said = str(body.get("Message") or detail) if isinstance(body, dict) else detail
    found = classify(
        f"{detail} {response.text}",
        CALL_RULES,
        name=str(body.get("Type")) if isinstance(body, dict) else None,
        status=response.status_code,
        facts={"message": said.rstrip(".")},
    )
    return (found.code, found.message, found.kind) if found else None
