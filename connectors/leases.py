"""Leases in Redis that last as long as the process holding them, renewed from one thread.

Workers share two kinds of turn through Redis: a rate limiter's concurrency slot and a
circuit breaker's probe. Each is a lease, so a worker killed while holding one cannot
hold it for ever. A lease must be short, so a dead process's turn comes back soon,
yet a live call slower than the lease must keep its turn: only a dead process stops
renewing. (A fixed 120 s lease let five killed Xero calls take all five of a tenant's
slots for two minutes.)

One daemon thread per process renews every lease the process holds, each every third
of its length. A forked child, such as an RQ work horse, holds none of its parent's
leases and starts its own thread when it first needs one. A holder dropped without
being let go is no longer renewed: its lease lapses within one length.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from typing import Any, Protocol

logger = logging.getLogger(__name__)

# Renewed every 4 s, a live call's lease lapses only if its process cannot run the
# keeper thread for 8 s; a dead process's turn is back within 12 s, two or three of a
# job's 5-second waits for a permit. Both margins are wide for a handful of small
# Redis calls per process.
DEFAULT_LEASE_SECONDS = 12.0


# Lua: now, in ms by Redis's clock, against which every lease is measured, so workers
# on several machines agree on when one ends.
REDIS_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""


class Renewer(Protocol):
    """What holds a kind of lease in Redis: how long one lasts, and how to renew one."""

    @property
    def lease_seconds(self) -> float: ...

    def renew(self, held: Any) -> bool:
        """Start ``held``'s lease again from now; False once it is gone (lapsed, let go)."""
        ...


class _Keeper:
    def __init__(self) -> None:
        self._held: weakref.WeakKeyDictionary[Any, Renewer] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self._shorter = threading.Event()
        self._interval: float | None = None
        self._thread: threading.Thread | None = None

    def hold(self, held: Any, renewer: Renewer) -> None:
        interval = renewer.lease_seconds / 3
        with self._lock:
            self._held[held] = renewer
            if self._interval is None or interval < self._interval:
                self._interval = interval
                self._shorter.set()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)
                self._thread.start()

    def let_go(self, held: Any) -> None:
        with self._lock:
            self._held.pop(held, None)

    def _run(self) -> None:
        while True:
            # Woken early only when a shorter lease arrives: wait again, for less.
            if not self._shorter.wait(self._interval):
                self._renew_all()
            self._shorter.clear()

    def _renew_all(self) -> None:
        with self._lock:
            held = list(self._held.items())
        for lease, renewer in held:
            try:
                renewed = renewer.renew(lease)
            except Exception as error:  # an outage: keep going, the call will notice
                logger.warning(
                    "could not renew a lease (%s): %s", type(renewer).__name__, type(error).__name__
                )
                continue
            if not renewed:  # lapsed or let go: nothing left to keep alive
                self.let_go(lease)


_keeper = _Keeper()


def lease_hold(held: Any, renewer: Renewer) -> None:
    """Keep ``held``'s lease alive while this process lives and holds the object."""
    _keeper.hold(held, renewer)


def lease_let_go(held: Any) -> None:
    """Stop renewing ``held``'s lease (its call is over)."""
    _keeper.let_go(held)


def _forget_parents_leases() -> None:
    """In a forked child: the parent's leases are not ours, and its thread did not come along."""
    global _keeper
    _keeper = _Keeper()


os.register_at_fork(after_in_child=_forget_parents_leases)
