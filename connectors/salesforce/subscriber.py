"""Salesforce's Pub/Sub API, client side: change events as they happen, over gRPC.

Salesforce sends no HTTP webhooks for Change Data Capture: a subscriber holds a gRPC
stream open (``Subscribe``) and pulls events [P] (shared/systems/salesforce.md "Change
events"; https://developer.salesforce.com/docs/platform/pub-sub-api/overview). This module
speaks that wire format and nothing else — no Django, no sync core. It hands each event on
as a neutral ``ChangeEvent`` to a ``StreamListener`` (connectors/streams.py: the sync
core's side), which stores it and keeps the stream's position; the listener alone decides
when a position is safe to keep.

What is done, and on whose word:

* Auth is gRPC metadata ``accesstoken``, ``instanceurl``, ``tenantid`` (the org id) [P]
  (pubsub_api.proto, service comment). A refused session (``UNAUTHENTICATED``, trailer
  ``error-code`` ``sfdc.platform.eventbus.grpc.service.auth.error``) is renewed through
  the connector's own sign-in and the stream resumes from the stored position [O]
  apache/camel ``components/camel-salesforce/camel-salesforce-component/src/main/java/org/
  apache/camel/component/salesforce/internal/client/PubSubApiClient.java`` (logs in again
  on that code, resubscribes ``CUSTOM``).
* ``GetTopic`` then ``GetSchema`` by the schema id each event names, cached by id: an id
  is a fingerprint of its schema, so a cached schema never goes stale [P] proto ("Schema
  fingerprint"); [O] forcedotcom/pub-sub-api ``python/InventoryAppExample/PubSub.py``
  (``get_schema_json`` caches by id). Payloads are schemaless Avro, read with fastavro [P].
* Flow control: the first ``FetchRequest`` asks for ``batch_size`` events; after the
  listener has stored a response's events, as many more are asked for, so no more than
  ``batch_size`` are ever in flight unstored [P] proto ("Flow Control is handled by the
  subscriber via num_requested"); [O] Camel's ``FetchResponseObserver.onNext``. The
  responses that arrived while the listener was storing (a burst comes as one-event
  answers) are handed on as one batch, up to ``batch_size`` events [A].
* Keepalives — a response with no events and a ``latest_replay_id``, at most 270 s apart
  [P] proto — are handed on too, so the stored position follows the stream while it is idle.
* Start: ``CUSTOM`` after a stored replay id; ``LATEST`` when none is stored (first start)
  [P] proto ``ReplayPreset``. A stored id the bus no longer holds (older than the 72-hour
  retention) is refused with ``sfdc.platform.eventbus.grpc.subscription.fetch.replayid.
  corrupted`` [P] https://developer.salesforce.com/docs/platform/pub-sub-api/guide/
  retry-rpc-calls.html: the listener is told (it polls the affected flows), and the stream
  starts again at ``LATEST``.
* Other stream errors are retried with exponential backoff [P] same page.
* ``ChangeEventHeader``: ``changedFields``, ``nulledFields`` and ``diffFields`` are bitmaps
  over the event schema's field positions: ``0x…`` for the top level (bit *i* = field *i*,
  least significant first) and ``<parent position>-0x…`` for the fields inside a compound
  field [P] https://developer.salesforce.com/docs/platform/pub-sub-api/guide/
  event-deserialization-considerations.html; [O] forcedotcom/pub-sub-api
  ``python/util/ChangeEventHeaderUtility.py``. They are decoded to names
  (``BillingAddress.City`` for a compound's part).
* Echoes: ``changeOrigin`` carries ``client=<name>`` when the write sent
  ``Sforce-Call-Options: client=<name>`` [P] Apex reference "ChangeEventHeader Class",
  https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/
  apex_class_eventbus_ChangeEventHeader.htm; the connector sends its
  ``call_options_client`` setting on every write, so such events are dropped.
* Gap events (``GAP_CREATE`` …) carry the record ids but no field values; an overflow event
  (``GAP_OVERFLOW``) names only the entity [P] CDC guide "Gap Events", "Overflow Events",
  https://developer.salesforce.com/docs/atlas.en-us.change_data_capture.meta/
  change_data_capture/cdc_other_events.htm. They go on without field values, as "read these
  records" (or "poll this entity"), never as a guess at the change.
"""

from __future__ import annotations

import io
import json
import logging
import queue
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import fastavro
import grpc

from connectors.errors import ConnectorError, ErrorKind
from connectors.salesforce.connector import SalesforceConnector
from connectors.salesforce.pubsub import pubsub_api_pb2 as pb2
from connectors.salesforce.pubsub import pubsub_api_pb2_grpc as pb2_grpc
from connectors.streams import EventStream, StreamBatch, StreamListener
from connectors.webhooks import ChangeEvent, Subscriber

if TYPE_CHECKING:
    from connectors.base import Connector

logger = logging.getLogger(__name__)

# [P] the Pub/Sub API's global endpoint (Pub/Sub API guide, "Pub/Sub API Endpoint").
DEFAULT_PUBSUB_ENDPOINT = "api.pubsub.salesforce.com:7443"
# [P] at most 100 events per FetchRequest (Pub/Sub API "Allocations and Limits").
DEFAULT_BATCH_SIZE = 100
MAX_BACKOFF_SECONDS = 60.0
# [P] trailer key and codes: "Handle Errors", "Retry Long-Lived RPC Calls" (module docstring).
ERROR_CODE_TRAILER = "error-code"
AUTH_ERROR_CODES = frozenset(
    {
        "sfdc.platform.eventbus.grpc.service.auth.error",
        "sfdc.platform.eventbus.grpc.service.auth.refresh.invalid",  # [O] Camel, as above
    }
)
REPLAY_ID_GONE = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"
GAP_TYPES = frozenset({"GAP_CREATE", "GAP_UPDATE", "GAP_DELETE", "GAP_UNDELETE"})
OVERFLOW = "GAP_OVERFLOW"
BITMAP_FIELDS = ("changedFields", "nulledFields", "diffFields")

# [A] a design rule of Clarity's flows, not Salesforce's: an opportunity flow reads its
# line items with it, so a line item's change event also wakes the flows of Opportunity.
EXTRA_ENTITIES: dict[str, tuple[str, ...]] = {
    "OpportunityLineItem": ("Opportunity",),
}


class PubSubError(ConnectorError):
    """A stream or call the Pub/Sub API ended; ``code`` is its ``error-code`` trailer (or the
    gRPC status name when it sent none)."""

    def __init__(self, kind: ErrorKind, code: str, message: str, *, grpc_code: str) -> None:
        super().__init__(kind, code, message)
        self.grpc_code = grpc_code

    @property
    def auth_refused(self) -> bool:
        return self.code in AUTH_ERROR_CODES or self.grpc_code == "UNAUTHENTICATED"

    @property
    def replay_id_gone(self) -> bool:
        return self.code == REPLAY_ID_GONE


def _error(exc: grpc.RpcError) -> PubSubError:
    """A gRPC failure as a classified ``PubSubError`` a person can read."""
    status = exc.code() if isinstance(exc, grpc.Call) else None
    grpc_code = status.name if status is not None else "UNKNOWN"
    trailers: dict[str, Any] = (
        dict(exc.trailing_metadata() or ()) if isinstance(exc, grpc.Call) else {}
    )
    code = str(trailers.get(ERROR_CODE_TRAILER) or grpc_code)
    details = (exc.details() if isinstance(exc, grpc.Call) else None) or str(exc)
    if code in AUTH_ERROR_CODES or grpc_code == "UNAUTHENTICATED":
        kind, text = ErrorKind.AUTH, "Salesforce refused the session for its event stream"
    elif code == REPLAY_ID_GONE:
        kind = ErrorKind.DATA
        text = "Salesforce no longer holds events from the stored position (kept 72 hours)"
    elif grpc_code in ("PERMISSION_DENIED", "NOT_FOUND", "INVALID_ARGUMENT"):
        kind = ErrorKind.CONFIG
        text = "Salesforce refused the subscription; check the user may read this object's "
        text += "change events and that Change Data Capture is on for it"
    else:
        kind, text = ErrorKind.TRANSIENT, "The Salesforce event stream was interrupted"
    return PubSubError(kind, code, f"{text}: {details} ({code}).", grpc_code=grpc_code)


# -- events -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedEvent:
    """One event of a stream, decoded: ``header`` is the ``ChangeEventHeader`` with its
    bitmaps as field names (None for a platform event); ``fields`` the record's values
    (those the event carries: unchanged fields are null in Pub/Sub events [P])."""

    topic: str
    replay_id: bytes
    event_id: str
    schema_id: str
    header: Mapping[str, Any] | None
    fields: Mapping[str, Any]

    @property
    def change_type(self) -> str:
        return str(self.header.get("changeType", "")) if self.header else ""

    @property
    def is_gap(self) -> bool:
        """A gap or overflow event: it says *that* records changed, never *how*."""
        return self.change_type in GAP_TYPES or self.change_type == OVERFLOW

    def as_json(self) -> dict[str, Any]:
        """The event as stored: JSON, its replay id in hex, no field values for a gap."""
        return {
            "topic": self.topic,
            "origin": str(self.header.get("changeOrigin", "")) if self.header else "",
            "replay_id": self.replay_id.hex(),
            "event_id": self.event_id,
            "schema_id": self.schema_id,
            "ChangeEventHeader": _jsonable(self.header),
            "fields": {} if self.is_gap else _jsonable(self.fields),
        }


@dataclass(frozen=True)
class Batch:
    """One ``FetchResponse``: its events (maybe none: a keepalive) and the stream's latest
    replay id; ``position`` is where the stream stands once these are stored."""

    topic: str
    events: Sequence[ReceivedEvent]
    latest_replay_id: bytes

    @property
    def position(self) -> bytes:
        return self.events[-1].replay_id if self.events else self.latest_replay_id


def decode_bitmap(schema: Mapping[str, Any], bitmaps: Sequence[str]) -> list[str]:
    """Salesforce's field bitmaps -> field names of the event schema.

    ``"0x…"`` sets bit *i* for top-level field *i*; ``"<i>-0x…"`` sets bit *j* for the
    *j*-th field of the compound (record) field at position *i*, named ``Parent.Child``.
    A bitmap naming a position the schema lacks is an error: a schema mismatch must not
    pass unnoticed as "nothing changed".
    """
    fields = schema["fields"]
    names: list[str] = []
    for text in bitmaps:
        parent, _, hex_bits = str(text).rpartition("-")
        if parent:
            outer = fields[int(parent)]
            inner = _record_type(outer["type"])
            if inner is None:
                raise ValueError(f"Bitmap {text!r} names {outer['name']}, which is not compound.")
            names += [f"{outer['name']}.{inner['fields'][i]['name']}" for i in _bits(hex_bits)]
        else:
            names += [fields[i]["name"] for i in _bits(hex_bits)]
    return names


def _bits(hex_text: str) -> list[int]:
    value = int(hex_text, 16)
    return [i for i in range(value.bit_length()) if value >> i & 1]


def _record_type(avro_type: Any) -> Mapping[str, Any] | None:
    """The record inside a field's type (``["null", {record}]``), else None."""
    for branch in avro_type if isinstance(avro_type, list) else [avro_type]:
        if isinstance(branch, Mapping) and branch.get("type") == "record":
            return branch
    return None


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


def is_echo(header: Mapping[str, Any] | None, client: str | None) -> bool:
    """Whether Clarity's own write (its ``Sforce-Call-Options`` client) caused the change."""
    if not client or not header:
        return False
    return f"client={client}" in str(header.get("changeOrigin", "")).split(";")


def entities_woken(entity: str) -> tuple[str, ...]:
    """The entities whose flows a change to ``entity`` wakes."""
    return (entity, *EXTRA_ENTITIES.get(entity, ()))


def topics_for(entities: Sequence[str]) -> dict[str, str]:
    """The change event channels flows on ``entities`` need: topic -> entity it reports.

    [P] ``/data/<Object>ChangeEvent`` for a standard object, ``/data/<Name>__ChangeEvent``
    for a custom one (CDC guide, "Subscription Channels")."""
    wanted = set(entities)
    topics = {}
    for entity in sorted(
        wanted | {e for e, woken in EXTRA_ENTITIES.items() if wanted & set(woken)}
    ):
        name = f"{entity[:-3]}__ChangeEvent" if entity.endswith("__c") else f"{entity}ChangeEvent"
        topics[f"/data/{name}"] = entity
    return topics


def change_event(event: ReceivedEvent, subscriber: Subscriber) -> ChangeEvent | None:
    """The neutral event the core stores, or None for an echo of Clarity's own write.

    A change names its changed fields (``changedFields`` decoded; on a create every field
    with a value, as a create's header lists none [P] CDC guide) and the values it carries:
    the non-null fields, and the ``nulledFields`` as None (unchanged fields are null in
    Pub/Sub events [P]). A gap or overflow event carries neither: None, "cannot tell".
    A platform event (no header) names no records: it wakes the flows of the entity the
    connection's ``platform_event_entities`` setting gives its topic.
    """
    header = event.header
    if header is None:
        targets = subscriber.settings.get("platform_event_entities") or {}
        entity = str(targets.get(event.topic, "")) if isinstance(targets, Mapping) else ""
        return ChangeEvent(
            subscriber=subscriber,
            category=entity or event.topic.rsplit("/", 1)[-1],
            event_type="EVENT",
            record_ids=(),
            entities=entities_woken(entity) if entity else (),
            raw=event.as_json(),
            values=dict(event.fields),
        )
    if is_echo(header, subscriber.settings.get("call_options_client")):
        return None
    entity = str(header.get("entityName", ""))
    # An overflow event names no record (Salesforce may fill recordIds with a wildcard id):
    # it wakes the entity's flows to poll.
    ids = () if event.change_type == OVERFLOW else tuple(map(str, header.get("recordIds") or ()))
    changed: tuple[str, ...] | None = None
    values: dict[str, Any] | None = None
    if not event.is_gap:
        nulled = [str(n) for n in header.get("nulledFields") or ()]
        values = {k: v for k, v in _jsonable(event.fields).items() if v is not None}
        values.update(dict.fromkeys(nulled))
        named = [str(n) for n in header.get("changedFields") or ()]
        changed = (
            tuple(named or values) if event.change_type in ("CREATE", "UNDELETE") else tuple(named)
        )
    return ChangeEvent(
        subscriber=subscriber,
        category=entity,
        event_type=event.change_type,
        record_ids=ids,
        entities=entities_woken(entity),
        raw=event.as_json(),
        changed_fields=changed,
        values=values,
    )


# -- the client -------------------------------------------------------------------------


@dataclass
class _Stream:
    """One open ``Subscribe`` call, so another thread can end it."""

    topic: str
    call: Any = None
    requests: queue.Queue[pb2.FetchRequest | None] = field(default_factory=queue.Queue)

    def close(self) -> None:
        self.requests.put(None)
        if self.call is not None:
            self.call.cancel()


class PubSubClient(EventStream):
    """The Pub/Sub API for one Salesforce connection, signed in through its connector;
    ``subscriber`` is the connection as its events name it (its settings say which writes
    were our own).

    Settings: ``pubsub_endpoint`` (``host:port``, Salesforce's by default; spoken over TLS
    unless the connection's base URL is ``http://``, a loopback sandbox's, or the endpoint
    says ``http://``), ``pubsub_batch_size`` (``num_requested``, at most 100).
    """

    def __init__(
        self,
        connector: SalesforceConnector,
        subscriber: Subscriber,
        *,
        channel: grpc.Channel | None = None,
    ) -> None:
        self.connector = connector
        self.subscriber = subscriber
        settings = connector.config.settings
        self.batch_size = max(1, min(int(settings.get("pubsub_batch_size", DEFAULT_BATCH_SIZE)),
                                     DEFAULT_BATCH_SIZE))  # fmt: skip
        self.channel = channel or _channel(
            str(settings.get("pubsub_endpoint") or DEFAULT_PUBSUB_ENDPOINT),
            plain=connector.config.base_url.startswith("http://"),
        )
        self.stub = pb2_grpc.PubSubStub(self.channel)
        self._schemas: dict[str, tuple[dict[str, Any], Any]] = {}
        self._streams: list[_Stream] = []
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self._ended: set[str] = set()  # topics stopped one by one (``stop_topic``)

    # -- auth ---------------------------------------------------------------------------

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """``accesstoken``, ``instanceurl``, ``tenantid`` from the connection's session [P]."""
        tokens = self.connector._current()
        extra = tokens.extra
        instance = str(extra.get("instance_url") or self.connector.config.base_url).rstrip("/")
        # [P] the token response's ``id`` is https://login…/id/<orgId>/<userId>.
        identity = str(extra.get("id") or "").rstrip("/").split("/")
        org = str(self.connector.config.settings.get("org_id") or "")
        if not org and len(identity) >= 2 and identity[-3:-2] == ["id"]:
            org = identity[-2]
        return (("accesstoken", tokens.access_token), ("instanceurl", instance), ("tenantid", org))

    def renew_session(self) -> None:
        """Sign in again after a refusal, once for every process using the connection."""
        refused = self.connector.tokens.load()
        self.connector._sent.token = refused.access_token if refused else None
        self.connector._relogin()

    # -- topics and schemas -------------------------------------------------------------

    def topic(self, name: str) -> pb2.TopicInfo:
        try:
            info: pb2.TopicInfo = self.stub.GetTopic(
                pb2.TopicRequest(topic_name=name), metadata=self.metadata()
            )
        except grpc.RpcError as exc:
            raise _error(exc) from exc
        return info

    def schema(self, schema_id: str) -> tuple[dict[str, Any], Any]:
        """(schema JSON, parsed schema) by id, asked of Salesforce once per id."""
        if schema_id not in self._schemas:
            try:
                info = self.stub.GetSchema(
                    pb2.SchemaRequest(schema_id=schema_id), metadata=self.metadata()
                )
            except grpc.RpcError as exc:
                raise _error(exc) from exc
            schema = json.loads(info.schema_json)
            self._schemas[schema_id] = (schema, fastavro.parse_schema(schema))
        return self._schemas[schema_id]

    def decode(self, topic: str, consumer_event: pb2.ConsumerEvent) -> ReceivedEvent:
        event = consumer_event.event
        schema, parsed = self.schema(event.schema_id)
        decoded = fastavro.schemaless_reader(io.BytesIO(event.payload), parsed)
        record: dict[str, Any] = decoded if isinstance(decoded, dict) else {}
        header = record.pop("ChangeEventHeader", None)
        if isinstance(header, dict):
            for name in BITMAP_FIELDS:
                header[name] = decode_bitmap(schema, header.get(name) or [])
        return ReceivedEvent(
            topic=topic,
            replay_id=bytes(consumer_event.replay_id),
            event_id=event.id,
            schema_id=event.schema_id,
            header=header if isinstance(header, dict) else None,
            fields=record,
        )

    # -- subscribing --------------------------------------------------------------------

    def subscribe(self, topic: str, replay_id: bytes | None) -> Iterator[Batch]:
        """The stream's responses from after ``replay_id`` (``LATEST`` when None), asking
        for as many more events as the caller took once it comes back for the next."""
        stream = _Stream(topic)
        first = pb2.FetchRequest(topic_name=topic, num_requested=self.batch_size)
        if replay_id:
            first.replay_preset = pb2.ReplayPreset.CUSTOM
            first.replay_id = replay_id
        else:
            first.replay_preset = pb2.ReplayPreset.LATEST
        stream.requests.put(first)

        def outgoing() -> Iterator[pb2.FetchRequest]:
            while (request := stream.requests.get()) is not None:
                yield request

        with self._lock:
            if self._ending(topic):
                return
            stream.call = self.stub.Subscribe(outgoing(), metadata=self.metadata())
            self._streams.append(stream)
        # The responses are read on a thread of their own, so that those that arrived while
        # the listener stored the last batch are handed on together: one transaction for
        # what a burst left waiting, not one per response (each a one-event answer).
        arrived: queue.Queue[Any] = queue.Queue()
        reader = threading.Thread(
            target=_read_responses, args=(stream.call, arrived), name=f"pubsub {topic}",
            daemon=True,
        )  # fmt: skip
        reader.start()
        try:
            while (response := arrived.get()) is not _END:
                responses = [response]
                held = len(response.events) if not isinstance(response, Exception) else 0
                while held < self.batch_size and not isinstance(responses[-1], Exception):
                    try:
                        more = arrived.get_nowait()
                    except queue.Empty:
                        break
                    if more is _END:
                        arrived.put(_END)
                        break
                    responses.append(more)
                    held += 0 if isinstance(more, Exception) else len(more.events)
                failure = responses.pop() if isinstance(responses[-1], Exception) else None
                if responses:
                    events = [self.decode(topic, e) for r in responses for e in r.events]
                    yield Batch(topic, events, bytes(responses[-1].latest_replay_id))
                    if events:  # stored by now: room for as many more
                        stream.requests.put(pb2.FetchRequest(num_requested=len(events)))
                if failure is not None:
                    raise failure
        except grpc.RpcError as exc:
            if self._ending(topic) and exc.code() == grpc.StatusCode.CANCELLED:
                return
            raise _error(exc) from exc
        finally:
            stream.close()
            with self._lock:
                self._streams.remove(stream)

    def topics(self, entities: Sequence[str]) -> dict[str, str]:
        """The change event channels of ``entities``, and the platform event channels the
        connection's ``platform_event_entities`` setting gives to one of them."""
        found = topics_for(entities)
        targets = self.subscriber.settings.get("platform_event_entities") or {}
        if isinstance(targets, Mapping):
            found.update(
                {str(topic): str(entity) for topic, entity in targets.items()
                 if entity in entities and str(topic).startswith("/event/")}
            )  # fmt: skip
        return found

    def listen(self, topic: str, listener: StreamListener) -> None:
        """Keep ``topic`` flowing into ``listener`` until ``stop``: resubscribe after any
        error from the stored position, sign in again when refused, back off while down."""
        backoff = 1.0
        with self._lock:
            self._ended.discard(topic)
        while not self._ending(topic):
            try:
                self.topic(topic)  # refuses an unknown topic or a user who may not read it
                for batch in self.subscribe(topic, listener.position(topic)):
                    listener.received(self._neutral(batch))
                    if backoff:
                        listener.state("connected")
                        backoff = 0.0
            except PubSubError as exc:
                if exc.auth_refused:
                    logger.info("%s: %s Signing in again.", topic, exc.message)
                    listener.state("reconnecting", exc.message)
                    try:
                        self.renew_session()
                    except ConnectorError as login:
                        listener.state("stopped", login.message)
                        return
                    continue
                if exc.replay_id_gone:
                    logger.warning("%s: %s", topic, exc.message)
                    listener.position_lost(topic, exc.message)
                    continue
                if exc.kind is ErrorKind.CONFIG:
                    listener.state("stopped", exc.message)
                    return
                backoff = min(max(backoff * 2, 1.0), MAX_BACKOFF_SECONDS)
                listener.state("reconnecting", f"{exc.message} Retrying in {backoff:.0f} s.")
                self._wait(topic, backoff)
            except ConnectorError as exc:  # signing in failed (a bad secret, the org is down)
                if exc.kind in (ErrorKind.AUTH, ErrorKind.CONFIG):
                    listener.state("stopped", exc.message)
                    return
                backoff = min(max(backoff * 2, 1.0), MAX_BACKOFF_SECONDS)
                listener.state("reconnecting", f"{exc.message} Retrying in {backoff:.0f} s.")
                self._wait(topic, backoff)
        if self.stopping.is_set():  # the whole stream; one topic ending says nothing of it
            listener.state("stopped", "The subscriber was stopped.")

    def _ending(self, topic: str) -> bool:
        return self.stopping.is_set() or topic in self._ended

    def _wait(self, topic: str, seconds: float) -> None:
        """Sleep out a backoff, waking early when the topic or the stream is stopped."""
        end = time.monotonic() + seconds
        while not self._ending(topic) and (left := end - time.monotonic()) > 0:
            self.stopping.wait(min(left, 0.5))

    def _neutral(self, batch: Batch) -> StreamBatch:
        found = (change_event(e, self.subscriber) for e in batch.events)
        return StreamBatch(
            topic=batch.topic,
            events=tuple(e for e in found if e is not None),
            position=batch.position,
            latest=batch.latest_replay_id,
            heard=len(batch.events),
        )

    def stop(self) -> None:
        """End every open stream (from any thread); ``listen`` returns."""
        with self._lock:
            self.stopping.set()
            for stream in self._streams:
                stream.close()

    def stop_topic(self, topic: str) -> None:
        """End ``topic``'s stream (from any thread); its ``listen`` returns, the other
        topics go on. Listening to it again resumes from the listener's position."""
        with self._lock:
            self._ended.add(topic)
            for stream in self._streams:
                if stream.topic == topic:
                    stream.close()

    def close(self) -> None:
        self.stop()
        self.channel.close()


_END = object()


def _read_responses(call: Any, arrived: queue.Queue[Any]) -> None:
    """A ``Subscribe`` call's responses into ``arrived``, then its error if it failed, then
    ``_END``."""
    try:
        for response in call:
            arrived.put(response)
    except Exception as exc:  # grpc.RpcError, or a failure the reader must not swallow
        arrived.put(exc)
    finally:
        arrived.put(_END)


def _channel(endpoint: str, *, plain: bool) -> grpc.Channel:
    """TLS to Salesforce; plain HTTP/2 only where the REST side is plain HTTP too (a
    loopback sandbox) or the endpoint says ``http://``."""
    parts = urlsplit(
        endpoint if "://" in endpoint else f"{'http' if plain else 'https'}://{endpoint}"
    )
    target = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    if parts.scheme == "http":
        return grpc.insecure_channel(target)
    return grpc.secure_channel(target, grpc.ssl_channel_credentials())


def pubsub_stream(connector: Connector, subscriber: Subscriber) -> PubSubClient:
    """The registry's factory: a Salesforce connection's Pub/Sub API stream."""
    if not isinstance(connector, SalesforceConnector):
        raise TypeError(f"The Pub/Sub API is Salesforce's; {connector.system} has none.")
    return PubSubClient(connector, subscriber)
