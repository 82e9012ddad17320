"""Whether a flow's run may start: one rule for queueing a run and for taking it up.

Both ask because time passes in between. A run queued, or deferred by a rate limit,
may be taken up by a worker after a person paused the flow, or after its pair was
pointed at a production system and awaits Launch again; then it must not read or
write either, and says why instead.
"""

from __future__ import annotations

from clarity.models import Flow, IntegrationPair
from clarity.models.pairs import AWAITING_LAUNCH


def launch_refusal(*, pair_id: int) -> str | None:
    """Why the pair's flows may not run (only validate), or None when they may."""
    pair_name = (
        IntegrationPair.objects.filter(AWAITING_LAUNCH, pk=pair_id)
        .values_list("name", flat=True)
        .first()
    )
    if pair_name is None:
        return None
    return (
        f"Launch the pair '{pair_name}' first: validate runs only until then. Its go-live "
        "checklist is on the pair's page."
    )


def disabled_refusal(flow: Flow) -> str | None:
    """Why a disabled flow does not run (its pause reason when it has one), or None."""
    if flow.enabled:
        return None
    return f"Flow '{flow.name}' is disabled" + (
        f": {flow.paused_reason}" if flow.paused_reason else "."
    )


def run_refusal(flow: Flow) -> str | None:
    """Why a run of the flow may not start now, or None when it may."""
    return launch_refusal(pair_id=flow.pair_id) or disabled_refusal(flow)
