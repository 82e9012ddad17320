"""SYSPRO's error codes that mean a record the sent one refers to is not on file (yet)."""

from __future__ import annotations

from connectors.dependencies import Dependency

DEPENDENCIES: dict[str, Dependency] = {
    # An order's or payment's customer is not on file (connectors/syspro/errors.py).
    "customer_not_found": Dependency(
        "customer",
        ("customers", "ArCustomer"),
        ("OrderHeader.Customer", "Payment.Customer", "Customer"),
    ),
}
