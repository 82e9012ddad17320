"""Adding a system is adding a package and registering it: the core serves it unchanged.

A test-only fifth system, "Acme", brings what a real one declares in its package — a
connector whose describe says its records carry related records, a webhook parser and a
dependency table — and is registered in ``connectors.registry.SYSTEMS`` for one test. The
core's webhook ingress (``/webhooks/<system>``), its dependency hints and the mapping
catalogue then serve it without a line of core code naming it; unregistered, it is gone.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from django.core.cache import cache
from django.urls import reverse

from clarity.models import RecordStatus, SyncRun, WebhookEvent
from clarity.sync.dependencies import dependency_hint
from clarity.webhooks.services import webhook_events_process
from connectors.base import (
    ChangePage,
    ConnectionCheck,
    Connector,
    EntitySchema,
    FieldSpec,
    FoundRecord,
    Record,
    WriteOutcome,
)
from connectors.dependencies import Dependency
from connectors.errors import ConnectorError, ErrorKind, rule
from connectors.registry import SYSTEMS, SystemEntry, dependencies_of, webhook_parser
from connectors.webhooks import (
    ChangeEvent,
    Delivery,
    Subscriber,
    WebhookParser,
    WebhookRejected,
    event_text,
)
from mappings.catalogue import catalogue_for, unknown_field
from tests.factories import ConnectionFactory, FlowFactory, PairFactory, RecordFactory

TOKEN_HEADER = "X-Acme-Token"
TOKEN = "acme-shared-token"


class AcmeWebhooks(WebhookParser):
    """``{"changes": [{"table": "debtor", "id": "D1"}]}`` with a shared token in a header."""

    system = "acme"
    secret_name = "acme_token"

    def authenticate(
        self, delivery: Delivery, subscribers: Sequence[Subscriber]
    ) -> list[Subscriber]:
        given = (delivery.headers.get(TOKEN_HEADER) or "").encode("utf-8", "replace")
        matched = [
            s for s in subscribers if given and hmac.compare_digest(s.secret.encode(), given)
        ]
        if not matched:
            raise WebhookRejected(401, f"The {TOKEN_HEADER} header is missing or wrong.")
        return matched

    def parse(self, body: Any, subscribers: Sequence[Subscriber]) -> list[ChangeEvent]:
        changes = body.get("changes") if isinstance(body, dict) else None
        if not isinstance(changes, list) or not all(isinstance(c, dict) for c in changes):
            raise WebhookRejected(400, "An Acme delivery is an object with a list of changes.")
        return [
            ChangeEvent(
                subscriber=subscriber,
                category=event_text(change.get("table", ""), "category"),
                event_type="changed",
                record_ids=(event_text(change.get("id", ""), "resource_id"),),
                entities=self.entities_woken(str(change.get("table", ""))),
                raw=change,
            )
            for change in changes
            for subscriber in subscribers
        ]

    def entities_woken(self, category: str) -> tuple[str, ...]:
        return {"debtor": ("debtors",)}.get(category, ())


SCHEMAS = {
    "orders": EntitySchema(
        "orders",
        (FieldSpec("DebtorRef", "string"), FieldSpec("Total", "number")),
        "Id",
        relationship_paths=True,  # an order carries its Debtor.Name, Lines[] ...
    ),
    "debtors": EntitySchema("debtors", (FieldSpec("Ref", "string"),), "Ref"),
}


class AcmeConnector(Connector):
    system = "acme"
    webhooks = AcmeWebhooks()
    dependencies = {"debtor_missing": Dependency("debtor", ("debtors",), ("DebtorRef",))}

    def entities(self) -> list[str]:
        return list(SCHEMAS)

    def describe(self, entity: str) -> EntitySchema:
        if entity not in SCHEMAS:
            raise ConnectorError(ErrorKind.CONFIG, "unknown_entity", f"Acme has no {entity}.")
        return SCHEMAS[entity]

    def read_changes(self, entity: str, cursor: str | None) -> Iterator[ChangePage]:
        yield ChangePage([], cursor)

    def read_one(self, entity: str, key: str) -> Record | None:
        return None

    def write_batch(self, entity: str, records: Sequence[Record]) -> list[WriteOutcome]:
        return [WriteOutcome.created(str(n)) for n, _ in enumerate(records)]

    def find_by_reference(self, entity: str, reference: str) -> FoundRecord | None:
        return None

    def test_connection(self) -> ConnectionCheck:
        return ConnectionCheck(reachable=True)

    def max_batch_size(self, entity: str) -> int:
        return 10


def acme_connector(config: Any, tokens: Any, *, redis: Any = None) -> Connector:
    return AcmeConnector(config, tokens)


ACME = SystemEntry(
    connector=AcmeConnector,
    factory=acme_connector,
    error_rules=(rule("debtor_missing", ErrorKind.DATA, "Acme has no such debtor."),),
)


def deliver(client, body: dict, token: str = TOKEN):
    return client.post(
        reverse("webhook", kwargs={"system": "acme"}),
        body,
        content_type="application/json",
        headers={TOKEN_HEADER: token},
    )


@pytest.mark.django_db
def test_a_fifth_system_is_served_by_the_core_once_registered(
    client, monkeypatch, django_capture_on_commit_callbacks
):
    acme = ConnectionFactory(system="acme", credentials={"acme_token": TOKEN})
    pair = PairFactory(connection_b=acme)
    debtors = FlowFactory(pair=pair, source_entity="customers", target_entity="debtors")
    orders = FlowFactory(pair=pair, source_entity="sales_orders", target_entity="orders")
    listening = FlowFactory(
        pair=pair,
        source_connection=acme,
        source_entity="debtors",
        target_connection=pair.connection_a,
        target_entity="customers",
        trigger_webhook=True,
    )
    debtor = RecordFactory(
        flow=debtors, source_id="D1", status=RecordStatus.FAILED, message="Acme wants an address."
    )
    order = RecordFactory(
        flow=orders,
        status=RecordStatus.FAILED,
        error_code="debtor_missing",
        transformed_payload={"DebtorRef": "D1"},
    )

    with monkeypatch.context() as registered:
        registered.setitem(SYSTEMS, "acme", ACME)

        # Webhooks: its parser authenticates, its events are stored and wake its flows.
        assert deliver(client, {"changes": []}, token="guessed").status_code == 401
        assert deliver(client, {"changes": "x"}).status_code == 400
        with django_capture_on_commit_callbacks(execute=True):
            assert (
                deliver(client, {"changes": [{"table": "debtor", "id": "D9"}]}).status_code == 200
            )
        event = WebhookEvent.objects.get()
        assert (event.connection_id, event.category, event.resource_id) == (acme.pk, "debtor", "D9")
        with django_capture_on_commit_callbacks(execute=True):
            assert webhook_events_process(event_ids=[event.pk]) == 1
        assert list(SyncRun.objects.values_list("flow_id", flat=True)) == [listening.pk]

        # Dependency hints: its code is read in its table.
        hint = dependency_hint(order)
        assert hint is not None and hint.record_id == debtor.pk
        assert "Acme wants an address." in hint.sentence

        # Catalogue: its describe says related records are not fields.
        cache.clear()
        catalogue = catalogue_for(system="Acme", entity="orders")
        assert catalogue is not None
        assert unknown_field(catalogue, "Debtor.Name") is None
        assert "'DebtorRef'" in unknown_field(catalogue, "DebtorRf")

    # Unregistered: the core no longer knows it.
    assert "acme" not in SYSTEMS
    assert webhook_parser("acme") is None and dependencies_of("acme") == {}
    assert deliver(client, {"changes": []}).status_code == 404
    assert dependency_hint(order) is None


def test_systems_that_send_no_webhooks_have_no_endpoint(client) -> None:
    for name, entry in SYSTEMS.items():
        if entry.connector.webhooks is None:
            assert (
                client.post(f"/webhooks/{name}", {}, content_type="application/json").status_code
                == 404
            ), name
        else:
            assert entry.connector.webhooks.system == name
