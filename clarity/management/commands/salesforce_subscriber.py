"""``manage.py salesforce_subscriber``: hold each Salesforce connection's Pub/Sub API stream
open, one thread per topic its event-triggered flows need, storing every event before its
position (clarity/webhooks/streams.py). SIGTERM or Ctrl-C stops it cleanly; after any stop,
even a SIGKILL, the next start resumes every topic from its stored position.

The topics follow the flows while it runs: every ``--refresh`` seconds (2 by default: one
small query) it works out which topics the flows need now and opens the new ones, closes
those no flow needs any more (a flow deleted, disabled, no longer run on events, or
pointed at another entity or connection) and re-opens a connection whose settings changed.
A closed topic keeps its stored position, so opening it again later resumes where it was.

Starting is on the path of every event that waits while the subscriber restarts, so the
command connects first, does no system checks, and leaves the rest for later.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections, connections

from clarity.models import SubscriberStatus
from clarity.webhooks.streams import (
    stream_batch_store,
    stream_flows,
    stream_position,
    stream_position_lost,
    stream_state_set,
)
from connectors.configs import connector_for
from connectors.errors import ConnectorError
from connectors.models import Connection
from connectors.registry import event_stream
from connectors.streams import EventStream, StreamBatch
from connectors.webhooks import Subscriber

logger = logging.getLogger("clarity.subscriber")

SYSTEM = "salesforce"
# A topic whose thread ended by itself (refused for good: a permission, a bad secret) is
# tried again this long after, not on every look at the flows.
RETRY_ENDED_SECONDS = 30.0
JOIN_SECONDS = 15.0


class TopicListener:
    """One topic of one connection, kept in PostgreSQL through the stream services.
    ``flow_ids`` (the flows the topic wakes) follow the flows while it listens."""

    def __init__(self, connection_id: int, topic: str, flow_ids: Sequence[int]) -> None:
        self.connection_id = connection_id
        self.topic = topic
        self.flow_ids = list(flow_ids)

    def position(self, topic: str) -> bytes | None:
        return stream_position(connection_id=self.connection_id, topic=topic)

    def received(self, batch: StreamBatch) -> None:
        stream_batch_store(connection_id=self.connection_id, batch=batch, flow_ids=self.flow_ids)

    def position_lost(self, topic: str, message: str) -> None:
        stream_position_lost(
            connection_id=self.connection_id, topic=topic, flow_ids=self.flow_ids, message=message
        )

    def state(self, status: str, message: str = "") -> None:
        if status != SubscriberStatus.CONNECTED:
            logger.info("Connection %s, %s: %s %s", self.connection_id, self.topic, status, message)
        text = f"{self.topic}: {message}" if message else ""
        stream_state_set(connection_id=self.connection_id, status=status, message=text)


class _Topic:
    """A topic's listener and the thread running it."""

    def __init__(self, stream: EventStream, listener: TopicListener) -> None:
        self.listener = listener
        self.thread = threading.Thread(
            target=_listen, args=(stream, listener.topic, listener),
            name=f"{listener.connection_id} {listener.topic}",
        )  # fmt: skip
        self.ended_at: float | None = None

    def ended_long_ago(self) -> bool:
        """Its thread ended by itself, long enough ago to try the topic again."""
        if self.thread.is_alive():
            return False
        if self.ended_at is None:
            self.ended_at = time.monotonic()
        return time.monotonic() - self.ended_at >= RETRY_ENDED_SECONDS


class Subscriptions:
    """The streams and topic threads of this process, kept in line with the flows by
    ``reconcile``; ``only`` limits it to some connections (ids)."""

    def __init__(
        self,
        opener: Callable[..., EventStream],
        only: Sequence[int] | None = None,
        *,
        say: Callable[[str], None] = logger.info,
    ) -> None:
        self.opener = opener
        self.only = list(only or ())
        self.say = say
        self.streams: dict[int, tuple[EventStream, dict[str, Any]]] = {}
        self.topics: dict[tuple[int, str], _Topic] = {}
        self.refused: dict[int, str] = {}  # connection -> why it could not be opened

    def reconcile(self) -> None:
        """Open the topics the flows need now, close those they no longer need, and
        re-open a connection whose settings changed (its topics resume from their stored
        positions); a connection that cannot be reached is marked stopped."""
        found = Connection.objects.filter(system=SYSTEM).order_by("pk")
        if self.only:
            found = found.filter(pk__in=self.only)
        wanted: dict[int, dict[str, list[int]]] = {}
        seen = set()
        for row in found:
            seen.add(row.pk)
            settings = row.settings if isinstance(row.settings, dict) else {}
            held = self.streams.get(row.pk)
            if held is not None and held[1] != settings:
                self.say(f"Connection {row.pk} ({row.name}): settings changed, re-opening")
                self._close_connection(row.pk)
                held = None
            try:
                if held is None:
                    subscriber = Subscriber(key=row.pk, secret="", settings=settings)
                    held = (self.opener(connector_for(row), subscriber), settings)
                    self.streams[row.pk] = held
                wanted[row.pk] = stream_flows(connection=row, topics_for=held[0].topics)
            except ConnectorError as exc:
                if self.refused.get(row.pk) != exc.message:  # said once, not every look
                    self.refused[row.pk] = exc.message
                    stream_state_set(
                        connection_id=row.pk, status=SubscriberStatus.STOPPED, message=exc.message
                    )
                continue
            self.refused.pop(row.pk, None)
        for connection_id in [c for c in self.streams if c not in seen]:  # deleted
            self._close_connection(connection_id)
        for key in [key for key in self.topics if key[1] not in wanted.get(key[0], {})]:
            self._close_topic(*key)
            if not any(other[0] == key[0] for other in self.topics):
                stream_state_set(
                    connection_id=key[0],
                    status=SubscriberStatus.STOPPED,
                    message="No enabled flow of this connection runs on its events.",
                )
        for connection_id, topics in wanted.items():
            for topic, flow_ids in topics.items():
                self._open_topic(connection_id, topic, flow_ids)

    def _open_topic(self, connection_id: int, topic: str, flow_ids: list[int]) -> None:
        held = self.topics.get((connection_id, topic))
        if held is not None and not held.ended_long_ago():
            held.listener.flow_ids = flow_ids
            return
        stream = self.streams[connection_id][0]
        opened = _Topic(stream, TopicListener(connection_id, topic, flow_ids))
        self.topics[(connection_id, topic)] = opened
        opened.thread.start()
        self.say(f"Connection {connection_id}: listening to {topic}")

    def _close_topic(self, connection_id: int, topic: str) -> None:
        """Stop listening to a topic no flow needs; its stored position stays."""
        held = self.topics.pop((connection_id, topic))
        self.streams[connection_id][0].stop_topic(topic)
        held.thread.join(JOIN_SECONDS)
        self.say(f"Connection {connection_id}: no flow needs {topic} any more, closed")

    def _close_connection(self, connection_id: int) -> None:
        """Close a connection's stream and every topic of it (deleted, or re-opened with
        new settings)."""
        stream, _ = self.streams.pop(connection_id)
        stream.close()
        for key in [key for key in self.topics if key[0] == connection_id]:
            self.topics.pop(key).thread.join(JOIN_SECONDS)

    def close(self) -> None:
        for stream, _ in self.streams.values():
            stream.stop()
        for held in self.topics.values():
            held.thread.join(JOIN_SECONDS)
        for stream, _ in self.streams.values():
            stream.close()
        self.streams.clear()
        self.topics.clear()


class Command(BaseCommand):
    help = "Subscribe to Salesforce change events (Pub/Sub API) for every event-triggered flow."
    # A long-running process, not a one-off: the checks belong to deploys (manage.py check),
    # and every second spent starting is a second the events of a restart wait.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument(
            "--connection", type=int, action="append", help="only these connections (ids)"
        )
        # Django offers it only to commands that run checks: kept so that existing service
        # definitions (and the benchmark) still start it.
        parser.add_argument("--skip-checks", action="store_true", help="(checks never run here)")
        parser.add_argument(
            "--refresh",
            type=float,
            default=2.0,
            help="seconds between looks at the flows, for topics to open or close",
        )

    def handle(
        self, *args: object, connection: list[int] | None, refresh: float, **options: Any
    ) -> None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        opener = event_stream(SYSTEM)
        if opener is None:
            raise CommandError("Salesforce has no event stream registered.")
        stopping = threading.Event()
        for stop in (signal.SIGINT, signal.SIGTERM):
            signal.signal(stop, lambda *_: stopping.set())
        subscriptions = Subscriptions(opener, connection)
        try:
            while not stopping.is_set():
                subscriptions.reconcile()
                close_old_connections()
                stopping.wait(refresh)
        finally:
            subscriptions.close()
            connections.close_all()


def _listen(stream: EventStream, topic: str, listener: TopicListener) -> None:
    """A topic's thread: the stream's own loop, its database connection closed at the end;
    a failure of ours (the database gone) is logged and stops the topic, not the process."""
    try:
        stream.listen(topic, listener)
    except Exception as exc:
        logger.exception("Connection %s, %s stopped", listener.connection_id, topic)
        try:
            listener.state(SubscriberStatus.STOPPED, f"The subscriber failed: {exc}")
        except Exception:
            logger.exception("Its state could not be recorded either.")
    finally:
        connections.close_all()
