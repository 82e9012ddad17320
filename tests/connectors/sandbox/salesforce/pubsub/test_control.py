"""The Pub/Sub control routes: gap, overflow and platform events put on the bus on demand,
received through a real gRPC subscription and decoded with the schema GetSchema serves."""

from __future__ import annotations

import pytest
import requests

from connectors.salesforce.pubsub import pubsub_api_pb2 as pb2
from tests.connectors.sandbox.salesforce.pubsub.wire import Org


@pytest.mark.parametrize("change_type", ["CREATE", "UPDATE", "DELETE", "UNDELETE"])
def test_a_gap_event_names_the_records_and_carries_no_fields(org: Org, change_type: str) -> None:
    stream = org.subscribe("/data/OpportunityChangeEvent")
    stream.keepalive()
    ids = [org.first_id("Opportunity"), org.first_id("Account")]
    org.control.gap("Opportunity", ids, change_type)
    record = org.decode(stream.events(1)[0])
    header = record.pop("ChangeEventHeader")
    assert header["changeType"] == f"GAP_{change_type}"
    assert header["entityName"] == "Opportunity"
    assert header["recordIds"] == ids
    assert header["sequenceNumber"] == 1
    assert header["changedFields"] == [] and header["nulledFields"] == []
    assert all(value is None for value in record.values())


def test_an_overflow_event_names_the_entity_but_no_record(org: Org) -> None:
    stream = org.subscribe("/data/ChangeEvents")
    stream.keepalive()
    org.control.overflow("Account")
    record = org.decode(stream.events(1)[0])
    header = record.pop("ChangeEventHeader")
    assert header["changeType"] == "GAP_OVERFLOW"
    assert header["entityName"] == "Account"
    assert header["recordIds"] == ["000000000000000AAA"]
    assert all(value is None for value in record.values())


def test_gap_and_overflow_refuse_what_the_org_cannot_have(org: Org) -> None:
    for path, body in [
        ("gap", {"object": "Invoice", "record_ids": ["x"]}),
        ("gap", {"object": "Account", "record_ids": []}),
        ("gap", {"object": "Account", "record_ids": ["x"], "change_type": "MERGE"}),
        ("overflow", {"object": "Nope"}),
        ("event", {"name": "NotAnEvent", "values": {}}),
        ("undelete", {"ids": ["001000000000000AAA"]}),
    ]:
        response = requests.post(f"{org.url}/_sandbox/pubsub/{path}", json=body, timeout=5)
        assert response.status_code == 400, (path, body)
    assert org.control.pubsub()["retained_events"] == 0  # nothing was published


def test_a_platform_event_is_published_on_its_own_channel(org: Org) -> None:
    org.control.platform_event("Order_Shipped__e", {"Order_Number__c": "SO-1", "Paid__c": True})
    topic = org.stub.GetTopic(
        pb2.TopicRequest(topic_name="/event/Order_Shipped__e"), metadata=org.metadata()
    )
    assert topic.can_publish and topic.can_subscribe
    names = [f["name"] for f in org.schema(topic.schema_id)["fields"]]
    assert names == ["CreatedDate", "CreatedById", "Order_Number__c", "Paid__c"]

    stream = org.subscribe("/event/Order_Shipped__e", replay_preset=pb2.ReplayPreset.EARLIEST)
    org.control.platform_event("Order_Shipped__e", {"Order_Number__c": "SO-2"})
    first, second = (org.decode(e) for e in stream.events(2))
    assert (first["Order_Number__c"], first["Paid__c"]) == ("SO-1", True)
    assert (second["Order_Number__c"], second["Paid__c"]) == ("SO-2", None)
    assert first["CreatedById"].startswith("005") and isinstance(first["CreatedDate"], int)
    assert org.control.pubsub()["retained_events"] == 2  # the bus holds just these


def test_a_new_platform_event_field_makes_a_new_schema_and_old_events_keep_theirs(
    org: Org,
) -> None:
    org.control.platform_event("Stock_Low__e", {"Sku__c": "A1"})
    org.control.platform_event("Stock_Low__e", {"Sku__c": "B2", "Level__c": 3})
    stream = org.subscribe("/event/Stock_Low__e", replay_preset=pb2.ReplayPreset.EARLIEST)
    first, second = stream.events(2)
    assert first.event.schema_id != second.event.schema_id
    assert [f["name"] for f in org.schema(first.event.schema_id)["fields"]][2:] == ["Sku__c"]
    assert org.decode(first)["Sku__c"] == "A1"
    assert (org.decode(second)["Sku__c"], org.decode(second)["Level__c"]) == ("B2", 3.0)
    org.control.platform_event("Stock_Low__e", {"Sku__c": "C3"})  # the newer definition
    assert stream.events(1)[0].event.schema_id == second.event.schema_id
