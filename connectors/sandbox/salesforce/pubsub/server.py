"""Salesforce's Pub/Sub API on loopback: ``GetTopic``, ``GetSchema`` and ``Subscribe``,
served with the stubs generated from Salesforce's ``pubsub_api.proto``.

Behaviour and its evidence ([P] Salesforce's documentation or proto, [O] Salesforce's
examples or integrators' public clients, [A] the sandbox's assumption):

* Authentication is gRPC metadata on every call: ``accesstoken`` (a session the sandbox's
  OAuth endpoint issued), ``instanceurl`` and ``tenantid`` (the org id, 15 or 18
  characters). [P] https://developer.salesforce.com/docs/platform/pub-sub-api/guide/supported-auth.html;
  [O] forcedotcom/pub-sub-api ``python/InventoryAppExample/PubSub.py`` sends exactly these.
  A missing, unknown, revoked or timed-out session, or another org's id or no instance
  URL [A: checked as a pair with the session], fails the call
  with ``UNAUTHENTICATED`` and the trailer ``error-code:
  sfdc.platform.eventbus.grpc.service.auth.error`` [O: the code Salesforce's Go example
  and public clients (Apache Camel's PubSubApiClient) refresh the token on]. An open
  stream keeps its session alive (each answer uses it), so the session timeout does not
  end a subscription [P same page: "the session timeout doesn't matter for a subscriber
  client"]; a session ended otherwise (``POST /_sandbox/sessions/expire``, as a revoked
  token) ends the stream with that error at its next answer [A].
* Errors carry the ``error-code`` and ``rpc-id`` trailers and end the message with
  ``rpcId: <id>``. [P] https://developer.salesforce.com/docs/platform/pub-sub-api/guide/handling-errors.html;
  [A] the name of the rpc-id trailer.
* ``Subscribe`` is pull-based: the client asks for ``num_requested`` events (at most 100
  a request; more is capped at 100 [A]) and the server never sends more than are pending;
  requests add up; each answer says ``pending_num_requested``. [P]
  https://developer.salesforce.com/docs/platform/pub-sub-api/references/methods/subscribe-rpc.html
  A ``num_requested`` below 1 is ``INVALID_ARGUMENT``
  ``sfdc.platform.eventbus.grpc.subscription.fetch.requested.events.invalid`` [O: error
  table as quoted by integrators].
* The topic and replay options are read from the first ``FetchRequest`` only. No preset is
  LATEST; EARLIEST starts at the oldest retained event; CUSTOM starts after ``replay_id``.
  [P] proto comments on ``FetchRequest``. CUSTOM without a replay id is
  ``INVALID_ARGUMENT`` ``…subscription.fetch.replayid.validation.failed``; a replay id
  that names no event still within retention (never given out, or purged) is
  ``INVALID_ARGUMENT`` ``…subscription.fetch.replayid.corrupted``. [P]
  https://developer.salesforce.com/docs/platform/pub-sub-api/guide/retry-rpc-calls.html
  (corrupted: "an old Replay ID outside the 72-hour retention period"); [O] the status
  code and the validation.failed code, from public clients' handling of them.
* When there is nothing to send, the server answers with no events and the
  ``latest_replay_id`` within 270 s (``pubsub_keepalive_seconds``). [P] proto comments on
  ``FetchResponse``. ``latest_replay_id`` never passes an event the client has not been
  sent yet (while flow control holds one back it names the position just before it), so
  a client that stores it as its position loses nothing [A: Salesforce documents it as the
  position to resume from, "Clients will not have to start a subscription at a very old
  replay"].
* Unknown topic or schema: ``NOT_FOUND`` with ``…subscription.topic.notfound`` [O: code
  used by public clients] / ``…schema.notfound`` [A].
* Plain HTTP/2 on loopback, no TLS: Salesforce serves ``api.pubsub.salesforce.com:7443``
  over TLS [P]; like the REST sandbox, only the address differs [A].
Not emulated: ``Publish``/``PublishStream`` (platform events are published through the
control API), ``ManagedSubscribe``, idle-stream closing.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent import futures
from typing import TYPE_CHECKING, Any, NoReturn

import grpc

from connectors.salesforce.pubsub import pubsub_api_pb2 as pb2
from connectors.salesforce.pubsub import pubsub_api_pb2_grpc as pb2_grpc
from connectors.sandbox.salesforce.auth import ORG_ID
from connectors.sandbox.salesforce.pubsub.stream import (
    BusEvent,
    EventBus,
    EventLog,
    replay_bytes,
    replay_position,
)
from connectors.sandbox.salesforce.schema import canonical_id

if TYPE_CHECKING:  # the app imports this module
    from connectors.sandbox.salesforce.app import SalesforceApp

logger = logging.getLogger(__name__)

ERROR_PREFIX = "sfdc.platform.eventbus.grpc."
AUTH_ERROR = ERROR_PREFIX + "service.auth.error"
REPLAY_CORRUPTED = ERROR_PREFIX + "subscription.fetch.replayid.corrupted"
REPLAY_MISSING = ERROR_PREFIX + "subscription.fetch.replayid.validation.failed"
REQUESTED_INVALID = ERROR_PREFIX + "subscription.fetch.requested.events.invalid"
TOPIC_NOT_FOUND = ERROR_PREFIX + "subscription.topic.notfound"
SCHEMA_NOT_FOUND = ERROR_PREFIX + "schema.notfound"
STREAM_RESET = ERROR_PREFIX + "subscription.stream.reset"  # [A] after POST /_sandbox/reset

MAX_NUM_REQUESTED = 100  # [P] subscribe-rpc
KEEPALIVE_SECONDS = 270.0  # [P] proto


def _abort(context: grpc.ServicerContext, code: grpc.StatusCode, error: str, text: str) -> NoReturn:
    rpc_id = str(uuid.uuid4())
    context.set_trailing_metadata((("error-code", error), ("rpc-id", rpc_id)))
    context.abort(code, f"{text} rpcId: {rpc_id}")


class PubSubService(pb2_grpc.PubSubServicer):
    """The org's Pub/Sub API over its event bus and its OAuth sessions."""

    def __init__(self, app: SalesforceApp, bus: EventBus) -> None:
        self.app = app
        self.bus = bus
        self.stopping = threading.Event()

    # -- auth -----------------------------------------------------------------------

    def _authenticate(self, context: grpc.ServicerContext) -> dict[str, Any]:
        metadata = {key: value for key, value in context.invocation_metadata()}
        token = str(metadata.get("accesstoken", ""))
        tenant = canonical_id(str(metadata.get("tenantid", "")))
        with self.app.lock:
            session = self.app.live_session(token) if token else None
        if session is None or not metadata.get("instanceurl") or tenant != canonical_id(ORG_ID):
            _abort(
                context,
                grpc.StatusCode.UNAUTHENTICATED,
                AUTH_ERROR,
                # [O] wording public clients match on
                "The client does not have valid authentication credentials: "
                "an authentication exception occurred.",
            )
        return session

    def _user_id(self, session: dict[str, Any]) -> str:
        return str(self.app.users[session["user"]]["id"])

    # -- unary calls -------------------------------------------------------------------

    def GetTopic(self, request: pb2.TopicRequest, context: grpc.ServicerContext) -> pb2.TopicInfo:
        self._authenticate(context)
        schema_id = self.bus.topic_schema_id(request.topic_name)
        if schema_id is None:
            _abort(
                context,
                grpc.StatusCode.NOT_FOUND,
                TOPIC_NOT_FOUND,
                f"Topic {request.topic_name!r} was not found or is not enabled.",
            )
        return pb2.TopicInfo(
            topic_name=request.topic_name,
            tenant_guid=canonical_id(ORG_ID) or ORG_ID,
            can_publish=request.topic_name.startswith("/event/"),
            can_subscribe=True,
            schema_id=schema_id,
            rpc_id=str(uuid.uuid4()),
        )

    def GetSchema(
        self, request: pb2.SchemaRequest, context: grpc.ServicerContext
    ) -> pb2.SchemaInfo:
        self._authenticate(context)
        schema_json = self.bus.schema_json(request.schema_id)
        if schema_json is None:
            _abort(
                context,
                grpc.StatusCode.NOT_FOUND,
                SCHEMA_NOT_FOUND,
                f"Schema {request.schema_id!r} was not found.",
            )
        return pb2.SchemaInfo(
            schema_json=schema_json, schema_id=request.schema_id, rpc_id=str(uuid.uuid4())
        )

    # -- Subscribe ------------------------------------------------------------------------

    def Subscribe(
        self, request_iterator: Iterator[pb2.FetchRequest], context: grpc.ServicerContext
    ) -> Iterator[pb2.FetchResponse]:
        session = self._authenticate(context)
        first = next(request_iterator, None)
        if first is None:
            return
        topic = first.topic_name
        if not topic or not self.bus.has_topic(topic):
            _abort(
                context,
                grpc.StatusCode.NOT_FOUND,
                TOPIC_NOT_FOUND,
                f"Topic {topic!r} was not found or is not enabled.",
            )
        subscription = _Subscription(self, context, topic, session)
        subscription.start(first, request_iterator)
        yield from subscription.responses()


class _Subscription:
    """One ``Subscribe`` stream: its position, what the client still wants, keepalives."""

    def __init__(
        self, service: PubSubService, context: grpc.ServicerContext, topic: str, session: Any
    ) -> None:
        self.service = service
        self.bus = service.bus
        self.context = context
        self.topic = topic
        self.pending = 0
        self.closed = False
        self.log: EventLog = self.bus.log
        self.cursor = 0  # the position after which the next event comes
        self.rpc_id = str(uuid.uuid4())
        self.keepalive = float(service.app.option("pubsub_keepalive_seconds", KEEPALIVE_SECONDS))
        context.add_callback(self._close)

    def _close(self) -> None:
        with self.bus.changed:
            self.closed = True
            self.bus.changed.notify_all()

    def _ask(self, request: pb2.FetchRequest) -> None:
        if request.num_requested < 1:
            _abort(
                self.context,
                grpc.StatusCode.INVALID_ARGUMENT,
                REQUESTED_INVALID,
                "num_requested must be a positive number of events.",
            )
        with self.bus.changed:
            self.pending += min(request.num_requested, MAX_NUM_REQUESTED)
            self.bus.changed.notify_all()

    def start(self, first: pb2.FetchRequest, later: Iterator[pb2.FetchRequest]) -> None:
        """Place the stream by the first request's replay option, then read the client's
        later requests (only their ``num_requested`` counts) on a thread of their own."""
        self.bus.purge()
        log = self.log
        preset = first.replay_preset
        if preset == pb2.ReplayPreset.EARLIEST:
            self.cursor = log.purged_through
        elif preset == pb2.ReplayPreset.CUSTOM:
            if not first.replay_id:
                _abort(
                    self.context,
                    grpc.StatusCode.INVALID_ARGUMENT,
                    REPLAY_MISSING,
                    "A replay_id is required with the CUSTOM replay preset.",
                )
            position = replay_position(first.replay_id)
            if position is None or not log.resumable_after(position):
                _abort(
                    self.context,
                    grpc.StatusCode.INVALID_ARGUMENT,
                    REPLAY_CORRUPTED,
                    "The Replay ID validation failed. Ensure that the replay_id field value in "
                    "FetchRequest is valid and refers to an event that is within the retention "
                    "window.",
                )
            self.cursor = position
        else:
            self.cursor = log.last_position
        self._ask(first)
        threading.Thread(
            target=self._read_requests,
            args=(later,),
            name="sandbox-pubsub-requests",
            daemon=True,
        ).start()

    def _read_requests(self, requests: Iterator[pb2.FetchRequest]) -> None:
        try:
            for request in requests:
                self._ask(request)
        except Exception:  # the stream ended under us (client gone, or aborted)
            logger.debug("sandbox pubsub: request stream ended", exc_info=True)
        # A client that half-closes its side keeps receiving what it asked for [A].

    def _ready(self) -> list[BusEvent]:
        """The topic's events after the cursor that the client still wants."""
        found: list[BusEvent] = []
        if self.pending <= 0:
            return found
        for event in self.log.events[self.bus.after(self.cursor) :]:
            if self.topic in event.topics:
                found.append(event)
                if len(found) == self.pending:
                    break
        return found

    def _latest(self) -> bytes:
        """The newest position the client may store: the stream's tip, or just before the
        first event of its topic it has not been sent."""
        for event in self.log.events[self.bus.after(self.cursor) :]:
            if self.topic in event.topics:
                return replay_bytes(event.position - 1)
        return replay_bytes(max(self.log.last_position, self.cursor))

    def responses(self) -> Iterator[pb2.FetchResponse]:
        service = self.service
        next_keepalive = time.monotonic() + self.keepalive
        while True:
            with self.bus.changed:
                while True:
                    if self.closed or service.stopping.is_set():
                        return
                    if self.bus.log is not self.log:
                        break
                    ready = self._ready()
                    wait = next_keepalive - time.monotonic()
                    if ready or wait <= 0:
                        break
                    self.bus.changed.wait(wait)
                if self.bus.log is not self.log:
                    _abort(
                        self.context,
                        grpc.StatusCode.UNAVAILABLE,
                        STREAM_RESET,
                        "The event stream was reset; subscribe again.",
                    )
                events = [
                    pb2.ConsumerEvent(
                        event=pb2.ProducerEvent(
                            id=e.event_id, schema_id=e.schema_id, payload=e.payload
                        ),
                        replay_id=replay_bytes(e.position),
                    )
                    for e in ready
                ]
                if ready:
                    self.cursor = ready[-1].position
                    self.pending -= len(ready)
                latest = self._latest()
                pending = self.pending
            service._authenticate(self.context)
            next_keepalive = time.monotonic() + self.keepalive
            yield pb2.FetchResponse(
                events=events,
                latest_replay_id=latest,
                rpc_id=self.rpc_id,
                pending_num_requested=pending,
            )


class PubSubServer:
    """The gRPC server beside the org's HTTP server; ``endpoint`` is ``host:port``."""

    def __init__(self, app: SalesforceApp, bus: EventBus, host: str, ports: list[int]) -> None:
        """Listen on the first of ``ports`` that is free (0: any free port)."""
        self.service = PubSubService(app, bus)
        workers = int(app.option("pubsub_max_streams", 64))
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sandbox-pubsub"),
            # gRPC shares a port between servers by default (SO_REUSEPORT): two sandboxes
            # would split one port's subscribers between them.
            options=[("grpc.so_reuseport", 0)],
        )
        pb2_grpc.add_PubSubServicer_to_server(self.service, self.server)
        self.port = 0
        for port in ports:
            try:
                self.port = self.server.add_insecure_port(f"{host}:{port}")
                break
            except RuntimeError:  # taken
                logger.warning("sandbox Pub/Sub API: port %s is taken", port)
        if not self.port:
            raise OSError(f"the sandbox's Pub/Sub API found no free port among {ports}")
        self.endpoint = f"{host}:{self.port}"

    def start(self) -> PubSubServer:
        self.server.start()
        return self

    def stop(self) -> None:
        self.service.stopping.set()
        with self.service.bus.changed:
            self.service.bus.changed.notify_all()
        self.server.stop(grace=1).wait(5)
