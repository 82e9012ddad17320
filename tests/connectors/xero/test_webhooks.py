"""Xero's webhook parser: signature over the raw bytes, events fanned out by tenant."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from connectors.sandbox.xero.events import sign
from connectors.webhooks import Delivery, Subscriber, WebhookRejected
from connectors.xero.webhooks import XeroWebhooks

PARSER = XeroWebhooks()
ORG_A, ORG_B = "4b3c3c4e-0000-4c1e-9d59-00000000000a", "4b3c3c4e-0000-4c1e-9d59-00000000000b"
A = Subscriber(key=1, secret="key-a", settings={"tenant_id": ORG_A})
B = Subscriber(key=2, secret="key-b", extra={"tenant_id": ORG_B})  # picked at sign-in
NEW = Subscriber(key=3, secret="key-a")  # no organisation recorded yet


def event(tenant: str = ORG_A, **fields: object) -> dict:
    return {
        "resourceUrl": "https://api.xero.com/api.xro/2.0/Invoices/inv-1",
        "resourceId": "inv-1",
        "eventDateUtc": "2024-03-01T10:00:00.000",
        "eventType": "UPDATE",
        "eventCategory": "INVOICE",
        "tenantId": tenant,
        "tenantType": "ORGANISATION",
        **fields,
    }


def test_the_signature_picks_the_connections_whose_key_signed_it() -> None:
    body = json.dumps({"events": []}).encode()
    delivery = Delivery(body, {"x-xero-signature": sign(body, "key-a")})
    assert PARSER.authenticate(delivery, [A, B, NEW]) == [A, NEW]


@pytest.mark.parametrize("signature", [None, "", "bm90IGl0", "ü"])
def test_a_missing_or_wrong_signature_is_a_401(signature: str | None) -> None:
    headers = {} if signature is None else {"x-xero-signature": signature}
    with pytest.raises(WebhookRejected) as refused:
        PARSER.authenticate(Delivery(b"{}", headers), [A, B])
    assert refused.value.status == 401


def test_each_event_goes_to_its_organisations_connections() -> None:
    body = {"events": [event(ORG_A), event(ORG_B, resourceId="inv-2", eventCategory="CONTACT")]}
    events = PARSER.parse(body, [A, B, NEW])
    got = [(e.subscriber.key, e.category, e.record_ids) for e in events]
    assert got == [
        (1, "INVOICE", ("inv-1",)),
        (3, "INVOICE", ("inv-1",)),
        (2, "CONTACT", ("inv-2",)),
        (3, "CONTACT", ("inv-2",)),
    ]
    invoice = events[0]
    assert invoice.entities == ("Invoices", "Payments")  # a payment changes its invoice
    assert invoice.event_type == "UPDATE" and invoice.raw == body["events"][0]
    assert invoice.occurred_at == datetime(2024, 3, 1, 10, 0)
    assert events[2].entities == ("Contacts",)


def test_the_intent_to_receive_delivery_has_no_events() -> None:
    body = {"events": [], "firstEventSequence": 0, "lastEventSequence": 0, "entropy": "X"}
    assert PARSER.parse(body, [A]) == []


@pytest.mark.parametrize(
    "body",
    [[], {"events": "x"}, {"events": [1]}, {"events": [event(eventCategory=["INVOICE"])]}],
)
def test_a_delivery_not_shaped_like_xeros_is_a_400(body: object) -> None:
    with pytest.raises(WebhookRejected) as refused:
        PARSER.parse(body, [A])
    assert refused.value.status == 400


def test_an_unknown_category_wakes_nothing_and_a_bad_date_is_no_date() -> None:
    (got,) = PARSER.parse({"events": [event(eventCategory="SUBSCRIPTION", eventDateUtc=7)]}, [A])
    assert got.entities == () and got.occurred_at is None
    assert PARSER.entities_woken("invoice") == ("Invoices", "Payments")
