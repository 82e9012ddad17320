"""Webhook ingress: signed Xero deliveries, once and only once. (Salesforce change events come
over the Pub/Sub API: tests/clarity/webhooks/test_streams.py.)"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from clarity.models import SyncRun, WebhookEvent, WebhookStatus
from clarity.services.sweeper import sweep
from clarity.sync.queues import DEFAULT_QUEUE, get_queue, pair_queue_name
from clarity.webhooks.services import MAX_BODY_BYTES, webhook_events_process
from connectors.sandbox.xero.events import sign
from tests.factories import ConnectionFactory, FlowFactory, PairFactory

pytestmark = pytest.mark.django_db

XERO_KEY = "xero-webhook-key-for-tests"
TENANT = "4b3c3c4e-8e1a-4c1e-9d59-6f1f0a1d2e3f"


@pytest.fixture
def xero_flows():
    xero = ConnectionFactory(
        system="xero", settings={"tenant_id": TENANT}, credentials={"webhook_key": XERO_KEY}
    )
    pair = PairFactory(connection_a=xero)
    common = {"pair": pair, "source_connection": xero, "target_connection": pair.connection_b}
    flows = {
        "invoices": FlowFactory(**common, source_entity="Invoices", trigger_webhook=True),
        "payments": FlowFactory(**common, source_entity="Payments", trigger_webhook=True),
        "contacts": FlowFactory(**common, source_entity="Contacts", trigger_webhook=True),
        "polled": FlowFactory(**common, source_entity="Invoices", trigger_webhook=False),
    }
    for queue in (DEFAULT_QUEUE, pair_queue_name(pair.pk)):
        get_queue(queue).empty()
    return flows


def xero_body(*events: dict) -> bytes:
    return json.dumps(
        {"events": list(events), "firstEventSequence": 1, "lastEventSequence": len(events),
         "entropy": "ABCDEF"}
    ).encode()  # fmt: skip


def invoice_event(resource_id: str = "inv-1", category: str = "INVOICE") -> dict:
    return {
        "resourceUrl": f"https://api.xero.com/api.xro/2.0/Invoices/{resource_id}",
        "resourceId": resource_id,
        "eventDateUtc": "2024-03-01T10:00:00+00:00",
        "eventType": "UPDATE",
        "eventCategory": category,
        "tenantId": TENANT,
        "tenantType": "ORGANISATION",
        "eventSequence": 1,
    }


def post_xero(client, body: bytes, key: str = XERO_KEY):
    return client.post(
        reverse("webhook_xero"), body, content_type="application/json",
        headers={"x-xero-signature": sign(body, key)},
    )  # fmt: skip


def default_jobs() -> list[str]:
    return get_queue(DEFAULT_QUEUE).get_job_ids()


def test_intent_to_receive_answers_like_xero_expects(client, xero_flows):
    empty = xero_body()
    assert post_xero(client, empty).status_code == 200
    assert post_xero(client, empty, key="someone-elses-key").status_code == 401
    assert not WebhookEvent.objects.exists() and not default_jobs()


def test_a_signed_event_is_stored_then_wakes_the_listening_flows_once(
    client, xero_flows, django_capture_on_commit_callbacks
):
    body = xero_body(invoice_event())
    with django_capture_on_commit_callbacks(execute=True):
        response = post_xero(client, body)
    assert response.status_code == 200 and response.content == b""
    event = WebhookEvent.objects.get()
    assert (event.category, event.resource_id, event.status) == ("INVOICE", "inv-1", "received")
    assert len(default_jobs()) == 1
    assert not SyncRun.objects.exists()  # the request only stored and enqueued

    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_events_process(event_ids=[event.pk]) == 1
    woken = set(SyncRun.objects.values_list("flow_id", "trigger"))
    assert woken == {(xero_flows["invoices"].pk, "webhook"), (xero_flows["payments"].pk, "webhook")}
    event.refresh_from_db()
    assert event.status == WebhookStatus.PROCESSED and len(event.run_ids) == 2
    # Processing again (a job delivered twice) does nothing.
    assert webhook_events_process(event_ids=[event.pk]) == 0

    # Xero repeats the delivery: stored once, nothing enqueued again.
    with django_capture_on_commit_callbacks(execute=True):
        assert post_xero(client, body).status_code == 200
    assert WebhookEvent.objects.count() == 1 and len(default_jobs()) == 1
    assert SyncRun.objects.count() == 2


def test_many_events_for_one_flow_make_one_run(
    client, xero_flows, django_capture_on_commit_callbacks
):
    body = xero_body(*(invoice_event(f"c-{n}", "CONTACT") for n in range(5)))
    with django_capture_on_commit_callbacks(execute=True):
        post_xero(client, body)
    ids = list(WebhookEvent.objects.values_list("pk", flat=True))
    assert len(ids) == 5 and len(default_jobs()) == 1
    with django_capture_on_commit_callbacks(execute=True):
        webhook_events_process(event_ids=ids)
    assert list(SyncRun.objects.values_list("flow_id", flat=True)) == [xero_flows["contacts"].pk]
    assert len(get_queue(pair_queue_name(xero_flows["contacts"].pair_id)).get_job_ids()) == 1


def webhook_jobs() -> list:
    return [
        job
        for job in get_queue(DEFAULT_QUEUE).jobs
        if job.func_name == "clarity.jobs.process_webhook_events"
    ]


def test_an_event_whose_job_redis_lost_is_processed_after_a_sweep(
    client, xero_flows, django_capture_on_commit_callbacks
):
    post_xero(client, xero_body(invoice_event()))  # committed, but its job never reached Redis
    event = WebhookEvent.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep()["webhook_events"] == 0  # too fresh: its job may still be on its way
    assert not webhook_jobs()

    WebhookEvent.objects.update(received_at=timezone.now() - timedelta(minutes=5))
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep()["webhook_events"] == 1
    (job,) = webhook_jobs()
    assert list(job.args) == [[event.pk]]
    with django_capture_on_commit_callbacks(execute=True):
        assert job.perform() == 1
    event.refresh_from_db()
    assert event.status == WebhookStatus.PROCESSED
    assert len(event.run_ids) == 2
    get_queue(DEFAULT_QUEUE).empty()
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep()["webhook_events"] == 0  # processed: never queued again
    assert not webhook_jobs()


@pytest.mark.parametrize(
    "body, headers, status",
    [
        (xero_body(invoice_event()), {"x-xero-signature": "not-the-signature"}, 401),
        (xero_body(invoice_event()), {}, 401),
        (b"{not json", {"x-xero-signature": sign(b"{not json", XERO_KEY)}, 400),
        (b'{"events": "x"}', {"x-xero-signature": sign(b'{"events": "x"}', XERO_KEY)}, 400),
        (b"[]", {"x-xero-signature": sign(b"[]", XERO_KEY)}, 400),
    ],
)
def test_bad_deliveries_are_refused_and_store_nothing(client, xero_flows, body, headers, status):
    response = client.post(
        reverse("webhook_xero"), body, content_type="application/json", headers=headers
    )
    assert response.status_code == status
    assert not WebhookEvent.objects.exists() and not default_jobs()


def test_a_huge_body_is_refused_unread(client, xero_flows):
    body = xero_body(invoice_event(), {"padding": "x" * MAX_BODY_BYTES})
    assert post_xero(client, body).status_code == 413
    assert not WebhookEvent.objects.exists() and not default_jobs()


def test_get_is_not_allowed(client):
    assert client.get(reverse("webhook_xero")).status_code == 405


def test_salesforce_has_no_webhook_endpoint(client):
    """Salesforce sends no HTTP webhooks: its change events come over the Pub/Sub API
    (``manage.py salesforce_subscriber``), so nothing posted here is accepted."""
    response = client.post("/webhooks/salesforce", b"{}", content_type="application/json")
    assert response.status_code == 404
    assert not WebhookEvent.objects.exists()
