"""Event streams in: what a system's stream delivers is stored as webhooks' events are, and
the position the stream resumes from moves in the same transaction.

A long-running subscriber (``manage.py salesforce_subscriber``) holds each connection's
stream open (``connectors.registry.event_stream``) and hands every answer here. At least
once, nothing lost: the events are stored and their flows' runs queued (the webhook path,
``webhook_events_store`` then ``webhook_events_process``, in one transaction: no job in
between) together with the position that passes them; a subscriber killed before the
commit hears them again, and ``webhook_events_store`` recognises a repeat, so nothing is
stored or run twice either.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clarity.models import (
    Flow,
    SubscriberPosition,
    SubscriberState,
    SubscriberStatus,
    Trigger,
)
from clarity.services.runs import flow_run_enqueue
from clarity.webhooks.services import webhook_events_store
from connectors.models import Connection
from connectors.streams import StreamBatch
from connectors.webhooks import WebhookRejected

logger = logging.getLogger(__name__)


def stream_flows(
    *, connection: Connection, topics_for: Callable[[Sequence[str]], Mapping[str, str]]
) -> dict[str, list[int]]:
    """The topics the connection's event-triggered flows need, each with the flows it
    wakes (``topics_for`` is the stream's: entities -> topics)."""
    flows: dict[str, list[int]] = {}
    listening = Flow.objects.filter(
        source_connection=connection, enabled=True, trigger_webhook=True
    ).order_by("pk")
    for flow in listening:
        for topic in topics_for([flow.source_entity]):
            flows.setdefault(topic, []).append(flow.pk)
    return flows


def stream_position(*, connection_id: int, topic: str) -> bytes | None:
    """Where the connection's stream of ``topic`` resumes; None before its first answer."""
    found = (
        SubscriberPosition.objects.filter(connection_id=connection_id, topic=topic)
        .values_list("replay_id", flat=True)
        .first()
    )
    return bytes(found) if found else None


def stream_batch_store(*, connection_id: int, batch: StreamBatch, flow_ids: Iterable[int]) -> int:
    """Store a batch's events and queue their flows' runs, then keep its position, in one
    transaction; returns how many events were new.

    A batch whose events cannot be stored as they are (a field longer than its column)
    must not stop the stream for good, nor be skipped unseen: ``flow_ids`` (the flows the
    topic wakes) are polled from their cursors instead, which reads those changes too.
    """
    now = timezone.now()
    with transaction.atomic():
        try:
            with transaction.atomic():
                stored = (
                    webhook_events_store(events=batch.events, process_now=True)
                    if batch.events
                    else 0
                )
        except WebhookRejected as exc:
            logger.error(
                "Connection %s, %s: events not storable (%s); polling its flows instead.",
                connection_id, batch.topic, exc.message,
            )  # fmt: skip
            stored = _poll(flow_ids)
        SubscriberPosition.objects.update_or_create(
            connection_id=connection_id,
            topic=batch.topic,
            defaults={"replay_id": batch.position, "latest_replay_id": batch.latest},
        )
        state: dict[str, Any] = {"status": SubscriberStatus.CONNECTED, "message": ""}
        if batch.heard:
            state["last_event_at"] = now
        SubscriberState.objects.update_or_create(connection_id=connection_id, defaults=state)
    return stored


def stream_position_lost(
    *, connection_id: int, topic: str, flow_ids: Iterable[int], message: str
) -> int:
    """The stored position is past the stream's retention: forget it (the stream starts
    again at its tip) and poll the topic's flows from their cursors, so the changes the
    lost events told of are read anyway; returns how many runs were queued."""
    logger.warning("Connection %s, %s: %s", connection_id, topic, message)
    with transaction.atomic():
        SubscriberPosition.objects.filter(connection_id=connection_id, topic=topic).delete()
        runs = _poll(flow_ids)
        SubscriberState.objects.update_or_create(
            connection_id=connection_id,
            defaults={
                "status": SubscriberStatus.RECONNECTING,
                "message": f"{topic}: {message} Events since were missed: a full poll of "
                f"{runs} flow(s) from their cursors was queued, and the stream starts again "
                "at its newest event.",
                "position_lost_at": timezone.now(),
            },
        )
    return runs


def stream_state_set(*, connection_id: int, status: str, message: str = "") -> None:
    """Record how the connection's subscriber is doing (shown on the health dashboard)."""
    SubscriberState.objects.update_or_create(
        connection_id=connection_id, defaults={"status": status, "message": message}
    )


def _poll(flow_ids: Iterable[int]) -> int:
    """Queue a run of each flow that reads from its cursor; how many were queued."""
    queued = 0
    for flow in Flow.objects.filter(pk__in=list(flow_ids), enabled=True):
        try:
            flow_run_enqueue(flow=flow, trigger=Trigger.WEBHOOK)
        except ValidationError:
            continue  # disabled since it was listed
        queued += 1
    return queued
