"""RQ entry points for housekeeping: alerts and ledger retention. Thin: the work is in services.

The sweeper checks alerts and enqueues ``prune_ledger`` when it is due
(clarity/services/maintenance.py).
"""

from __future__ import annotations

from clarity.services.alerts import alerts_check
from clarity.services.retention import ledger_prune


def check_alerts() -> dict[str, int]:
    return alerts_check()


def prune_ledger() -> int:
    return ledger_prune()
