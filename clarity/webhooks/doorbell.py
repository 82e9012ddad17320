"""The doorbell: a signed call that says "these records changed" for a system with no events.

SYSPRO sends nothing when a record changes; a trigger program or a scheduled SQL job on the
customer's side can. It posts to ``/webhooks/doorbell/<connection id>``::

    {"changes": [{"entity": "customers", "keys": ["0000012", "0000013"]}]}

with ``X-Clarity-Timestamp`` (Unix seconds) and ``X-Clarity-Signature: sha256=<hex>``, the
HMAC-SHA256 of ``<timestamp>.<body>`` under the connection's ``doorbell_secret`` credential
(kept encrypted with its other credentials). The scheme is Stripe's: signing the timestamp
with the body lets a receiver refuse an old delivery replayed later [P]
(docs.stripe.com/webhooks#verify-manually, "Preventing replay attacks"; the same idea as
Slack's ``v0:<timestamp>:<body>``, api.slack.com/authentication/verifying-requests-from-slack).
A delivery older or newer than ``CLARITY_DOORBELL_WINDOW_SECONDS`` (300) is refused; one
repeated within the window is the same event and stored once.

Each change becomes a neutral event naming the records, stored like a webhook's, so the
flows reading that entity from the connection run for just those records. Any system can
ring it: nothing here is particular to SYSPRO. A call naming an entity that no enabled
flow of the connection reads on events would start nothing; it is refused whole (422,
naming the entities that would be heard), logged, and counted per connection and entity
in Redis (``UNHEARD_KEY``: entity -> calls), so a typo in a SQL job shows up instead of
silently moving nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import redis.exceptions
from django.conf import settings

from clarity.models import Flow
from clarity.sync.queues import DEFAULT_QUEUE, get_queue
from clarity.webhooks.services import MAX_RECORD_ID, webhook_body, webhook_events_store
from connectors.models import Connection
from connectors.secrets import SecretUnreadable
from connectors.webhooks import ChangeEvent, Subscriber, WebhookRejected

SECRET_NAME = "doorbell_secret"  # noqa: S105 (a credential's name)
TIMESTAMP_HEADER = "X-Clarity-Timestamp"
SIGNATURE_HEADER = "X-Clarity-Signature"
MAX_CHANGES = 100
MAX_KEYS = 1000  # per delivery; a run reads at most CLARITY_TARGETED_RUN_MAX_IDS, else polls
UNHEARD_KEY = "clarity:doorbell:unheard:{connection_id}"  # entity -> calls refused for it

logger = logging.getLogger(__name__)


def doorbell_window() -> int:
    return int(getattr(settings, "CLARITY_DOORBELL_WINDOW_SECONDS", 300))


def doorbell_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=`` and the hex HMAC-SHA256 of ``<timestamp>.<body>``: what a caller sends."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def doorbell_ring(
    *, connection_id: int, body: bytes, headers: Mapping[str, str], now: float | None = None
) -> int:
    """Store the changes a signed doorbell call names and queue their runs; returns how many
    are new. Refused whole, storing nothing: 401 when the connection, its secret, the
    signature or the timestamp do not check out (one answer for all, so a caller learns
    nothing of which connections exist); 400 for a body that is not the shape above; 422
    when it names an entity no enabled flow of the connection reads on events."""
    secret, connection = _secret(connection_id)
    stamp = headers.get(TIMESTAMP_HEADER) or ""
    given = (headers.get(SIGNATURE_HEADER) or "").encode("utf-8", "replace")
    expected = doorbell_signature(secret, stamp, body).encode() if secret else b""
    # Bytes, not str: compare_digest refuses non-ASCII text, which anyone can send.
    if not secret or not given or not hmac.compare_digest(expected, given):
        raise WebhookRejected(401, f"The {SIGNATURE_HEADER} does not match this doorbell.")
    moment = time.time() if now is None else now
    if not stamp.isdigit() or abs(moment - int(stamp)) > doorbell_window():
        raise WebhookRejected(
            401,
            f"The {TIMESTAMP_HEADER} is not within {doorbell_window()} seconds of now: check "
            "the sender's clock, and send each call when it is made.",
        )
    changes = _changes(webhook_body(body))
    _check_heard(connection, [entity for entity, _ in changes])
    subscriber = Subscriber(key=connection.pk, secret="")  # checked above
    events = [
        ChangeEvent(
            subscriber=subscriber,
            category=entity,
            event_type="doorbell",
            record_ids=keys,
            entities=(entity,),
            # The timestamp makes a repeat of this call the same event (stored once) and a
            # later call naming the same keys a new one.
            raw={"entity": entity, "keys": list(keys), "timestamp": int(stamp)},
            key_fields={entity: ""},
        )
        for entity, keys in changes
    ]
    return webhook_events_store(events=events)


def _check_heard(connection: Connection, entities: Sequence[str]) -> None:
    """Refuse (422) a call naming an entity no enabled flow of the connection reads with
    "run on events" ticked — matched without regard to case, as runs are woken
    (``webhook_events_process``); it would be stored and start nothing."""
    heard = {
        name.lower(): name
        for name in Flow.objects.filter(
            source_connection=connection, enabled=True, trigger_webhook=True
        ).values_list("source_entity", flat=True)
    }
    unheard = [entity for entity in dict.fromkeys(entities) if entity.lower() not in heard]
    if not unheard:
        return
    logger.warning(
        "Doorbell of connection %s (%s): no flow runs on events for %s; call refused.",
        connection.pk, connection.name, ", ".join(unheard),
    )  # fmt: skip
    _count_unheard(connection.pk, unheard)
    names = ", ".join(f"'{entity}'" for entity in unheard)
    listening = ", ".join(sorted(heard.values()))
    raise WebhookRejected(
        422,
        f"No enabled flow of this connection runs on events for {names}, so nothing would "
        "read these keys; nothing was stored. "
        + (
            f"Entities it runs on events for: {listening}. Correct the entity name in the "
            'call, or tick "Run on events" on the flow that reads it.'
            if listening
            else 'Tick "Run on events" on (and enable) the flow that reads it.'
        ),
    )


def _count_unheard(connection_id: int, entities: Sequence[str]) -> None:
    """One more refused call per entity, kept in Redis for the operator; a count is not
    worth failing the answer for, so Redis being down only loses it."""
    try:
        with get_queue(DEFAULT_QUEUE).connection.pipeline() as pipe:
            for entity in entities:
                pipe.hincrby(UNHEARD_KEY.format(connection_id=connection_id), entity, 1)
            pipe.execute()
    except redis.exceptions.RedisError:
        logger.warning("Doorbell of connection %s: Redis down, refusal not counted.", connection_id)


def _secret(connection_id: int) -> tuple[str, Connection]:
    in_range = 0 < connection_id < 2**31  # a bigger id is no row, and no query either
    connection = Connection.objects.filter(pk=connection_id).first() if in_range else None
    if connection is None:
        return "", Connection()
    try:
        credentials = connection.credentials or {}
    except SecretUnreadable:
        return "", connection  # reported on the connection by the webhook path already
    secret = credentials.get(SECRET_NAME) if isinstance(credentials, dict) else None
    return (secret if isinstance(secret, str) else ""), connection


def _changes(body: Any) -> list[tuple[str, tuple[str, ...]]]:
    """``[(entity, keys)]`` of a delivery, or a 400 naming what is wrong."""
    changes = body.get("changes") if isinstance(body, dict) else None
    if not isinstance(changes, list) or not changes:
        raise WebhookRejected(
            400, 'A doorbell call is {"changes": [{"entity": "...", "keys": ["..."]}]}.'
        )
    if len(changes) > MAX_CHANGES:
        raise WebhookRejected(400, f"A doorbell call names at most {MAX_CHANGES} changes.")
    found, total = [], 0
    for number, change in enumerate(changes, start=1):
        entity = change.get("entity") if isinstance(change, dict) else None
        keys = change.get("keys") if isinstance(change, dict) else None
        if not isinstance(entity, str) or not entity.strip() or len(entity) > 100:
            raise WebhookRejected(400, f"Change {number}: entity is a name of 1 to 100 characters.")
        if not isinstance(keys, list) or not keys:
            raise WebhookRejected(400, f"Change {number}: keys is a list of the changed keys.")
        if not all(isinstance(k, str) and k.strip() and len(k) <= MAX_RECORD_ID for k in keys):
            raise WebhookRejected(
                400, f"Change {number}: each key is text of 1 to {MAX_RECORD_ID} characters."
            )
        total += len(keys)
        if total > MAX_KEYS:
            raise WebhookRejected(400, f"A doorbell call names at most {MAX_KEYS} keys.")
        found.append((entity.strip(), tuple(dict.fromkeys(k.strip() for k in keys))))
    return found
