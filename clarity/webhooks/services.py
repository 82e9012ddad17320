"""Webhooks in: authenticate, store, enqueue; then, in a job, turn events into flow runs.

Which connection a delivery belongs to:

* **Xero** signs every delivery with its app's webhook key, kept as
  ``webhook_key`` in a Xero connection's credentials. Xero allows one URL per
  app, so ``/webhooks/xero`` serves every Xero connection: each connection's
  key is tried (constant time) and each event goes to the verified
  connections whose organisation is the event's ``tenantId`` (or that have
  none recorded yet).
* **Salesforce** change events come through a relay (the sandbox plays it)
  that sends a connection's shared secret, ``webhook_secret`` in a Salesforce
  connection's credentials, in the ``X-Clarity-Webhook-Secret`` header; the
  connection whose secret matches owns the event. Events our own writes
  caused (``changeOrigin`` names the connection's ``call_options_client``)
  are dropped: syncing them back would echo our change forever.

A delivery is answered as soon as its events are stored: the flows run later.

Whatever a sender puts in a delivery is answered 4xx, never 500: a signature
that is not even ASCII, a body nested past ``MAX_DEPTH``, text PostgreSQL cannot
store (NUL, lone surrogates), fields longer than their columns. A connection
whose stored secrets no configured key opens is skipped — reported once on the
connection, logged once — and the delivery is still checked against the others:
one broken connection must not fail every delivery (Xero disables a webhook that
keeps failing).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clarity.models import Flow, Trigger, WebhookEvent, WebhookStatus
from clarity.services.runs import flow_run_enqueue
from clarity.sync.queues import DEFAULT_QUEUE, enqueue
from connectors.models import Connection, System
from connectors.secrets import SecretUnreadable
from connectors.xero.webhooks import verify_webhook
from mappings.engine.jsonload import JSONInputError, JSONTooDeepError, loads_bounded

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000
MAX_DEPTH = 32  # Xero's deliveries are 3 levels deep, Salesforce's change events about 5
SALESFORCE_SECRET_HEADER = "X-Clarity-Webhook-Secret"  # noqa: S105 (a header's name)

# Which flows an event wakes: a flow listens when its source entity is in the tuple.
# Xero has no payment events: a payment changes its invoice, which sends INVOICE.
XERO_CATEGORY_ENTITIES: dict[str, tuple[str, ...]] = {
    "CONTACT": ("Contacts",),
    "INVOICE": ("Invoices", "Payments"),
}
# A Salesforce event names its sObject, which is the flow's entity; line items
# also wake the flows of their opportunities.
SALESFORCE_EXTRA_ENTITIES: dict[str, tuple[str, ...]] = {
    "OpportunityLineItem": ("Opportunity",),
}


class WebhookRejected(Exception):
    """A delivery refused whole: nothing of it is stored."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def listening_entities(*, system: str, category: str) -> tuple[str, ...]:
    if system == System.XERO:
        return XERO_CATEGORY_ENTITIES.get(category.upper(), ())
    return (category, *SALESFORCE_EXTRA_ENTITIES.get(category, ()))


def xero_webhook_receive(*, body: bytes, signature: str | None) -> int:
    """Store a signed Xero delivery's events and queue their processing; returns how many are new.

    The intent-to-receive check is a correctly signed delivery with no events:
    it passes the signature check, stores nothing and is answered 200.
    """
    verified = [
        (connection, tenant)
        for connection, key, tenant in _readable(System.XERO, "webhook_key")
        if verify_webhook(body, signature, key)
    ]
    if not verified:
        raise WebhookRejected(401, "The x-xero-signature does not match any Xero webhook key.")
    delivery = _json(body)
    events = delivery.get("events") if isinstance(delivery, dict) else None
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise WebhookRejected(400, "A Xero delivery is an object with a list of events.")
    rows = [
        _event_row(
            connection,
            category=event.get("eventCategory", ""),
            event_type=event.get("eventType", ""),
            resource_id=event.get("resourceId", ""),
            payload=event,
        )
        for event in events
        for connection, tenant in verified
        if tenant in ("", event.get("tenantId"))
    ]
    return webhook_events_store(events=rows)


def salesforce_change_event_receive(*, body: bytes, secret: str | None) -> int:
    """Store one change event from the relay and queue its processing; returns 1 if new, else 0."""
    given = (secret or "").encode("utf-8", "replace")
    connection = next(
        (
            c
            for c, expected, _ in _readable(System.SALESFORCE, "webhook_secret")
            if given and hmac.compare_digest(expected.encode(), given)
        ),
        None,
    )
    if connection is None:
        raise WebhookRejected(401, f"The {SALESFORCE_SECRET_HEADER} header is missing or wrong.")
    event = _json(body)
    payload = event.get("payload") if isinstance(event, dict) else None
    header = payload.get("ChangeEventHeader") if isinstance(payload, dict) else None
    if not isinstance(header, dict) or not isinstance(header.get("entityName"), str):
        raise WebhookRejected(400, "A change event has payload.ChangeEventHeader.entityName.")
    if _is_our_own_write(header, connection):
        return 0
    ids = header.get("recordIds") or []
    row = _event_row(
        connection,
        category=header["entityName"],
        event_type=header.get("changeType", ""),
        resource_id=",".join(map(str, ids)) if isinstance(ids, list) else ids,
        payload=event,
    )
    return webhook_events_store(events=[row])


def webhook_events_store(*, events: list[WebhookEvent]) -> int:
    """Insert the events not seen before and queue one job for them; returns how many.

    An event seen before (same connection, same bytes once canonicalised) is
    not stored again, so a sender's repeat never queues it twice.
    """
    fresh: dict[str, WebhookEvent] = {}
    for event in events:
        canonical = json.dumps(event.payload, sort_keys=True, separators=(",", ":"))
        event.payload_hash = hashlib.sha256(
            f"{event.connection.pk}:{canonical}".encode()
        ).hexdigest()
        fresh.setdefault(event.payload_hash, event)
    with transaction.atomic():
        seen = set(
            WebhookEvent.objects.filter(payload_hash__in=fresh).values_list(
                "payload_hash", flat=True
            )
        )
        WebhookEvent.objects.bulk_create(
            [e for key, e in fresh.items() if key not in seen], ignore_conflicts=True
        )
        ids = list(
            WebhookEvent.objects.filter(
                payload_hash__in=[key for key in fresh if key not in seen],
                status=WebhookStatus.RECEIVED,
            ).values_list("pk", flat=True)
        )
        if ids:
            enqueue(DEFAULT_QUEUE, "clarity.jobs.process_webhook_events", ids)
    return len(ids)


@transaction.atomic
def webhook_events_process(*, event_ids: list[int]) -> int:
    """Queue a run of each flow the events wake; returns how many events were processed.

    Safe to run twice: an event is locked and processed once. A flow woken by
    many events gets one run (``flow_run_enqueue`` joins a waiting one).
    """
    events = list(
        WebhookEvent.objects.select_for_update(of=("self",), skip_locked=True)
        .select_related("connection")
        .filter(pk__in=event_ids, status=WebhookStatus.RECEIVED)
    )
    flows = Flow.objects.filter(
        enabled=True,
        trigger_webhook=True,
        source_connection_id__in={e.connection_id for e in events},
    )
    runs: dict[int, int | None] = {}
    now = timezone.now()
    for event in events:
        entities = listening_entities(system=event.connection.system, category=event.category)
        listening = (
            f
            for f in flows
            if f.source_connection_id == event.connection_id and f.source_entity in entities
        )
        for flow in listening:
            if flow.pk not in runs:
                runs[flow.pk] = _run_for(flow)
            if runs[flow.pk] is not None:
                event.run_ids.append(runs[flow.pk])
        event.status = WebhookStatus.PROCESSED
        event.processed_at = now
    WebhookEvent.objects.bulk_update(events, ["status", "run_ids", "processed_at"])
    return len(events)


def _run_for(flow: Flow) -> int | None:
    """The flow's queued run, or None when it was disabled since it was listed."""
    try:
        return flow_run_enqueue(flow=flow, trigger=Trigger.WEBHOOK).pk
    except ValidationError:
        return None


def _json(body: bytes) -> Any:
    """The parsed body, or a 400: not JSON, nested too deep, or text PostgreSQL cannot store."""
    try:
        value = loads_bounded(body, max_depth=MAX_DEPTH)
    except JSONTooDeepError as exc:
        raise WebhookRejected(400, f"The body is nested deeper than {MAX_DEPTH} levels.") from exc
    except JSONInputError as exc:
        # Bad syntax, NaN/Infinity, 1e400, a 5,000-digit number, NUL or a lone surrogate.
        raise WebhookRejected(400, f"The body is not usable JSON. {exc.message}") from exc
    _check_storable(value)
    return value


def _check_storable(value: Any) -> None:
    """Walk the parsed body (without recursion) for depth and unstorable characters."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise WebhookRejected(400, f"The body is nested deeper than {MAX_DEPTH} levels.")
        if isinstance(item, dict):
            pending.extend((k, depth) for k in item)
            pending.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            pending.extend((v, depth + 1) for v in item)
        elif isinstance(item, str) and _unstorable(item):
            raise WebhookRejected(
                400, "The body contains a NUL character or a lone surrogate (\\u0000, \\ud800)."
            )


def _unstorable(text: str) -> bool:
    return "\x00" in text or any("\ud800" <= c <= "\udfff" for c in text)


def _event_row(
    connection: Connection, *, category: Any, event_type: Any, resource_id: Any, payload: Any
) -> WebhookEvent:
    """The event's row, or a 400 when a field is not text or longer than its column."""
    values = {"category": category, "event_type": event_type, "resource_id": resource_id}
    for name, value in values.items():
        limit = WebhookEvent._meta.get_field(name).max_length
        if not isinstance(value, str | int) or len(str(value)) > limit:
            raise WebhookRejected(
                400, f"An event's {name} must be text of at most {limit} characters."
            )
        values[name] = str(value)
    return WebhookEvent(connection=connection, payload=payload, **values)


def _readable(system: str, secret_name: str) -> list[tuple[Connection, str, str]]:
    """(connection, its webhook secret, its tenant) for each connection of ``system`` that has
    that secret; a connection whose secrets do not open is skipped and reported once."""
    found = []
    for connection in Connection.objects.filter(system=system):
        try:
            credentials = connection.credentials or {}
            secret = credentials.get(secret_name) if isinstance(credentials, dict) else None
            tenant = _tenant_id(connection) if secret else ""
        except SecretUnreadable as exc:
            _report_unreadable(connection, exc)
            continue
        if isinstance(secret, str) and secret:
            found.append((connection, secret, tenant))
    return found


def _report_unreadable(connection: Connection, exc: SecretUnreadable) -> None:
    """Mark the connection failed and log it, once: not again for every delivery."""
    message = (
        f"Webhook deliveries skip this connection: {exc} Until then its events are not "
        "received; enter its secrets again on the connection page."
    )
    if connection.last_check_ok is False and connection.last_check_message == message:
        return
    logger.error("Connection %s (%s): %s", connection.pk, connection.name, message)
    Connection.objects.filter(pk=connection.pk).update(
        last_check_ok=False, last_check_message=message, last_check_at=timezone.now()
    )


def _tenant_id(connection: Connection) -> str:
    settings, extra = connection.settings or {}, connection.token_extra or {}
    return str(settings.get("tenant_id") or extra.get("tenant_id") or "")


def _is_our_own_write(header: dict[str, Any], connection: Connection) -> bool:
    """``changeOrigin`` is ``com/salesforce/api/rest/62.0;client=<id>`` for tagged API calls."""
    client = (connection.settings or {}).get("call_options_client")
    if not client:
        return False
    parts = str(header.get("changeOrigin", "")).split(";")
    return f"client={client}" in parts
