"""Events name records: Xero webhooks and Salesforce change events queue targeted runs.

Xero's deliveries come from the Xero sandbox's own webhook sender, signed the real way, to
the real ``/webhooks/xero`` of a live server; Salesforce's change events are handed over as
the Pub/Sub subscriber hands them (neutral ``ChangeEvent``s with changed fields and values).
"""

from __future__ import annotations

import json
import time

import pytest
import requests

from clarity.models import SyncRun, WebhookEvent, WebhookStatus
from clarity.services.bundles import TEMPLATE_DIR, bundle_export, bundle_import
from clarity.webhooks.services import webhook_events_process, webhook_events_store
from connectors.configs import connector_for
from connectors.models import Connection
from connectors.sandbox.xero.events import sign
from connectors.webhooks import ChangeEvent, Subscriber
from tests.clarity.conftest import connect_xero
from tests.factories import ConnectionFactory, FlowFactory, PairFactory

XERO_KEY = "xero-webhook-key-for-targeted-runs"


def wait_for_events(count: int, timeout: float = 10.0) -> list[WebhookEvent]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = list(WebhookEvent.objects.filter(status=WebhookStatus.RECEIVED).order_by("pk"))
        if len(events) >= count:
            return events
        time.sleep(0.05)
    raise AssertionError(f"expected {count} webhook events, got {WebhookEvent.objects.count()}")


def process(events: list[WebhookEvent]) -> None:
    webhook_events_process(event_ids=[e.pk for e in events])


def targets(flow) -> list[tuple[list[str] | None, str]]:
    return [(r.target_ids, r.target_field) for r in SyncRun.objects.filter(flow=flow)]


@pytest.mark.django_db(transaction=True)
def test_xero_webhooks_read_just_the_resource_they_name(sandbox, live_server):
    server = sandbox("xero", webhook_batch_delay=0.02, demo={"contacts": 5, "invoices": 2})
    xero = Connection.objects.create(
        name="Xero", system="xero", base_url=server.url,
        credentials={"client_id": "sandbox-client-id", "client_secret": "sandbox-client-secret",
                     "webhook_key": XERO_KEY},
    )  # fmt: skip
    connect_xero(xero)
    pair = PairFactory(connection_a=xero)
    common = {"pair": pair, "source_connection": xero, "target_connection": pair.connection_b,
              "trigger_webhook": True}  # fmt: skip
    contacts = FlowFactory(**common, source_entity="Contacts")
    invoices = FlowFactory(**common, source_entity="Invoices")
    payments = FlowFactory(**common, source_entity="Payments")
    subscribed = requests.post(
        f"{server.url}/_sandbox/webhooks",
        json={"url": f"{live_server.url}/webhooks/xero", "key": XERO_KEY}, timeout=10,
    )  # fmt: skip
    assert subscribed.ok and subscribed.json()["enabled"], subscribed.text

    connector = connector_for(xero)
    created = connector.write_batch("Contacts", [{"Name": "Webhook Test Ltd"}])[0]
    process(wait_for_events(1))
    assert targets(contacts) == [([created.target_id], "")]
    assert targets(invoices) == targets(payments) == []

    line = {"Description": "Work", "Quantity": 1, "UnitAmount": 10, "AccountCode": "200"}
    invoice = {"Type": "ACCREC", "Contact": {"ContactID": created.target_id},
               "Status": "AUTHORISED", "LineItems": [line]}  # fmt: skip
    made = connector.write_batch("Invoices", [invoice])[0]
    events = wait_for_events(1)
    assert json.loads(json.dumps(events[0].change))["record_ids"] == [made.target_id]
    process(events)
    assert targets(invoices) == [([made.target_id], "")]
    # The invoice's payments, by the invoice they are for: not every payment.
    assert targets(payments) == [([made.target_id], "Invoice.InvoiceID")]
    assert len(targets(contacts)) == 1  # its run was not touched


def xero_event(resource_id: str, category: str = "CONTACT") -> dict:
    return {"resourceId": resource_id, "eventCategory": category, "eventType": "UPDATE",
            "eventDateUtc": "2026-12-01T10:00:00.000", "tenantId": "T"}  # fmt: skip


@pytest.mark.django_db
def test_a_burst_of_events_is_one_run_and_too_many_ids_a_poll(
    client, settings, django_capture_on_commit_callbacks
):
    settings.CLARITY_TARGETED_RUN_MAX_IDS = 10
    xero = ConnectionFactory(system="xero", settings={"tenant_id": "T"},
                             credentials={"webhook_key": XERO_KEY})  # fmt: skip
    pair = PairFactory(connection_a=xero)
    flow = FlowFactory(pair=pair, source_connection=xero, source_entity="Contacts",
                       target_connection=pair.connection_b, trigger_webhook=True)  # fmt: skip

    def deliver(*ids: str) -> None:
        body = json.dumps({"events": [xero_event(i) for i in ids]}).encode()
        with django_capture_on_commit_callbacks(execute=True):
            answer = client.post("/webhooks/xero", body, content_type="application/json",
                                 headers={"x-xero-signature": sign(body, XERO_KEY)})  # fmt: skip
        assert answer.status_code == 200

    deliver(*(f"c-{n}" for n in range(4)))
    deliver("c-4", "c-0")
    process(list(WebhookEvent.objects.all()))
    assert targets(flow) == [([f"c-{n}" for n in range(5)], "")]

    deliver(*(f"d-{n}" for n in range(6)))  # the waiting run would pass 10 ids: a poll
    process(list(WebhookEvent.objects.filter(status=WebhookStatus.RECEIVED)))
    assert targets(flow) == [(None, "")]


# -- Salesforce change events, judged by the flow's rules ----------------------------------

CLOSED_WON = [{"entity": "Opportunity", "change_types": ["CREATE", "UPDATE"],
               "field": "StageName", "equals": "Closed Won"}]  # fmt: skip


@pytest.fixture
def salesforce_flows(db):
    salesforce = ConnectionFactory(
        system="salesforce", base_url="https://example.my.salesforce.com"
    )
    pair = PairFactory(connection_a=salesforce)
    common = {"pair": pair, "source_connection": salesforce, "target_connection": pair.connection_b,
              "trigger_webhook": True}  # fmt: skip
    return {
        "connection": salesforce,
        "invoices": FlowFactory(
            **common, source_entity="Opportunity", target_entity="invoices", event_filter=CLOSED_WON
        ),
        "opportunities": FlowFactory(**common, source_entity="Opportunity", target_entity="x"),
    }


def heard(connection, change_type, ids, fields=None, values=None, entity="Opportunity", n=0):
    """A change event as the Pub/Sub subscriber hands it over."""
    return ChangeEvent(
        subscriber=Subscriber(key=connection.pk, secret=""),
        category=entity, event_type=change_type, record_ids=tuple(ids),
        entities=(entity, *(("Opportunity",) if entity == "OpportunityLineItem" else ())),
        raw={"replayId": n, "entityName": entity, "changeType": change_type},
        changed_fields=None if fields is None else tuple(fields),
        values=values,
    )  # fmt: skip


def store_and_process(*events: ChangeEvent) -> None:
    webhook_events_store(events=events)
    process(list(WebhookEvent.objects.filter(status=WebhookStatus.RECEIVED)))


def test_closed_won_queues_the_invoice_flow_for_that_opportunity_alone(salesforce_flows):
    c = salesforce_flows["connection"]
    store_and_process(
        heard(c, "UPDATE", ["006A"], ["StageName", "LastModifiedDate"],
              {"StageName": "Closed Won", "LastModifiedDate": 1}, n=1),
        heard(c, "UPDATE", ["006B"], ["StageName"], {"StageName": "Negotiation"}, n=2),
        heard(c, "UPDATE", ["006C"], ["Amount"], {"Amount": 5}, n=3),
    )  # fmt: skip
    assert targets(salesforce_flows["invoices"]) == [(["006A"], "")]
    # A flow without rules reads every change it is told of.
    assert targets(salesforce_flows["opportunities"]) == [(["006A", "006B", "006C"], "")]


def test_events_the_rules_turn_down_start_no_run(salesforce_flows):
    c = salesforce_flows["connection"]
    store_and_process(heard(c, "UPDATE", ["006B"], ["StageName"], {"StageName": "Lost"}))
    assert targets(salesforce_flows["invoices"]) == []
    assert WebhookEvent.objects.get().status == WebhookStatus.PROCESSED


def test_gap_events_read_the_named_records_and_overflow_polls_never_guessing(salesforce_flows):
    c = salesforce_flows["connection"]
    store_and_process(heard(c, "GAP_UPDATE", ["006G", "006H"], n=1))
    assert targets(salesforce_flows["invoices"]) == [(["006G", "006H"], "")]
    SyncRun.objects.all().delete()
    store_and_process(heard(c, "GAP_OVERFLOW", [], n=2))
    assert targets(salesforce_flows["invoices"]) == [(None, "")]


def test_a_line_item_change_polls_the_flow_of_its_opportunity(salesforce_flows):
    """A line item's ids are not opportunity ids: reading them as such would find nothing."""
    c = salesforce_flows["connection"]
    store_and_process(heard(c, "UPDATE", ["00kA"], ["Quantity"], {"Quantity": 2},
                            entity="OpportunityLineItem"))  # fmt: skip
    assert targets(salesforce_flows["opportunities"]) == [(None, "")]
    assert targets(salesforce_flows["invoices"]) == []  # its rule names Opportunity


def test_the_salesforce_kashflow_template_invoices_on_closed_won_only(db):
    """The shipped template's invoice flow carries the Closed Won rule, so an opportunity
    reaching Closed Won queues it for that opportunity alone, and other changes do not."""
    bundle = json.loads((TEMPLATE_DIR / "salesforce_kashflow.json").read_text())
    connections = {
        "a": ConnectionFactory(system="salesforce", base_url="https://x.my.salesforce.com"),
        "b": ConnectionFactory(system="kashflow", base_url="https://api.kashflow.com"),
    }
    pair = bundle_import(bundle=bundle, connections=connections, pair_name="SF ↔ KF")
    invoices = pair.flows.get(source_entity="Opportunity", target_entity="invoices")
    c = connections["a"]
    store_and_process(
        heard(c, "UPDATE", ["006W"], ["StageName"], {"StageName": "Closed Won"}, n=1),
        heard(c, "UPDATE", ["006L"], ["StageName"], {"StageName": "Closed Lost"}, n=2),
        heard(c, "UPDATE", ["006D"], ["Description"], {"Description": "x"}, n=3),
    )  # fmt: skip
    assert targets(invoices) == [(["006W"], "")]
    exported = bundle_export(pair=pair)
    assert next(f for f in exported["flows"] if f["name"] == invoices.name)["event_filter"]
