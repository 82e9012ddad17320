"""Change event schemas and bitmaps against Salesforce's documented encoding, and Avro
encoding through fastavro, without a server."""

from __future__ import annotations

import io

import fastavro
import pytest

from connectors.sandbox.salesforce.pubsub.schemas import (
    bitmap,
    change_event_schema,
    encode,
    platform_event_schema,
)
from connectors.sandbox.salesforce.schema import SCHEMA
from tests.connectors.sandbox.salesforce.pubsub.wire import changed_names


@pytest.mark.parametrize("sobject", list(SCHEMA))
def test_every_change_event_schema_is_valid_avro_with_the_header_first(sobject: str) -> None:
    schema = change_event_schema(sobject)
    fastavro.parse_schema(schema.schema)
    assert schema.schema["name"] == f"{sobject}ChangeEvent"
    assert schema.schema["fields"][0]["name"] == "ChangeEventHeader"
    assert len(schema.schema_id) == 22 and "=" not in schema.schema_id
    assert change_event_schema(sobject).schema_id == schema.schema_id  # a fingerprint


def test_bitmaps_are_even_length_hex_with_bit_i_for_field_i() -> None:
    schema = change_event_schema("Opportunity")
    fields = [f["name"] for f in schema.schema["fields"]]
    [top] = bitmap(schema, ["StageName"])
    assert top.startswith("0x") and len(top) % 2 == 0
    assert int(top, 16) == 1 << fields.index("StageName")
    wanted = ["LastModifiedDate", "StageName", "Amount", "IsWon"]
    assert changed_names(schema.schema, bitmap(schema, wanted)) == sorted(wanted, key=fields.index)
    assert bitmap(schema, []) == []


def test_compound_fields_get_a_parent_position_entry() -> None:
    account = change_event_schema("Account")
    fields = [f["name"] for f in account.schema["fields"]]
    strings = bitmap(account, ["Phone", "BillingCity", "BillingPostalCode", "ShippingCountry"])
    assert int(strings[0], 16) == 1 << fields.index("Phone")
    assert len(strings[0]) % 2 == 0  # whole bytes, as Salesforce's Java decoder reads them
    assert strings[1:] == [
        f"{fields.index('BillingAddress')}-0x0A",  # City (bit 1) and PostalCode (bit 3)
        f"{fields.index('ShippingAddress')}-0x10",  # Country (bit 4)
    ]
    assert changed_names(account.schema, strings) == [
        "Phone",
        "BillingAddress.City",
        "BillingAddress.PostalCode",
        "ShippingAddress.Country",
    ]
    # Only a compound part changed: the top-level bitmap is still first, and empty.
    assert bitmap(account, ["BillingCity"])[0] == "0x00"


def test_an_event_round_trips_through_fastavro() -> None:
    schema = change_event_schema("Account")
    header = {
        "entityName": "Account",
        "recordIds": ["0015g0000000001AAA"],
        "changeType": "UPDATE",
        "changeOrigin": "com/salesforce/api/rest/62.0;client=x",
        "transactionKey": "t",
        "sequenceNumber": 1,
        "commitTimestamp": 1,
        "commitNumber": 2,
        "commitUser": "0055g0000000001AAA",
        "nulledFields": [],
        "diffFields": [],
        "changedFields": bitmap(schema, ["Name"]),
    }
    payload = encode(schema, {"ChangeEventHeader": header, "Name": "Acme"})
    read = fastavro.schemaless_reader(io.BytesIO(payload), fastavro.parse_schema(schema.schema))
    assert read["ChangeEventHeader"] == header
    assert read["Name"] == "Acme" and read["BillingAddress"] is None


def test_a_platform_event_schema_lists_its_custom_fields_after_the_standard_ones() -> None:
    schema = platform_event_schema("Ping__e", {"Count__c": "double", "Note__c": "string"})
    fastavro.parse_schema(schema.schema)
    types = {f["name"]: f["type"] for f in schema.schema["fields"]}
    assert types == {
        "CreatedDate": ["null", "long"],
        "CreatedById": ["null", "string"],
        "Count__c": ["null", "double"],
        "Note__c": ["null", "string"],
    }
