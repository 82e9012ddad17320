"""The Avro schemas the sandbox's Pub/Sub API serves, and events encoded with them.

Change events (``/data/<Object>ChangeEvent``) get one schema per CDC-enabled sObject,
built from the sandbox's own field list (``salesforce/schema.py``) the way Salesforce
builds ``<Object>ChangeEvent``:

* ``ChangeEventHeader`` is the first field, a record that is never null, with the header
  fields in Salesforce's order; ``changeType`` is an enum. [P] "Change Event Message
  Structure", https://developer.salesforce.com/docs/atlas.en-us.change_data_capture.meta/change_data_capture/cdc_message_structure.htm
  (field order); [O] the enum ``ChangeType`` in ``com.sforce.eventbus`` as integrators
  capture it (e.g. the Avro schemas quoted in public Pub/Sub clients' tests).
* Every record field follows as a nullable union ``["null", <type>]`` defaulting to null:
  in Pub/Sub API events unchanged fields are null even when the record has a value. [P]
  https://developer.salesforce.com/docs/atlas.en-us.api_streaming.meta/api_streaming/cdc_event_diff_pubsub_cometd.htm
* ``Id``, ``IsDeleted`` and ``SystemModstamp`` are not in a change event: the record id is
  in ``recordIds``. [P] "Change Event Fields" on the message-structure page above.
* Dates and date-times are epoch milliseconds (``long``; a date is its midnight UTC),
  with Salesforce's ``doc`` type tags (``Data:DateOnly``, ``Data:DateTime``). [P] "Date
  fields are in Epoch time" (differences page above); [O] generated Avro classes of
  OpportunityChangeEvent carry ``Long closeDate`` tagged ``Data:DateOnly``.
* Compound fields are nested records: ``BillingAddress``/``ShippingAddress`` (type
  ``Address``) on Account, ``Name`` (type ``Switchable_PersonName``) on Contact, in place
  of their component fields. [P] the deserialization page below ("Compound fields");
  [O] forcedotcom/pub-sub-api ``java/src/main/java/utility/EventParser.java`` reads
  ``Switchable_PersonName`` as a nested record. Only the components the sandbox stores
  are listed [A].

``changedFields``, ``nulledFields`` and ``diffFields`` are bitmaps, not names: a list of
hex strings whose first element (``0x…``) has bit *i* set for the field at position *i*
of the event schema, and one ``"<parent position>-0x…"`` element per compound field with
the bits of its nested fields. [P] "Event Deserialization Considerations",
https://developer.salesforce.com/docs/platform/pub-sub-api/guide/event-deserialization-considerations.html
(example ``['0x650004E0','4-0x10','7-0x06']``); [O] how Salesforce's own examples decode
them: forcedotcom/pub-sub-api ``python/util/ChangeEventHeaderUtility.py`` (bit *i* is the
*i*-th least significant bit) and ``EventParser.java`` (hex read in byte pairs, so the
digits come in pairs here; a compound's own bit is not set, its nested entry names it).

Schema ids are fingerprints of the schema: 22 characters of unpadded base64url over 16
bytes of a hash of the schema's JSON. [P] proto: "Schema fingerprint for this event which
is hash of the schema"; [O] ids seen in events such as ``nTowGbw-ipH4sznrGpeohg``; the
hash function is [A].
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

import fastavro

from connectors.sandbox.salesforce.schema import SCHEMA, Field, parse_datetime

NAMESPACE = "com.sforce.eventbus"  # [O] as integrators capture Salesforce's schemas

CHANGE_TYPES = (
    "CREATE",
    "UPDATE",
    "DELETE",
    "UNDELETE",
    "GAP_CREATE",
    "GAP_UPDATE",
    "GAP_DELETE",
    "GAP_UNDELETE",
    "GAP_OVERFLOW",
)

# Fields a change event leaves out [P] (module docstring).
NOT_IN_CHANGE_EVENTS = frozenset({"Id", "IsDeleted", "SystemModstamp"})

# Compound fields: the event's nested record -> its Avro type and (component, sandbox field).
COMPOUNDS: dict[str, dict[str, tuple[str, tuple[tuple[str, str], ...]]]] = {
    "Account": {
        "BillingAddress": (
            "Address",
            (
                ("Street", "BillingStreet"),
                ("City", "BillingCity"),
                ("State", "BillingState"),
                ("PostalCode", "BillingPostalCode"),
                ("Country", "BillingCountry"),
            ),
        ),
        "ShippingAddress": (
            "Address",
            (
                ("Street", "ShippingStreet"),
                ("City", "ShippingCity"),
                ("State", "ShippingState"),  # not stored by the sandbox: always null
                ("PostalCode", "ShippingPostalCode"),
                ("Country", "ShippingCountry"),
            ),
        ),
    },
    "Contact": {
        "Name": (
            "Switchable_PersonName",
            (("Salutation", "Salutation"), ("FirstName", "FirstName"), ("LastName", "LastName")),
        ),
    },
}

_AVRO_TYPES: dict[str, tuple[str, str]] = {
    # sandbox (describe) type -> Avro type, Salesforce's doc tag [O]
    "boolean": ("boolean", "Data:Boolean"),
    "currency": ("double", "Data:Currency"),
    "double": ("double", "Data:Double"),
    "percent": ("double", "Data:Percent"),
    "int": ("int", "Data:Integer"),
    "date": ("long", "Data:DateOnly"),
    "datetime": ("long", "Data:DateTime"),
    "reference": ("string", "Data:EntityId"),
    "picklist": ("string", "Data:DynamicEnum"),
    "textarea": ("string", "Data:StringPlusClob"),
    "email": ("string", "Data:Email"),
    "phone": ("string", "Data:Phone"),
    "url": ("string", "Data:Url"),
}


def _header_schema() -> dict[str, Any]:
    strings = {"type": "array", "items": "string"}
    return {
        "type": "record",
        "name": "ChangeEventHeader",
        "namespace": NAMESPACE,
        "fields": [
            {"name": "entityName", "type": "string"},
            {"name": "recordIds", "type": strings},
            {
                "name": "changeType",
                "type": {"type": "enum", "name": "ChangeType", "symbols": list(CHANGE_TYPES)},
            },
            {"name": "changeOrigin", "type": "string"},
            {"name": "transactionKey", "type": "string"},
            {"name": "sequenceNumber", "type": "int"},
            {"name": "commitTimestamp", "type": "long"},
            {"name": "commitNumber", "type": "long"},
            {"name": "commitUser", "type": "string"},
            {"name": "nulledFields", "type": strings},
            {"name": "diffFields", "type": strings},
            {"name": "changedFields", "type": strings},
        ],
    }


def _nullable(name: str, avro_type: Any, doc: str) -> dict[str, Any]:
    return {"name": name, "type": ["null", avro_type], "doc": doc, "default": None}


@dataclass(frozen=True)
class EventSchema:
    """One event schema: its JSON (as ``GetSchema`` serves it), id and field layout."""

    name: str
    schema: dict[str, Any]
    # sandbox field -> (position in the event schema, position inside a compound or None)
    positions: dict[str, tuple[int, int | None]]
    # position of a compound field -> the names of its nested fields, in order
    compounds: Mapping[int, tuple[str, ...]] = field(default_factory=dict)

    @property
    def json(self) -> str:
        return json.dumps(self.schema, separators=(",", ":"))

    @property
    def schema_id(self) -> str:
        return schema_fingerprint(self.json)

    @property
    def parsed(self) -> Any:
        return _parsed(self.json)


def schema_fingerprint(schema_json: str) -> str:
    digest = hashlib.sha256(schema_json.encode()).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@cache
def _parsed(schema_json: str) -> Any:
    return fastavro.parse_schema(json.loads(schema_json))


@cache
def change_event_schema(sobject: str) -> EventSchema:
    """``<sobject>ChangeEvent``: the header, then the record's fields (compounds nested)."""
    fields: list[dict[str, Any]] = [{"name": "ChangeEventHeader", "type": _header_schema()}]
    positions: dict[str, tuple[int, int | None]] = {}
    nested_names: dict[int, tuple[str, ...]] = {}
    compounds = COMPOUNDS.get(sobject, {})
    in_compound = {
        sandbox_name: (parent, index)
        for parent, (_, parts) in compounds.items()
        for index, (_, sandbox_name) in enumerate(parts)
    }
    placed: set[str] = set()
    specs: Iterable[Field] = SCHEMA[sobject][1]
    for spec in specs:
        if spec.name in NOT_IN_CHANGE_EVENTS or spec.type == "address":
            continue
        if spec.name in in_compound:
            parent, _ = in_compound[spec.name]
            if parent not in placed:
                placed.add(parent)
                type_name, parts = compounds[parent]
                nested = {
                    "type": "record",
                    "name": type_name,
                    "namespace": NAMESPACE,
                    "fields": [_nullable(part, "string", "Data:Text") for part, _ in parts],
                }
                # Two compounds of one type (Billing/ShippingAddress): name it once.
                earlier = [f for f in fields if _record_name(f) == type_name]
                fields.append(
                    _nullable(parent, f"{NAMESPACE}.{type_name}" if earlier else nested, "")
                )
                fields[-1]["doc"] = f"Data:{type_name}"
                nested_names[len(fields) - 1] = tuple(part for part, _ in parts)
                for index, (_, sandbox_name) in enumerate(parts):
                    positions[sandbox_name] = (len(fields) - 1, index)
            continue
        avro_type, doc = _AVRO_TYPES.get(spec.type, ("string", "Data:Text"))
        fields.append(_nullable(spec.name, avro_type, doc))
        positions[spec.name] = (len(fields) - 1, None)
    schema = {
        "type": "record",
        "name": f"{sobject}ChangeEvent",
        "namespace": NAMESPACE,
        "fields": fields,
    }
    return EventSchema(f"{sobject}ChangeEvent", schema, positions, nested_names)


def _record_name(entry: Mapping[str, Any]) -> str | None:
    for branch in entry["type"] if isinstance(entry["type"], list) else [entry["type"]]:
        if isinstance(branch, Mapping) and branch.get("type") == "record":
            return str(branch["name"])
    return None


def platform_event_schema(name: str, fields: Mapping[str, str]) -> EventSchema:
    """A platform event ``<Name>__e``: ``CreatedDate``, ``CreatedById``, then its custom
    fields (name -> Avro type). [P] subscribers receive ``{CreatedDate, CreatedById,
    <custom fields>}`` (systems/salesforce.md, Platform Events)."""
    entries = [
        _nullable("CreatedDate", "long", "CreatedDate:DateTime"),
        _nullable("CreatedById", "string", "CreatedBy:EntityId"),
    ]
    positions: dict[str, tuple[int, int | None]] = {}
    for key, avro_type in fields.items():
        entries.append(_nullable(key, avro_type, "Data:Text"))
        positions[key] = (len(entries) - 1, None)
    schema = {"type": "record", "name": name, "namespace": NAMESPACE, "fields": entries}
    return EventSchema(name, schema, positions)


def bitmap(schema: EventSchema, names: Iterable[str]) -> list[str]:
    """Sandbox field names -> Salesforce's bitmap strings over ``schema``'s positions.

    The first element is always the top-level bitmap (``"0x00"`` when only compound
    parts changed); one ``"<parent>-0x…"`` element follows per compound touched.
    """
    top = 0
    nested: dict[int, int] = {}
    for name in names:
        position = schema.positions.get(name)
        if position is None:
            continue
        parent, child = position
        if child is None:
            top |= 1 << parent
        else:
            nested[parent] = nested.get(parent, 0) | 1 << child
    if not top and not nested:
        return []
    return [_hex(top)] + [f"{parent}-{_hex(bits)}" for parent, bits in sorted(nested.items())]


def _hex(bits: int) -> str:
    digits = f"{bits:X}"
    return "0x" + digits.zfill(len(digits) + len(digits) % 2)


def field_names(schema: EventSchema, strings: Iterable[str]) -> list[str]:
    """The inverse of ``bitmap`` in the Avro schema's own names (``BillingAddress.City``),
    as Salesforce's example decoders print them: for the sandbox's tests."""
    fields = schema.schema["fields"]
    names: list[str] = []
    for text in strings:
        parent, _, hex_bits = text.rpartition("-")
        bits = [i for i in range(int(hex_bits, 16).bit_length()) if int(hex_bits, 16) >> i & 1]
        if not parent:
            names += [fields[i]["name"] for i in bits]
            continue
        top = fields[int(parent)]["name"]
        names += [f"{top}.{schema.compounds[int(parent)][i]}" for i in bits]
    return names


def avro_value(spec: Field | None, value: Any) -> Any:
    """A stored sandbox value as the event carries it (dates as epoch milliseconds)."""
    if value is None or spec is None:
        return value
    if spec.type == "datetime":
        return int(parse_datetime(str(value)).timestamp() * 1000)
    if spec.type == "date":
        day = date.fromisoformat(str(value)[:10])
        return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
    if spec.type in ("currency", "double", "percent"):
        return float(value)
    if spec.type == "int":
        return int(value)
    if spec.type == "boolean":
        return bool(value)
    return str(value)


def encode(schema: EventSchema, record: Mapping[str, Any]) -> bytes:
    """Avro binary, as ``ProducerEvent.payload`` carries it (no container header)."""
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema.parsed, dict(record))
    return out.getvalue()


def decode(schema_json: str, payload: bytes) -> dict[str, Any]:
    """Avro binary -> record, with the schema ``GetSchema`` served (for tests and tools)."""
    result = fastavro.schemaless_reader(io.BytesIO(payload), _parsed(schema_json))
    if not isinstance(result, dict):  # every event schema is an Avro record
        raise ValueError(f"the payload is not an Avro record: {type(result).__name__}")
    return result
