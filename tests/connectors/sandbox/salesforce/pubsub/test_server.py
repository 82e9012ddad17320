"""The sandbox's Pub/Sub API through a real gRPC client (the stubs generated from
Salesforce's proto): topics and schemas, change events from REST writes decoded with
fastavro, flow control, keepalives, replay, retention and authentication."""

from __future__ import annotations

import json
import socket
import time

import grpc
import pytest
import requests

from connectors.salesforce.pubsub import pubsub_api_pb2 as pb2
from connectors.sandbox.core import SandboxServer
from connectors.sandbox.registry import start_sandboxes
from connectors.sandbox.salesforce import app as sandbox
from tests.connectors.sandbox.salesforce.pubsub.wire import (
    CLIENT,
    KEEPALIVE,
    RETENTION,
    Org,
    changed_names,
    trailer,
)

OPPORTUNITIES = "/data/OpportunityChangeEvent"
ACCOUNTS = "/data/AccountChangeEvent"
ALL = "/data/ChangeEvents"


def test_get_topic_and_get_schema_describe_a_change_event_channel(org: Org) -> None:
    topic = org.stub.GetTopic(pb2.TopicRequest(topic_name=OPPORTUNITIES), metadata=org.metadata())
    assert topic.topic_name == OPPORTUNITIES
    assert topic.can_subscribe and not topic.can_publish
    assert topic.tenant_guid.startswith("00D") and len(topic.tenant_guid) == 18
    assert topic.rpc_id

    schema = org.schema(topic.schema_id)
    assert schema["name"] == "OpportunityChangeEvent"
    assert schema["fields"][0]["name"] == "ChangeEventHeader"
    header = [f["name"] for f in schema["fields"][0]["type"]["fields"]]
    assert header == [
        "entityName",
        "recordIds",
        "changeType",
        "changeOrigin",
        "transactionKey",
        "sequenceNumber",
        "commitTimestamp",
        "commitNumber",
        "commitUser",
        "nulledFields",
        "diffFields",
        "changedFields",
    ]
    names = [f["name"] for f in schema["fields"]]
    assert {"StageName", "Amount", "CloseDate"} <= set(names)
    assert not {"Id", "IsDeleted", "SystemModstamp"} & set(names)  # not in change events
    assert all(f["type"][0] == "null" for f in schema["fields"][1:])


def test_an_unknown_topic_or_schema_is_not_found(org: Org) -> None:
    with pytest.raises(grpc.RpcError) as topic:
        org.stub.GetTopic(
            pb2.TopicRequest(topic_name="/data/NoSuchChangeEvent"), metadata=org.metadata()
        )
    assert topic.value.code() == grpc.StatusCode.NOT_FOUND
    assert (
        trailer(topic.value, "error-code")
        == "sfdc.platform.eventbus.grpc.subscription.topic.notfound"
    )
    assert "rpcId: " in (topic.value.details() or "")
    with pytest.raises(grpc.RpcError) as schema:
        org.stub.GetSchema(pb2.SchemaRequest(schema_id="nope"), metadata=org.metadata())
    assert schema.value.code() == grpc.StatusCode.NOT_FOUND
    stream = org.subscribe("/data/NoSuchChangeEvent")
    assert stream.error().code() == grpc.StatusCode.NOT_FOUND


def test_a_rest_update_publishes_only_the_changed_fields(org: Org) -> None:
    stream = org.subscribe(OPPORTUNITIES)
    stream.keepalive()  # subscribed: later writes are ours to see
    opportunity = org.first_id("Opportunity")
    org.call("PATCH", f"/sobjects/Opportunity/{opportunity}", json={"Probability": 40})
    org.call(
        "PATCH",
        f"/sobjects/Opportunity/{opportunity}",
        json={"Description": "Renewal", "Probability": None},
    )

    _, event = stream.events(2)
    record = org.decode(event)
    header = record["ChangeEventHeader"]
    assert header["entityName"] == "Opportunity"
    assert header["recordIds"] == [opportunity]
    assert header["changeType"] == "UPDATE"
    assert header["changeOrigin"] == f"com/salesforce/api/rest/62.0;client={CLIENT}"
    assert header["commitUser"].startswith("005")
    schema = org.schema(event.event.schema_id)
    changed = changed_names(schema, header["changedFields"])
    assert set(changed) >= {"Description", "LastModifiedDate"}
    assert "Name" not in changed
    assert "Probability" in changed
    assert changed_names(schema, header["nulledFields"]) == ["Probability"]
    assert record["Description"] == "Renewal"
    assert record["Name"] is None  # unchanged fields are null in Pub/Sub API events
    assert isinstance(record["LastModifiedDate"], int)  # epoch milliseconds


def test_stage_closed_won_is_decodable_from_the_bitmap(org: Org) -> None:
    """The headline use: an Opportunity reaching Closed Won, told by changedFields."""
    stream = org.subscribe(OPPORTUNITIES)
    stream.keepalive()
    rows = org.call(
        "GET",
        "/query",
        params={"q": "SELECT Id FROM Opportunity WHERE StageName = 'Prospecting' LIMIT 1"},
    ).json()["records"]
    opportunity = rows[0]["Id"]
    org.call(
        "PATCH",
        f"/sobjects/Opportunity/{opportunity}",
        json={"StageName": "Closed Won", "Amount": 1200},
    )
    record = org.decode(stream.events(1)[0])
    schema = org.schema(stream_schema_id(org, OPPORTUNITIES))
    changed = changed_names(schema, record["ChangeEventHeader"]["changedFields"])
    assert {"StageName", "Amount", "IsClosed", "IsWon"} <= set(changed)
    assert record["StageName"] == "Closed Won"
    assert record["IsWon"] is True


def stream_schema_id(org: Org, topic: str) -> str:
    return str(
        org.stub.GetTopic(pb2.TopicRequest(topic_name=topic), metadata=org.metadata()).schema_id
    )


def test_collections_create_events_share_a_transaction_and_nest_compound_fields(org: Org) -> None:
    stream = org.subscribe(ACCOUNTS)
    everything = org.subscribe(ALL)
    stream.keepalive()
    everything.keepalive()
    records = [
        {"attributes": {"type": "Account"}, "Name": "Pubsub One", "BillingCity": "Leeds"},
        {"attributes": {"type": "Account"}, "Name": "Pubsub Two", "BillingStreet": "1 Lane"},
    ]
    saved = org.call(
        "POST", "/composite/sobjects", json={"allOrNone": True, "records": records}
    ).json()

    events = stream.events(2)
    decoded = [org.decode(e) for e in events]
    headers = [d["ChangeEventHeader"] for d in decoded]
    assert [h["changeType"] for h in headers] == ["CREATE", "CREATE"]
    assert [h["recordIds"][0] for h in headers] == [s["id"] for s in saved]
    assert headers[0]["transactionKey"] == headers[1]["transactionKey"]
    assert {h["changeOrigin"] for h in headers} == {f"com/salesforce/api/rest/62.0;client={CLIENT}"}
    assert [h["sequenceNumber"] for h in headers] == [1, 2]
    assert all(h["changedFields"] == [] for h in headers)  # a create lists no changed fields
    assert decoded[0]["Name"] == "Pubsub One"
    assert decoded[0]["BillingAddress"]["City"] == "Leeds"
    assert decoded[1]["BillingAddress"]["Street"] == "1 Lane"
    # The same events, at the same positions, on the channel of every change event.
    assert [e.replay_id for e in everything.events(2)] == [e.replay_id for e in events]


def test_a_compound_field_change_is_a_nested_bitmap_entry(org: Org) -> None:
    stream = org.subscribe("/data/ContactChangeEvent")
    stream.keepalive()
    contact = org.first_id("Contact")
    org.call("PATCH", f"/sobjects/Contact/{contact}", json={"FirstName": "Ada"})
    event = stream.events(1)[0]
    header = org.decode(event)["ChangeEventHeader"]
    assert any("-" in entry for entry in header["changedFields"])
    assert "Name.FirstName" in changed_names(
        org.schema(event.event.schema_id), header["changedFields"]
    )


def test_delete_then_undelete(org: Org) -> None:
    stream = org.subscribe(ACCOUNTS)
    stream.keepalive()
    account = org.call("POST", "/sobjects/Account", json={"Name": "Short-lived"}).json()["id"]
    org.call("DELETE", f"/sobjects/Account/{account}")
    assert org.control.undelete([account]) == [account]
    headers = [org.decode(e)["ChangeEventHeader"] for e in stream.events(3)]
    assert [h["changeType"] for h in headers] == ["CREATE", "DELETE", "UNDELETE"]
    assert {h["recordIds"][0] for h in headers} == {account}
    assert org.call("GET", f"/sobjects/Account/{account}").json()["Name"] == "Short-lived"


def test_a_rolled_back_composite_request_publishes_nothing(org: Org) -> None:
    stream = org.subscribe(ACCOUNTS)
    stream.keepalive()
    bad = {"attributes": {"type": "Account"}, "Website": "https://no-name.example"}
    good = {"attributes": {"type": "Account"}, "Name": "Would be rolled back"}
    results = org.call(
        "POST", "/composite/sobjects", json={"allOrNone": True, "records": [good, bad]}
    )
    assert not any(r["success"] for r in results.json())
    org.call("POST", "/sobjects/Account", json={"Name": "Afterwards"})
    [event] = stream.events(1)
    assert org.decode(event)["Name"] == "Afterwards"


def test_bulk_api_writes_publish_change_events(org: Org) -> None:
    stream = org.subscribe(ACCOUNTS)
    stream.keepalive()
    job = org.call("POST", "/jobs/ingest", json={"object": "Account", "operation": "insert"}).json()
    csv_body = "Name,BillingCity\nBulk One,York\nBulk Two,Hull\n"
    org.rest.put(
        f"{org.url}/services/data/v62.0/jobs/ingest/{job['id']}/batches",
        data=csv_body,
        headers={"Content-Type": "text/csv"},
        timeout=10,
    ).raise_for_status()
    org.call("PATCH", f"/jobs/ingest/{job['id']}", json={"state": "UploadComplete"})
    decoded = [org.decode(e) for e in stream.events(2, timeout=15)]
    assert sorted(d["Name"] for d in decoded) == ["Bulk One", "Bulk Two"]
    assert {d["ChangeEventHeader"]["changeType"] for d in decoded} == {"CREATE"}
    # The Bulk API, and the client its job's creator named: a subscriber can drop its own
    # bulk writes too.
    assert {d["ChangeEventHeader"]["changeOrigin"] for d in decoded} == {
        f"com/salesforce/api/bulkapi/62.0;client={CLIENT}"
    }


def test_change_origin_has_no_client_when_the_caller_names_none(org: Org) -> None:
    stream = org.subscribe(ACCOUNTS)
    stream.keepalive()
    org.rest.headers.pop("Sforce-Call-Options")
    org.call("POST", "/sobjects/Account", json={"Name": "Someone else's"})
    header = org.decode(stream.events(1)[0])["ChangeEventHeader"]
    assert header["changeOrigin"] == "com/salesforce/api/rest/62.0"


def test_flow_control_never_sends_more_than_requested(org: Org) -> None:
    stream = org.subscribe(ACCOUNTS, num_requested=2)
    first = stream.keepalive()
    assert first.pending_num_requested == 2
    for n in range(5):
        org.call("POST", "/sobjects/Account", json={"Name": f"Flow {n}"})
    sent = stream.events(2)
    held = stream.keepalive()  # nothing more until asked for
    assert held.pending_num_requested == 0
    # The position a client may store never passes an event it was not sent.
    assert held.latest_replay_id == sent[-1].replay_id
    stream.ask(10)
    rest = stream.events(3)
    assert [org.decode(e)["Name"] for e in sent + rest] == [f"Flow {n}" for n in range(5)]
    assert stream.keepalive().pending_num_requested == 7


def test_num_requested_is_at_most_100_and_at_least_1(org: Org) -> None:
    assert org.subscribe(ACCOUNTS, num_requested=150).keepalive().pending_num_requested == 100
    refused = org.subscribe(ACCOUNTS, num_requested=0).error()
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert trailer(refused, "error-code") == (
        "sfdc.platform.eventbus.grpc.subscription.fetch.requested.events.invalid"
    )


def test_keepalives_come_within_the_interval_and_advance_latest_replay_id(org: Org) -> None:
    stream = org.subscribe(OPPORTUNITIES)
    started = time.monotonic()
    before = stream.keepalive()
    stream.keepalive()
    assert time.monotonic() - started < KEEPALIVE * 2 + 3  # slack for a loaded machine
    org.call("POST", "/sobjects/Account", json={"Name": "Not an opportunity"})
    position = int.from_bytes(before.latest_replay_id, "big")
    deadline = time.monotonic() + 5
    # Keepalives sent before the write still name the old position; a later one moves on.
    while int.from_bytes(stream.keepalive().latest_replay_id, "big") == position:
        assert time.monotonic() < deadline, "no keepalive named the newer position"


def test_resubscribing_from_a_stored_replay_id_gets_exactly_the_later_events(org: Org) -> None:
    stream = org.subscribe(ACCOUNTS)
    stream.keepalive()
    for n in range(4):
        org.call("POST", "/sobjects/Account", json={"Name": f"Replay {n}"})
    events = stream.events(4)
    stream.close()

    again = org.subscribe(
        ACCOUNTS, replay_preset=pb2.ReplayPreset.CUSTOM, replay_id=events[1].replay_id
    )
    later = again.events(2)
    assert [e.event.id for e in later] == [e.event.id for e in events[2:]]
    assert [e.replay_id for e in later] == [e.replay_id for e in events[2:]]
    assert not again.keepalive().events  # and nothing more
    earliest = org.subscribe(ACCOUNTS, replay_preset=pb2.ReplayPreset.EARLIEST)
    assert [e.event.id for e in earliest.events(4)] == [e.event.id for e in events]


def test_a_replay_id_out_of_retention_or_never_given_is_refused(
    org: Org, running: SandboxServer
) -> None:
    stream = org.subscribe(ACCOUNTS)
    stream.keepalive()
    org.call("POST", "/sobjects/Account", json={"Name": "Old news"})
    old = stream.events(1)[0].replay_id
    control = org.control
    try:
        control.advance_clock(RETENTION + 1)
        org.call("POST", "/sobjects/Account", json={"Name": "Fresh"})  # the bus purges
        refused = org.subscribe(
            ACCOUNTS, replay_preset=pb2.ReplayPreset.CUSTOM, replay_id=b"\x00" * 7 + b"\x00"
        ).error()
        assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert trailer(refused, "error-code") == (
            "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"
        )
        expired = org.subscribe(
            ACCOUNTS, replay_preset=pb2.ReplayPreset.CUSTOM, replay_id=old
        ).error()
        assert expired.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "retention window" in (expired.details() or "")
    finally:
        control.advance_clock(-(RETENTION + 1))
    unknown = org.subscribe(
        ACCOUNTS, replay_preset=pb2.ReplayPreset.CUSTOM, replay_id=b"\xff" * 8
    ).error()
    assert (
        trailer(unknown, "error-code")
        == "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"
    )
    missing = org.subscribe(ACCOUNTS, replay_preset=pb2.ReplayPreset.CUSTOM).error()
    assert trailer(missing, "error-code") == (
        "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.validation.failed"
    )


@pytest.mark.parametrize(
    "override",
    [
        {"accesstoken": "00D5g000004ClAR!not-a-session"},
        {"accesstoken": None},
        {"tenantid": "00D000000000001AAA"},
        {"instanceurl": None},
    ],
    ids=["unknown-token", "no-token", "other-org", "no-instance-url"],
)
def test_bad_credentials_are_unauthenticated(org: Org, override: dict[str, str | None]) -> None:
    metadata = org.metadata(**override)  # type: ignore[arg-type]
    with pytest.raises(grpc.RpcError) as refused:
        org.stub.GetTopic(pb2.TopicRequest(topic_name=ACCOUNTS), metadata=metadata)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert trailer(refused.value, "error-code") == "sfdc.platform.eventbus.grpc.service.auth.error"
    stream = org.subscribe(ACCOUNTS, metadata=metadata)
    assert stream.error().code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_session_ending_mid_stream_ends_the_stream_unauthenticated(org: Org) -> None:
    stream = org.subscribe(ACCOUNTS)
    stream.keepalive()
    requests.post(f"{org.url}/_sandbox/sessions/expire", timeout=5).raise_for_status()
    refused = stream.error()
    assert refused.code() == grpc.StatusCode.UNAUTHENTICATED
    assert trailer(refused, "error-code") == "sfdc.platform.eventbus.grpc.service.auth.error"


def test_a_replay_id_outlives_a_restart_of_the_sandbox(tmp_path: object) -> None:
    from pathlib import Path

    state = Path(str(tmp_path)) / "salesforce.pickle"
    options = {"pubsub_keepalive_seconds": KEEPALIVE}
    with SandboxServer(sandbox.create_app(options), state_file=state) as server:
        org = Org(server)
        stream = org.subscribe(ACCOUNTS)
        stream.keepalive()
        org.call("POST", "/sobjects/Account", json={"Name": "Before"})
        org.call("POST", "/sobjects/Account", json={"Name": "After"})
        first, second = stream.events(2)
        stream.close()
        org.channel.close()
    with SandboxServer(sandbox.create_app(options), state_file=state) as server:
        assert server.restored
        org = Org(server)
        resumed = org.subscribe(
            ACCOUNTS, replay_preset=pb2.ReplayPreset.CUSTOM, replay_id=first.replay_id
        )
        assert [e.event.id for e in resumed.events(1)] == [second.event.id]
        resumed.close()
        org.channel.close()


def test_the_control_api_says_where_the_server_listens(org: Org, running: SandboxServer) -> None:
    status = requests.get(f"{running.url}/_sandbox/pubsub", timeout=5).json()
    assert status["endpoint"] == running.app.pubsub_endpoint  # type: ignore[attr-defined]
    assert status["endpoint"].startswith("127.0.0.1:")
    assert {ALL, OPPORTUNITIES, ACCOUNTS} <= set(status["topics"])
    assert json.dumps(status)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _free_pair() -> int:
    """A free port whose neighbour 10 above is free too (as far as one can tell)."""
    while True:
        port = _free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 10))
            except OSError:
                continue
        return port


def test_the_server_listens_10_above_the_http_port_or_on_a_free_one() -> None:
    http_port = _free_pair()
    with SandboxServer(sandbox.create_app({}), port=http_port) as server:
        assert server.app.pubsub_endpoint == f"127.0.0.1:{http_port + 10}"  # type: ignore[attr-defined]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", http_port + 10))
        taken.listen()
        with SandboxServer(sandbox.create_app({}), port=http_port) as server:
            endpoint = server.app.pubsub_endpoint  # type: ignore[attr-defined]
            assert endpoint != f"127.0.0.1:{http_port + 10}"
            assert (
                requests.get(f"{server.url}/_sandbox/pubsub", timeout=5).json()["endpoint"]
                == endpoint
            )


def test_two_sandboxes_never_share_a_pubsub_port() -> None:
    """gRPC would share it by default (SO_REUSEPORT), splitting subscribers between orgs."""
    port = _free_port()
    second = SandboxServer(sandbox.create_app({"pubsub_port": port}))
    with (
        SandboxServer(sandbox.create_app({"pubsub_port": port})),
        pytest.raises(OSError, match="no free port"),
    ):
        second.start()


def test_manage_py_sandbox_starts_the_pubsub_server_beside_http() -> None:
    """``manage.py sandbox`` (and so the demo's ``up``) starts sandboxes through the
    registry; the Salesforce one answers gRPC, and stops it when it stops."""
    servers, _ = start_sandboxes(["salesforce"], ports={"salesforce": 0})
    server = servers["salesforce"]
    try:
        org = Org(server)
        topic = org.stub.GetTopic(pb2.TopicRequest(topic_name=ALL), metadata=org.metadata())
        assert topic.can_subscribe
        org.channel.close()
    finally:
        server.stop()
    channel = grpc.insecure_channel(server.app.pubsub_endpoint)  # type: ignore[attr-defined]
    with pytest.raises(grpc.FutureTimeoutError):
        grpc.channel_ready_future(channel).result(timeout=1)
    channel.close()


def test_resetting_the_sandbox_ends_open_streams(org: Org) -> None:
    stream = org.subscribe(ACCOUNTS)
    stream.keepalive()
    requests.post(f"{org.url}/_sandbox/reset", timeout=10).raise_for_status()
    assert stream.error().code() == grpc.StatusCode.UNAVAILABLE


def test_only_objects_selected_for_change_data_capture_have_channels() -> None:
    options = {"cdc_entities": ["Opportunity"], "pubsub_keepalive_seconds": KEEPALIVE}
    with SandboxServer(sandbox.create_app(options)) as server:
        org = Org(server)
        with pytest.raises(grpc.RpcError) as missing:
            org.stub.GetTopic(pb2.TopicRequest(topic_name=ACCOUNTS), metadata=org.metadata())
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        stream = org.subscribe(ALL)
        stream.keepalive()
        org.call("POST", "/sobjects/Account", json={"Name": "Not captured"})
        opportunity = org.first_id("Opportunity")
        org.call("PATCH", f"/sobjects/Opportunity/{opportunity}", json={"Description": "x"})
        [event] = stream.events(1)
        assert org.decode(event)["ChangeEventHeader"]["entityName"] == "Opportunity"
        stream.close()
        org.channel.close()


def test_an_open_stream_keeps_its_session_past_the_session_timeout(org: Org) -> None:
    """Salesforce: "the session timeout doesn't matter for a subscriber client"."""
    stream = org.subscribe(ACCOUNTS)
    stream.keepalive()
    try:
        for _ in range(3):  # 3 x 5000 s, more than the 7200 s timeout, used in between
            org.control.advance_clock(5000)
            stream.keepalive()
    finally:
        org.control.advance_clock(-15000)
    assert stream.keepalive().pending_num_requested == 100


def test_composite_subrequests_carry_the_callers_client_into_change_origin(org: Org) -> None:
    stream = org.subscribe(ACCOUNTS)
    stream.keepalive()
    sub = {
        "method": "POST",
        "url": "/services/data/v62.0/sobjects/Account",
        "referenceId": "a",
        "body": {"Name": "Via composite"},
    }
    org.call("POST", "/composite", json={"allOrNone": True, "compositeRequest": [sub]})
    header = org.decode(stream.events(1)[0])["ChangeEventHeader"]
    assert header["changeOrigin"] == f"com/salesforce/api/rest/62.0;client={CLIENT}"


def test_the_same_change_to_several_records_can_be_one_merged_event() -> None:
    """With ``cdc_merge_same_changes``, as Salesforce sometimes merges them: one event,
    every record in recordIds; a different change stays its own event."""
    options = {"cdc_merge_same_changes": True, "pubsub_keepalive_seconds": KEEPALIVE}
    with SandboxServer(sandbox.create_app(options)) as server:
        org = Org(server)
        stream = org.subscribe(ACCOUNTS)
        stream.keepalive()
        rows = org.call("GET", "/query", params={"q": "SELECT Id FROM Account LIMIT 4"})
        ids = [r["Id"] for r in rows.json()["records"]]
        notes = ["Key account", "Key account", "Key account", "Prospect"]
        records = [
            {"attributes": {"type": "Account"}, "Id": i, "Description": note}
            for i, note in zip(ids, notes, strict=True)
        ]
        org.call("PATCH", "/composite/sobjects", json={"allOrNone": True, "records": records})
        org.call("DELETE", "/composite/sobjects", params={"ids": ",".join(ids[:2])})
        same, other, deleted = (org.decode(e) for e in stream.events(3))
        assert same["ChangeEventHeader"]["recordIds"] == ids[:3]
        assert same["Description"] == "Key account"
        assert other["ChangeEventHeader"]["recordIds"] == ids[3:]
        assert [
            same["ChangeEventHeader"]["sequenceNumber"],
            other["ChangeEventHeader"]["sequenceNumber"],
        ] == [1, 2]
        assert deleted["ChangeEventHeader"]["changeType"] == "DELETE"
        assert deleted["ChangeEventHeader"]["recordIds"] == ids[:2]
        stream.close()
        org.channel.close()
