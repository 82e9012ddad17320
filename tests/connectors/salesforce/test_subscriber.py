"""The Pub/Sub API client against the Salesforce sandbox's gRPC server: decoding, flow
control, positions, echoes, gaps, an expired position and a refused session."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from connectors.base import ConnectionConfig, InMemoryTokenStore
from connectors.salesforce.connector import SalesforceConnector
from connectors.salesforce.subscriber import PubSubClient, decode_bitmap, topics_for
from connectors.sandbox.core import SandboxServer
from connectors.sandbox.salesforce import app as sandbox
from connectors.sandbox.salesforce.auth import DEMO_CLIENT_SECRET, DEMO_CONSUMER_KEY
from connectors.sandbox.salesforce.pubsub.control import PubSubControl
from connectors.streams import StreamBatch
from connectors.webhooks import ChangeEvent, Subscriber

V = "/services/data/v62.0"
TOPIC = "/data/AccountChangeEvent"


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(sandbox.create_app({"pubsub_keepalive_seconds": 0.5})) as running:
        yield running


def connector(server: SandboxServer, **settings: Any) -> SalesforceConnector:
    """Clarity's connection to the sandbox, tagging its writes as ``clarity-connect``."""
    config = ConnectionConfig(
        system="salesforce",
        connection_id="1",
        base_url=server.url,
        settings={
            "client_id": DEMO_CONSUMER_KEY,
            "auth_flow": "client_credentials",
            "call_options_client": "clarity-connect",
            "pubsub_endpoint": server.app.pubsub_endpoint,
            **settings,
        },
        secrets={"client_secret": DEMO_CLIENT_SECRET},
    )
    return SalesforceConnector(config, InMemoryTokenStore())


def stream(connector: SalesforceConnector) -> PubSubClient:
    return PubSubClient(connector, Subscriber(key=1, secret="", settings=connector.config.settings))


def someone_else(server: SandboxServer) -> requests.Session:
    """A user editing Salesforce by hand (no Clarity call options)."""
    token = requests.post(
        f"{server.url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": DEMO_CONSUMER_KEY,
            "client_secret": DEMO_CLIENT_SECRET,
        },
        timeout=5,
    ).json()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token['access_token']}"
    return session


def create_account(server: SandboxServer, session: requests.Session, name: str) -> str:
    response = session.post(f"{server.url}{V}/sobjects/Account", json={"Name": name}, timeout=5)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


class Recorder:
    """A listener keeping its position in memory, as the core keeps it in PostgreSQL."""

    def __init__(self, stored: bytes | None = None) -> None:
        self.stored = stored
        self.batches: list[StreamBatch] = []
        self.states: list[tuple[str, str]] = []
        self.lost: list[str] = []
        self.changed = threading.Condition()

    def position(self, topic: str) -> bytes | None:
        return self.stored

    def received(self, batch: StreamBatch) -> None:
        with self.changed:
            self.batches.append(batch)
            self.stored = batch.position
            self.changed.notify_all()

    def position_lost(self, topic: str, message: str) -> None:
        with self.changed:
            self.lost.append(message)
            self.stored = None
            self.changed.notify_all()

    def state(self, status: str, message: str = "") -> None:
        with self.changed:
            self.states.append((status, message))
            self.changed.notify_all()

    @property
    def events(self) -> list[ChangeEvent]:
        return [e for b in self.batches for e in b.events]

    def wait_for(self, test: Callable[[], bool], timeout: float = 10) -> None:
        with self.changed:
            assert self.changed.wait_for(test, timeout), (self.states, self.batches)


def listening(client: PubSubClient, recorder: Recorder, topic: str = TOPIC) -> threading.Thread:
    thread = threading.Thread(target=client.listen, args=(topic, recorder), daemon=True)
    thread.start()
    recorder.wait_for(lambda: ("connected", "") in recorder.states)
    return thread


def stop(client: PubSubClient, thread: threading.Thread) -> None:
    client.stop()
    thread.join(10)
    assert not thread.is_alive()


def test_a_change_is_decoded_with_its_changed_fields_named(server):
    client = stream(connector(server))
    recorder = Recorder()
    thread = listening(client, recorder)
    session = someone_else(server)
    account = create_account(server, session, "Acme")
    response = session.patch(
        f"{server.url}{V}/sobjects/Account/{account}",
        json={"Name": "Acme Ltd", "BillingCity": "Leeds"},
        timeout=5,
    )
    assert response.status_code == 204
    recorder.wait_for(lambda: len(recorder.events) == 2)
    stop(client, thread)

    created, updated = recorder.events
    assert (created.event_type, created.raw["fields"]["Name"]) == ("CREATE", "Acme")
    assert (updated.category, updated.record_ids) == ("Account", (account,))
    assert {"Name", "BillingAddress.City"} <= set(updated.raw["ChangeEventHeader"]["changedFields"])
    assert updated.raw["fields"]["Name"] == "Acme Ltd"
    assert updated.raw["fields"]["BillingAddress"]["City"] == "Leeds"
    # The position kept is the last event's replay id: a restart resumes after it.
    assert recorder.stored == bytes.fromhex(updated.raw["replay_id"])
    assert recorder.states[-1][0] == "stopped"


def test_keepalives_advance_the_position_while_nothing_happens(server):
    create_account(server, someone_else(server), "Before we listened")
    client = stream(connector(server))
    recorder = Recorder()
    thread = listening(client, recorder)
    recorder.wait_for(lambda: len(recorder.batches) >= 2)
    stop(client, thread)
    assert not recorder.events
    assert recorder.stored == bytes.fromhex(PubSubControl(server.url).pubsub()["latest_replay_id"])


def test_a_restart_from_the_stored_position_gets_what_came_meanwhile_once(server):
    session = someone_else(server)
    client = stream(connector(server))
    recorder = Recorder()
    thread = listening(client, recorder)
    create_account(server, session, "One")
    recorder.wait_for(lambda: len(recorder.events) == 1)
    stop(client, thread)

    missed = {create_account(server, session, f"While down {n}") for n in range(3)}
    again = Recorder(stored=recorder.stored)
    client = stream(connector(server))
    thread = listening(client, again)
    again.wait_for(lambda: len(again.events) >= 3)
    time.sleep(0.7)  # a keepalive later: nothing more comes
    stop(client, thread)
    assert sorted(e.record_ids[0] for e in again.events) == sorted(missed)


def test_flow_control_never_has_more_unstored_events_than_asked_for(server):
    session = someone_else(server)
    client = stream(connector(server, pubsub_batch_size=2))
    recorder = Recorder()
    thread = listening(client, recorder)
    for n in range(7):
        create_account(server, session, f"Burst {n}")
    recorder.wait_for(lambda: len(recorder.events) == 7)
    stop(client, thread)
    assert max(len(b.events) for b in recorder.batches) <= 2


class SlowRecorder(Recorder):
    """Stores its first events only once ``go`` is set, as a busy database would."""

    def __init__(self) -> None:
        super().__init__()
        self.go = threading.Event()

    def received(self, batch: StreamBatch) -> None:
        if batch.events and not self.events:
            assert self.go.wait(10)
        super().received(batch)


def test_what_arrived_while_the_listener_was_storing_comes_as_one_batch(server):
    session = someone_else(server)
    client = stream(connector(server))
    recorder = SlowRecorder()
    thread = listening(client, recorder)
    first = create_account(server, session, "First")
    burst = [create_account(server, session, f"Burst {n}") for n in range(5)]
    time.sleep(0.5)  # their answers reach the client while the first is being stored
    recorder.go.set()
    recorder.wait_for(lambda: len(recorder.events) == 6)
    stop(client, thread)
    # The first batch is what had arrived when storing began (the first, or on a slow
    # machine one more); all that came while it was stored is the one batch after it.
    with_events = [[e.record_ids[0] for e in b.events] for b in recorder.batches if b.events]
    assert len(with_events) == 2 and with_events[0][0] == first
    assert with_events[0] + with_events[1] == [first, *burst]


def test_our_own_writes_are_echoes_and_others_are_not(server):
    ours = connector(server)
    ours.write_batch("Account", [{"ExternalID__c": "ECHO-1", "Name": "Written by Clarity"}])
    create_account(server, someone_else(server), "Written by a person")
    client = stream(ours)
    recorder = Recorder(stored=(0).to_bytes(8, "big"))  # from the start of the stream
    thread = listening(client, recorder)
    recorder.wait_for(lambda: sum(b.heard for b in recorder.batches) >= 2)
    stop(client, thread)
    names = [e.raw["fields"].get("Name") for e in recorder.events]
    assert "Written by a person" in names and "Written by Clarity" not in names
    # The echo still moved the position: it is not asked for again after a restart.
    assert recorder.stored == bytes.fromhex(PubSubControl(server.url).pubsub()["latest_replay_id"])


def test_gap_and_overflow_events_carry_ids_or_the_entity_but_no_values(server):
    control = PubSubControl(server.url)
    client = stream(connector(server))
    recorder = Recorder()
    thread = listening(client, recorder)
    account = create_account(server, someone_else(server), "Gapped")
    control.gap("Account", [account])
    control.overflow("Account")
    recorder.wait_for(lambda: len(recorder.events) == 3)
    stop(client, thread)
    _, gap, overflow = recorder.events
    assert (gap.event_type, gap.record_ids, gap.raw["fields"]) == ("GAP_UPDATE", (account,), {})
    assert (overflow.event_type, overflow.record_ids) == ("GAP_OVERFLOW", ())
    assert overflow.entities == ("Account",)


def test_a_position_past_retention_is_reported_and_the_stream_starts_at_the_tip(server):
    session = someone_else(server)
    create_account(server, session, "Old")
    tip = bytes.fromhex(PubSubControl(server.url).pubsub()["latest_replay_id"])
    requests.post(f"{server.url}/_sandbox/clock", json={"advance": 73 * 3600}, timeout=5)
    create_account(server, someone_else(server), "New")  # purges what is over 72 hours old
    client = stream(connector(server))
    recorder = Recorder(stored=(int.from_bytes(tip, "big") - 1).to_bytes(8, "big"))
    thread = threading.Thread(target=client.listen, args=(TOPIC, recorder), daemon=True)
    thread.start()
    recorder.wait_for(lambda: bool(recorder.lost) and ("connected", "") in recorder.states)
    stop(client, thread)
    assert "72 hours" in recorder.lost[0]


def test_a_refused_session_is_renewed_and_the_stream_resumes(server):
    ours = connector(server)
    client = stream(ours)
    recorder = Recorder()
    thread = listening(client, recorder)
    old = ours.tokens.load().access_token
    requests.post(f"{server.url}/_sandbox/sessions/expire", timeout=5)
    create_account(server, someone_else(server), "After the session ended")
    recorder.wait_for(lambda: bool(recorder.events), timeout=15)
    stop(client, thread)
    assert ours.tokens.load().access_token != old
    assert any(status == "reconnecting" for status, _ in recorder.states)


def test_bitmaps_name_top_level_and_compound_fields():
    schema = {
        "fields": [
            {"name": "ChangeEventHeader", "type": "record"},
            {"name": "Name", "type": ["null", "string"]},
            {"name": "Phone", "type": ["null", "string"]},
            {
                "name": "BillingAddress",
                "type": [
                    "null",
                    {"type": "record", "name": "Address", "fields": [
                        {"name": "Street"}, {"name": "City"}]},
                ],
            },
        ]
    }  # fmt: skip
    assert decode_bitmap(schema, ["0x06", "3-0x02"]) == ["Name", "Phone", "BillingAddress.City"]
    with pytest.raises(ValueError):
        decode_bitmap(schema, ["1-0x01"])


def test_flows_on_opportunities_also_hear_their_line_items():
    assert topics_for(["Opportunity"]) == {
        "/data/OpportunityChangeEvent": "Opportunity",
        "/data/OpportunityLineItemChangeEvent": "OpportunityLineItem",
    }
    assert topics_for(["Invoice__c"]) == {"/data/Invoice__ChangeEvent": "Invoice__c"}


def test_a_platform_event_named_in_the_settings_wakes_its_entity(server):
    settings = {"platform_event_entities": {"/event/Invoice_Request__e": "Opportunity"}}
    client = stream(connector(server, **settings))
    assert "/event/Invoice_Request__e" in client.topics(["Opportunity"])
    assert "/event/Invoice_Request__e" not in client.topics(["Account"])
    control = PubSubControl(server.url)
    control.platform_event("Invoice_Request__e", {"Opportunity__c": "006A"})
    recorder = Recorder()
    thread = listening(client, recorder, topic="/event/Invoice_Request__e")
    control.platform_event("Invoice_Request__e", {"Opportunity__c": "006B"})
    recorder.wait_for(lambda: bool(recorder.events))
    stop(client, thread)
    [event] = recorder.events
    assert (event.category, event.entities, event.event_type) == (
        "Opportunity",
        ("Opportunity",),
        "EVENT",
    )
    assert event.values["Opportunity__c"] == "006B"
