"""Event streams: changes a system pushes down a connection a process holds open.

Beside webhooks (the system calls us) some systems only offer a stream we subscribe to —
Salesforce's Pub/Sub API. A system that has one declares a factory for it in its registry
entry (``connectors.registry.event_stream``); the core's long-running subscriber opens one
per connection and listens to the topics the connection's flows need. Plain Python: the
stream hands neutral ``ChangeEvent``s to a ``StreamListener`` the core implements, and the
listener alone keeps the position a restart resumes from.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from connectors.webhooks import ChangeEvent


@dataclass(frozen=True)
class StreamBatch:
    """What one answer of a stream brought: its events (maybe none: a keepalive; echoes of
    our own writes already left out), the position to resume after once they are stored,
    the stream's tip, and how many events it sent (echoes included)."""

    topic: str
    events: tuple[ChangeEvent, ...]
    position: bytes
    latest: bytes
    heard: int


class StreamListener(Protocol):
    """The core's side of one topic of a stream."""

    def position(self, topic: str) -> bytes | None:
        """The stored position of ``topic``; None before the first answer."""

    def received(self, batch: StreamBatch) -> None:
        """Store the events (and act on them) and keep ``batch.position``, all or nothing;
        the stream asks for more only once this has returned."""

    def position_lost(self, topic: str, message: str) -> None:
        """The stored position is older than the system keeps: forget it and poll the
        flows it covered from their cursors."""

    def state(self, status: str, message: str = "") -> None:
        """``connected``, ``reconnecting`` or ``stopped``, and why."""


class EventStream(ABC):
    """One connection's subscription to its system's event stream."""

    @abstractmethod
    def topics(self, entities: Sequence[str]) -> dict[str, str]:
        """The topics flows reading ``entities`` need: topic -> the entity it reports."""

    @abstractmethod
    def listen(self, topic: str, listener: StreamListener) -> None:
        """Deliver ``topic`` to ``listener`` until ``stop``; resumes after errors by itself."""

    @abstractmethod
    def stop(self) -> None:
        """End every ``listen`` (from any thread)."""

    @abstractmethod
    def stop_topic(self, topic: str) -> None:
        """End the ``listen`` of one topic (from any thread), leaving the others open and
        the listener's stored position as it is: no flow needs the topic any more."""

    def close(self) -> None:
        """End every ``listen`` and let go of the connection."""
        self.stop()
