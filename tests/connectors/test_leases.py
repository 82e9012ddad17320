"""The process's lease keeper: what it renews, for how long, and what it lets lapse.

The leases of the rate limiter and the circuit breaker are tested on a real Redis in
test_ratelimit.py and test_circuit.py; here the keeper's own rules, with a renewer
that records when it is asked.
"""

from __future__ import annotations

import gc
import threading
import time

from connectors.leases import lease_hold, lease_let_go

LEASE = 0.6


class Lease:
    """Something held under a lease."""


class Counting:
    """A renewer that records each renewal, as a Redis-backed one would extend the lease."""

    lease_seconds = LEASE

    def __init__(self) -> None:
        self.renewed: list[float] = []
        self.gone = threading.Event()

    def renew(self, held: Lease) -> bool:
        self.renewed.append(time.monotonic())
        return not self.gone.is_set()


def test_a_held_lease_is_renewed_until_let_go() -> None:
    renewer, lease = Counting(), Lease()
    lease_hold(lease, renewer)
    time.sleep(2 * LEASE)
    lease_let_go(lease)
    renewals = len(renewer.renewed)
    assert renewals >= 3  # every third of a lease, so never lapsed while held
    time.sleep(LEASE)
    assert len(renewer.renewed) == renewals


def test_a_lease_dropped_without_being_let_go_is_no_longer_renewed() -> None:
    renewer, lease = Counting(), Lease()
    lease_hold(lease, renewer)
    time.sleep(LEASE)
    assert renewer.renewed
    del lease
    gc.collect()
    time.sleep(LEASE / 2)  # a renewal already under way may still finish
    renewals = len(renewer.renewed)
    time.sleep(LEASE)
    assert len(renewer.renewed) == renewals


def test_a_lease_that_lapsed_is_not_renewed_again() -> None:
    renewer, lease = Counting(), Lease()
    lease_hold(lease, renewer)
    time.sleep(LEASE / 2)
    renewer.gone.set()  # lapsed or taken back: the next renewal says so
    time.sleep(LEASE / 2)
    renewals = len(renewer.renewed)
    time.sleep(LEASE)
    assert len(renewer.renewed) == renewals
    lease_let_go(lease)
