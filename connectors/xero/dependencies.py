"""Xero's error codes that mean a record the sent one refers to is not in Xero (yet)."""

from __future__ import annotations

from connectors.dependencies import Dependency
from connectors.xero.errors import XeroErrorCode

DEPENDENCIES: dict[str, Dependency] = {
    # An invoice's Contact.ContactNumber (or name) is not a contact (yet).
    XeroErrorCode.CONTACT_NOT_FOUND: Dependency(
        "customer", ("Contacts",), ("Contact.ContactNumber", "Contact.Name")
    ),
    # A payment's invoice is not there (yet).
    XeroErrorCode.INVOICE_NOT_FOUND: Dependency(
        "invoice", ("Invoices",), ("Invoice.InvoiceNumber", "InvoiceNumber")
    ),
}
