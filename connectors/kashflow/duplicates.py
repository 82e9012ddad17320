"""KashFlow's error codes that mean the record sent already exists in KashFlow."""

from __future__ import annotations

from connectors.duplicates import Duplicate, Duplicates

DUPLICATES: Duplicates = {
    # KashFlow's REST errors CodeAlreadyExists / NumberAlreadyExists /
    # ProductCodeAlreadyExists [O] (connectors/kashflow/errors.py, from integrators' code):
    # customers and products are keyed by Code, invoices by Number (connectors/kashflow/
    # catalogue.py), so the clashing value is the existing record's own key.
    "code_already_exists": (Duplicate("customer", "Code", ("Code",), entities=("customers",)),),
    "number_already_exists": (Duplicate("invoice", "Number", ("Number",), entities=("invoices",)),),
    "product_code_already_exists": (
        Duplicate("product", "Code", ("Code",), entities=("products",)),
    ),
}
