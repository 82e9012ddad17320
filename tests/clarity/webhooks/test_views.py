"""Webhook endpoints answer whatever anyone sends with a 2xx or 4xx, never a 500."""

from __future__ import annotations

import json
import logging

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clarity.models import WebhookEvent
from clarity.sync.queues import DEFAULT_QUEUE, get_queue
from connectors.models import Connection
from connectors.sandbox.xero.events import sign
from connectors.secrets import Sealed
from tests.factories import ConnectionFactory

pytestmark = pytest.mark.django_db

KEY = "xero-webhook-key-hostile"
OTHER_KEY = "xero-webhook-key-of-another-org"
TENANT = "4b3c3c4e-8e1a-4c1e-9d59-6f1f0a1d2e3f"
UNREADABLE = Sealed("fernet:lost-key$gAAAAABnot-a-token-any-key-opens")  # written as is


@pytest.fixture
def xero_connection():
    get_queue(DEFAULT_QUEUE).empty()
    return ConnectionFactory(
        system="xero", settings={"tenant_id": TENANT}, credentials={"webhook_key": KEY}
    )


def event(**fields: object) -> dict:
    return {
        "resourceId": "inv-1",
        "eventCategory": "INVOICE",
        "eventType": "UPDATE",
        "tenantId": TENANT,
        **fields,
    }


def delivery(*events: dict) -> bytes:
    return json.dumps({"events": list(events), "entropy": "X"}).encode()


def post_xero(client, body: bytes, signature: str | None = None):
    headers = {"x-xero-signature": sign(body, KEY) if signature is None else signature}
    return client.post(
        reverse("webhook_xero"), body, content_type="application/json", headers=headers
    )


@pytest.mark.parametrize("signature", ["ü", "sïgnature==", "签名", "\u00ff" * 44])
def test_a_non_ascii_signature_is_a_401(client, xero_connection, signature):
    assert post_xero(client, delivery(event()), signature=signature).status_code == 401


@pytest.mark.parametrize("depth", [40, 5_000, 100_000])
def test_a_deeply_nested_signed_body_is_a_400(client, xero_connection, depth):
    body = b'{"events": [' + b'{"a": [' * depth + b"]}" * depth + b"]}"
    response = post_xero(client, body)
    assert response.status_code == 400
    assert "nested deeper" in response.content.decode()
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"7" * 5_000])
def test_a_signed_body_with_an_unstorable_number_is_a_400(client, xero_connection, number):
    body = b'{"events": [{"eventCategory": "INVOICE", "resourceId": "r", "n": ' + number + b"}]}"
    response = post_xero(client, body)
    assert response.status_code == 400, response.content
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        delivery(event(resourceId="a\u0000b")),
        delivery(event(eventType="UPDATE", note={"k\u0000": 1})),
        b'{"events": [{"eventCategory": "INVOICE", "x": "\\ud800"}]}',
        delivery(event(resourceId="r" * 201)),
        delivery(event(eventCategory=["INVOICE"])),
        delivery(event(eventType={"a": 1})),
    ],
)
def test_a_signed_body_that_cannot_be_stored_is_a_400(client, xero_connection, body):
    response = post_xero(client, body)
    assert response.status_code == 400, response.content
    assert not WebhookEvent.objects.exists()


def test_a_connection_whose_secrets_do_not_open_is_skipped_not_a_500(
    client, xero_connection, caplog
):
    """Xero disables a webhook that keeps failing: one broken row must not fail them all."""
    broken = ConnectionFactory(system="xero", credentials={"webhook_key": OTHER_KEY})
    Connection.objects.filter(pk=broken.pk).update(credentials=UNREADABLE)
    caplog.set_level(logging.ERROR)
    body = delivery(event())
    for _ in range(3):
        assert post_xero(client, body).status_code == 200
    assert WebhookEvent.objects.filter(connection=xero_connection).count() == 1
    ok, message = Connection.objects.values_list("last_check_ok", "last_check_message").get(
        pk=broken.pk
    )
    assert ok is False  # shown on the connection (list filter "last check ok: no")
    assert "Webhook deliveries skip this connection" in message
    reports = [r for r in caplog.records if "Webhook deliveries skip" in r.getMessage()]
    assert len(reports) == 1  # logged once, not once per delivery

    # A delivery signed only with the broken connection's key is refused, not a 500.
    assert post_xero(client, body, signature=sign(body, OTHER_KEY)).status_code == 401


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and ±Infinity too: json.dumps writes them, jsonb cannot store them
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
header_text = st.text(
    st.characters(min_codepoint=32, max_codepoint=0xFFFF, exclude_categories=("Cs",)), max_size=60
)
# Numbers Python reads but PostgreSQL cannot store, or Python cannot read at all.
hostile_numbers = st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e999"]) | (
    st.integers(min_value=4_301, max_value=6_000).map(lambda n: b"9" * n)
)
hypothesis_settings = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@hypothesis_settings
@given(
    body=st.binary(max_size=300)
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.lists(json_values).map(lambda events: delivery(*events))
    | hostile_numbers.map(lambda n: b'{"events": [{"eventCategory": "INVOICE", "n": ' + n + b"}]}"),
    signature=st.none() | header_text,
    signed=st.booleans(),
)
def test_no_xero_delivery_is_a_server_error(client, xero_connection, body, signature, signed):
    response = post_xero(client, body, signature=None if signed else (signature or ""))
    assert response.status_code < 500
