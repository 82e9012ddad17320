"""A flow's matching rules in its admin page (#16): checked against the target's catalogue
when saved, with a message naming the field; a post without them leaves them alone."""

from __future__ import annotations

import pytest
from django.urls import reverse

from clarity.models import MatchingRule
from tests.clarity.admin.test_flows_validation import flow_data
from tests.factories import FlowFactory

pytestmark = pytest.mark.django_db


def rules_data(*rows: dict[str, str]) -> dict[str, object]:
    data: dict[str, object] = {
        "matching_rules-TOTAL_FORMS": len(rows),
        "matching_rules-INITIAL_FORMS": 0,
        "matching_rules-MIN_NUM_FORMS": 0,
        "matching_rules-MAX_NUM_FORMS": 1000,
    }
    for n, row in enumerate(rows):
        data.update({f"matching_rules-{n}-{k}": v for k, v in row.items()})
    return data


def syspro_target():
    """A flow into SYSPRO customers: its catalogue is at hand without a live connection."""
    flow = FlowFactory(source_entity="Contacts", target_entity="customers")
    pair = flow.pair
    flow.source_connection, flow.target_connection = pair.connection_b, pair.connection_a
    flow.save()
    return flow


def posted(flow, **overrides) -> dict[str, object]:
    return flow_data(
        flow.pair,
        name=flow.name,
        source_connection=flow.source_connection_id,
        target_connection=flow.target_connection_id,
        source_entity=flow.source_entity,
        target_entity=flow.target_entity,
        **overrides,
    )


def change(client, flow, *rows):
    url = reverse("admin:clarity_flow_change", args=[flow.pk])
    return client.post(url, {**posted(flow), **rules_data(*rows)})


def test_a_consultant_adds_ordered_rules(consultant_client):
    flow = syspro_target()
    response = change(
        consultant_client,
        flow,
        {"position": "1", "match_by": "keys", "keys": "Name, Email", "enabled": "on"},
        {"position": "0", "match_by": "reference", "keys": "", "enabled": "on"},
    )
    assert response.status_code == 302, response.context and response.context["errors"]
    rules = list(flow.matching_rules.order_by("position"))
    assert [(r.match_by, r.pairs()) for r in rules] == [
        ("reference", []),
        ("keys", [("Name", "Name"), ("Email", "Email")]),
    ]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"match_by": "keys", "keys": "Nmae"}, "SYSPRO customers has no field 'Nmae'"),
        ({"match_by": "keys", "keys": "EmailAddress=Emial"}, "Did you mean 'Email'?"),
        ({"match_by": "keys", "keys": "", "position": "1"}, "Name at least one field to compare"),
        ({"match_by": "reference", "keys": "Name, Email"}, "compares one field"),
    ],
)
def test_a_rule_naming_what_the_target_lacks_is_refused(consultant_client, row, message):
    flow = syspro_target()
    response = change(consultant_client, flow, {"position": "0", "enabled": "on", **row})
    assert response.status_code == 200
    errors = " ".join(
        message
        for inline in response.context["inline_admin_formsets"]
        for form_errors in inline.formset.errors
        for messages in form_errors.values()
        for message in messages
    )
    assert message in errors
    assert not MatchingRule.objects.exists()


def test_a_post_without_the_rules_leaves_them(consultant_client):
    flow = syspro_target()
    MatchingRule.objects.create(flow=flow, keys="Name")
    url = reverse("admin:clarity_flow_change", args=[flow.pk])
    response = consultant_client.post(url, posted(flow))
    assert response.status_code == 302
    assert [r.keys for r in flow.matching_rules.all()] == ["Name"]
