"""Xero webhooks: the signature check on what Xero posts, and its events read for the core.

Xero signs every delivery with its app's webhook key, kept as ``webhook_key`` in a Xero
connection's credentials. Xero allows one URL per app, so ``/webhooks/xero`` serves every Xero
connection: each connection's key is tried (constant time), and each event goes to the
verified connections whose organisation is the event's ``tenantId`` (or that have none
recorded yet).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from connectors.webhooks import (
    ChangeEvent,
    Delivery,
    Subscriber,
    WebhookParser,
    WebhookRejected,
    event_text,
)

# [P] developer.xero.com/documentation/webhooks/configuring-your-server: the signature header.
SIGNATURE_HEADER = "x-xero-signature"

# Which flows an event wakes: a flow listens when its source entity is in the tuple.
# [P] XeroAPI/Xero-OpenAPI xero-webhooks.yaml: eventCategory is CONTACT, INVOICE or
# SUBSCRIPTION (an app's, not an organisation's: it wakes nothing).
# [S] shared/systems/xero.md "Coverage gaps": Xero has no payment events; [S]
# https://events.apis.io/channels/xero/invoices/: an invoice's state change (PAID
# included) sends INVOICE, so INVOICE also wakes the payment flows.
CATEGORY_ENTITIES: dict[str, tuple[str, ...]] = {
    "CONTACT": ("Contacts",),
    "INVOICE": ("Invoices", "Payments"),
}
# An event's resourceId is the id of its invoice or contact [P] (xero-webhooks.yaml,
# resourceId: "The ID of the resource"); for the payment flows an invoice event wakes, it
# names the payments' invoice, which Xero filters by [P] (developer.xero.com/documentation/
# api/accounting/payments, where ``Invoice.InvoiceID``). "": the entity's own id.
CATEGORY_KEY_FIELDS: dict[str, dict[str, str]] = {
    "CONTACT": {"Contacts": ""},
    "INVOICE": {"Invoices": "", "Payments": "Invoice.InvoiceID"},
}


def verify_webhook(body: bytes, signature: str | None, webhook_key: str) -> bool:
    """True when ``x-xero-signature`` is base64(HMAC-SHA256(body, key)); answer 401 if not."""
    if not signature:
        return False
    expected = base64.b64encode(hmac.new(webhook_key.encode(), body, hashlib.sha256).digest())
    # Bytes, not str: compare_digest refuses non-ASCII text, which anyone can send.
    return hmac.compare_digest(expected, signature.encode("utf-8", "replace"))


class XeroWebhooks(WebhookParser):
    """``{"events": [{resourceId, eventCategory, eventType, tenantId, eventDateUtc, ...}]}``.

    The intent-to-receive check [P] is a correctly signed delivery with no events: it
    passes the signature check and yields nothing (answered 200).
    """

    system = "xero"
    secret_name = "webhook_key"  # noqa: S105 (a credential's name)

    def authenticate(
        self, delivery: Delivery, subscribers: Sequence[Subscriber]
    ) -> list[Subscriber]:
        signature = delivery.headers.get(SIGNATURE_HEADER)
        verified = [s for s in subscribers if verify_webhook(delivery.body, signature, s.secret)]
        if not verified:
            # [P] configuring-your-server: an invalid signature is answered 401.
            raise WebhookRejected(401, "The x-xero-signature does not match any Xero webhook key.")
        return verified

    def parse(self, body: Any, subscribers: Sequence[Subscriber]) -> list[ChangeEvent]:
        events = body.get("events") if isinstance(body, dict) else None
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            raise WebhookRejected(400, "A Xero delivery is an object with a list of events.")
        return [
            self._event(event, subscriber)
            for event in events
            for subscriber in subscribers
            if _tenant_id(subscriber) in ("", event.get("tenantId"))
        ]

    def entities_woken(self, category: str) -> tuple[str, ...]:
        return CATEGORY_ENTITIES.get(category.upper(), ())

    def _event(self, event: dict[str, Any], subscriber: Subscriber) -> ChangeEvent:
        category = event_text(event.get("eventCategory", ""), "category")
        resource_id = event_text(event.get("resourceId", ""), "resource_id")
        return ChangeEvent(
            subscriber=subscriber,
            category=category,
            event_type=event_text(event.get("eventType", ""), "event_type"),
            record_ids=(resource_id,) if resource_id else (),
            entities=self.entities_woken(category),
            raw=event,
            occurred_at=_moment(event.get("eventDateUtc")),
            key_fields=CATEGORY_KEY_FIELDS.get(category.upper(), {}),
        )


def _tenant_id(subscriber: Subscriber) -> str:
    """The organisation the connection is for: chosen in its settings, else the one its
    sign-in picked; "" before it has one (it then receives every tenant's events)."""
    return str(subscriber.settings.get("tenant_id") or subscriber.extra.get("tenant_id") or "")


def _moment(value: Any) -> datetime | None:
    """``eventDateUtc`` [P] is ISO 8601 ("2024-03-01T10:00:00.000"); None when not."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
