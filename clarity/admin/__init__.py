"""Admin pages of the sync core; thin faces over services and selectors."""

from clarity.admin import flows, ledger, pairs, queues, runs

__all__ = ["flows", "ledger", "pairs", "queues", "runs"]
