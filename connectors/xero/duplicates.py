"""Xero's error codes that mean the record sent already exists in Xero."""

from __future__ import annotations

from connectors.duplicates import Duplicate, Duplicates
from connectors.xero.errors import XeroErrorCode

DUPLICATES: Duplicates = {
    # "The contact name X is already assigned to another contact. The contact name must be
    # unique across all active contacts." [P] developer.xero.com/documentation/api/accounting/
    # contacts (Name: "must be unique") and XeroAPI/Xero-OpenAPI xero_accounting.yaml.
    XeroErrorCode.DUPLICATE_CONTACT_NAME: (
        Duplicate("contact", "Name", ("Name",), entities=("Contacts",)),
    ),
    # "Invoice # must be unique." [P] developer.xero.com validation errors: found by number.
    XeroErrorCode.DUPLICATE_INVOICE_NUMBER: (
        Duplicate("invoice", "InvoiceNumber", ("InvoiceNumber",), entities=("Invoices",)),
    ),
    # "The contact number X is already assigned to another contact." [S] (sandbox's wording
    # from integrators' forum answers); items' and accounts' codes are unique [P]
    # (developer.xero.com items: Code "unique"; accounts: Code "must be unique").
    XeroErrorCode.DUPLICATE_CODE: (
        Duplicate("contact", "ContactNumber", ("ContactNumber",), entities=("Contacts",)),
        Duplicate("item", "Code", ("Code",), entities=("Items",)),
        Duplicate("account", "Code", ("Code",), entities=("Accounts",)),
    ),
}
