"""Salesforce change events, as the relay posts them to ``/webhooks/salesforce``.

Salesforce has no HTTP webhooks [P]: Change Data Capture events come over CometD or the
Pub/Sub API. A relay (the sandbox plays it) posts each event as Salesforce shaped it, with
a connection's shared secret, ``webhook_secret`` in a Salesforce connection's credentials,
in the ``X-Clarity-Webhook-Secret`` header: the connection whose secret matches owns the
event. Events our own writes caused are dropped: syncing them back would echo our change
forever.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from connectors.webhooks import (
    ChangeEvent,
    Delivery,
    Subscriber,
    WebhookParser,
    WebhookRejected,
    event_text,
)

# [A] the relay's header: ours, not Salesforce's (connectors/sandbox/salesforce/events.py).
SECRET_HEADER = "X-Clarity-Webhook-Secret"  # noqa: S105 (a header's name)

# [A] a design rule of Clarity's flows, not Salesforce's: an opportunity flow reads its
# line items with it, so a line item's change event also wakes the flows of Opportunity.
EXTRA_ENTITIES: dict[str, tuple[str, ...]] = {
    "OpportunityLineItem": ("Opportunity",),
}


class SalesforceWebhooks(WebhookParser):
    """``{schema, payload: {ChangeEventHeader: {entityName, recordIds[], changeType,
    changeOrigin, commitTimestamp, ...}, ...}, event: {replayId}}`` [P] (shared/systems/
    salesforce.md "Change events"; Change Data Capture Developer Guide, "ChangeEventHeader
    Fields")."""

    system = "salesforce"
    secret_name = "webhook_secret"  # noqa: S105 (a credential's name)

    def authenticate(
        self, delivery: Delivery, subscribers: Sequence[Subscriber]
    ) -> list[Subscriber]:
        given = (delivery.headers.get(SECRET_HEADER) or "").encode("utf-8", "replace")
        for subscriber in subscribers:
            # Bytes, not str: compare_digest refuses non-ASCII text, which anyone can send.
            if given and hmac.compare_digest(subscriber.secret.encode(), given):
                return [subscriber]
        raise WebhookRejected(401, f"The {SECRET_HEADER} header is missing or wrong.")

    def parse(self, body: Any, subscribers: Sequence[Subscriber]) -> list[ChangeEvent]:
        payload = body.get("payload") if isinstance(body, dict) else None
        header = payload.get("ChangeEventHeader") if isinstance(payload, dict) else None
        if not isinstance(header, dict) or not isinstance(header.get("entityName"), str):
            raise WebhookRejected(400, "A change event has payload.ChangeEventHeader.entityName.")
        return [
            self._event(body, header, subscriber)
            for subscriber in subscribers
            if not _is_our_own_write(header, subscriber)
        ]

    def entities_woken(self, category: str) -> tuple[str, ...]:
        """The event's sObject is the flow's entity, plus the entities it belongs to."""
        return (category, *EXTRA_ENTITIES.get(category, ()))

    def _event(self, body: Any, header: dict[str, Any], subscriber: Subscriber) -> ChangeEvent:
        ids = header.get("recordIds") or []
        # [P] CDC guide: recordIds may merge several records changed the same way at once.
        record_ids = (
            tuple(map(str, ids)) if isinstance(ids, list) else (event_text(ids, "resource_id"),)
        )
        category = header["entityName"]
        return ChangeEvent(
            subscriber=subscriber,
            category=category,
            event_type=event_text(header.get("changeType", ""), "event_type"),
            record_ids=record_ids,
            entities=self.entities_woken(category),
            raw=body,
            occurred_at=_moment(header.get("commitTimestamp")),
        )


def _is_our_own_write(header: dict[str, Any], subscriber: Subscriber) -> bool:
    """[P] ``changeOrigin`` is ``com/salesforce/api/<api>/<version>;client=<id>`` when the
    write sent ``Sforce-Call-Options: client=<id>`` (Apex reference, "ChangeEventHeader
    Class", https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/
    apex_class_eventbus_ChangeEventHeader.htm); the connector sends the connection's
    ``call_options_client``."""
    client = subscriber.settings.get("call_options_client")
    if not client:
        return False
    parts = str(header.get("changeOrigin", "")).split(";")
    return f"client={client}" in parts


def _moment(value: Any) -> datetime | None:
    """``commitTimestamp`` [P] is milliseconds since the epoch; None when not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
