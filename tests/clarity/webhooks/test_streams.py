"""Salesforce change events through the real Pub/Sub stream into PostgreSQL: each stored,
its processing queued and its flow's run enqueued before the position moves; a restart
resumes from the stored position with nothing lost or doubled; echoes dropped; gaps read
by id; an expired position polls; a refused session renews; the dashboard shows it all."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from django.urls import reverse

from clarity.management.commands.salesforce_subscriber import TopicListener, _listen
from clarity.models import (
    Alert,
    AlertKind,
    AlertRule,
    RunStatus,
    SubscriberPosition,
    SubscriberState,
    SyncRun,
    WebhookEvent,
    WebhookStatus,
)
from clarity.services.alerts import alerts_check
from clarity.sync.queues import DEFAULT_QUEUE, get_queue
from clarity.webhooks.streams import (
    stream_batch_store,
    stream_flows,
    stream_position_lost,
    stream_state_set,
)
from connectors.configs import connector_for
from connectors.models import Connection
from connectors.registry import event_stream
from connectors.sandbox.core import SandboxServer
from connectors.sandbox.salesforce import app as sandbox
from connectors.sandbox.salesforce.auth import DEMO_CLIENT_SECRET, DEMO_CONSUMER_KEY
from connectors.sandbox.salesforce.pubsub.control import PubSubControl
from connectors.streams import EventStream, StreamBatch
from connectors.webhooks import ChangeEvent, Subscriber
from tests.factories import ConnectionFactory, FlowFactory, PairFactory

pytestmark = pytest.mark.django_db(transaction=True)

V = "/services/data/v62.0"
TOPIC = "/data/OpportunityChangeEvent"


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(sandbox.create_app({"pubsub_keepalive_seconds": 0.5})) as running:
        yield running


@pytest.fixture
def flow(server):
    salesforce = Connection.objects.create(
        name="Salesforce",
        system="salesforce",
        base_url=server.url,
        settings={
            "client_id": DEMO_CONSUMER_KEY,
            "auth_flow": "client_credentials",
            "call_options_client": "clarity-connect",
            "pubsub_endpoint": server.app.pubsub_endpoint,
        },
        credentials={"client_secret": DEMO_CLIENT_SECRET},
    )
    pair = PairFactory(connection_a=salesforce, connection_b=ConnectionFactory(system="kashflow"))
    get_queue(DEFAULT_QUEUE).empty()
    return FlowFactory(
        pair=pair, source_connection=salesforce, target_connection=pair.connection_b,
        source_entity="Opportunity", target_entity="Invoices", trigger_webhook=True,
    )  # fmt: skip


class Subscribed:
    """The subscriber's topic thread for the flow's connection, as the command runs it."""

    def __init__(self, flow) -> None:
        connection = flow.source_connection
        opener = event_stream("salesforce")
        subscriber = Subscriber(key=connection.pk, secret="", settings=connection.settings)
        self.stream: EventStream = opener(connector_for(connection), subscriber)
        topics = stream_flows(connection=connection, topics_for=self.stream.topics)
        self.listener = TopicListener(connection.pk, TOPIC, topics[TOPIC])
        self.thread = threading.Thread(target=_listen, args=(self.stream, TOPIC, self.listener))
        self.thread.start()
        self.connection_id = connection.pk
        wait(lambda: state(connection.pk) == "connected")

    def stop(self) -> None:
        self.stream.stop()
        self.thread.join(10)
        assert not self.thread.is_alive()


def state(connection_id: int) -> str | None:
    found = SubscriberState.objects.filter(connection_id=connection_id).first()
    return found.status if found else None


def wait(test: Callable[[], Any], timeout: float = 10) -> None:
    end = time.monotonic() + timeout
    while not test():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


def person(server: SandboxServer) -> requests.Session:
    token = requests.post(
        f"{server.url}/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": DEMO_CONSUMER_KEY,
              "client_secret": DEMO_CLIENT_SECRET},
        timeout=5,
    ).json()  # fmt: skip
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token['access_token']}"
    return session


def opportunity_ids(server: SandboxServer, session: requests.Session, n: int) -> list[str]:
    response = session.get(
        f"{server.url}{V}/query",
        params={"q": f"SELECT Id FROM Opportunity WHERE IsClosed = false LIMIT {n}"},  # noqa: S608
        timeout=5,
    )
    ids = [r["Id"] for r in response.json()["records"]]
    assert len(ids) == n, response.text
    return ids


def close_won(server: SandboxServer, session: requests.Session, opportunity: str) -> None:
    response = session.patch(
        f"{server.url}{V}/sobjects/Opportunity/{opportunity}",
        json={"StageName": "Closed Won"},
        timeout=5,
    )
    assert response.status_code == 204, response.text


def stored_ids() -> list[str]:
    return [i for e in WebhookEvent.objects.order_by("pk") for i in e.change["record_ids"]]


def position(connection_id: int) -> bytes:
    return bytes(SubscriberPosition.objects.get(connection_id=connection_id, topic=TOPIC).replay_id)


def test_an_event_is_stored_its_run_queued_and_then_its_position_kept(server, flow):
    session = person(server)
    [opportunity] = opportunity_ids(server, session, 1)
    subscribed = Subscribed(flow)
    close_won(server, session, opportunity)
    wait(lambda: WebhookEvent.objects.exists())
    subscribed.stop()

    event = WebhookEvent.objects.get()
    assert (event.category, event.event_type) == ("Opportunity", "UPDATE")
    assert event.change["record_ids"] == [opportunity]
    assert event.change["values"]["StageName"] == "Closed Won"
    assert "StageName" in event.change["changed_fields"]
    # Its flow's run was queued in the transaction that kept the position: no job between.
    run = SyncRun.objects.get(flow=flow)
    assert run.status == RunStatus.QUEUED and run.target_ids == [opportunity]
    assert event.status == WebhookStatus.PROCESSED and event.run_ids == [run.pk]
    assert get_queue(DEFAULT_QUEUE).count == 0
    assert position(flow.source_connection_id) == bytes.fromhex(event.payload["replay_id"])
    assert SubscriberState.objects.get().last_event_at is not None


def test_a_restart_resumes_from_the_stored_position_without_loss_or_repeat(server, flow):
    session = person(server)
    first, *meanwhile, last = opportunity_ids(server, session, 5)
    subscribed = Subscribed(flow)
    close_won(server, session, first)
    wait(lambda: WebhookEvent.objects.count() == 1)
    subscribed.stop()
    assert state(flow.source_connection_id) == "stopped"

    for opportunity in meanwhile:  # while nobody listens
        close_won(server, session, opportunity)
    subscribed = Subscribed(flow)
    close_won(server, session, last)
    wait(lambda: WebhookEvent.objects.count() >= 5)
    time.sleep(0.7)  # a keepalive later, nothing more arrives
    subscribed.stop()
    assert stored_ids() == [first, *meanwhile, last]


def test_a_batch_heard_again_after_a_crash_is_not_stored_twice(server, flow):
    """Killed after committing events but before hearing the next answer: the position may
    be older than what was stored (here: put back); what comes again is recognised."""
    session = person(server)
    ids = opportunity_ids(server, session, 3)
    subscribed = Subscribed(flow)
    before = position(flow.source_connection_id)
    for opportunity in ids:
        close_won(server, session, opportunity)
    wait(lambda: WebhookEvent.objects.count() == 3)
    subscribed.stop()
    SubscriberPosition.objects.update(replay_id=before)
    subscribed = Subscribed(flow)
    wait(lambda: position(flow.source_connection_id) != before)
    time.sleep(0.7)
    subscribed.stop()
    assert stored_ids() == ids


def test_clarity_s_own_writes_are_dropped_but_passed(server, flow):
    connector = connector_for(flow.source_connection)
    subscribed = Subscribed(flow)
    [opportunity] = opportunity_ids(server, person(server), 1)
    connector._call("PATCH", f"sobjects/Opportunity/{opportunity}", json={"Description": "x"})
    tip = bytes.fromhex(PubSubControl(server.url).pubsub()["latest_replay_id"])
    wait(lambda: position(flow.source_connection_id) == tip)
    subscribed.stop()
    assert not WebhookEvent.objects.exists()


def test_a_gap_event_reads_the_named_records_and_an_overflow_polls(server, flow):
    control = PubSubControl(server.url)
    [opportunity] = opportunity_ids(server, person(server), 1)
    subscribed = Subscribed(flow)
    control.gap("Opportunity", [opportunity])
    wait(lambda: WebhookEvent.objects.count() == 1)
    gap = WebhookEvent.objects.get()
    assert gap.change["values"] is None and gap.change["changed_fields"] is None
    assert SyncRun.objects.get(flow=flow).target_ids == [opportunity]
    SyncRun.objects.update(status=RunStatus.SUCCEEDED)

    control.overflow("Opportunity")
    wait(lambda: WebhookEvent.objects.count() == 2)
    subscribed.stop()
    overflow = WebhookEvent.objects.order_by("pk").last()
    assert overflow.event_type == "GAP_OVERFLOW" and overflow.change["record_ids"] == []
    poll = SyncRun.objects.filter(flow=flow, status=RunStatus.QUEUED).get()
    assert not poll.target_ids  # a poll from the flow's cursor


def test_a_position_past_retention_polls_the_flows_and_says_so(server, flow):
    session = person(server)
    [old, new] = opportunity_ids(server, session, 2)
    Subscribed(flow).stop()  # a position is stored; then the subscriber stays down…
    close_won(server, session, old)
    requests.post(f"{server.url}/_sandbox/clock", json={"advance": 73 * 3600}, timeout=5)
    close_won(server, person(server), new)  # … while the bus purges what is 72 hours old
    assert PubSubControl(server.url).pubsub()["retained_events"] == 1

    subscribed = Subscribed(flow)
    subscribed.stop()
    row = SubscriberState.objects.get()
    assert row.position_lost_at is not None
    assert not WebhookEvent.objects.exists()  # the old change is read by the poll instead
    poll = SyncRun.objects.get(flow=flow)
    assert poll.status == RunStatus.QUEUED and not poll.target_ids


def test_an_ended_session_is_renewed_and_the_stream_resumes(server, flow):
    session = person(server)
    [before, after] = opportunity_ids(server, session, 2)
    subscribed = Subscribed(flow)
    close_won(server, session, before)
    wait(lambda: WebhookEvent.objects.count() == 1)
    old = Connection.objects.get(pk=flow.source_connection_id).access_token
    requests.post(f"{server.url}/_sandbox/sessions/expire", timeout=5)
    close_won(server, person(server), after)
    wait(lambda: WebhookEvent.objects.count() == 2, timeout=15)
    subscribed.stop()
    assert Connection.objects.get(pk=flow.source_connection_id).access_token != old
    assert stored_ids() == [before, after]


def test_the_dashboard_shows_each_salesforce_subscriber(server, flow, operator_client):
    session = person(server)
    [opportunity] = opportunity_ids(server, session, 1)
    subscribed = Subscribed(flow)
    close_won(server, session, opportunity)
    wait(lambda: WebhookEvent.objects.exists())
    page = operator_client.get(reverse("admin:clarity_healthdashboard_changelist"))
    text = page.content.decode()
    assert "Salesforce event subscribers" in text
    assert "Connected" in text and "caught up" in text
    subscribed.stop()
    text = operator_client.get(reverse("admin:clarity_healthdashboard_changelist")).content
    assert "Stopped" in text.decode()


def test_an_event_that_cannot_be_stored_polls_its_flows_and_the_stream_goes_on(flow):
    """A change whose fields outgrow their columns must not stall the stream forever (it
    would be heard again and again) nor vanish: its flows poll from their cursors."""
    subscriber = Subscriber(key=flow.source_connection_id, secret="")
    huge = ChangeEvent(
        subscriber=subscriber,
        category="Opportunity",
        event_type="UPDATE",
        record_ids=("006" + "x" * 500,),
        entities=("Opportunity",),
        raw={},
    )
    batch = StreamBatch(TOPIC, (huge,), position=b"\x00" * 7 + b"\x09", latest=b"", heard=1)
    stream_batch_store(connection_id=flow.source_connection_id, batch=batch, flow_ids=[flow.pk])
    assert not WebhookEvent.objects.exists()
    assert position(flow.source_connection_id) == batch.position
    poll = SyncRun.objects.get(flow=flow)
    assert poll.status == RunStatus.QUEUED and not poll.target_ids


def test_events_not_flowing_opens_alerts_for_a_lost_position_and_a_stopped_subscriber(flow):
    rule = AlertRule.objects.create(
        pair=flow.pair, kind=AlertKind.EVENTS_NOT_FLOWING, recipients="ops@example.com"
    )
    connection_id = flow.source_connection_id
    gone = "Salesforce no longer holds events from the stored position."
    stream_position_lost(connection_id=connection_id, topic=TOPIC, flow_ids=[flow.pk], message=gone)
    alerts_check()
    [lost] = Alert.objects.filter(rule=rule)
    assert lost.incident_key == f"subscriber-position:{connection_id}"
    assert "full poll" in lost.last_message

    stream_state_set(connection_id=connection_id, status="stopped", message="Sign-in refused.")
    alerts_check()
    stopped = Alert.objects.get(rule=rule, incident_key=f"subscriber:{connection_id}")
    assert stopped.resolved_at is None and "Sign-in refused." in stopped.last_message
