"""How a system's webhooks are read: the one small interface the core calls for every system.

The core (``clarity.webhooks``) knows no system. For a delivery to ``/webhooks/<system>`` it
reads the body within its limits and asks that system's ``WebhookParser`` two things: which
of the connections that may receive it the delivery proves it is for (a signature, a shared
secret), and what changed, as neutral ``ChangeEvent``s the core stores and turns into runs.
A parser lives in its system's package (``connectors/<system>/webhooks.py``), is declared on
its connector class (``Connector.webhooks``) and sees no Django model: the core hands it each
connection as a ``Subscriber``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar


class WebhookRejected(Exception):
    """A delivery refused whole, answered with ``status`` (401, 400): nothing of it is stored."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Delivery:
    """What a sender posted: the raw body (signatures are over these bytes) and its headers
    (looked up without regard to case, as the web server gives them)."""

    body: bytes
    headers: Mapping[str, str]


@dataclass(frozen=True)
class Subscriber:
    """One connection of the system that may receive its deliveries, as a parser sees it.

    ``key`` is the core's id of the connection, handed back untouched; ``secret`` is the
    credential named by the parser's ``secret_name``; ``extra`` is what its sign-in recorded
    (Xero's tenant id).
    """

    key: int
    secret: str = field(repr=False)
    settings: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class ChangeEvent:
    """One change a system told one connection about, in terms the core understands.

    ``category`` is the system's own word for what changed (Xero's ``eventCategory``,
    Salesforce's ``entityName``); ``entities`` are the connector entities whose flows it
    wakes; ``record_ids`` the records it names, so a reader can fetch just those; ``raw`` is
    the event as the system sent it (stored, and what a repeat is recognised by).

    ``key_fields`` says, for a woken entity other than the event's own, which of its fields
    the record ids are values of (Xero: an invoice event's id is ``Invoice.InvoiceID`` of
    the payments); a woken entity not named there is polled, not read by ids.
    ``changed_fields`` and ``values`` are what an event stream tells of the change (None:
    it does not say), for a flow's event filter to judge.
    """

    subscriber: Subscriber
    category: str
    event_type: str
    record_ids: tuple[str, ...]
    entities: tuple[str, ...]
    raw: Any
    occurred_at: datetime | None = None
    key_fields: Mapping[str, str] = field(default_factory=dict)
    changed_fields: tuple[str, ...] | None = None
    values: Mapping[str, Any] | None = None


class WebhookParser(ABC):
    """Authenticates and reads one system's webhook deliveries; plain Python, no Django."""

    system: ClassVar[str]
    # The credential of a connection that authenticates deliveries to it; a connection
    # without it receives nothing.
    secret_name: ClassVar[str]

    @abstractmethod
    def authenticate(
        self, delivery: Delivery, subscribers: Sequence[Subscriber]
    ) -> list[Subscriber]:
        """The subscribers the delivery proves it was sent to; ``WebhookRejected(401)`` when
        none (checked on the raw bytes, before the body is read)."""

    @abstractmethod
    def parse(self, body: Any, subscribers: Sequence[Subscriber]) -> list[ChangeEvent]:
        """The events of an authenticated delivery (its JSON, already read within the core's
        limits) for those subscribers; ``WebhookRejected(400)`` when its shape is not the
        system's. May be empty: a test delivery, or a change the connection itself made."""

    @abstractmethod
    def entities_woken(self, category: str) -> tuple[str, ...]:
        """The entities whose flows an event of ``category`` wakes (read again when stored
        events are processed)."""


def event_text(value: Any, name: str) -> str:
    """A scalar field of an event as text; ``WebhookRejected(400)`` for anything else, so a
    list or an object where the system sends text is refused, not stored as its repr."""
    if isinstance(value, str | int):
        return str(value)
    raise WebhookRejected(400, f"An event's {name} must be text.")
