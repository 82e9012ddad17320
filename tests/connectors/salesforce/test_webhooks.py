"""Salesforce's change-event parser: the relay's shared secret, our own writes dropped."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.salesforce.webhooks import SECRET_HEADER, SalesforceWebhooks
from connectors.sandbox.salesforce.events import CDC_SECRET_HEADER
from connectors.webhooks import Delivery, Subscriber, WebhookRejected

PARSER = SalesforceWebhooks()
ORG = Subscriber(key=7, secret="relay-secret", settings={"call_options_client": "clarity"})
OTHER = Subscriber(key=8, secret="other-secret")


def change(entity: str = "Account", origin: str = "", **header: object) -> dict:
    fields = {
        "entityName": entity,
        "recordIds": ["001A", "001B"],  # merged: the same change hit both
        "changeType": "UPDATE",
        "changeOrigin": origin,
        "commitTimestamp": 1709287200000,
        **header,
    }
    return {"schema": "x", "payload": {"ChangeEventHeader": fields}, "event": {"replayId": 3}}


def test_the_relay_and_the_parser_agree_on_the_header() -> None:
    assert SECRET_HEADER == CDC_SECRET_HEADER


def test_the_secret_picks_its_connection() -> None:
    delivery = Delivery(b"{}", {SECRET_HEADER: "other-secret"})
    assert PARSER.authenticate(delivery, [ORG, OTHER]) == [OTHER]


@pytest.mark.parametrize("secret", [None, "", "guessed", "秘密"])
def test_a_missing_or_wrong_secret_is_a_401(secret: str | None) -> None:
    headers = {} if secret is None else {SECRET_HEADER: secret}
    with pytest.raises(WebhookRejected) as refused:
        PARSER.authenticate(Delivery(b"{}", headers), [ORG])
    assert refused.value.status == 401


def test_an_event_names_every_record_it_merged() -> None:
    body = change()
    (got,) = PARSER.parse(body, [ORG])
    assert (got.subscriber, got.category, got.event_type) == (ORG, "Account", "UPDATE")
    assert got.record_ids == ("001A", "001B") and got.entities == ("Account",)
    assert got.occurred_at == datetime(2024, 3, 1, 10, 0, tzinfo=UTC) and got.raw is body


def test_a_line_item_also_wakes_its_opportunitys_flows() -> None:
    (got,) = PARSER.parse(change("OpportunityLineItem"), [ORG])
    assert got.entities == ("OpportunityLineItem", "Opportunity")


def test_our_own_writes_are_dropped_others_kept() -> None:
    ours = change(origin="com/salesforce/api/rest/62.0;client=clarity")
    assert PARSER.parse(ours, [ORG]) == []
    # Another client, or a connection that tags no calls, keeps the event.
    assert PARSER.parse(change(origin="com/salesforce/api/rest/62.0;client=other"), [ORG])
    assert PARSER.parse(ours, [OTHER])


@pytest.mark.parametrize(
    "body",
    [[], {"payload": {}}, {"payload": {"ChangeEventHeader": {"entityName": 5}}}],
)
def test_a_body_without_a_change_event_header_is_a_400(body: object) -> None:
    with pytest.raises(WebhookRejected) as refused:
        PARSER.parse(body, [ORG])
    assert refused.value.status == 400


def test_a_non_text_change_type_is_a_400() -> None:
    with pytest.raises(WebhookRejected) as refused:
        PARSER.parse(change(changeType={"a": 1}), [ORG])
    assert refused.value.status == 400
