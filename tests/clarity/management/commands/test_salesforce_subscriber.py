"""The subscriber's topics follow the flows while it runs, over the sandbox's real gRPC
Pub/Sub API: a flow disabled, no longer run on events or pointed elsewhere closes the
topics no flow needs; opening one again resumes from its stored position, so the changes
made meanwhile still arrive (once)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from clarity.management.commands.salesforce_subscriber import Command, Subscriptions
from clarity.models import Flow, SubscriberPosition, SubscriberState, WebhookEvent
from connectors.models import Connection
from connectors.registry import event_stream
from connectors.sandbox.core import SandboxServer
from connectors.sandbox.salesforce import app as sandbox
from connectors.sandbox.salesforce.auth import DEMO_CLIENT_SECRET, DEMO_CONSUMER_KEY
from tests.factories import ConnectionFactory, FlowFactory, PairFactory

pytestmark = pytest.mark.django_db(transaction=True)

V = "/services/data/v62.0"
OPPORTUNITY = "/data/OpportunityChangeEvent"
LINE_ITEM = "/data/OpportunityLineItemChangeEvent"
ACCOUNT = "/data/AccountChangeEvent"
CONTACT = "/data/ContactChangeEvent"


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(sandbox.create_app({"pubsub_keepalive_seconds": 0.3})) as running:
        yield running


@pytest.fixture
def flows(server: SandboxServer) -> dict[str, Flow]:
    salesforce = Connection.objects.create(
        name="Salesforce",
        system="salesforce",
        base_url=server.url,
        settings={
            "client_id": DEMO_CONSUMER_KEY,
            "auth_flow": "client_credentials",
            "pubsub_endpoint": server.app.pubsub_endpoint,
        },
        credentials={"client_secret": DEMO_CLIENT_SECRET},
    )
    pair = PairFactory(connection_a=salesforce, connection_b=ConnectionFactory(system="kashflow"))
    return {
        entity: FlowFactory(pair=pair, source_connection=salesforce,
                            target_connection=pair.connection_b, source_entity=entity,
                            target_entity="Customers", trigger_webhook=True)
        for entity in ("Opportunity", "Account")
    }  # fmt: skip


@pytest.fixture
def subscriptions() -> Iterator[Subscriptions]:
    opener = event_stream("salesforce")
    assert opener is not None
    held = Subscriptions(opener, say=lambda _: None)
    yield held
    held.close()


def wait(test: Callable[[], Any], timeout: float = 10) -> None:
    end = time.monotonic() + timeout
    while not test():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


def listening(subscriptions: Subscriptions) -> set[str]:
    return {topic for (_, topic), held in subscriptions.topics.items() if held.thread.is_alive()}


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


def rename_account(server: SandboxServer, session: requests.Session, name: str) -> str:
    found = session.get(f"{server.url}{V}/query", timeout=5,
                        params={"q": "SELECT Id FROM Account LIMIT 1"}).json()  # fmt: skip
    account = found["records"][0]["Id"]
    answer = session.patch(f"{server.url}{V}/sobjects/Account/{account}", json={"Name": name},
                           timeout=5)  # fmt: skip
    assert answer.status_code == 204, answer.text
    return str(account)


def stored(category: str) -> list[WebhookEvent]:
    return list(WebhookEvent.objects.filter(category=category).order_by("pk"))


def connected(subscriptions: Subscriptions, topics: set[str]) -> None:
    """Each topic's stream is open and has answered (a keepalive stores its position)."""
    wait(lambda: listening(subscriptions) == topics)
    wait(
        lambda: set(SubscriberPosition.objects.values_list("topic", flat=True)) >= topics,
    )


def test_a_disabled_flow_s_topic_closes_and_resumes_from_its_position_when_enabled(
    server, flows, subscriptions
):
    subscriptions.reconcile()
    connected(subscriptions, {OPPORTUNITY, LINE_ITEM, ACCOUNT})
    session = person(server)

    Flow.objects.filter(pk=flows["Account"].pk).update(enabled=False)
    subscriptions.reconcile()
    assert listening(subscriptions) == {OPPORTUNITY, LINE_ITEM}
    kept = bytes(SubscriberPosition.objects.get(topic=ACCOUNT).replay_id)
    account = rename_account(server, session, "Renamed while nobody listens")
    time.sleep(1.0)  # three keepalive intervals: a topic still open would have stored it
    assert stored("Account") == []
    assert bytes(SubscriberPosition.objects.get(topic=ACCOUNT).replay_id) == kept

    Flow.objects.filter(pk=flows["Account"].pk).update(enabled=True)
    subscriptions.reconcile()
    assert listening(subscriptions) == {OPPORTUNITY, LINE_ITEM, ACCOUNT}
    wait(lambda: len(stored("Account")) == 1)  # the change made meanwhile, from the position
    assert stored("Account")[0].change["record_ids"] == [account]
    time.sleep(0.7)
    assert len(stored("Account")) == 1


@pytest.mark.parametrize(
    ("change", "left"),
    [
        ({"trigger_webhook": False}, {ACCOUNT}),
        ({"source_entity": "Contact"}, {ACCOUNT, CONTACT}),
    ],
    ids=["no longer run on events", "pointed at another entity"],
)
def test_topics_no_flow_needs_close_and_new_ones_open(flows, subscriptions, change, left):
    subscriptions.reconcile()
    connected(subscriptions, {OPPORTUNITY, LINE_ITEM, ACCOUNT})
    Flow.objects.filter(pk=flows["Opportunity"].pk).update(**change)
    subscriptions.reconcile()
    connected(subscriptions, left)


def test_a_flow_moved_to_another_connection_takes_its_topics_along(server, flows, subscriptions):
    subscriptions.reconcile()
    connected(subscriptions, {OPPORTUNITY, LINE_ITEM, ACCOUNT})
    first = flows["Account"].source_connection
    second = Connection.objects.create(
        name="Salesforce 2", system="salesforce", base_url=server.url,
        settings=first.settings, credentials={"client_secret": DEMO_CLIENT_SECRET},
    )  # fmt: skip
    Flow.objects.filter(pk__in=[f.pk for f in flows.values()]).update(source_connection=second)
    subscriptions.reconcile()
    wait(lambda: {key for key, held in subscriptions.topics.items() if held.thread.is_alive()}
         == {(second.pk, OPPORTUNITY), (second.pk, LINE_ITEM), (second.pk, ACCOUNT)})  # fmt: skip
    # The first connection listens to nothing now, and says so on the dashboard.
    state = SubscriberState.objects.get(connection=first)
    assert state.status == "stopped" and "No enabled flow" in state.message


def test_it_runs_no_system_checks_and_still_accepts_skip_checks() -> None:
    command = Command()
    assert command.requires_system_checks == []  # nothing between a restart and the stream
    options = command.create_parser("manage.py", "salesforce_subscriber").parse_args(
        ["--skip-checks", "--refresh", "5"]
    )
    assert options.refresh == 5.0
