"""KashFlow's error codes that mean a record the sent one refers to is not in KashFlow (yet)."""

from __future__ import annotations

from connectors.dependencies import Dependency

DEPENDENCIES: dict[str, Dependency] = {
    # An invoice's customer is not a KashFlow customer (yet): KashFlow's error name
    # CustomerNotFound [A] (connectors/kashflow/errors.py), the invoice's CustomerCode
    # naming it [P] (shared/systems/kashflow.md, invoice fields).
    "customer_code_not_found": Dependency("customer", ("customers",), ("CustomerCode",)),
}
