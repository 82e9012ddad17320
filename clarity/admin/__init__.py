"""Admin pages of the sync core; thin faces over services and selectors."""

from clarity.admin import (
    alerts,
    audit,
    dashboard,
    flows,
    ledger,
    pairs,
    queues,
    reconciliation,
    runs,
    validation,
)

__all__ = [
    "alerts",
    "audit",
    "dashboard",
    "flows",
    "ledger",
    "pairs",
    "queues",
    "reconciliation",
    "runs",
    "validation",
]
