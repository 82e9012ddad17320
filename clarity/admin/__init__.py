"""Admin pages of the sync core; thin faces over services and selectors."""

from clarity.admin import dashboard, flows, ledger, pairs, queues, runs

__all__ = ["dashboard", "flows", "ledger", "pairs", "queues", "runs"]
