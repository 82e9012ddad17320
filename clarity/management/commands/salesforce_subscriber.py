"""``manage.py salesforce_subscriber``: hold each Salesforce connection's Pub/Sub API stream
open, one thread per topic its event-triggered flows need, storing every event before its
position (clarity/webhooks/streams.py). SIGTERM or Ctrl-C stops it cleanly; after any stop,
even a SIGKILL, the next start resumes every topic from its stored position.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Sequence
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


class TopicListener:
    """One topic of one connection, kept in PostgreSQL through the stream services."""

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


class Command(BaseCommand):
    help = "Subscribe to Salesforce change events (Pub/Sub API) for every event-triggered flow."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument(
            "--connection", type=int, action="append", help="only these connections (ids)"
        )
        parser.add_argument(
            "--refresh",
            type=float,
            default=30.0,
            help="seconds between looks for flows that need a new topic",
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
        streams: dict[int, EventStream] = {}
        threads: dict[tuple[int, str], threading.Thread] = {}
        try:
            while not stopping.is_set():
                self._start_new(opener, connection, streams, threads)
                close_old_connections()
                stopping.wait(refresh)
        finally:
            for stream in streams.values():
                stream.stop()
            for thread in threads.values():
                thread.join(15)
            connections.close_all()

    def _start_new(
        self,
        opener: Any,
        only: list[int] | None,
        streams: dict[int, EventStream],
        threads: dict[tuple[int, str], threading.Thread],
    ) -> None:
        """Open the stream of each connection with listening flows, and a thread for each
        topic not yet heard; a connection that cannot be reached is marked stopped."""
        found = Connection.objects.filter(system=SYSTEM).order_by("pk")
        if only:
            found = found.filter(pk__in=only)
        for row in found:
            try:
                stream = streams.get(row.pk)
                if stream is None:
                    settings = row.settings if isinstance(row.settings, dict) else {}
                    subscriber = Subscriber(key=row.pk, secret="", settings=settings)
                    stream = opener(connector_for(row), subscriber)
                topics = stream_flows(connection=row, topics_for=stream.topics)
            except ConnectorError as exc:
                stream_state_set(
                    connection_id=row.pk, status=SubscriberStatus.STOPPED, message=exc.message
                )
                continue
            if not topics:
                continue
            streams[row.pk] = stream
            for topic, flow_ids in topics.items():
                if (row.pk, topic) in threads and threads[(row.pk, topic)].is_alive():
                    continue
                listener = TopicListener(row.pk, topic, flow_ids)
                thread = threading.Thread(
                    target=_listen, args=(stream, topic, listener), name=f"{row.pk} {topic}"
                )
                threads[(row.pk, topic)] = thread
                thread.start()
                self.stdout.write(f"Connection {row.pk} ({row.name}): listening to {topic}")


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
