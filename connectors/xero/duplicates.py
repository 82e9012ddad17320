"""Xero's error codes that mean the record sent already exists in Xero."""

from __future__ import annotations

from connectors.duplicates import Duplicate
from connectors.xero.errors import XeroErrorCode

DUPLICATES: dict[str, Duplicate] = {
    # "The contact name X is already assigned to another contact. The contact name must be
    # unique across all active contacts." [P] developer.xero.com/documentation/api/accounting/
    # contacts (Name: "Full name of contact/organisation ... must be unique") and
    # XeroAPI/Xero-OpenAPI xero_accounting.yaml (Contact.Name).
    XeroErrorCode.DUPLICATE_CONTACT_NAME: Duplicate("contact", "Contacts", "Name", ("Name",)),
    # "Invoice # must be unique." [P] developer.xero.com validation errors: found by its number.
    XeroErrorCode.DUPLICATE_INVOICE_NUMBER: Duplicate(
        "invoice", "Invoices", "InvoiceNumber", ("InvoiceNumber",)
    ),
}
