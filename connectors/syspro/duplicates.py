"""SYSPRO's error codes that mean the record sent already exists in SYSPRO.

``duplicate_customer`` is not one: it is transient (the customer was added since it was
looked up) and goes again by itself as an update.
"""

from __future__ import annotations

from connectors.duplicates import Duplicate, Duplicates

DUPLICATES: Duplicates = {
    # "purchase order number 'X' already exists" [A] (SYSPRO's wording is assumed, see
    # connectors/syspro/errors.py): an order with that customer PO number is there; sales
    # orders are looked up by CustomerPoNumber (connectors/syspro/catalogue.py).
    "duplicate_po": (Duplicate("order", "CustomerPoNumber", ("CustomerPoNumber",)),),
}
