"""The org's event bus: every committed change and published platform event, in order,
with its replay id, kept for the retention window.

Facts followed ([P] Salesforce's documentation, [O] integrators' or Salesforce's own
example code, [A] the sandbox's assumption):

* Channels: ``/data/<Object>ChangeEvent`` per CDC-enabled object and ``/data/ChangeEvents``
  for all of them; platform events on ``/event/<Name>__e``. [P] systems/salesforce.md,
  "Change events"; https://developer.salesforce.com/docs/atlas.en-us.change_data_capture.meta/change_data_capture/cdc_subscribe_channels.htm
* One event is one position in the stream, whichever channel carries it: a change on
  /data/AccountChangeEvent has the same replay id on /data/ChangeEvents [A].
* Replay ids are opaque bytes that grow with the stream (here 8 bytes, big-endian);
  consecutive events need not have consecutive ids and clients must not compute them. [P]
  https://developer.salesforce.com/docs/platform/pub-sub-api/guide/event-message-durability.html
* Events are kept 72 hours (``pubsub_retention_seconds``), measured on the sandbox's clock
  (``POST /_sandbox/clock`` ages them). [P] same page.
* Gap events carry the header only, with the record ids and ``GAP_<type>``; their
  ``sequenceNumber`` is 1. [P] https://developer.salesforce.com/docs/atlas.en-us.change_data_capture.meta/change_data_capture/cdc_other_events_gap.htm
* Overflow events (``GAP_OVERFLOW``) carry the header only, naming the entity but no
  record: ``recordIds`` holds the wildcard id ``000000000000000AAA``. [P] no record id,
  https://developer.salesforce.com/docs/atlas.en-us.change_data_capture.meta/change_data_capture/cdc_other_events_overflow.htm;
  [A] the wildcard value.
* An update's event carries only the changed fields (``LastModifiedDate`` among them);
  a create's or undelete's every field with a value and an empty ``changedFields``; a
  delete's none. [P] differences page (schemas.py); [O] captured CREATE/UPDATE events
  with ``changedFields`` [] and ["LastModifiedDate", ...] in integrators' test files.
"""

from __future__ import annotations

import bisect
import json
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connectors.sandbox.salesforce.pubsub.schemas import (
    NOT_IN_CHANGE_EVENTS,
    EventSchema,
    avro_value,
    bitmap,
    change_event_schema,
    encode,
    platform_event_schema,
)
from connectors.sandbox.salesforce.schema import FIELDS, SCHEMA

if TYPE_CHECKING:  # the app imports this module
    from connectors.sandbox.salesforce.app import SalesforceApp

ALL_CHANGE_EVENTS = "/data/ChangeEvents"
RETENTION_SECONDS = 72 * 3600  # [P] event-message-durability
OVERFLOW_RECORD_ID = "000000000000000AAA"  # [A] (module docstring)
REPLAY_ID_BYTES = 8  # [A] (module docstring)


def change_channel(sobject: str) -> str:
    return f"/data/{sobject}ChangeEvent"


def replay_bytes(position: int) -> bytes:
    return position.to_bytes(REPLAY_ID_BYTES, "big")


def replay_position(replay_id: bytes) -> int | None:
    """The position a replay id names, or None when it is not one this bus gave out."""
    if len(replay_id) != REPLAY_ID_BYTES:
        return None
    return int.from_bytes(replay_id, "big")


@dataclass(frozen=True)
class BusEvent:
    position: int
    topics: tuple[str, ...]
    schema_id: str
    payload: bytes
    event_id: str
    published_at: float  # the sandbox's clock


@dataclass
class EventLog:
    """The bus's state, saved with the rest of the org's (so a replay id outlives a
    restart of ``manage.py sandbox``): the retained events, the last position given out,
    and the last position purged by retention."""

    events: list[BusEvent] = field(default_factory=list)
    last_position: int = 0
    purged_through: int = 0
    schemas: dict[str, str] = field(default_factory=dict)  # schema id -> schema JSON
    topic_schemas: dict[str, str] = field(default_factory=dict)  # topic -> current schema id

    def resumable_after(self, position: int) -> bool:
        """Whether a CUSTOM subscription may start after ``position``: the replay id must
        name an event still within retention (or the start of a stream that has purged
        nothing yet). [P] "refers to an event that is within the retention window",
        https://developer.salesforce.com/docs/platform/pub-sub-api/guide/handling-errors.html"""
        if position == 0:
            return self.purged_through == 0
        return self.purged_through < position <= self.last_position


class EventBus:
    """Appends events to the org's ``EventLog`` and wakes the streams waiting for them.

    ``app`` is the Salesforce sandbox: its ``event_log`` (state), its clock and options.
    Every method takes ``changed``, the condition streams wait on.
    """

    def __init__(self, app: SalesforceApp) -> None:
        self.app = app
        self.changed = threading.Condition()

    # -- topics -------------------------------------------------------------------

    @property
    def log(self) -> EventLog:
        log: EventLog = self.app.event_log
        return log

    def cdc_entities(self) -> tuple[str, ...]:
        """The objects selected for Change Data Capture (``cdc_entities`` option; default
        every sObject the sandbox has) [A: an org selects its own]."""
        chosen = self.app.option("cdc_entities", None)
        return tuple(chosen) if chosen else tuple(SCHEMA)

    def topic_schema_id(self, topic: str) -> str | None:
        """The schema id of a topic's events ("" for /data/ChangeEvents, whose events have
        their objects' schemas), or None when the org has no such topic."""
        if topic == ALL_CHANGE_EVENTS:
            return ""
        for sobject in self.cdc_entities():
            if topic == change_channel(sobject):
                return change_event_schema(sobject).schema_id
        return self.log.topic_schemas.get(topic)

    def has_topic(self, topic: str) -> bool:
        return self.topic_schema_id(topic) is not None

    def schema_json(self, schema_id: str) -> str | None:
        """A schema by id: a change event's, or one a platform event was published with
        (kept with the log, as events in it may name an older one)."""
        for sobject in self.cdc_entities():
            schema = change_event_schema(sobject)
            if schema.schema_id == schema_id:
                return schema.json
        return self.log.schemas.get(schema_id)

    def after(self, position: int) -> int:
        """The index in the log of the first event after ``position``."""
        return bisect.bisect_right(self.log.events, position, key=_position)

    # -- publishing ---------------------------------------------------------------

    def retention(self) -> float:
        return float(self.app.option("pubsub_retention_seconds", RETENTION_SECONDS))

    def purge(self) -> None:
        """Drop events older than the retention window (on the sandbox's clock)."""
        oldest = self.app.now() - self.retention()
        # The app's lock first, as a write's commit takes them: the state is not saved
        # while the log changes.
        with self.app.lock, self.changed:
            log = self.log
            keep = next(
                (i for i, e in enumerate(log.events) if e.published_at >= oldest), len(log.events)
            )
            if keep:
                log.purged_through = log.events[keep - 1].position
                del log.events[:keep]

    def append(self, topics: Iterable[str], schema: EventSchema, record: Mapping[str, Any]) -> int:
        """Encode ``record`` with ``schema``, give it the next position, wake the streams."""
        payload = encode(schema, record)
        schema_id = schema.schema_id
        with self.app.lock, self.changed:
            log = self.log
            log.last_position += 1
            log.events.append(
                BusEvent(
                    position=log.last_position,
                    topics=tuple(topics),
                    schema_id=schema_id,
                    payload=payload,
                    event_id=str(uuid.uuid4()),
                    published_at=self.app.now(),
                )
            )
            self.changed.notify_all()
            position = log.last_position
        self.purge()
        return position

    def publish_changes(self, events: Iterable[Mapping[str, Any]]) -> None:
        """A committed transaction's change events, in order. With the
        ``cdc_merge_same_changes`` option, the events of one object that made the same
        change (type, fields and values) become one event naming every record, as
        Salesforce "sometimes" merges them [P]
        https://developer.salesforce.com/docs/atlas.en-us.change_data_capture.meta/change_data_capture/cdc_subscribe_merged_events.htm
        (off by default: Salesforce does not promise when)."""
        merged: dict[Any, dict[str, Any]] = {}
        for number, event in enumerate(events):
            payload = event["payload"]
            header = payload["ChangeEventHeader"]
            key: Any = number
            if self.app.option("cdc_merge_same_changes", False):
                values = {k: v for k, v in payload.items() if k not in _PER_RECORD}
                key = (
                    header["entityName"],
                    header["changeType"],
                    json.dumps(values, sort_keys=True, default=str),
                )
            if key in merged:
                merged[key]["payload"]["ChangeEventHeader"]["recordIds"] += header["recordIds"]
                continue
            merged[key] = {
                "payload": {
                    **payload,
                    "ChangeEventHeader": {**header, "recordIds": list(header["recordIds"])},
                }
            }
        for sequence, event in enumerate(merged.values(), start=1):
            event["payload"]["ChangeEventHeader"]["sequenceNumber"] = sequence
            self.publish_change(event)

    def publish_change(self, event: Mapping[str, Any]) -> int | None:
        """One committed change, as ``ChangeEvents.announce`` described it (the JSON shape
        CometD delivers), onto its channels in Avro. None when the object is not
        selected for Change Data Capture."""
        header = dict(event["payload"]["ChangeEventHeader"])
        sobject = str(header["entityName"])
        if sobject not in self.cdc_entities():
            return None
        body = {k: v for k, v in event["payload"].items() if k != "ChangeEventHeader"}
        return self._publish_header(sobject, header, body, header.get("changedFields") or [])

    def _publish_header(
        self,
        sobject: str,
        header: dict[str, Any],
        body: Mapping[str, Any],
        changed: Iterable[str],
    ) -> int:
        schema = change_event_schema(sobject)
        changed = [n for n in changed if n not in NOT_IN_CHANGE_EVENTS]
        record: dict[str, Any] = {
            "ChangeEventHeader": {
                **header,
                "changeOrigin": header.get("changeOrigin") or "",
                "changedFields": bitmap(schema, changed),
                "nulledFields": bitmap(schema, [n for n in changed if body.get(n) is None]),
                "diffFields": [],  # [A] the sandbox sends whole values, never diffs
            }
        }
        specs = FIELDS[sobject]
        for name, value in body.items():
            position = schema.positions.get(name)
            if position is None or value is None:
                continue
            top, nested = position
            top_name = schema.schema["fields"][top]["name"]
            converted = avro_value(specs.get(name.lower()), value)
            if nested is None:
                record[top_name] = converted
            else:
                parts = record.setdefault(top_name, dict.fromkeys(schema.compounds[top]))
                parts[schema.compounds[top][nested]] = converted
        return self.append((change_channel(sobject), ALL_CHANGE_EVENTS), schema, record)

    def publish_gap(
        self, sobject: str, record_ids: list[str], change_type: str, user_id: str
    ) -> int:
        """A gap event (``GAP_<change_type>``), or an overflow event when ``change_type`` is
        ``OVERFLOW``: the header and nothing else."""
        overflow = change_type == "OVERFLOW"
        now_ms = int(self.app.now() * 1000)
        header = {
            "entityName": sobject,
            "recordIds": [OVERFLOW_RECORD_ID] if overflow else list(record_ids),
            "changeType": "GAP_OVERFLOW" if overflow else f"GAP_{change_type}",
            "changeOrigin": "",
            "transactionKey": str(uuid.uuid4()),
            "sequenceNumber": 1,  # [P] gap events' sequenceNumber is always 1
            "commitTimestamp": now_ms,
            "commitNumber": now_ms * 1000,  # [A] any growing number
            "commitUser": user_id,
        }
        return self._publish_header(sobject, header, {}, [])

    def publish_platform_event(self, name: str, values: Mapping[str, Any], user_id: str) -> int:
        """A platform event on ``/event/<name>``. Its definition grows with the fields
        published: a new field gives the event a new schema (and schema id), as changing
        an event's definition in Setup does [A]; older events keep the schema they were
        published with."""
        topic = f"/event/{name}"
        known = self.log.schemas.get(self.log.topic_schemas.get(topic, ""))
        fields = _field_types(known) if known else {}
        for key, value in values.items():
            fields.setdefault(key, _avro_type(value))
        schema = platform_event_schema(name, fields)
        with self.app.lock:
            self.log.schemas[schema.schema_id] = schema.json
            self.log.topic_schemas[topic] = schema.schema_id
        record = {
            **values,
            "CreatedDate": int(self.app.now() * 1000),
            "CreatedById": user_id,
        }
        return self.append((topic,), schema, record)


# What differs between records that made the same change: the header, and the moment.
_PER_RECORD = frozenset({"ChangeEventHeader", "LastModifiedDate", "CreatedDate"})


def _position(event: BusEvent) -> int:
    return event.position


def _avro_type(value: Any) -> str:
    """A custom field's Avro type, from the first value published in it [A]."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "double"
    return "string"


def _field_types(schema_json: str) -> dict[str, str]:
    """Custom field -> Avro type of a platform event schema served earlier."""
    return {
        f["name"]: f["type"][1]
        for f in json.loads(schema_json)["fields"]
        if f["name"] not in ("CreatedDate", "CreatedById")
    }
