"""Webhooks in: authenticate, store, enqueue; then, in a job, turn events into flow runs.

This module knows no system. A delivery to ``/webhooks/<system>`` goes to the
``WebhookParser`` that system's connector declares (``connectors/<system>/webhooks.py``):
it says which of the system's connections the delivery proves it is for (each connection
that holds the parser's ``secret_name`` credential is a candidate) and what changed, as
neutral events; here they are stored, and later turned into runs of the flows whose
source entity the events wake.

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
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clarity.event_filters import event_filter_verdict
from clarity.models import Flow, Trigger, WebhookEvent, WebhookStatus
from clarity.services.runs import flow_run_enqueue
from clarity.sync.queues import DEFAULT_QUEUE, enqueue
from connectors.models import Connection
from connectors.registry import webhook_parser
from connectors.secrets import SecretUnreadable
from connectors.webhooks import ChangeEvent, Delivery, Subscriber, WebhookParser, WebhookRejected
from mappings.engine.jsonload import JSONInputError, JSONTooDeepError, loads_bounded

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000
MAX_RECORD_ID = 200  # Salesforce ids are 18 characters, Xero's 36, SYSPRO keys 15 to 30
MAX_DEPTH = 32  # Xero's deliveries are 3 levels deep, Salesforce's change events about 5


def webhook_receive(*, system: str, body: bytes, headers: Mapping[str, str]) -> int:
    """Store an authenticated delivery's events and queue their processing; returns how
    many are new; a 404 when ``system`` sends no webhooks.

    Checked in this order, each refusal storing nothing: who sent it (401, on the raw
    bytes), then that the body is JSON the database can store (400), then its shape (400).
    """
    parser = webhook_parser(system)
    if parser is None:
        raise WebhookRejected(404, f"Clarity receives no webhooks from '{system}'.")
    subscribers = parser.authenticate(Delivery(body, headers), _subscribers(system, parser))
    events = parser.parse(_json(body), subscribers)
    return webhook_events_store(events=events)


def webhook_events_store(*, events: Sequence[ChangeEvent], process_now: bool = False) -> int:
    """Insert the events not seen before and queue one job for them; returns how many.

    Whoever heard of the changes (a webhook, a system's event stream) hands them over as
    neutral ``ChangeEvent``s; a field longer than its column refuses them all (400). An
    event seen before (same connection, same bytes once canonicalised) is not stored
    again, so a sender's repeat never queues it twice. ``process_now`` queues their runs
    in this transaction instead of a job: for a listener that answers no one in a hurry
    (an event stream's subscriber) and saves the job's round trip.
    """
    fresh: dict[str, WebhookEvent] = {}
    for event in map(_event_row, events):
        canonical = json.dumps(event.payload, sort_keys=True, separators=(",", ":"))
        event.payload_hash = hashlib.sha256(
            f"{event.connection_id}:{canonical}".encode()
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
        if ids and process_now:
            webhook_events_process(event_ids=ids)
        elif ids:
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
    by_pk = {flow.pk: flow for flow in flows}
    wanted: dict[int, list[tuple[tuple[str, ...], str] | None]] = {}
    woke: dict[int, list[WebhookEvent]] = {}
    now = timezone.now()
    for event in events:
        change = event.change or _legacy_change(event)
        for flow in flows:
            if flow.source_connection_id != event.connection_id:
                continue
            woken = {str(entity).lower() for entity in change.get("entities", ())}
            if flow.source_entity.lower() not in woken:  # a doorbell's caller types it
                continue
            if event_filter_verdict(flow.event_filter, change) is False:
                continue  # the flow's rules say this change does not concern it
            wanted.setdefault(flow.pk, []).append(_target(flow, change))
            woke.setdefault(flow.pk, []).append(event)
        event.status = WebhookStatus.PROCESSED
        event.processed_at = now
    for flow_pk, targets in wanted.items():
        run_id = _run_for(by_pk[flow_pk], targets)
        if run_id is not None:
            for event in woke[flow_pk]:
                event.run_ids.append(run_id)
    WebhookEvent.objects.bulk_update(events, ["status", "run_ids", "processed_at"])
    return len(events)


def _target(flow: Flow, change: Mapping[str, Any]) -> tuple[tuple[str, ...], str] | None:
    """What of ``flow``'s source one change asks to read: ``(ids, key field)`` ("" for the
    entity's own key), or None for a poll: the change names no records (an overflow event,
    a doorbell without keys), or names records of another entity than the flow reads (a
    line item's change waking its opportunity's flow)."""
    ids = tuple(str(i) for i in change.get("record_ids") or () if str(i))
    key_fields = {str(k).lower(): v for k, v in (change.get("key_fields") or {}).items()}
    if not ids:
        return None
    if flow.source_entity.lower() in key_fields:
        return ids, str(key_fields[flow.source_entity.lower()])
    if flow.source_entity.lower() == str(change.get("entity", "")).lower():
        return ids, ""
    return None


def _run_for(flow: Flow, targets: list[tuple[tuple[str, ...], str] | None]) -> int | None:
    """The flow's queued run for every change that woke it — targeted at the union of their
    ids when each named ids by one key field, else a poll — or None when the flow was
    disabled since it was listed."""
    fields = {target[1] for target in targets if target is not None}
    if None in targets or len(fields) != 1:
        ids, key_field = None, ""
    else:
        ids, key_field = {i for target in targets if target for i in target[0]}, fields.pop()
    try:
        run = flow_run_enqueue(
            flow=flow, trigger=Trigger.WEBHOOK, record_ids=ids, key_field=key_field
        )
    except ValidationError:
        return None
    return run.pk


def neutral_change(event: ChangeEvent) -> dict[str, Any]:
    """What changed, in the core's terms, as stored with the event (``WebhookEvent.change``)
    and judged by flows' event filters (clarity.event_filters)."""
    change = {
        "entity": event.category,
        "entities": list(event.entities),
        "key_fields": dict(event.key_fields),
        "change_type": event.event_type,
        "record_ids": list(event.record_ids),
        "changed_fields": None if event.changed_fields is None else list(event.changed_fields),
        "values": None if event.values is None else dict(event.values),
        "origin": str(event.raw.get("origin", "")) if isinstance(event.raw, dict) else "",
    }
    # Values as JSON holds them (an event stream may decode dates or decimals).
    return dict(json.loads(json.dumps(change, default=str)))


def _legacy_change(event: WebhookEvent) -> dict[str, Any]:
    """The change of an event stored before changes were kept: its ids, and the entities
    its system's parser says it wakes."""
    ids = [i for i in event.resource_id.split(",") if i]
    return {"entity": event.category, "entities": list(_entities_woken(event)),
            "change_type": event.event_type, "record_ids": ids}  # fmt: skip


def webhook_body(body: bytes) -> Any:
    """A delivery's JSON within the limits every sender is held to (see ``_json``)."""
    return _json(body)


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


def _event_row(event: ChangeEvent) -> WebhookEvent:
    """The event's row, or a 400 when a field is longer than its column."""
    values = {"category": event.category, "event_type": event.event_type}
    for name, value in values.items():
        limit = WebhookEvent._meta.get_field(name).max_length
        if len(value) > limit:
            raise WebhookRejected(
                400, f"An event's {name} must be text of at most {limit} characters."
            )
    for record_id in event.record_ids:
        if len(record_id) > MAX_RECORD_ID:
            raise WebhookRejected(
                400, f"An event's record id must be text of at most {MAX_RECORD_ID} characters."
            )
    # The ids to read are kept whole in ``change``; the column shows as many as it holds.
    shown = ",".join(event.record_ids)
    limit = WebhookEvent._meta.get_field("resource_id").max_length or 0
    if len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return WebhookEvent(
        connection_id=event.subscriber.key,
        payload=event.raw,
        resource_id=shown,
        change=neutral_change(event),
        **values,
    )


def _entities_woken(event: WebhookEvent) -> tuple[str, ...]:
    """The entities whose flows a stored event wakes, as its system's parser reads them
    (none if the system no longer receives webhooks)."""
    parser = webhook_parser(event.connection.system)
    return parser.entities_woken(event.category) if parser is not None else ()


def _subscribers(system: str, parser: WebhookParser) -> list[Subscriber]:
    """Each connection of ``system`` holding the parser's secret, as the parser sees it; a
    connection whose secrets do not open is skipped and reported once."""
    found = []
    for connection in Connection.objects.filter(system=system).order_by("pk"):
        try:
            credentials = connection.credentials or {}
            secret = credentials.get(parser.secret_name) if isinstance(credentials, dict) else None
            if not isinstance(secret, str) or not secret:
                continue
            extra = connection.token_extra or {}
        except SecretUnreadable as exc:
            _report_unreadable(connection, exc)
            continue
        found.append(
            Subscriber(
                key=connection.pk,
                secret=secret,
                settings=connection.settings if isinstance(connection.settings, dict) else {},
                extra=extra if isinstance(extra, dict) else {},
            )
        )
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
